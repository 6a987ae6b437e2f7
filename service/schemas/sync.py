"""A sync from Bugzilla: what it found new, updated and unchanged."""

from __future__ import annotations

from pydantic import BaseModel


class SyncReportPublic(BaseModel):
    source: str
    since: str | None
    new: int
    updated: int
    unchanged: int
    skipped: int
    state: str | None
