"""Request and response bodies, in families (Base, Classify, Public), with their limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from classifier import Incident, Taxonomy
from core.bugzilla import BugRecord, comment_zero
from core.tables import IncidentRow

from .config import (
    MAX_BUG_ID,
    MAX_COMMENTS,
    MAX_DESCRIPTION_CHARS,
    MAX_SUMMARY_CHARS,
    MAX_WHITEBOARD_CHARS,
)


# -- field types -----------------------------------------------------------------------------
def _no_nul(value: str) -> str:
    # PostgreSQL refuses NUL in text; refusing it here keeps it a 422, not a store error.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _iso_time(value: Any) -> Any:
    if value is not None and not isinstance(value, str | datetime):
        raise ValueError("expected an ISO 8601 time such as 2023-12-29T16:33:04Z")
    return value


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


#: A Bugzilla timestamp; one without a zone is taken as UTC, as Bugzilla's are.
BugzillaTime = Annotated[datetime, BeforeValidator(_iso_time), AfterValidator(_utc)]
BugId = Annotated[StrictInt, Field(gt=0, le=MAX_BUG_ID, description="Bugzilla bug id.")]


#: Text that is stored: bounded, and without NUL (PostgreSQL refuses it).
LongText = Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS), AfterValidator(_no_nul)]
Whiteboard = Annotated[str, Field(max_length=MAX_WHITEBOARD_CHARS), AfterValidator(_no_nul)]
Name = Annotated[str, Field(max_length=255), AfterValidator(_no_nul)]
Code = Annotated[str, Field(max_length=64), AfterValidator(_no_nul)]
Domain = Annotated[str, Field(max_length=255, pattern=r"^[A-Za-z0-9.-]*$")]


# -- examples (written by hand in the shape of the March 2026 snapshot; not real bugs) --------
EXAMPLE_DESCRIPTION = (
    "### Incident Report\n\n### Summary\n\nOn 2023-11-02 a member of the community reported "
    "that S/MIME certificates issued under our Mailbox-validated profile carried a "
    "subject:organizationIdentifier attribute, which the S/MIME Baseline Requirements do not "
    "allow for that profile. 212 certificates were affected.\n\n### Impact\n\n212 S/MIME "
    "end-entity certificates; no TLS certificates were affected.\n\n### Timeline\n\n"
    "2023-11-02 09:12 UTC: report received ...")
EXAMPLE_BUG: dict[str, Any] = {
    "id": 1900001,
    "summary": "HARICA: S/MIME certificates issued with subject:organizationIdentifier in "
               "mailbox-validated profile",
    "comments": [{"count": 0, "text": EXAMPLE_DESCRIPTION,
                  "creation_time": "2023-11-07T09:15:04Z"}],
    "creation_time": "2023-11-07T09:15:04Z",
    "creator_domain": "harica.gr",
    "status": "ASSIGNED",
    "resolution": "",
    "whiteboard": "[ca-compliance] [smime-misissuance]",
}
EXAMPLE_NEW_BUG: dict[str, Any] = {
    "summary": "Acme Trust: OCSP responder returned 'unknown' for valid certificates",
    "description": "### Incident Report\n\n### Summary\n\nFor 7 hours our OCSP responders "
                   "answered 'unknown' for certificates issued by one of our subordinate CAs "
                   "after a database migration.",
    "creator": "compliance@acmetrust.example",
}


# -- incidents in ---------------------------------------------------------------------------
class BugzillaComment(BaseModel):
    """One object of ``GET /rest/bug/<id>/comment``; only comment 0 (the description) is read."""

    model_config = ConfigDict(extra="ignore")

    count: StrictInt | None = Field(default=None, ge=0, description="0 is the description.")
    text: LongText = ""
    creation_time: BugzillaTime | None = None


class IncidentBase(BaseModel):
    """Fields a bug has in Bugzilla's REST shape, both ways."""

    summary: Annotated[str, Field(min_length=1, max_length=MAX_SUMMARY_CHARS,
                                  description="The bug's summary, by convention `CA name: what "
                                              "happened`."),
                       AfterValidator(_no_nul)]
    creator_domain: Domain | None = Field(
        default=None, description="The part of the reporter's address after the @.")
    status: Code | None = Field(default=None, examples=["RESOLVED"])
    resolution: Code | None = Field(default=None, examples=["FIXED"])
    creation_time: BugzillaTime | None = None


