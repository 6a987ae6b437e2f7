"""Long jobs started over HTTP (retrain, sync): what ``GET /jobs/{id}`` answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class JobPublic(BaseModel):
    id: str
    kind: Literal["retrain", "sync", "relabel"]
    state: Literal["queued", "running", "succeeded", "failed"]
    requested_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: str | None = Field(description="What the job is doing now (its last step).")
    result: dict[str, Any] | None = Field(
        description="When it succeeded: what the route used to answer (the retraining decision, "
                    "the sync report).")
    error: str | None = Field(description="When it failed: why.")
    status_code: int | None = Field(
        description="When it ended: the status its answer stands for (200; 409 too few incidents "
                    "to retrain, 502 Bugzilla kept failing, 500 an unexpected error).")


class JobsPublic(BaseModel):
    data: list[JobPublic] = Field(description="One page of the jobs, newest first.")
    count: int = Field(description="Jobs in all (of the kind asked for).")
