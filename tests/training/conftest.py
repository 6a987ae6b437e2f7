"""Fixtures of the training tests: the `incidents` command run in-process, and bad snapshots."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from core.config import Settings
from core.db import session_scope, upgrade
from core.tables import IncidentRow, IncidentTagRow
from tests.fixtures import make_bugs, write_snapshot
from training.cli import app


class Incidents:
    """The ``incidents`` command line, run in-process with the test's settings."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: object) -> Result:
        return self.runner.invoke(app, [str(a) for a in args])

    def ok(self, *args: object) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (result.output, result.exception)
        return result

    def fails(self, *args: object, says: tuple[str, ...] = ()) -> Result:
        """Run a command that must stop with one error line: no crash, no traceback."""
        result = self(*args)
        assert result.exit_code != 0, result.output
        assert isinstance(result.exception, SystemExit), repr(result.exception)
        assert "Traceback" not in result.output
        assert result.stderr.startswith("error: "), result.stderr
        for phrase in says:
            assert phrase in result.stderr
        return result


@pytest.fixture
def incidents(settings: Settings) -> Incidents:
    return Incidents()


@pytest.fixture
def store_rows(settings: Settings) -> Callable[[], dict[str, list[tuple]]]:
    """Every column of every incident and tag row in the store, to compare before and after."""

    def read() -> dict[str, list[tuple]]:
        upgrade(settings.database_url)
        with session_scope(settings.database_url) as session:
            incidents = [tuple(getattr(row, c.key) for c in IncidentRow.__table__.columns)
                         for row in session.scalars(select(IncidentRow).order_by(IncidentRow.id))]
            tags = [(t.incident_id, t.tag, t.kind) for t in session.scalars(
                select(IncidentTagRow).order_by(IncidentTagRow.incident_id, IncidentTagRow.tag))]
        return {"incidents": incidents, "tags": tags}

    return read


# -- snapshots with one problem each -------------------------------------------------------------
def _bugs_and_comments() -> tuple[dict, dict]:
    """The fixture snapshot with a change a partial load would leave behind: a new whiteboard
    on the first bug and one bug more."""
    bugs, comments = make_bugs()
    bugs["bugs"][0]["whiteboard"] = "[ca-compliance] [crl-failure] [audit-finding]"
    bugs["bugs"].append({**bugs["bugs"][1], "id": 1_600_000, "summary": "Granite CA: new bug"})
    return bugs, comments


def _write(folder: Path, bugs: object, comments: object) -> None:
    write_snapshot(folder, bugs, comments)


def _edit_bug(index: int, **change: object) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        bugs, comments = _bugs_and_comments()
        bugs["bugs"][index].update(change)
        _write(folder, bugs, comments)
    return edit


def _drop_summary(folder: Path) -> None:
    bugs, comments = _bugs_and_comments()
    del bugs["bugs"][40]["summary"]
    _write(folder, bugs, comments)


def _duplicate_id(folder: Path) -> None:
    bugs, comments = _bugs_and_comments()
    bugs["bugs"][45]["id"] = bugs["bugs"][3]["id"]
    _write(folder, bugs, comments)


def _bug_not_object(folder: Path) -> None:
    bugs, comments = _bugs_and_comments()
    bugs["bugs"][40] = "bug 1500041"
    _write(folder, bugs, comments)


def _replace_file(name: str, content: bytes | str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        _write(folder, *_bugs_and_comments())
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return edit


def _remove_file(name: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        _write(folder, *_bugs_and_comments())
        (folder / name).unlink()
    return edit


def _edit_comments(edit_payload: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        bugs, comments = _bugs_and_comments()
        edit_payload(comments)
        _write(folder, bugs, comments)
    return edit


#: name -> (how to spoil a snapshot folder, the file the message names, what it says)
BAD_SNAPSHOTS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "no-bugs-file": (_remove_file("bugs.json"), "bugs.json", "no such file"),
    "no-comments-file": (_remove_file("comments.json"), "comments.json", "no such file"),
    "bugs-invalid-json": (_replace_file("bugs.json", '{"bugs": [{"id": 1,'), "bugs.json",
                          "not valid JSON"),
    "bugs-not-utf8": (_replace_file("bugs.json", b'{"bugs": ["\xff\xfe"]}'), "bugs.json",
                      "not UTF-8"),
    "bugs-top-level-list": (_replace_file("bugs.json", json.dumps(make_bugs()[0]["bugs"])),
                            "bugs.json", 'expected an object {"bugs": [...]}'),
    "bugs-not-a-list": (_replace_file("bugs.json", '{"bugs": {"1": {}}}'), "bugs.json",
                        'expected an object {"bugs": [...]}'),
    "bug-not-an-object": (_bug_not_object, "bugs.json", "bugs[40] is not an object"),
    "bug-without-summary": (_drop_summary, "bugs.json", "bugs[40] (id 1500041): summary"),
    "bug-id-not-integer": (_edit_bug(40, id="1500041"), "bugs.json",
                           "bugs[40] (id '1500041'): id: expected a positive integer"),
    "bug-id-list": (_edit_bug(40, id=[1500041]), "bugs.json", "bugs[40] (id [1500041]): id"),
    "bug-id-missing": (_edit_bug(40, id=None), "bugs.json", "bugs[40] (id None): id"),
    "bad-creation-time": (_edit_bug(40, creation_time="last Tuesday"), "bugs.json",
                          "creation_time: 'last Tuesday' is not an ISO 8601 time"),
    "duplicate-ids": (_duplicate_id, "bugs.json", "bugs[45]: bug 1500004 appears twice"),
    "comments-top-level-list": (_replace_file("comments.json", "[]"), "comments.json",
                                'expected an object {"bugs": {"<id>": {"comments": [...]}}}'),
    "comments-bugs-list": (_replace_file("comments.json", '{"bugs": []}'), "comments.json",
                           'expected an object {"bugs"'),
    "comments-not-a-list": (_edit_comments(lambda c: c["bugs"]["1500040"].update(comments="x")),
                            "comments.json", 'bugs["1500040"].comments is not a list of objects'),
    "comments-key-not-id": (_edit_comments(lambda c: c["bugs"].update(abc={"comments": []})),
                            "comments.json", "bugs key 'abc' is not a bug id"),
    "comments-invalid-json": (_replace_file("comments.json", "{"), "comments.json",
                              "not valid JSON"),
}


@pytest.fixture(params=list(BAD_SNAPSHOTS))
def bad_snapshot(request, tmp_path: Path) -> tuple[Path, Path, str]:
    """A snapshot folder with one problem; the file its error names; what the error says."""
    spoil, name, problem = BAD_SNAPSHOTS[request.param]
    folder = tmp_path / f"bad-{request.param}"
    spoil(folder)
    return folder, folder / name, problem
