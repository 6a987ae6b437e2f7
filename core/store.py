"""Reading and writing incidents, their tags and predictions; plain keyword-only functions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, selectinload

from classifier import Incident, InvalidIncident, WhiteboardTags, ca_name_from_summary

from .tables import CorrectionRow, IncidentRow, IncidentTagRow, LiveScoreRow, PredictionRow, utcnow

if TYPE_CHECKING:  # the store takes records; it does not reach Bugzilla
    from .bugzilla import BugRecord

#: Highest bug id the store takes, and the REST API reads (Bugzilla's ids are 32-bit): an
#: incident stored under a larger one could never be read back there, and SQLite cannot even
#: take 2**63 (an OverflowError where PostgreSQL refuses in one line).
MAX_BUG_ID = 2**31 - 1


def is_bug_id(value: Any) -> bool:
    """Whether ``value`` is a bug id the store takes: an int (not a bool) from 1 to MAX_BUG_ID."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_BUG_ID


def checked_bug_id(value: Any, field: str) -> int:
    """``value`` when it is a bug id the store takes (:func:`is_bug_id`); else InvalidIncident
    naming ``field``."""
    if not is_bug_id(value):
        raise InvalidIncident(f"{field}: expected a positive integer up to {MAX_BUG_ID} (a Bugzilla "
                              f"bug id), got {value!r:.40}", field=field)
    return value


_COPIED = ("summary", "description", "whiteboard", "creator", "creator_domain", "product",
           "component", "status", "resolution", "creation_time", "last_change_time",
           "resolved_at", "last_comment_time")


@dataclass
class SyncCounts:
    """What an upsert did: bug ids that were new, changed or already as given."""

    new: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.new)} new, {len(self.updated)} updated, {len(self.unchanged)} unchanged"


def _tag_rows(record: BugRecord) -> list[tuple[str, str]]:
    t = record.tags
    return sorted([(tag, "type") for tag in t.types] + [(tag, "meta") for tag in t.meta]
                  + [(tag, "unknown") for tag in t.unknown])


def upsert_bugs(*, session: Session, records: Sequence[BugRecord]) -> SyncCounts:
    """Insert new bugs and update changed ones, by bug id; the caller's transaction commits.

    When a bug's first type tags arrive (it is new with some, or it had none), the incident's
    ``tags_known_at`` is set (once: it stays when the tags later change or go), and every stored
    prediction of it made before then is scored against the type tags this call leaves it with:
    one ``live_scores`` row per incident and model version (see ``core.live``), a comparison of
    stored rows, no model run.

    Running it twice with the same records changes nothing the second time.
    """
    now = utcnow()
    counts = SyncCounts()
    first_tagged: dict[int, IncidentRow] = {}
    ids = [r.id for r in records]
    existing = {
        row.id: row for row in session.scalars(
            select(IncidentRow).where(IncidentRow.id.in_(ids)).options(selectinload(IncidentRow.tags)))
    } if ids else {}
    for record in records:
        row = existing.get(record.id)
        wanted_tags = _tag_rows(record)
        if row is None:
            row = IncidentRow(id=record.id, ca_name=ca_name_from_summary(record.summary),
                              synced_at=now, tags_known_at=now if record.tags.types else None,
                              **{name: getattr(record, name) for name in _COPIED})
            row.tags = [IncidentTagRow(tag=tag, kind=kind) for tag, kind in wanted_tags]
            session.add(row)
            existing[record.id] = row
            counts.new.append(record.id)
            continue
        changed = [name for name in _COPIED if getattr(row, name) != getattr(record, name)]
        have_tags = sorted((t.tag, t.kind) for t in row.tags)
        if not changed and have_tags == wanted_tags:
            counts.unchanged.append(record.id)
            continue
        for name in changed:
            setattr(row, name, getattr(record, name))
        row.ca_name = ca_name_from_summary(record.summary)
        if have_tags != wanted_tags:
            had_types = any(kind == "type" for _, kind in have_tags)
            row.tags = [IncidentTagRow(tag=tag, kind=kind) for tag, kind in wanted_tags]
            if record.tags.types and not had_types:
                row.tags_known_at = row.tags_known_at or now
                first_tagged[row.id] = row
        row.synced_at = now
        counts.updated.append(record.id)
    session.flush()
    if first_tagged:
        _score_predictions(session=session, incidents=first_tagged, now=now)
    return counts


