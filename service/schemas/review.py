"""The review queue: the stored incidents that most need a human."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ReviewItemPublic(BaseModel):
    id: int
    summary: str
    tags: list[str] = Field(description="The active model's predicted tags.")
    needs_review: bool
    confidence: float
    top_scores: dict[str, float] = Field(description="The three highest scores.")


class ReviewPublic(BaseModel):
    data: list[ReviewItemPublic]
    count: int
    model_version: str | None
