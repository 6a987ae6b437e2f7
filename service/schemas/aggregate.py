"""The briefing table: incidents open in a period, per briefing category."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CategoryRowPublic(BaseModel):
    category: str
    incidents: int = Field(description="Incidents open in the window that count in this row.")
    cas: list[str] = Field(description="The CAs of those incidents (named in the summaries, merged "
                                       "across aliases and renames by the CA names file).")
    sources: dict[str, int] = Field(description="Of those incidents, how many took their label "
                                                "from each source.")
    incident_ids: list[int] = Field(default_factory=list, description="Their bug ids.")
    ca_counts: dict[str, int] = Field(default_factory=dict,
                                      description="Of those incidents, how many each CA had, most first.")


class WindowRulePublic(BaseModel):
    rule: str
    description: str
    incidents: int = Field(description="Incidents counted under this rule.")


class BriefingPublic(BaseModel):
    """Incidents open in a period, per briefing category (one incident may count in several)."""

    start: datetime
    end: datetime
    model_version: str | None = Field(description="The active version whose predictions are "
                                                  "preferred.")
    model_versions: dict[str, int] = Field(
        default_factory=dict,
        description="Of the incidents counted with a prediction, how many each model version "
                    "labelled, most first: more than one while a relabel with the active version "
                    "is under way (or before it runs), when the table mixes two models' labels.")
    total: int = Field(description="Distinct incidents open in the window.")
    category_entries: int = Field(description="Sum of the rows.")
    uncategorised: int = Field(description="Open incidents whose label is in no row.")
    rows: list[CategoryRowPublic]
    rules: list[WindowRulePublic]
    sources: dict[str, int] = Field(description="How many open incidents took their label from "
                                                "a correction, Bugzilla's tags, the model, or "
                                                "none.")
    undated: int = Field(description="Stored incidents without a filing time (each is taken as "
                                     "filed when the store received it).")
    filed_when_received: int = Field(0, description="Of the incidents counted, how many have no "
                                                    "filing time and count from when the store "
                                                    "received them.")
    excluded: dict[str, int] = Field(
        default_factory=dict,
        description="Bugs of the period left out per resolution (DUPLICATE, INVALID by default: "
                    "not incidents of their own), and as META the tracking bugs (a summary "
                    "beginning [meta]).")
    excluded_ids: dict[str, list[int]] = Field(default_factory=dict,
                                               description="Their bug ids, per resolution.")
    uncategorised_ids: list[int] = Field(default_factory=list,
                                         description="The bug ids of the incidents in no row.")
    ca_counts: dict[str, int] = Field(default_factory=dict,
                                      description="Incidents counted per CA, most first.")
