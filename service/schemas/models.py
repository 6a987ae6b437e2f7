"""Model versions: their cards, a retraining's request and decision, and the recorded decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool


class ModelPublic(BaseModel):
    version: str
    active: bool = Field(description="Named by the registry's ACTIVE file.")
    serving: bool = Field(description="The version this process answers with.")
    card: dict[str, Any] | None = Field(description="The model card: training data, labels, "
                                                    "thresholds, metrics; null when it cannot be "
                                                    "read (`damaged` says why).")
    damaged: str | None = Field(
        default=None,
        description="GET /models only: why the version's card cannot be read, naming the file "
                    "and the problem (`v2/card.json is not a readable card (...)`), as `incidents "
                    "models list` says it; null when it can. Such a version is listed with a null "
                    "`card`; GET /models/{version} answers 409 with the same sentence.")
    live: dict[str, Any] | None = Field(
        default=None,
        description="GET /models/{version} and /models/active: the live record, i.e. the version's predictions of "
                    "incidents Mozilla tagged later, scored over the last INCIDENTS_LIVE_WINDOW of "
                    "them (micro-F1, per-category and per-tag precision and recall, precision of "
                    "what was not sent to review, the card's held-out micro-F1 and the alarm); "
                    "null when the store cannot be read.")


class ModelsPublic(BaseModel):
    data: list[ModelPublic]
    count: int
    active_version: str | None
    serving_version: str | None


class ActivationPublic(BaseModel):
    """What a promotion or a rollback did."""

    active_version: str = Field(description="The version active now (the service serves it).")
    previous: str | None = Field(description="The version it replaced.")
    by: str = Field(description="Who asked: the maintainer token's name, recorded in the "
                                "models folder's history (`incidents models history`).")


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Strict: a flag that skips the gate is true only when it says true, not "yes", "on" or 1.
    force: StrictBool = Field(default=False, description="Promote the challenger whatever its "
                                                         "figures (`true` or `false`).")


class RetrainDecisionPublic(BaseModel):
    id: int
    challenger: str | None = Field(description="The version trained; null when nothing was "
                                               "fitted (the active model had nothing new to learn).")
    active_before: str | None
    active_after: str | None
    promoted: bool
    forced: bool
    tolerance: float
    reason: str
    challenger_metrics: dict[str, Any] = Field(
        description="The challenger's figures on the comparison window, and the window: "
                    "holdout_size, holdout_from, holdout_to (filing times) and holdout_unseen "
                    "(the active model has seen none of it); figures null and holdout_size 0 "
                    "when too few labelled incidents were there to compare.")
    active_metrics: dict[str, Any] | None
    requested_by: str | None
    window: str = Field(default="", description="The incidents the two were compared on, in words "
                                                "(or why nothing was compared).")


class ModelDecisionPublic(BaseModel):
    """A recorded retraining decision (a row of `model_decisions`)."""

    id: int
    created_at: datetime
    challenger: str | None = Field(description="The version trained; null when nothing was "
                                               "fitted (the active model had nothing new to learn).")
    active_before: str | None
    active_after: str | None = Field(description="The challenger when promoted, else active_before.")
    promoted: bool
    forced: bool
    tolerance: float
    reason: str
    holdout_size: int = Field(description="Incidents the two were compared on (0: none).")
    challenger_metrics: dict[str, Any]
    active_metrics: dict[str, Any] | None
    requested_by: str | None


class ModelDecisionsPublic(BaseModel):
    data: list[ModelDecisionPublic]
    count: int = Field(description="How many decisions are recorded in all.")