def _score_predictions(*, session: Session, incidents: dict[int, IncidentRow], now: datetime) -> None:
    """A ``live_scores`` row for each prediction of ``incidents`` made before their type tags
    were first known and before any correction of them (a version trained on a maintainer's
    correction would otherwise be scored on its own training label), unless that incident and
    version has one already."""
    ids = list(incidents)
    scored = {(bug_id, version) for bug_id, version in session.execute(
        select(LiveScoreRow.incident_id, LiveScoreRow.model_version).where(LiveScoreRow.incident_id.in_(ids)))}
    first_corrected = {bug_id: at for bug_id, at in session.execute(
        select(CorrectionRow.incident_id, func.min(CorrectionRow.created_at))
        .where(CorrectionRow.incident_id.in_(ids)).group_by(CorrectionRow.incident_id))}
    for prediction in session.scalars(select(PredictionRow).where(PredictionRow.incident_id.in_(ids))
                                      .order_by(PredictionRow.id)):
        row = incidents[prediction.incident_id]
        known = row.tags_known_at
        corrected = first_corrected.get(prediction.incident_id)
        if known is None or prediction.created_at >= known \
                or (corrected is not None and prediction.created_at >= corrected) \
                or (prediction.incident_id, prediction.model_version) in scored:
            continue
        session.add(LiveScoreRow(
            incident_id=prediction.incident_id, model_version=prediction.model_version,
            predicted_tags=list(prediction.tags),
            true_tags=sorted(t.tag for t in row.tags if t.kind == "type"),
            needs_review=prediction.needs_review, predicted_at=prediction.created_at,
            scored_at=now))
    session.flush()


def record_of(*, row: IncidentRow) -> BugRecord:
    """A stored incident as the record that stores it: ``upsert_bugs`` of it changes nothing."""
    from .bugzilla import BugRecord  # here: core.bugzilla's sync imports this module

    kinds = {kind: tuple(t.tag for t in row.tags if t.kind == kind)
             for kind in ("type", "meta", "unknown")}
    return BugRecord(id=row.id, tags=WhiteboardTags(types=kinds["type"], meta=kinds["meta"],
                                                    unknown=kinds["unknown"]),
                     **{name: getattr(row, name) for name in _COPIED})


def stored_records(*, session: Session, ids: Iterable[int]) -> dict[int, BugRecord]:
    """The stored incidents among ``ids`` as records (``record_of``), by bug id."""
    rows = session.scalars(select(IncidentRow).where(IncidentRow.id.in_(list(ids)))
                           .options(selectinload(IncidentRow.tags)))
    return {row.id: record_of(row=row) for row in rows}


def row_incident(row: IncidentRow) -> Incident:
    """The model's view of a stored incident."""
    return Incident(summary=row.summary, description=row.description, id=row.id,
                    creator_domain=row.creator_domain, creation_time=row.creation_time,
                    status=row.status, resolution=row.resolution, resolved_at=row.resolved_at)


def get_incident(*, session: Session, bug_id: int) -> IncidentRow | None:
    return session.get(IncidentRow, bug_id, options=[selectinload(IncidentRow.tags),
                                                      selectinload(IncidentRow.predictions)])


def iter_incidents(*, session: Session, ids: Iterable[int] | None = None) -> list[IncidentRow]:
    query = select(IncidentRow).order_by(IncidentRow.id)
    if ids is not None:
        query = query.where(IncidentRow.id.in_(list(ids)))
    return list(session.scalars(query))


@dataclass(frozen=True)
class NewPrediction:
    """A model's answer for one stored incident, as :func:`save_predictions` stores it."""

    incident_id: int
    model_version: str
    tags: Sequence[str]
    scores: dict[str, float]
    needs_review: bool
    confidence: float
    review_reason: str | None = None


def save_predictions(*, session: Session, predictions: Sequence[NewPrediction]) -> int:
    """Store predictions; the same incident and model version is stored once (the last one
    given wins). One query for the ids already stored, then one bulk INSERT and one bulk
    UPDATE, with no ORM object a row (the unit of work cost relabel 175 µs a prediction).
    Returns how many were written."""
    latest = {(p.incident_id, p.model_version): p for p in predictions}  # the last one wins
    if not latest:
        return 0
    stored = {(incident, version): row_id for incident, version, row_id in session.execute(
        select(PredictionRow.incident_id, PredictionRow.model_version, PredictionRow.id).where(
            PredictionRow.incident_id.in_({incident for incident, _ in latest}),
            PredictionRow.model_version.in_({version for _, version in latest})))}
    now = utcnow()
    new, changed = [], []
    for key, p in latest.items():
        values = {"tags": list(p.tags), "scores": dict(p.scores), "needs_review": p.needs_review,
                  "review_reason": p.review_reason, "confidence": p.confidence, "created_at": now}
        if key in stored:
            changed.append({"id": stored[key], **values})
        else:
            new.append({"incident_id": p.incident_id, "model_version": p.model_version, **values})
    if new:
        session.execute(insert(PredictionRow), new)
    if changed:
        session.execute(update(PredictionRow), changed)
    return len(latest)


def save_prediction(*, session: Session, incident_id: int, model_version: str, tags: Sequence[str],
                    scores: dict[str, float], needs_review: bool, confidence: float,
                    review_reason: str | None = None) -> PredictionRow:
    """Store a prediction (:func:`save_predictions` of one) and return its row, read again."""
    save_predictions(session=session, predictions=[NewPrediction(
        incident_id, model_version, tags, scores, needs_review, confidence, review_reason)])
    # The bulk UPDATE does not refresh a row already in the session: read it over.
    return session.scalars(select(PredictionRow).where(
        PredictionRow.incident_id == incident_id, PredictionRow.model_version == model_version)
        .execution_options(populate_existing=True)).one()
