"""Bugzilla's webhook payload (in), and what a delivery did (out).

The payload is what Bugzilla's Webhooks extension POSTs: ``{webhook_id, webhook_name, event,
bug}``, the bug as it was at ``event.time`` (zone-less times are UTC, as Bugzilla's are). Every
model ignores the fields it does not name: Bugzilla adds fields over time, and a delivery
refused for one would be retried, holding back the deliveries queued behind it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from core.hooks import EVENT_FIELDS, BugEvent, EventKind, event_kind

from .common import Address, BugId, BugzillaTime, Code, LongText, Name, Summary, Whiteboard, not_before_creation

#: Bugzilla's changes of one submission (bulk edits change a few fields, not thousands).
MAX_CHANGES = 1_000

# -- an example, written by hand in Bugzilla's documented shape (not a real bug) -------------
EXAMPLE_DELIVERY: dict[str, Any] = {
    "webhook_id": 23,
    "webhook_name": "incident-classifier",
    "event": {
        "action": "create", "target": "bug", "routing_key": "bug.create",
        "time": "2025-03-04T10:00:00",
        "user": {"id": 1, "login": "compliance@nimbustrust.example", "real_name": "Nimbus Trust"},
    },
    "bug": {
        "id": 1900001, "product": "CA Program", "component": "CA Certificate Compliance",
        "summary": "Nimbus Trust: OCSP responder returned unknown for valid certificates",
        "whiteboard": "[ca-compliance]", "status": "UNCONFIRMED", "resolution": "",
        "creator": "compliance@nimbustrust.example", "creation_time": "2025-03-04T10:00:00",
        "last_change_time": "2025-03-04T10:00:00", "is_private": False, "type": "task",
        "comment": {"id": 17000001, "number": 0, "is_private": False,
                    "creation_time": "2025-03-04T10:00:00",
                    "body": "Our OCSP responder answered 'unknown' for 6 hours after a migration."},
    },
}

_IGNORE = ConfigDict(extra="ignore", frozen=True)


class WebhookChange(BaseModel):
    """One changed field of a ``modify`` event (a list for a multi-value field)."""

    model_config = _IGNORE

    field: Name
    removed: Any = None
    added: Any = None


class WebhookEvent(BaseModel):
    """What happened, when (it orders deliveries) and, for ``modify``, which fields changed."""

    model_config = _IGNORE

    action: Name = Field(description="`create` or `modify` (`comment` and `attachment` are taken "
                                     "too); others are answered 202, ignored.")
    time: BugzillaTime = Field(description="When it happened; an event older than what the store "
                                           "holds of the bug is not applied.")
    target: Name | None = Field(default=None, description="`bug`, `comment` or `attachment`.")
    routing_key: Name | None = None
    changes: list[WebhookChange] = Field(default_factory=list, max_length=MAX_CHANGES)


class WebhookComment(BaseModel):
    """The comment a comment event (or a new bug's) carries; only comment 0 is read."""

    model_config = _IGNORE

    number: StrictInt | None = Field(default=None, ge=0, description="0 is the description.")
    body: LongText | None = None
    is_private: bool | None = None


class WebhookAttachment(BaseModel):
    model_config = _IGNORE

    is_private: bool | None = None


class WebhookBug(BaseModel):
    """The bug as it was at the event's time; a private bug comes as its id and `is_private`."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    id: BugId
    is_private: bool | None = None
    product: Name | None = None
    component: Name | None = None
    summary: Summary | None = None
    whiteboard: Whiteboard | None = Field(default=None, description="Maintainers' tags: stored, "
                                                                    "never read by the model.")
    status: Code | None = None
    resolution: Code | None = None
    creator: Address | None = Field(default=None, description="The reporter's address: only its "
                                                           "domain is kept.")
    creation_time: BugzillaTime | None = None
    last_change_time: BugzillaTime | None = None
    cf_last_resolved: BugzillaTime | None = None
    comment: WebhookComment | None = None
    attachment: WebhookAttachment | None = None

    _later_times = field_validator("last_change_time", "cf_last_resolved")(not_before_creation)


#: Payload names of the record's fields, where they differ.
_PAYLOAD_NAMES = {"resolved_at": "cf_last_resolved"}


class WebhookDelivery(BaseModel):
    """One POST of Bugzilla's webhook."""

    model_config = ConfigDict(extra="ignore", frozen=True,
                              json_schema_extra={"examples": [EXAMPLE_DELIVERY]})

    webhook_id: StrictInt
    webhook_name: str = Field(max_length=255)
    event: WebhookEvent
    bug: WebhookBug

    def bug_event(self) -> BugEvent:
        """The delivery as the store takes it: the bug's fields it carried (a summary of
        ``null`` is taken as not sent), what of it is private, and the comment it carries (a
        public one whose body is ``null`` or left out is taken as not carried: comment 0 is then
        asked of Bugzilla, not stored empty)."""
        bug, event = self.bug, self.event
        sent = bug.model_fields_set
        values = {name: getattr(bug, _PAYLOAD_NAMES.get(name, name)) for name in EVENT_FIELDS
                  if _PAYLOAD_NAMES.get(name, name) in sent}
        if values.get("summary", "") is None:
            del values["summary"]
        kind = event_kind(event.action, event.target)
        comment, attachment = bug.comment, bug.attachment
        if comment is not None and not comment.is_private and comment.body is None:
            comment = None
        private = None
        if bug.is_private:
            private = "bug"
        elif kind == EventKind.COMMENT and comment is not None and comment.is_private:
            private = "comment"
        elif kind == EventKind.ATTACHMENT and attachment is not None and attachment.is_private:
            private = "attachment"
        return BugEvent(
            action=event.action, target=event.target, time=event.time, bug_id=bug.id,
            fields=values, private=private,
            changes=tuple((c.field, c.removed, c.added) for c in event.changes),
            comment_number=comment.number if comment is not None else None,
            comment_text=comment.body if comment is not None and not comment.is_private else None)


class HookResultPublic(BaseModel):
    """What a delivery did, when it did not classify the bug (then the answer is POST /classify's)."""

    status: Literal["applied", "ignored"] = Field(
        description="`applied` (200), or `ignored` (202): another product or component, something "
                    "private, an event this service does not take, or one older than the store's.")
    event: str = Field(description="`create`, `modify`, `comment` or `attachment` (else the "
                                   "action sent).")
    bug_id: int
    reason: str = Field(description="Why it was ignored, or what was updated.")
    changed: list[str] = Field(default_factory=list,
                               description="The stored fields the event changed; `removed`: the "
                                           "bug is private now and was removed from the store.")
