"""What POST /classify answers: a classification of each bug, with the words behind it."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TermWeight(BaseModel):
    term: str = Field(description="A word or phrase of the summary or the description.")
    weight: float = Field(description="How much it pushed the tag's score up.")


class ClassificationPublic(BaseModel):
    """What the model says of one bug."""

    id: int | None = Field(description="The bug id, if one was sent (`stored` says whether the "
                                        "bug was stored).")
    tags: list[str] = Field(description="Predicted incident type tags.")
    categories: list[str] = Field(description="Briefing categories of those tags, in order.")
    scores: dict[str, float] = Field(description="Calibrated probability of each learned tag.")
    needs_review: bool = Field(description="The model is unsure: a person should look.")
    review_reason: str | None = Field(
        None, description="Why a person should look, when one should: no type reached its "
                          "threshold (and the closest guess), or the answer a confidence below "
                          "the review bar comes from.")
    confidence: float = Field(description="How likely all the model's yes/no answers are "
                                          "right, as often as such answers were right out of "
                                          "fold (0 when no tag passed its threshold).")
    model_version: str
    explanation: dict[str, list[TermWeight]] = Field(
        description="For each predicted tag, the input's words that pushed it most.")
    stored: bool = Field(description="The bug and this prediction were stored: the bug had an "
                                     "id and, on POST /classify, the request a maintainer's "
                                     "token.")
    not_stored_because: str | None = Field(
        None, description="Why a bug with an id was not stored: the request carries no "
                          "maintainer's token, the bug is in another product or component than "
                          "CA Program / CA Certificate Compliance, or the store holds a newer "
                          "copy of it (its `last_change_time` is later than the one sent), which "
                          "is kept as it is.")


class ClassificationsPublic(BaseModel):
    data: list[ClassificationPublic]
    count: int
    model_version: str
