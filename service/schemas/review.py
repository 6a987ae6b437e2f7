"""The review queue: the stored incidents that most need a human."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ReviewItemPublic(BaseModel):
    id: int
    summary: str
    tags: list[str] = Field(description="The predicted tags.")
    model_version: str = Field("", description="The version that predicted them: the active one, "
                                               "or an older one where it has not classified the "
                                               "incident yet.")
    needs_review: bool
    review_reason: str | None = Field(
        None, description="Why a person should look: no type reached its threshold (and the "
                          "closest guess), or the answer a low confidence comes from.")
    confidence: float
    top_scores: dict[str, float] = Field(description="The three highest scores.")
    ca: str = Field("", description="Its CA as the briefing and `GET /incidents` show it (the CA "
                                    "names file's name, else as the summaries write it).")
    ca_name: str = Field("", description="The CA its summary names, as the store keys it (lower "
                                         "case).")
    creation_time: datetime | None = None


class ReviewPublic(BaseModel):
    data: list[ReviewItemPublic] = Field(description="One page of the queue, least sure first.")
    count: int = Field(description="Incidents in the whole queue with these filters.")
    model_version: str | None
    limit: int = 50
    offset: int = 0
