"""The review queue: the incidents whose active-model prediction most needs a human's look."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .tables import CorrectionRow, IncidentRow, PredictionRow


@dataclass(frozen=True)
class ReviewItem:
    incident_id: int
    summary: str
    tags: tuple[str, ...]
    needs_review: bool
    confidence: float
    top_scores: dict[str, float]


def review_queue(*, session: Session, model_version: str, limit: int = 50) -> list[ReviewItem]:
    """Uncorrected incidents by how unsure ``model_version`` was of them, most unsure first.

    Flagged predictions (``needs_review``) come first, then the rest; within each, the lowest
    confidence first. Incidents with a correction are left out: a human already looked.
    """
    corrected = select(CorrectionRow.incident_id)
    rows = session.execute(
        select(PredictionRow, IncidentRow.summary)
        .join(IncidentRow, IncidentRow.id == PredictionRow.incident_id)
        .where(PredictionRow.model_version == model_version,
               PredictionRow.incident_id.not_in(corrected))
        .order_by(PredictionRow.needs_review.desc(), PredictionRow.confidence,
                  PredictionRow.incident_id)
        .limit(limit))
    return [ReviewItem(incident_id=p.incident_id, summary=summary, tags=tuple(p.tags),
                       needs_review=p.needs_review, confidence=p.confidence,
                       top_scores=dict(sorted(p.scores.items(), key=lambda kv: (-kv[1], kv[0]))[:3]))
            for p, summary in rows]
