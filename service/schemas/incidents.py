"""Incidents: a bug to classify in Bugzilla's REST shape (in), a stored incident (out)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, field_validator
from pydantic_core import PydanticCustomError

from classifier import Incident, Taxonomy, WhiteboardTags
from core.bugzilla import BugRecord, comment_zero, last_comment_time, whiteboard_tags

from ..config import MAX_BATCH, MAX_COMMENTS
from .common import (
    Address,
    BugId,
    BugzillaTime,
    Code,
    Domain,
    LongText,
    Name,
    Resolution,
    Status,
    Summary,
    Whiteboard,
    not_before_creation,
    resolution_agrees,
)
from .corrections import CorrectionPublic

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
    is_private: bool = Field(default=False, description="A private comment's time is not kept.")


class IncidentBase(BaseModel):
    """Fields a bug has in Bugzilla's REST shape, both ways."""

    summary: Summary = Field(description="The bug's summary, by convention `CA name: what "
                                         "happened`.")
    creator_domain: Domain | None = Field(
        default=None, description="The part of the reporter's address after the @.")
    status: Code | None = Field(default=None, examples=["RESOLVED"])
    resolution: Code | None = Field(default=None, examples=["FIXED"])
    creation_time: BugzillaTime | None = None


#: The fields whose value, when sent, replaces the stored one (the rest keep theirs), each with
#: the record's name for it. The whiteboard, the description and the reporter's domain have
#: rules of their own (IncidentClassify.record).
_STORED_AS = {"summary": "summary", "product": "product",
              "component": "component", "status": "status", "resolution": "resolution",
              "creation_time": "creation_time", "last_change_time": "last_change_time",
              "cf_last_resolved": "resolved_at"}


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
    status: Status | None = Field(default=None, description="A Bugzilla status (UNCONFIRMED, NEW, "
                                  "ASSIGNED, REOPENED, RESOLVED, VERIFIED, CLOSED).")
    resolution: Resolution | None = Field(default=None, description="A Bugzilla resolution "
                                          "(FIXED, INVALID, DUPLICATE, ...), empty for an open bug.")
    description: LongText | None = Field(
        default=None, description="Comment 0. Takes precedence over `comments`.")
    comments: list[BugzillaComment] | None = Field(
        default=None, max_length=MAX_COMMENTS,
        description="Bugzilla comment objects; the one with the lowest `count` is comment 0.")
    creator: Address | None = Field(default=None, description="The reporter's address: only its "
                                                              "domain is read and stored.")
    product: Name | None = None
    component: Name | None = None
    whiteboard: Whiteboard | None = Field(
        default=None, description="Maintainers' tags. Never read by the model; stored when sent "
                                  "(an omitted whiteboard keeps the stored one).")
    last_change_time: BugzillaTime | None = None
    cf_last_resolved: BugzillaTime | None = Field(default=None,
                                                  description="When the bug was last resolved.")

    _later_times = field_validator("last_change_time", "cf_last_resolved")(not_before_creation)
    _resolution_agrees = field_validator("resolution")(resolution_agrees)

    def description_text(self) -> str:
        """``description``, else comment 0 of ``comments`` when it is public: a private one is
        neither read nor stored, as by the sync and the webhook."""
        if self.description is not None:
            return self.description
        return comment_zero([c.model_dump(exclude_none=True) for c in self.comments or ()],
                            public_only=True)

    def _sends_description(self) -> bool:
        return bool({"description", "comments"} & self.model_fields_set)

    def reporter_domain(self) -> str | None:
        if self.creator_domain:
            return self.creator_domain.lower()
        if self.creator and "@" in self.creator:
            return self.creator.rsplit("@", 1)[1].lower()
        return None

    def incident(self) -> Incident:
        """What the model sees of what was sent. A bug that is stored is classified again on the
        stored record when that reads otherwise (comment 0 or the reporter left out: the stored
        ones are kept), so that its stored prediction is of its stored text (``service.batching``)."""
        return Incident(summary=self.summary, description=self.description_text(), id=self.id,
                        creator_domain=self.reporter_domain(), creation_time=self.creation_time,
                        status=self.status, resolution=self.resolution,
                        resolved_at=self.cf_last_resolved)

    def record(self, taxonomy: Taxonomy, stored: BugRecord | None) -> BugRecord:
        """The record to store: the fields sent, over the stored ones for the fields left out.

        A field sent (even ``null`` or ``""``) replaces the stored value, as a Bugzilla sync
        would; a field left out keeps it. So a bug posted without its whiteboard keeps the
        whiteboard and type tags a sync stored, and one posted with a whiteboard replaces them.
        ``stored`` is the stored incident as a record (``core.store.record_of``), if any.

        The reporter's domain is the one sent, else the sent creator's, else the stored one
        (when neither is sent); a domain that is ``null`` falls back on the creator's, one that
        is ``""`` stores none. The tags are the whiteboard's, under ``taxonomy``.
        """
        if self.id is None:
            raise ValueError("only a bug with an id is stored")
        sent = self.model_fields_set
        base = stored if stored is not None else BugRecord(
            id=self.id, summary=self.summary, description="", whiteboard="", tags=WhiteboardTags())
        changes: dict[str, Any] = {field: getattr(self, name)
                                   for name, field in _STORED_AS.items() if name in sent}
        whiteboard = (self.whiteboard or "") if "whiteboard" in sent else base.whiteboard
        description = self.description_text() if self._sends_description() else base.description
        if "comments" in sent:
            # The newest public comment's time: the briefing's stand-in for a resolution time.
            changes["last_comment_time"] = last_comment_time(
                [c.model_dump(exclude_none=True) for c in self.comments or ()])
        if "creator_domain" in sent:
            domain = self.creator_domain
        elif "creator" in sent:
            domain = None  # the sent creator's, below
        else:
            domain = base.creator_domain
        creator = self.creator if "creator" in sent else base.creator  # older rows kept it
        if domain is None and creator and "@" in creator:
            domain = creator.rsplit("@", 1)[1]
        # The address itself is not kept, only its domain, as by the sync and the webhook.
        return replace(base, **changes, id=self.id, description=description, creator=None,
                       whiteboard=whiteboard, tags=whiteboard_tags(whiteboard, taxonomy),
                       creator_domain=domain.lower() if domain else None)


