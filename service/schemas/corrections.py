"""Corrections: a maintainer's verdict on a stored incident's type tags, in and out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from core.corrections import MAX_NOTE_CHARS

from .common import BugId, no_nul

TypeTag = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(no_nul)]


class CorrectionBase(BaseModel):
    """A maintainer's verdict on one stored incident's type tags."""

    bug_id: BugId
    tags: list[TypeTag] = Field(max_length=100, description="Type tags of the taxonomy (aliases "
                                                            "are made canonical); empty: none.")
    note: Annotated[str, Field(max_length=MAX_NOTE_CHARS), AfterValidator(no_nul)] = ""


class CorrectionCreate(CorrectionBase):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"bug_id": 1900001, "tags": ["smime-misissuance"], "note": "S/MIME, not TLS"}]})


class CorrectionPublic(BaseModel):
    """A maintainer's correction of the tags; the last one counts."""

    tags: list[str]
    created_at: datetime
    author: str | None = None
    note: str | None = None


class CorrectionStored(BaseModel):
    """A stored correction: who, when, to what, and what the active model had said then."""

    id: int
    bug_id: int
    tags: list[str]
    categories: list[str]
    note: str
    author: str
    created_at: datetime
    model_version: str | None = Field(description="The active version whose prediction is "
                                                  "recorded (None: no model had one).")
    model_tags: list[str] | None
    model_scores: dict[str, float] | None


class CorrectionCreated(CorrectionStored):
    """What ``POST /corrections`` answers: the correction that counts for the bug now."""

    stored: bool = Field(description="This request stored the correction (201). False (200): the "
                                     "correction that counts for the bug was already this one "
                                     "(same tags, note and author), which is answered and nothing "
                                     "new is stored: a retried request stores nothing twice.")


class CorrectionsStored(BaseModel):
    data: list[CorrectionStored]
    count: int = Field(description="Corrections matching the filter, over all pages.")
