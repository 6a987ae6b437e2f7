"""Maintainers' corrections of incident labels: stored, superseded, listed, and used as labels.

Corrections are never updated or deleted: a later correction of the same incident supersedes
the earlier one (the latest by id counts), and the history stays. They are read by the incident
view (``GET /incidents/{id}``), the briefing table (``GET /aggregate``, where a correction
outranks every other label) and training (a corrected incident is trained on its corrected tags).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from classifier import InvalidIncident, Taxonomy

from .registry import LoadedModel
from .tables import CorrectionRow, IncidentRow, PredictionRow, utcnow


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


def _latest_ids() -> Select:
    return select(func.max(CorrectionRow.id)).group_by(CorrectionRow.incident_id)


def _as_correction(row: CorrectionRow) -> Correction:
    return Correction(incident_id=row.incident_id, tags=tuple(row.tags), created_at=row.created_at,
                      author=row.author, note=row.note)


def corrections_of(*, session: Session, incident_id: int) -> list[Correction]:
    """Every correction of one incident, oldest first (the last one counts)."""
    rows = session.scalars(select(CorrectionRow).where(CorrectionRow.incident_id == incident_id)
                           .order_by(CorrectionRow.id))
    return [_as_correction(row) for row in rows]


def corrected_labels(*, session: Session,
                     incident_ids: Select | Iterable[int]) -> dict[int, tuple[str, ...]]:
    """The type tags of each corrected incident among ``incident_ids`` (its latest correction).

    ``incident_ids`` is a list of ids or a ``select`` of them, so callers can pass a window's
    query without loading it. An incident corrected to no tag maps to ``()``.
    """
    ids = incident_ids if isinstance(incident_ids, Select) else list(incident_ids)
    rows = session.execute(select(CorrectionRow.incident_id, CorrectionRow.tags)
                           .where(CorrectionRow.id.in_(_latest_ids()),
                                  CorrectionRow.incident_id.in_(ids)))
    return {bug_id: tuple(tags) for bug_id, tags in rows}


def latest_corrections(*, session: Session) -> list[CorrectionRow]:
    """The correction that counts for each corrected incident, by incident id."""
    return list(session.scalars(select(CorrectionRow).where(CorrectionRow.id.in_(_latest_ids()))
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

    ``tags`` are type tags of the taxonomy (aliases are accepted and made canonical); an empty
    list is a verdict too: the incident has no incident type.
    """
    if isinstance(bug_id, bool) or not isinstance(bug_id, int):
        raise InvalidIncident(f"bug_id: {bug_id!r} is not a bug number", field="bug_id")
    if session.get(IncidentRow, bug_id) is None:
        raise InvalidIncident(f"bug_id: bug {bug_id} is not in the store", field="bug_id")
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise InvalidIncident("tags: must be a list of type tags (empty for none)", field="tags")
    canonical = sorted({taxonomy.canonical(t) for t in tags})
    unknown = [t for t in canonical if t not in taxonomy.tag_categories]
    if unknown:
        raise InvalidIncident(f"tags: {', '.join(unknown)} not a type tag of the taxonomy",
                              field="tags")
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise InvalidIncident("note: must be text", field="note")
    return CorrectionIn(bug_id, tuple(canonical), note.strip())


def _model_said(*, session: Session, bug_id: int, active_version: str | None,
                loaded: LoadedModel | None, taxonomy: Taxonomy) -> tuple[list | None, dict | None]:
    if active_version is None:
        return None, None
    row = session.scalar(select(PredictionRow).where(PredictionRow.incident_id == bug_id,
                                                     PredictionRow.model_version == active_version))
    if row is not None:
        return list(row.tags), dict(row.scores)
    if loaded is None or loaded.version != active_version:
        return None, None
    from .classification import classify
    from .store import row_incident

    incident = row_incident(session.get(IncidentRow, bug_id))
    result = classify(loaded, [incident], taxonomy)[0]
    return list(result.tags), dict(result.scores)


def add_correction(*, session: Session, taxonomy: Taxonomy, bug_id: Any, tags: Any, note: Any = "",
                   author: str, token_id: int | None = None, active_version: str | None = None,
                   loaded: LoadedModel | None = None) -> CorrectionRow:
    """Store a maintainer's correction with what the active model said of the incident then.

    What the model said is its stored prediction of the incident; when there is none and the
    active model is ``loaded``, it is asked now. The caller's transaction commits.
    """
    if loaded is not None and active_version is None:
        active_version = loaded.version
    checked = check_correction(session=session, taxonomy=taxonomy, bug_id=bug_id, tags=tags,
                               note=note)
    model_tags, model_scores = _model_said(session=session, bug_id=checked.bug_id,
                                           active_version=active_version, loaded=loaded,
                                           taxonomy=taxonomy)
    row = CorrectionRow(incident_id=checked.bug_id, tags=list(checked.tags), note=checked.note,
                        author=author, token_id=token_id, created_at=utcnow(),
                        model_version=active_version if model_tags is not None else None,
                        model_tags=model_tags, model_scores=model_scores)
    session.add(row)
    session.flush()
    return row


def list_corrections(*, session: Session, bug_id: int | None = None, limit: int = 100,
                     offset: int = 0) -> tuple[list[CorrectionRow], int]:
    """Corrections, newest first (one bug's if ``bug_id``), and how many there are in all."""
    query = select(CorrectionRow)
    count = select(func.count()).select_from(CorrectionRow)
    if bug_id is not None:
        query = query.where(CorrectionRow.incident_id == bug_id)
        count = count.where(CorrectionRow.incident_id == bug_id)
    rows = session.scalars(query.order_by(CorrectionRow.id.desc()).limit(limit).offset(offset))
    return list(rows), int(session.scalar(count) or 0)


def parse_correction_lines(*, session: Session, taxonomy: Taxonomy,
                           lines: Iterable[str]) -> list[CorrectionIn]:
    """Check every line of a corrections file (one JSON object a line) before any is stored.

    A bad line raises InvalidIncident naming its line number and field; blank lines are skipped.
    """
    out: list[CorrectionIn] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidIncident(f"line {number}: not JSON ({exc.msg})", field="line") from None
        if not isinstance(data, dict):
            raise InvalidIncident(f"line {number}: not a JSON object", field="line")
        extra = set(data) - {"bug_id", "tags", "note"}
        if extra:
            raise InvalidIncident(f"line {number}: unknown field {sorted(extra)[0]}",
                                  field=sorted(extra)[0])
        for name in ("bug_id", "tags"):
            if name not in data:
                raise InvalidIncident(f"line {number}: {name}: missing", field=name)
        try:
            out.append(check_correction(session=session, taxonomy=taxonomy, bug_id=data["bug_id"],
                                        tags=data["tags"], note=data.get("note", "")))
        except InvalidIncident as exc:
            raise InvalidIncident(f"line {number}: {exc}", field=exc.field) from None
    return out