def _at_most_max_batch(value: Any) -> Any:
    if isinstance(value, list) and len(value) > MAX_BATCH:
        # The setting is not known here: name it, and the bound no setting passes.
        raise PydanticCustomError(
            "too_long", "at most INCIDENTS_MAX_BATCH bugs a batch (never more than {most}), "
                        "got {got}", {"most": MAX_BATCH, "got": len(value)})
    return value


class IncidentsClassify(BaseModel):
    """A batch of bugs, in the shape of a ``GET /rest/bug`` answer."""

    # Counted before any bug is validated: 400,000 small bugs in a body under the size limit
    # took 5 s of the event loop to refuse after validating each.
    bugs: Annotated[list[IncidentClassify], BeforeValidator(_at_most_max_batch)] = Field(
        min_length=1, description="The bugs; at most INCIDENTS_MAX_BATCH (100 by default).")

    model_config = ConfigDict(json_schema_extra={"examples": [{"bugs": [EXAMPLE_BUG,
                                                                        EXAMPLE_NEW_BUG]}]})


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
    review_reason: str | None = Field(
        None, description="Why a person should look (none when not flagged, or stored before "
                          "reasons were).")
    confidence: float
    created_at: datetime


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
    ca: str = Field(description="Its CA as the briefing and `GET /incidents?ids=` show it (the CA "
                                "names file's name, else the store's most common spelling).")
    ca_name: str = Field(description="The CA's key in the store, lower-case, by which the "
                                     "briefing groups incidents.")
    creator: str | None
    product: str | None
    component: str | None
    whiteboard: str
    last_change_time: datetime | None
    resolved_at: datetime | None
    synced_at: datetime
    last_event_time: datetime | None = Field(
        default=None, description="`event.time` of the newest Bugzilla webhook event applied to "
                                  "it (POST /hooks/bugzilla).")
    last_comment_time: datetime | None = Field(
        default=None, description="Creation time of its newest public comment: the briefing's "
                                  "resolution time of a closed bug without `resolved_at`.")
    bugzilla_tags: list[str] = Field(description="Type tags from the whiteboard.")
    whiteboard_tags: list[TagPublic] = Field(description="Every whiteboard tag, with its kind.")
    predictions: list[PredictionPublic] = Field(
        description="One a model version that classified it, oldest first.")
    corrections: list[CorrectionPublic] = Field(
        description="Maintainers' corrections, oldest first (a timeline, where `GET /corrections` "
                    "is a feed, newest first): the last one is the one that counts.")
    label: LabelPublic


class IncidentListItemPublic(BaseModel):
    """A stored incident in a list: what the briefing knows of it."""

    id: int
    summary: str
    ca: str = Field(description="Its CA, as the CA names file shows it.")
    status: str | None
    resolution: str | None
    creation_time: datetime | None
    resolved_at: datetime | None
    last_comment_time: datetime | None
    label: LabelPublic


class IncidentListPublic(BaseModel):
    """The stored incidents asked for, by bug id."""

    data: list[IncidentListItemPublic]
    count: int
    missing: list[int] = Field(default_factory=list, description="Ids asked for that the store does not hold.")