#: Fields whose value, when sent, replaces the stored one (the rest keep theirs).
_REST_FIELDS = ("summary", "whiteboard", "creator", "creator_domain", "product", "component",
                "status", "resolution", "creation_time", "last_change_time", "cf_last_resolved")


class IncidentClassify(IncidentBase):
    """A bug to classify, as ``GET /rest/bug`` returns it (other Bugzilla fields are ignored).

    The model reads only the summary, the description (``description``, else the text of
    comment 0 in ``comments``), the reporter's domain (``creator_domain``, else taken from
    ``creator``) and the CA named in the summary. The whiteboard is never read by the model; it
    is stored, with its tags, when the bug has an ``id``.
    """

    model_config = ConfigDict(
        extra="ignore", str_strip_whitespace=True,
        json_schema_extra={"examples": [EXAMPLE_BUG, EXAMPLE_NEW_BUG]})

    id: BugId | None = Field(default=None, description="Bugzilla bug id: when given, the bug and "
                                                       "its prediction are stored.")
    description: LongText | None = Field(
        default=None, description="Comment 0. Takes precedence over `comments`.")
    comments: list[BugzillaComment] | None = Field(
        default=None, max_length=MAX_COMMENTS,
        description="Bugzilla comment objects; the one with the lowest `count` is comment 0.")
    creator: Name | None = Field(default=None, description="The reporter's address.")
    product: Name | None = None
    component: Name | None = None
    whiteboard: Whiteboard | None = Field(
        default=None, description="Maintainers' tags. Never read by the model; stored when sent "
                                  "(an omitted whiteboard keeps the stored one).")
    last_change_time: BugzillaTime | None = None
    cf_last_resolved: BugzillaTime | None = Field(default=None,
                                                  description="When the bug was last resolved.")

    def description_text(self) -> str:
        if self.description is not None:
            return self.description
        return comment_zero([c.model_dump(exclude_none=True) for c in self.comments or ()])

    def _sends_description(self) -> bool:
        return bool({"description", "comments"} & self.model_fields_set)

    def reporter_domain(self) -> str | None:
        if self.creator_domain:
            return self.creator_domain.lower()
        if self.creator and "@" in self.creator:
            return self.creator.rsplit("@", 1)[1].lower()
        return None

    def incident(self) -> Incident:
        """What the model sees: only what was sent, never the store's copy."""
        return Incident(summary=self.summary, description=self.description_text(), id=self.id,
                        creator_domain=self.reporter_domain(), creation_time=self.creation_time,
                        status=self.status, resolution=self.resolution,
                        resolved_at=self.cf_last_resolved)

    def record(self, taxonomy: Taxonomy, stored: IncidentRow | None) -> BugRecord:
        """The record to store: the fields sent, over the stored ones for the fields left out.

        A field sent (even ``null`` or ``""``) replaces the stored value, as a Bugzilla sync
        would; a field left out keeps it. So a bug posted without its whiteboard keeps the
        whiteboard and type tags a sync stored, and one posted with a whiteboard replaces them.
        """
        if self.id is None:
            raise ValueError("only a bug with an id is stored")
        shape: dict[str, Any] = {} if stored is None else _rest_shape(stored)
        shape.update(self.model_dump(include=set(_REST_FIELDS) & self.model_fields_set))
        shape["id"] = self.id
        if "creator" in self.model_fields_set and "creator_domain" not in self.model_fields_set:
            shape["creator_domain"] = self.reporter_domain()
        record = BugRecord.from_rest(shape, None, taxonomy)
        if self._sends_description():
            description = self.description_text()
        else:
            description = stored.description if stored is not None else ""
        return replace(record, description=description)


def _rest_shape(row: IncidentRow) -> dict[str, Any]:
    """A stored incident in Bugzilla's REST shape (the inverse of BugRecord.from_rest)."""
    shape = {name: getattr(row, name) for name in _REST_FIELDS if name != "cf_last_resolved"}
    shape["cf_last_resolved"] = row.resolved_at
    return shape


