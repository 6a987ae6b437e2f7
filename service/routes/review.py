"""GET /review: the incidents that most need a human, most uncertain first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from core.review import review_queue

from ..auth import READERS
from ..deps import ActiveVersionDep, SessionDep
from ..schemas import ReviewItemPublic, ReviewPublic

router = APIRouter(prefix="/review", tags=["review"], dependencies=[READERS])


@router.get("", response_model=ReviewPublic)
def read_review_queue(session: SessionDep, active_version: ActiveVersionDep,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> ReviewPublic:
    """Stored predictions of the active model version on uncorrected incidents: those it
    flagged for review first, then by lowest confidence. A correction of each teaches the next
    model the most. Empty until the active version has classified stored incidents
    (`incidents relabel`)."""
    if active_version is None:
        return ReviewPublic(data=[], count=0, model_version=None)
    items = review_queue(session=session, model_version=active_version, limit=limit)
    data = [ReviewItemPublic(id=i.incident_id, summary=i.summary, tags=list(i.tags),
                             needs_review=i.needs_review, confidence=i.confidence,
                             top_scores=i.top_scores) for i in items]
    return ReviewPublic(data=data, count=len(data), model_version=active_version)
