"""The briefing table: incidents open in a window, per briefing category."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CategoryRowPublic(BaseModel):
    category: str
    incidents: int = Field(description="Incidents open in the window that count in this row.")
    cas: list[str] = Field(description="The CAs of those incidents (named in the summaries).")
    sources: dict[str, int] = Field(description="Of those incidents, how many took their label "
                                                "from each source.")


class WindowRulePublic(BaseModel):
    rule: str
    description: str
    incidents: int = Field(description="Incidents counted under this rule.")


class BriefingPublic(BaseModel):
    """Incidents open in a window, per briefing category (one incident may count in several)."""

    start: datetime
    end: datetime
    model_version: str | None = Field(description="The active version whose predictions are "
                                                  "preferred.")
    total: int = Field(description="Distinct incidents open in the window.")
    category_entries: int = Field(description="Sum of the rows.")
    uncategorised: int = Field(description="Open incidents whose label is in no row.")
    rows: list[CategoryRowPublic]
    rules: list[WindowRulePublic]
    sources: dict[str, int] = Field(description="How many open incidents took their label from "
                                                "a correction, Bugzilla's tags, the model, or "
                                                "none.")
    undated: int = Field(description="Stored incidents without a filing time, never counted.")
    excluded: dict[str, int] = Field(
        default_factory=dict,
        description="Bugs of the window left out per resolution (DUPLICATE, INVALID by default: "
                    "not incidents of their own).")