class IncidentsClassify(BaseModel):
    """A batch of bugs, in the shape of a ``GET /rest/bug`` answer."""

    bugs: list[IncidentClassify] = Field(
        min_length=1, description="The bugs; at most INCIDENTS_MAX_BATCH (100 by default).")

    model_config = ConfigDict(json_schema_extra={"examples": [{"bugs": [EXAMPLE_BUG,
                                                                        EXAMPLE_NEW_BUG]}]})


# -- classifications out ----------------------------------------------------------------------
class TermWeight(BaseModel):
    term: str = Field(description="A word or phrase of the summary or the description.")
    weight: float = Field(description="How much it pushed the tag's score up.")


class ClassificationPublic(BaseModel):
    """What the model says of one bug."""

    id: int | None = Field(description="The bug id, if one was sent.")
    tags: list[str] = Field(description="Predicted incident type tags.")
    categories: list[str] = Field(description="Briefing categories of those tags, in order.")
    scores: dict[str, float] = Field(description="Calibrated probability of each learned tag.")
    needs_review: bool = Field(description="The model is unsure: a person should look.")
    confidence: float = Field(description="The chance that all the model's yes/no answers are "
                                          "right (0 when no tag passed its threshold).")
    model_version: str
    explanation: dict[str, list[TermWeight]] = Field(
        description="For each predicted tag, the input's words that pushed it most.")
    stored: bool = Field(description="The bug and this prediction were stored (the bug had an "
                                     "id).")


class ClassificationsPublic(BaseModel):
    data: list[ClassificationPublic]
    count: int
    model_version: str


# -- stored incidents out ---------------------------------------------------------------------
class TagPublic(BaseModel):
    tag: str
    kind: str = Field(description="`type` (an incident type), `meta` or `unknown`.")


class PredictionPublic(BaseModel):
    model_version: str
    tags: list[str]
    categories: list[str]
    scores: dict[str, float]
    needs_review: bool
    confidence: float
    created_at: datetime


class CorrectionPublic(BaseModel):
    """A maintainer's correction of the tags; the last one counts."""

    tags: list[str]
    created_at: datetime
    author: str | None = None
    note: str | None = None


class LabelPublic(BaseModel):
    """The label the briefing table counts the incident with."""

    source: str = Field(description="`correction`, `bugzilla`, `model` or `none`.")
    tags: list[str]
    categories: list[str]
    model_version: str | None = Field(default=None, description="When the source is `model`.")


class IncidentPublic(BaseModel):
    """A stored incident with its Bugzilla tags, predictions and corrections."""

    id: int
    summary: str
    creator_domain: str | None
    status: str | None
    resolution: str | None
    creation_time: datetime | None
    description: str
    ca_name: str
    creator: str | None
    product: str | None
    component: str | None
    whiteboard: str
    last_change_time: datetime | None
    resolved_at: datetime | None
    synced_at: datetime
    bugzilla_tags: list[str] = Field(description="Type tags from the whiteboard.")
    whiteboard_tags: list[TagPublic] = Field(description="Every whiteboard tag, with its kind.")
    predictions: list[PredictionPublic]
    corrections: list[CorrectionPublic]
    label: LabelPublic


# -- corrections, review, retraining, sync ---------------------------------------------------
TypeTag = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_no_nul)]


class CorrectionBase(BaseModel):
    """A maintainer's verdict on one stored incident's type tags."""

    bug_id: BugId
    tags: list[TypeTag] = Field(max_length=100, description="Type tags of the taxonomy (aliases "
                                                            "are made canonical); empty: none.")
    note: Annotated[str, Field(max_length=10_000), AfterValidator(_no_nul)] = ""


class CorrectionCreate(CorrectionBase):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"bug_id": 1900001, "tags": ["smime-misissuance"], "note": "S/MIME, not TLS"}]})


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


class CorrectionsStored(BaseModel):
    data: list[CorrectionStored]
    count: int = Field(description="Corrections matching the filter, over all pages.")


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


class SyncReportPublic(BaseModel):
    source: str
    since: str | None
    new: int
    updated: int
    unchanged: int
    skipped: int
    state: str | None


# -- the briefing table -----------------------------------------------------------------------
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


# -- models and health ------------------------------------------------------------------------
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


class Message(BaseModel):
    detail: str
