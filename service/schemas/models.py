"""Model versions: their cards, and a retraining's request and decision."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ModelPublic(BaseModel):
    version: str
    active: bool = Field(description="Named by the registry's ACTIVE file.")
    serving: bool = Field(description="The version this process answers with.")
    card: dict[str, Any] = Field(description="The model card: training data, labels, "
                                             "thresholds, metrics.")


class ModelsPublic(BaseModel):
    data: list[ModelPublic]
    count: int
    active_version: str | None
    serving_version: str | None


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: bool = Field(default=False, description="Promote the challenger whatever its figures.")


class RetrainDecisionPublic(BaseModel):
    id: int
    challenger: str
    active_before: str | None
    active_after: str | None
    promoted: bool
    forced: bool
    tolerance: float
    reason: str
    challenger_metrics: dict[str, Any]
    active_metrics: dict[str, Any] | None
    requested_by: str | None
