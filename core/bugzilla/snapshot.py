"""Reading Bugzilla REST snapshot files (bugs.json, comments.json), checked whole before use."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from classifier import InvalidIncident, InvalidSnapshot, Taxonomy

from .records import BugRecord

BUGS_FILE = "bugs.json"
COMMENTS_FILE = "comments.json"


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidSnapshot(path, "no such file") from exc
    except IsADirectoryError as exc:
        raise InvalidSnapshot(path, "is a directory, not a file") from exc
    except UnicodeDecodeError as exc:
        raise InvalidSnapshot(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSnapshot(path, f"not valid JSON: {exc.msg} at line {exc.lineno} "
                                    f"column {exc.colno}") from exc
    except RecursionError:
        raise InvalidSnapshot(path, "not valid JSON: nested too deeply to read") from None
    except ValueError:  # json.loads's int() refuses more digits
        raise InvalidSnapshot(path, "not valid JSON: a number with too many digits to read") from None


def read_bugs(path: Path) -> list[Mapping[str, Any]]:
    """The bug objects of a ``GET /rest/bug`` answer saved to ``path``."""
    data = _read_json(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("bugs"), list):
        raise InvalidSnapshot(path, 'expected an object {"bugs": [...]}, as GET /rest/bug returns')
    for index, bug in enumerate(data["bugs"]):
        if not isinstance(bug, Mapping):
            raise InvalidSnapshot(path, f"bugs[{index}] is not an object")
    return data["bugs"]


def read_comments(path: Path) -> dict[int, list[Mapping[str, Any]]]:
    """Comments by bug id from merged ``GET /rest/bug/<id>/comment`` answers saved to ``path``."""
    data = _read_json(path)
    bugs = data.get("bugs") if isinstance(data, Mapping) else None
    if not isinstance(bugs, Mapping):
        raise InvalidSnapshot(path, 'expected an object {"bugs": {"<id>": {"comments": [...]}}}')
    out: dict[int, list[Mapping[str, Any]]] = {}
    for key, value in bugs.items():
        try:
            bug_id = int(key)
        except ValueError as exc:
            raise InvalidSnapshot(path, f"bugs key {key!r} is not a bug id") from exc
        comments = value.get("comments") if isinstance(value, Mapping) else None
        if not isinstance(comments, list) or not all(isinstance(c, Mapping) for c in comments):
            raise InvalidSnapshot(path, f'bugs["{key}"].comments is not a list of objects')
        out[bug_id] = comments
    return out


def records_from_files(bugs_path: Path, comments_path: Path | None,
                       taxonomy: Taxonomy) -> list[BugRecord]:
    """Every bug of the files as a record; the first bad bug refuses the whole file."""
    bugs = read_bugs(bugs_path)
    comments = read_comments(comments_path) if comments_path is not None else {}
    records: list[BugRecord] = []
    seen: set[int] = set()
    for index, bug in enumerate(bugs):
        bug_id = bug.get("id")
        try:
            # An id that is not an int (a list, say) cannot key the comments; from_rest says why.
            record = BugRecord.from_rest(
                bug, comments.get(bug_id) if isinstance(bug_id, int) else None, taxonomy)
        except InvalidIncident as exc:
            raise InvalidSnapshot(bugs_path, f"bugs[{index}] (id {bug.get('id')!r}): {exc}") from exc
        if record.id in seen:
            raise InvalidSnapshot(bugs_path, f"bugs[{index}]: bug {record.id} appears twice")
        seen.add(record.id)
        records.append(record)
    return records


def read_snapshot(folder: Path, taxonomy: Taxonomy) -> list[BugRecord]:
    """All bugs of a snapshot folder holding ``bugs.json`` and ``comments.json``."""
    if not folder.is_dir():
        raise InvalidSnapshot(folder, "no such snapshot folder")
    return records_from_files(folder / BUGS_FILE, folder / COMMENTS_FILE, taxonomy)
