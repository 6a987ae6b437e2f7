"""GET /review: the work left to do, the predicted labels that most need a human, least sure first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from core.aggregate import bounds
from core.review import review_count, review_queue

from ..auth import READERS
from ..config import MAX_OFFSET
from ..deps import BOUND_HELP, ActiveVersionDep, CANamesDep, SessionDep, SettingsDep
from ..schemas import ReviewItemPublic, ReviewPublic

router = APIRouter(prefix="/review", tags=["review"], dependencies=[READERS])


@router.get("", response_model=ReviewPublic)
def read_review_queue(
    session: SessionDep, active_version: ActiveVersionDep, settings: SettingsDep, ca_names: CANamesDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Incidents a page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Incidents skipped.")] = 0,
    start: Annotated[str | None, Query(max_length=40, description="Only incidents open at some time "
                                       f"from then on. {BOUND_HELP}")] = None,
    end: Annotated[str | None, Query(max_length=40, description="Only incidents open at some time "
                                     f"until then (filed by then). {BOUND_HELP}")] = None,
    ca: Annotated[str | None, Query(max_length=255, description="Only this CA's incidents, by any of "
                                    "its names in the CA names file (`Sectigo` also finds `Comodo`).")]
    = None,
) -> ReviewPublic:
    """The incidents whose label comes from a model (no correction, no Bugzilla type tags), not
    resolved DUPLICATE or INVALID (`INCIDENTS_BRIEFING_EXCLUDED_RESOLUTIONS`), whose prediction
    was flagged for review: least sure first. The prediction is the one the briefing counts: the
    active version's, or the latest where it has not classified the incident yet (right after a
    promotion, until `incidents relabel` or the nightly run; each item's `model_version` says
    whose). A correction of each takes it off the queue and teaches the next model the most.
    `count` is the whole queue with these filters; `data` one page of it."""
    lower, upper = bounds(start, end)  # start after end: 422 naming start
    if active_version is None:
        return ReviewPublic(data=[], count=0, model_version=None)
    filters: dict[str, Any] = {"start": lower, "end": upper, "ca": ca, "ca_names": ca_names,
               "excluded_resolutions": settings.briefing_excluded_resolutions}
    items = review_queue(session=session, model_version=active_version, limit=limit, offset=offset,
                         **filters)
    data = [ReviewItemPublic(id=i.incident_id, summary=i.summary, tags=list(i.tags),
                             needs_review=i.needs_review, confidence=i.confidence,
                             top_scores=i.top_scores, ca=i.ca, ca_name=i.ca_name,
                             creation_time=i.creation_time,
                             review_reason=i.review_reason, model_version=i.model_version)
            for i in items]
    return ReviewPublic(data=data, count=review_count(session=session, model_version=active_version,
                                                      **filters),
                        model_version=active_version, limit=limit, offset=offset)
