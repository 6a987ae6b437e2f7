"""Maintainers' corrections of incident labels: stored, superseded, listed, and used as labels.

Corrections are never updated or deleted: a later correction of the same incident supersedes
the earlier one (the latest by id counts), and the history stays. :func:`record_correction`
checks one, asks the active model what it said of the incident, and stores it with that (the
one path of the CLI, the API and the page). They are read by the
incident view (``GET /incidents/{id}``), the briefing table (``GET /aggregate``, where a correction
outranks every other label) and training (a corrected incident is trained on its corrected tags).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from classifier import InvalidIncident, Taxonomy

from .classification import classify
from .registry import LoadedModel
from .store import checked_bug_id, row_incident
from .tables import CorrectionRow, IncidentRow, PredictionRow, utcnow
from .text import NOT_UNICODE, is_unicode

#: Longest note a correction takes, from the API, the page or a corrections file.
MAX_NOTE_CHARS = 10_000


@dataclass(frozen=True)
class Correction:
    """A maintainer's verdict on an incident's type tags."""

    incident_id: int
    tags: tuple[str, ...]
    created_at: datetime
    author: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class CorrectionIn:
    """A checked correction, ready to store: a known bug, canonical known type tags."""

    bug_id: int
    tags: tuple[str, ...]
    note: str = ""


def latest_correction_ids(as_of: datetime | None = None) -> Select:
    """``select`` of the id of the correction that counts for each corrected incident (its
    latest; with ``as_of``, its latest stored by then: the labels as they were at that time)."""
    query = select(func.max(CorrectionRow.id))
    if as_of is not None:
        query = query.where(CorrectionRow.created_at <= as_of)
    return query.group_by(CorrectionRow.incident_id)


def _as_correction(row: CorrectionRow) -> Correction:
    return Correction(incident_id=row.incident_id, tags=tuple(row.tags), created_at=row.created_at,
                      author=row.author, note=row.note)


def corrections_of(*, session: Session, incident_id: int) -> list[Correction]:
    """Every correction of one incident, oldest first (the last one counts)."""
    rows = session.scalars(select(CorrectionRow).where(CorrectionRow.incident_id == incident_id)
                           .order_by(CorrectionRow.id))
    return [_as_correction(row) for row in rows]


def latest_corrections(*, session: Session, as_of: datetime | None = None) -> list[CorrectionRow]:
    """The correction that counts for each corrected incident (at ``as_of``), by incident id."""
    return list(session.scalars(select(CorrectionRow).where(CorrectionRow.id.in_(latest_correction_ids(as_of)))
                                .order_by(CorrectionRow.incident_id)))


def corrections_summary(rows: Sequence[CorrectionRow]) -> dict[str, Any]:
    """What a model card records of the corrections a training used: how many, and their sha256."""
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda r: r.incident_id):
        digest.update(json.dumps([int(row.incident_id), sorted(row.tags), int(row.id)]).encode())
    return {"count": len(rows), "sha256": digest.hexdigest()}


def check_correction(*, session: Session, taxonomy: Taxonomy, bug_id: Any, tags: Any,
                     note: Any = "") -> CorrectionIn:
    """A correction checked against the store and the taxonomy; InvalidIncident names the field.

    ``tags`` are type tags of the taxonomy (aliases, and a tag in brackets as a whiteboard writes
    it, are accepted and made canonical); an empty list is a verdict too: the incident has no
    incident type.
    """
    checked_bug_id(bug_id, "bug_id")
    if session.get(IncidentRow, bug_id) is None:
        raise InvalidIncident(f"bug_id: bug {bug_id} is not in the store", field="bug_id")
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise InvalidIncident("tags: must be a list of type tags (empty for none)", field="tags")
    # "[dv-misissuance]", as the whiteboard writes it, is the tag dv-misissuance.
    canonical = sorted({taxonomy.canonical(t.strip().removeprefix("[").removesuffix("]"))
                        for t in tags})
    unknown = [t for t in canonical if t not in taxonomy.tag_categories]
    if unknown:
        are = "is not a type tag" if len(unknown) == 1 else "are not type tags"
        raise InvalidIncident(f"tags: {', '.join(unknown)} {are} of the taxonomy (its type tags: "
                              f"{', '.join(sorted(taxonomy.tag_categories))})", field="tags")
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise InvalidIncident("note: must be text", field="note")
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidIncident(f"note: at most {MAX_NOTE_CHARS} characters", field="note")
    if "\x00" in note:  # PostgreSQL refuses NUL in text: refused here, it is a 422, not a 500
        raise InvalidIncident("note: must not contain NUL characters", field="note")
    if not is_unicode(note):
        raise InvalidIncident(f"note: {NOT_UNICODE}", field="note")
    return CorrectionIn(bug_id, tuple(canonical), note.strip())


@dataclass(frozen=True)
class ModelSaid:
    """What a model version said of an incident when a maintainer corrected it."""

    version: str
    tags: list[str]
    scores: dict[str, float]


def add_correction(*, session: Session, correction: CorrectionIn, author: str,
                   token_id: int | None = None, model_said: ModelSaid | None = None) -> CorrectionRow:
    """Store a checked correction, with what the active model said of the incident then (if
    known); the caller's transaction commits. :func:`record_correction` checks, asks the
    model and stores in one call."""
    row = CorrectionRow(incident_id=correction.bug_id, tags=list(correction.tags),
                        note=correction.note, author=author, token_id=token_id, created_at=utcnow(),
                        model_version=model_said.version if model_said else None,
                        model_tags=model_said.tags if model_said else None,
                        model_scores=model_said.scores if model_said else None)
    session.add(row)
    session.flush()
    return row


def counting_repeat(*, session: Session, correction: CorrectionIn,
                    author: str) -> CorrectionRow | None:
    """The rule that stores nothing twice: the correction that counts for the incident (its
    latest) when it is already ``correction`` by ``author`` (the same canonical tags, note and
    author), else None. Storing it again would change nothing: an import run again skips it, and
    a retried ``POST /corrections`` or a form sent twice gets it back. Going back to earlier tags
    after another correction is a verdict of its own (not the latest, so not a repeat)."""
    row = session.scalar(select(CorrectionRow).where(CorrectionRow.incident_id == correction.bug_id)
                         .order_by(CorrectionRow.id.desc()).limit(1))
    if (row is not None and tuple(row.tags) == correction.tags
            and (row.note or "") == correction.note and row.author == author):
        return row
    return None


def lock_incident(*, session: Session, bug_id: int) -> None:
    """Hold the incident's row until the caller's transaction ends, so that corrections of it are
    stored one transaction after the other and each sees the one before (two identical requests at
    once store one correction, not two).

    A no-op ``UPDATE`` (the id set to itself) locks on either store: PostgreSQL locks the row (a
    second writer waits for the first to commit, then reads what it stored: READ COMMITTED takes a
    new snapshot each statement; an unchanged key takes no lock that foreign keys wait for), and
    SQLite, which has no row locks, takes its one writer lock at the statement (a second writer
    waits up to ``busy_timeout``, and its transaction begins after the first committed)."""
    session.execute(update(IncidentRow).where(IncidentRow.id == bug_id)
                    .values(id=IncidentRow.id).execution_options(synchronize_session=False))


@dataclass(frozen=True)
class Corrected:
    """What storing a correction did: ``row`` counts for the bug now; ``stored`` says whether this
    call stored it (False: it already counted, :func:`counting_repeat`, and nothing was stored)."""

    row: CorrectionRow
    stored: bool


def list_corrections(*, session: Session, bug_id: int | None = None, limit: int = 100,
                     offset: int = 0) -> tuple[list[CorrectionRow], int]:
    """Corrections, newest first (one bug's if ``bug_id``), and how many there are in all;
    InvalidIncident when ``bug_id`` is not a bug id the store takes."""
    query = select(CorrectionRow)
    count = select(func.count()).select_from(CorrectionRow)
    if bug_id is not None:
        checked_bug_id(bug_id, "bug_id")
        query = query.where(CorrectionRow.incident_id == bug_id)
        count = count.where(CorrectionRow.incident_id == bug_id)
    rows = session.scalars(query.order_by(CorrectionRow.id.desc()).limit(limit).offset(offset))
    return list(rows), int(session.scalar(count) or 0)


def jsonl_lines(text: str) -> list[str]:
    """The lines of a JSON Lines text: split at line feeds only (``str.splitlines`` also splits at
    U+2028, U+2029 and other separators, which JSON allows unescaped inside a string)."""
    return [line.removesuffix("\r") for line in text.split("\n")]


#: The bad lines of a corrections file named in one refusal; the rest are counted.
MAX_BAD_LINES_NAMED = 10


def parse_correction_lines(*, session: Session, taxonomy: Taxonomy,
                           lines: Iterable[str]) -> list[CorrectionIn]:
    """Check every line of a corrections file (one JSON object a line) before any is stored.

    Bad lines raise one InvalidIncident naming each (its number and field, the first
    ``MAX_BAD_LINES_NAMED``) and how many there are, so one run finds them all; the field is the
    first bad line's. Blank lines are skipped.
    """
    out: list[CorrectionIn] = []
    bad: list[InvalidIncident] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            out.append(_correction_line(session=session, taxonomy=taxonomy, line=line))
        except InvalidIncident as exc:
            bad.append(InvalidIncident(f"line {number}: {exc}", field=exc.field))
    if bad:
        named = "; ".join(str(exc) for exc in bad[:MAX_BAD_LINES_NAMED])
        more = f"; and {len(bad) - MAX_BAD_LINES_NAMED} more" if len(bad) > MAX_BAD_LINES_NAMED else ""
        total = f" ({len(bad)} bad lines; nothing stored)" if len(bad) > 1 else ""
        raise InvalidIncident(f"{named}{more}{total}", field=bad[0].field)
    return out


#: The fields of a corrections file's line.
CORRECTION_FIELDS = frozenset({"bug_id", "tags", "note"})
#: The other fields of an ``incidents review --json`` line, which a corrections file may keep:
#: they are ignored (its ``tags``, the model's, are the correction's, edited or not).
REVIEW_FIELDS = frozenset({"ca", "ca_name", "confidence", "creation_time", "model_version",
                           "review_reason", "summary", "top_scores"})


def _correction_line(*, session: Session, taxonomy: Taxonomy, line: str) -> CorrectionIn:
    """One line of a corrections file, checked; InvalidIncident saying what is wrong with it."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidIncident(f"not JSON ({exc.msg} at column {exc.colno})", field="line") from None
    except RecursionError:
        raise InvalidIncident("not JSON (nested too deeply to read)", field="line") from None
    except ValueError:  # json.loads's int() refuses more digits
        raise InvalidIncident("not JSON (a number with too many digits to read)", field="line") from None
    if not isinstance(data, dict):
        raise InvalidIncident("not a JSON object", field="line")
    unknown = sorted(set(data) - CORRECTION_FIELDS - REVIEW_FIELDS)
    if unknown:
        fields = "field" if len(unknown) == 1 else "fields"
        raise InvalidIncident(f"unknown {fields} {', '.join(unknown)}", field=unknown[0])
    for name in ("bug_id", "tags"):
        if name not in data:
            raise InvalidIncident(f"{name}: missing", field=name)
    return check_correction(session=session, taxonomy=taxonomy, bug_id=data["bug_id"],
                            tags=data["tags"], note=data.get("note", ""))


def model_said(*, session: Session, bug_id: int, active_version: str | None,
               loaded: LoadedModel | None, taxonomy: Taxonomy) -> ModelSaid | None:
    """What ``active_version`` says of a stored incident: its stored prediction, else (when that
    version is ``loaded``) its answer now; None when neither is to be had."""
    if active_version is None:
        return None
    row = session.scalar(select(PredictionRow).where(PredictionRow.incident_id == bug_id,
                                                     PredictionRow.model_version == active_version))
    if row is not None:
        return ModelSaid(active_version, list(row.tags), dict(row.scores))
    incident = session.get(IncidentRow, bug_id)
    if loaded is None or loaded.version != active_version or incident is None:
        return None
    result = classify(loaded, [row_incident(incident)], taxonomy)[0]
    return ModelSaid(active_version, list(result.tags), dict(result.scores))


def correct_incident(*, session: Session, taxonomy: Taxonomy, bug_id: Any, tags: Any,
                     note: Any = "", author: str, token_id: int | None = None,
                     active_version: str | None = None,
                     loaded: LoadedModel | None = None) -> CorrectionRow:
    """The correction that counts for the bug after :func:`record_correction`: the one it
    stored, or the same one by the same author that already counted (nothing stored)."""
    return record_correction(session=session, taxonomy=taxonomy, bug_id=bug_id, tags=tags,
                             note=note, author=author, token_id=token_id,
                             active_version=active_version, loaded=loaded).row


def record_correction(*, session: Session, taxonomy: Taxonomy, bug_id: Any, tags: Any,
                      note: Any = "", author: str, token_id: int | None = None,
                      active_version: str | None = None,
                      loaded: LoadedModel | None = None) -> Corrected:
    """Check and store a maintainer's correction with what the active model said of the incident
    then: its stored prediction, else, when the active model is ``loaded``, its answer now.

    Nothing is stored twice (``stored`` False, the row that counts given back) when the
    correction that counts for the bug is already this one by ``author``
    (:func:`core.corrections.counting_repeat`, the rule of `corrections import`, the API and the
    page alike). The rule is asked again with the incident locked (:func:`lock_incident`, held
    until the caller's transaction ends), so two identical corrections at once store one.
    InvalidIncident names the field of a bad correction; the caller's transaction commits.
    """
    if loaded is not None and active_version is None:
        active_version = loaded.version
    checked = check_correction(session=session, taxonomy=taxonomy, bug_id=bug_id, tags=tags,
                               note=note)
    # Asked first without the lock: a repeat takes no lock and asks no model.
    repeat = counting_repeat(session=session, correction=checked, author=author)
    if repeat is not None:
        return Corrected(repeat, stored=False)
    said = model_said(session=session, bug_id=checked.bug_id, active_version=active_version,
                      loaded=loaded, taxonomy=taxonomy)
    lock_incident(session=session, bug_id=checked.bug_id)
    repeat = counting_repeat(session=session, correction=checked, author=author)
    if repeat is not None:  # stored by another transaction since the first look
        return Corrected(repeat, stored=False)
    return Corrected(add_correction(session=session, correction=checked, author=author,
                                    token_id=token_id, model_said=said), stored=True)
