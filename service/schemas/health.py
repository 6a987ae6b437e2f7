"""Liveness and readiness answers."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HealthPublic(BaseModel):
    status: str = "ok"


class ReadyPublic(BaseModel):
    ready: bool
    model_version: str | None
    store: str
    problems: list[str]
    warnings: list[str] = Field(
        default_factory=list,
        description="What needs a maintainer but does not stop the service (a taxonomy edit "
                    "that does not load: the last good taxonomy stays in service).")
