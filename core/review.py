"""The review queue: the work left to do, the predicted labels a human should look at.

An incident is in the queue when its label comes from a model's prediction (no maintainer
corrected it, Mozilla gave it no type tag in Bugzilla), the prediction it is shown with (the
active version's if it made one, else the latest stored: the briefing's rule,
:func:`core.labels.shown_predictions`) was flagged for review (``needs_review``), and the bug is
an incident of its own (not resolved as one of the excluded resolutions, DUPLICATE and INVALID
by default). Right after a promotion, before a relabel, the queue is the older versions'.
Least sure first. It can be narrowed to the incidents open in a period (the briefing's rule,
:mod:`core.aggregate`) and to one CA (any of its names in the CA names file,
:mod:`core.ca_names`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import CompoundSelect, Select, exists, func, select
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
    #: The version whose prediction it is (the active one, unless it has not classified it yet).
    model_version: str = ""


def shown_prediction_ids(active_version: str | None) -> Select | CompoundSelect:
    """The ids of the predictions incidents are shown with, as a subquery: the active version's
    where it made one, else each incident's latest (:func:`core.labels.shown_predictions`'s rule)."""
    latest = (select(PredictionRow.id, PredictionRow.incident_id, func.row_number().over(
        partition_by=PredictionRow.incident_id,
        order_by=(PredictionRow.created_at.desc(), PredictionRow.id.desc())).label("rank"))
        .subquery())
    others = select(latest.c.id).where(latest.c.rank == 1)
    if active_version is None:
        return others
    own = select(PredictionRow.incident_id).where(PredictionRow.model_version == active_version)
    return (select(PredictionRow.id).where(PredictionRow.model_version == active_version)
            .union_all(others.where(latest.c.incident_id.not_in(own))))


def _queue(*, session: Session, model_version: str | None, start: datetime | None,
           end: datetime | None, ca: str | None, ca_names: CANames | None,
           excluded_resolutions: Sequence[str]) -> Select:
    """The queue's rows (prediction, incident), unordered and unpaged."""
    tagged = exists().where(IncidentTagRow.incident_id == IncidentRow.id, IncidentTagRow.kind == "type")
    query = (select(PredictionRow, IncidentRow)
             .join(IncidentRow, IncidentRow.id == PredictionRow.incident_id)
             .where(PredictionRow.id.in_(shown_prediction_ids(model_version)),
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


def review_queue(*, session: Session, model_version: str | None, limit: int = 50, offset: int = 0,
                 start: datetime | None = None, end: datetime | None = None, ca: str | None = None,
                 ca_names: CANames | None = None,
                 excluded_resolutions: Sequence[str] = DEFAULT_EXCLUDED_RESOLUTIONS) -> list[ReviewItem]:
    """One page of the review queue while ``model_version`` is active, least sure (lowest
    confidence) first.

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
                       review_reason=p.review_reason, ca=shown[incident.ca_name],
                       model_version=p.model_version)
            for p, incident in rows]


def review_count(*, session: Session, model_version: str | None, start: datetime | None = None,
                 end: datetime | None = None, ca: str | None = None, ca_names: CANames | None = None,
                 excluded_resolutions: Sequence[str] = DEFAULT_EXCLUDED_RESOLUTIONS) -> int:
    """How many incidents :func:`review_queue` holds with the same filters, over every page."""
    query = _queue(session=session, model_version=model_version, start=start, end=end, ca=ca,
                   ca_names=ca_names, excluded_resolutions=excluded_resolutions)
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
