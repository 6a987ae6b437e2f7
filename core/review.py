"""The review queue: the work left to do, the predicted labels a human should look at.

An incident is in the queue of a model version when its label comes from that version's
prediction (no maintainer corrected it, Mozilla gave it no type tag in Bugzilla), the prediction
was flagged for review (``needs_review``), and the bug is an incident of its own (not resolved as
one of the excluded resolutions, DUPLICATE and INVALID by default). Least sure first. It can be
narrowed to the incidents open in a period (the briefing's rule, :mod:`core.aggregate`) and to
one CA (any of its names in the CA names file, :mod:`core.ca_names`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from .aggregate import DEFAULT_EXCLUDED_RESOLUTIONS, excluded_resolution, open_in_window
from .ca_names import CANames, shown_ca_names
from .tables import CorrectionRow, IncidentRow, IncidentTagRow, PredictionRow

#: The bounds of a period left open on one side.
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ReviewItem:
    incident_id: int
    summary: str
    tags: tuple[str, ...]
    needs_review: bool
    confidence: float
    top_scores: dict[str, float]
    ca_name: str = ""
    creation_time: datetime | None = None
    review_reason: str | None = None
    #: Its CA as the briefing and the incident record show it (``core.ca_names.shown_ca_names``).
    ca: str = ""


def _queue(*, session: Session, model_version: str, start: datetime | None, end: datetime | None,
           ca: str | None, ca_names: CANames | None,
           excluded_resolutions: Sequence[str]) -> Select:
    """The queue's rows (prediction, incident), unordered and unpaged."""
    tagged = exists().where(IncidentTagRow.incident_id == IncidentRow.id, IncidentTagRow.kind == "type")
    query = (select(PredictionRow, IncidentRow)
             .join(IncidentRow, IncidentRow.id == PredictionRow.incident_id)
             .where(PredictionRow.model_version == model_version,
                    PredictionRow.needs_review.is_(True),
                    PredictionRow.incident_id.not_in(select(CorrectionRow.incident_id)),
                    ~tagged, ~excluded_resolution(excluded_resolutions)))
    if start is not None or end is not None:
        query = query.where(IncidentRow.id.in_(open_in_window(start or EARLIEST, end or LATEST)))
    if ca is not None and ca.strip():  # a blank one (a form's "any CA") filters nothing
        query = query.where(IncidentRow.ca_name.in_(stored_names_of(session=session, ca=ca,
                                                                    ca_names=ca_names)))
    return query


def stored_names_of(*, session: Session, ca: str, ca_names: CANames | None) -> list[str]:
    """The CA names in the store that are the CA ``ca`` (by any of its names); none when no
    incident of the store is of that CA."""
    stored = session.scalars(select(IncidentRow.ca_name).distinct())
    return (ca_names or CANames()).same_ca(ca, stored)


def review_queue(*, session: Session, model_version: str, limit: int = 50, offset: int = 0,
                 start: datetime | None = None, end: datetime | None = None, ca: str | None = None,
                 ca_names: CANames | None = None,
                 excluded_resolutions: Sequence[str] = DEFAULT_EXCLUDED_RESOLUTIONS) -> list[ReviewItem]:
    """One page of ``model_version``'s review queue, least sure (lowest confidence) first.

    Parameters
    ----------
    limit, offset : the page.
    start, end : only incidents open at some time between them (either may be left out).
    ca : only incidents of this CA, by any of its names in ``ca_names``.
    excluded_resolutions : resolutions of bugs that are not incidents of their own.
    """
    query = _queue(session=session, model_version=model_version, start=start, end=end, ca=ca,
                   ca_names=ca_names, excluded_resolutions=excluded_resolutions)
    rows = session.execute(query.order_by(PredictionRow.confidence, PredictionRow.incident_id)
                           .limit(limit).offset(offset)).all()
    shown = shown_ca_names(session=session, ca_names=ca_names,
                           stored=[incident.ca_name for _, incident in rows])
    return [ReviewItem(incident_id=p.incident_id, summary=incident.summary, tags=tuple(p.tags),
                       needs_review=p.needs_review, confidence=p.confidence,
                       top_scores=dict(sorted(p.scores.items(), key=lambda kv: (-kv[1], kv[0]))[:3]),
                       ca_name=incident.ca_name, creation_time=incident.creation_time,
                       review_reason=p.review_reason, ca=shown[incident.ca_name])
            for p, incident in rows]


def review_count(*, session: Session, model_version: str, start: datetime | None = None,
                 end: datetime | None = None, ca: str | None = None, ca_names: CANames | None = None,
                 excluded_resolutions: Sequence[str] = DEFAULT_EXCLUDED_RESOLUTIONS) -> int:
    """How many incidents :func:`review_queue` holds with the same filters, over every page."""
    query = _queue(session=session, model_version=model_version, start=start, end=end, ca=ca,
                   ca_names=ca_names, excluded_resolutions=excluded_resolutions)
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
