"""Bugzilla's webhook events applied to the store: an incident stored and classified when it is
filed, its fields and type tags updated when they change, the newest event winning.

Bugzilla's Webhooks extension POSTs one event a change of a bug: ``create`` (a bug filed),
``modify`` (fields changed), a comment or an attachment added (``event.target``; the issue's
``comment`` / ``attachment`` actions are taken too), each with the bug as it was then. The service
turns the payload into a :class:`BugEvent`, and :func:`apply_event` applies it:

- Only bugs of *CA Program* / *CA Certificate Compliance* count, and nothing private (a private
  bug, comment or attachment) is stored: other events are ignored, with the reason. What the
  store already holds of a bug made private goes: the bug with everything stored of it (its
  tags, predictions, live scores and corrections), and comment 0 made private blanks the stored
  description (the bug is re-classified without it). A stored bug moved to another product or
  component goes the same way: it is no incident any more.
- An event older than what the store holds of the bug (the ``event.time`` of the last event
  applied, or Bugzilla's ``last_change_time`` that a sync or an event stored) is ignored:
  deliveries are repeated and can come out of order, and the newer one carried the bug's state.
- Otherwise the bug's fields the event carries replace the stored ones through ``upsert_bugs``,
  which also scores the live record when the whiteboard brings the bug's first type tags; the
  stored time of the last change moves up to the event's, and a status change to a closed status
  sets the resolution time when the payload has no ``cf_last_resolved``; an event carrying a
  comment moves the time of the bug's last comment up to its own.
- The bug is classified with the active model, as ``POST /classify`` would, when it is new to
  the store (comment 0 taken from the event, else fetched from Bugzilla's REST API with the
  sync's client), or when what the model reads changed: the summary, or comment 0 (a ``comment``
  event of comment 0). A ``create`` event always answers its classification; its prediction is
  stored unless the same model version already stored one of the same text.

Applying an event twice leaves the store as applying it once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from classifier import BugzillaUnavailable, InvalidIncident, StoreUnavailable, Taxonomy, WhiteboardTags

from .aggregate import OPEN_STATUSES
from .bugzilla import (
    BugRecord,
    BugzillaClient,
    RequestBudget,
    bugzilla_time,
    comment_zero,
    elsewhere,
    whiteboard_tags,
)
from .classification import Classification, classify
from .config import Settings
from .registry import LoadedModel
from .store import record_of, save_predictions, upsert_bugs
from .tables import IncidentRow, PredictionRow


class EventKind(StrEnum):
    """What happened to the bug."""

    CREATE = "create"
    MODIFY = "modify"
    COMMENT = "comment"
    ATTACHMENT = "attachment"


#: The bug's fields an event can carry, by :class:`BugRecord`'s names.
EVENT_FIELDS = ("summary", "whiteboard", "creator", "product", "component", "status", "resolution",
                "creation_time", "last_change_time", "resolved_at")


def event_kind(action: str, target: str | None) -> EventKind | None:
    """What an event is: Bugzilla names a comment or an attachment event by its target (its action
    is then ``create`` or ``modify``), the rest by its action; None for one not handled here."""
    name = target if target in (EventKind.COMMENT, EventKind.ATTACHMENT) else action
    try:
        return EventKind(name)
    except ValueError:
        return None


@dataclass(frozen=True)
class BugEvent:
    """One webhook delivery, as the store takes it.

    ``fields`` are the bug's fields the payload carried (names of :data:`EVENT_FIELDS`); one left
    out keeps its stored value. ``changes`` are the ``(field, removed, added)`` of a ``modify``.
    ``private`` says what of the event is private (``"bug"``, ``"comment"``, ``"attachment"``),
    if anything. ``comment_number`` and ``comment_text`` are those of the comment the event
    carries (the text None when that comment is private).
    """

    action: str
    time: datetime
    bug_id: int
    target: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    changes: tuple[tuple[str, Any, Any], ...] = ()
    private: str | None = None
    comment_number: int | None = None
    comment_text: str | None = None

    @property
    def kind(self) -> EventKind | None:
        return event_kind(self.action, self.target)

    @property
    def comment_zero(self) -> str | None:
        """The text of comment 0 when the event carries it (``""`` when it is private), else None."""
        if self.comment_number != 0:
            return None
        return self.comment_text or ""

    @property
    def hides(self) -> bool:
        """The event makes private something the store may hold: the bug, or its comment 0."""
        return self.private == "bug" or (self.private == "comment" and self.comment_number == 0)

    @property
    def moved_out(self) -> bool:
        """The event carries the bug's product and component, and they are another's: a bug the
        store holds has left the incidents' component (a payload without them moves nothing)."""
        return (self.kind is not None and not self.private and "product" in self.fields
                and "component" in self.fields
                and elsewhere(self.bug_id, self.fields["product"], self.fields["component"]) is not None)

    def ignored_because(self) -> str | None:
        """Why the store takes nothing of this event (None: it takes it, unless it is stale)."""
        if self.private and not self.hides:
            return f"bug {self.bug_id}: the {self.private} is private, and nothing private is stored"
        if self.kind is None:
            return (f"bug {self.bug_id}: event {self.action!r} (target {self.target!r}) is not one "
                    "this service takes (create, modify, comment, attachment)")
        if self.private == "bug":
            return None  # a private bug comes as its id alone: what is stored of it goes
        return elsewhere(self.bug_id, self.fields.get("product"), self.fields.get("component"))

    def closes(self) -> bool:
        """The event changes the status from an open one to a closed one (it resolves the bug)."""
        def text(value: Any) -> str:
            return value.strip().upper() if isinstance(value, str) else ""

        return any(name == "status" and text(removed) in (*OPEN_STATUSES, "")
                   and text(added) not in (*OPEN_STATUSES, "")
                   for name, removed, added in self.changes)


@dataclass(frozen=True)
class HookOutcome:
    """What one event did: applied or ignored (and why), the stored fields it changed, and the
    classification when it classified the bug (``prediction_stored`` when it stored it)."""

    bug_id: int
    kind: EventKind | None
    applied: bool
    reason: str
    changed: tuple[str, ...] = ()
    classification: Classification | None = None
    prediction_stored: bool = False


def apply_event(*, session: Session, event: BugEvent, taxonomy: Taxonomy,
                model: Callable[[], LoadedModel], settings: Settings,
                client: BugzillaClient | None = None) -> HookOutcome:
    """Apply one webhook event to the store (see the module docstring); the caller commits.

    It first reads when the bug last changed, and ends that read (a rollback: nothing is written
    yet), so that no lock is held while Bugzilla is asked for comment 0 and the first statement
    of the writing transaction is the write that orders concurrent deliveries of one bug.

    Parameters
    ----------
    model : gives the active model, called only when the bug is to be classified (it raises when
        none is loaded, and nothing is written then).
    settings : Bugzilla's address, API key, timeouts and retries, for comment 0.
    client : fetches comment 0 (default: one from ``settings``, closed afterwards).

    Raises InvalidIncident naming the payload's field (``bug.summary``, ``bug.whiteboard``), and
    BugzillaUnavailable when comment 0 cannot be fetched; nothing is written then either.
    """
    kind = event.kind
    reason = event.ignored_because()
    if event.private == "bug":
        return _forget(session, event, not_stored=f"bug {event.bug_id}: the bug is private, and "
                       "nothing private is stored", removed=f"bug {event.bug_id} is private now")
    if reason is not None and event.moved_out:
        return _forget(session, event, not_stored=reason, removed=reason)
    if reason is not None:
        return HookOutcome(event.bug_id, kind, applied=False, reason=reason)
    for _ in range(2):
        outcome = _apply_once(session=session, event=event, taxonomy=taxonomy, model=model,
                              settings=settings, client=client)
        if outcome is not None:
            return outcome
        session.rollback()
    raise StoreUnavailable(f"bug {event.bug_id} was being stored by another delivery at the same "
                           "time; deliver this event again")


def _apply_once(*, session: Session, event: BugEvent, taxonomy: Taxonomy,
                model: Callable[[], LoadedModel], settings: Settings,
                client: BugzillaClient | None) -> HookOutcome | None:
    """The event applied, or ignored as stale; None when another delivery stored the bug (new
    to the store when this one read it) first: read again."""
    stored = session.execute(select(IncidentRow.last_event_time, IncidentRow.last_change_time)
                             .where(IncidentRow.id == event.bug_id)).first()
    session.rollback()
    if stored is not None:
        newest = max((t for t in stored if t is not None), default=None)
        if newest is not None and event.time < newest:
            return _stale(event, newest)
    description = event.comment_zero
    if stored is None:
        _require_summary(event)  # before Bugzilla is asked for anything
        if description is None:
            description = _fetch_comment_zero(event.bug_id, settings=settings, client=client)
    try:
        if stored is not None:
            if not _claim(session, event):
                return _stale(event, None)
        elif session.get(IncidentRow, event.bug_id) is not None:
            return None
        return _store_event(session=session, event=event, description=description,
                            taxonomy=taxonomy, model=model)
    except IntegrityError:
        return None


def _stale(event: BugEvent, newest: datetime | None) -> HookOutcome:
    than = f" ({bugzilla_time(newest)})" if newest is not None else ""
    return HookOutcome(
        event.bug_id, event.kind, applied=False,
        reason=f"bug {event.bug_id}: this event ({bugzilla_time(event.time)}) is older than what "
               f"the store holds of the bug{than}, which a newer event or sync wrote")


def _not_newer(event: BugEvent) -> ColumnElement[bool]:
    """The stored bug is the event's, and no newer event or sync wrote it."""
    moment = event.time
    return and_(IncidentRow.id == event.bug_id,
                or_(IncidentRow.last_event_time.is_(None), IncidentRow.last_event_time <= moment),
                or_(IncidentRow.last_change_time.is_(None), IncidentRow.last_change_time <= moment))


def _claim(session: Session, event: BugEvent) -> bool:
    """Mark the bug as written by this event, unless a newer event or sync wrote it: one
    conditional UPDATE, which makes a concurrent delivery of the same bug wait for our commit
    (and then find it newer)."""
    result = session.execute(
        update(IncidentRow).where(_not_newer(event)).values(last_event_time=event.time)
        .execution_options(synchronize_session=False))
    return cast(CursorResult, result).rowcount == 1


def _forget(session: Session, event: BugEvent, *, not_stored: str, removed: str) -> HookOutcome:
    """The bug made private, or moved out of the incidents' component: removed from the store
    with everything stored of it (the foreign keys cascade to its tags, predictions, live scores
    and corrections), unless a newer event or sync wrote it (it was made public again, or moved
    back, since). Ignored with ``not_stored`` when the store does not hold it; ``removed`` begins
    the reason when it did."""
    stored = session.execute(select(IncidentRow.last_event_time, IncidentRow.last_change_time)
                             .where(IncidentRow.id == event.bug_id)).first()
    if stored is None:
        return HookOutcome(event.bug_id, event.kind, applied=False, reason=not_stored)
    result = session.execute(delete(IncidentRow).where(_not_newer(event))
                             .execution_options(synchronize_session=False))
    if cast(CursorResult, result).rowcount != 1:
        return _stale(event, max((t for t in stored if t is not None), default=None))
    return HookOutcome(event.bug_id, event.kind, applied=True, changed=("removed",),
                       reason=f"{removed}: removed from the store with its tags, predictions, "
                              "live scores and corrections")


def _require_summary(event: BugEvent) -> str:
    """The summary of a bug new to the store, which the event must carry."""
    summary = event.fields.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise InvalidIncident(f"bug.summary: bug {event.bug_id} is new to the store and the event "
                              "does not carry its summary", field="bug.summary")
    return summary


#: What asking Bugzilla for comment 0 may spend while the webhook's delivery waits: two tries
#: of at most 10 s, a second apart (the sync's settings allow minutes). Bugzilla delivers the
#: event again when it is refused (after 5, 10, 15 and 20 s, then every 15 minutes).
WEBHOOK_BUDGET = RequestBudget(timeout=10.0, max_attempts=2, max_wait=1.0)


def _fetch_comment_zero(bug_id: int, *, settings: Settings, client: BugzillaClient | None) -> str:
    """Comment 0 of a bug from Bugzilla's REST API (``""`` when it is private), with the sync's
    settings within :data:`WEBHOOK_BUDGET`.

    A comment list whose numbers are not numbers is Bugzilla's answer gone wrong, not the
    payload's: BugzillaUnavailable, as for any answer that gives no comment 0."""
    if client is not None:
        comments = client.comments(bug_id)
    else:
        with BugzillaClient.from_settings(settings, budget=WEBHOOK_BUDGET) as own:
            comments = own.comments(bug_id)
    try:
        return comment_zero(comments, public_only=True)
    except InvalidIncident as exc:
        raise BugzillaUnavailable(f"the comments of bug {bug_id}: {exc}") from None


def _record(event: BugEvent, base: BugRecord | None, description: str | None,
            taxonomy: Taxonomy) -> BugRecord:
    """The record to store: the event's fields over the stored ones.

    As the sync does, the reporter's address is not kept, only its domain.
    """
    sent = dict(event.fields)
    if base is None:
        base = BugRecord(id=event.bug_id, summary=_require_summary(event), description="",
                         whiteboard="", tags=WhiteboardTags())
    domain = base.creator_domain
    if "creator" in sent:
        creator = sent.pop("creator")
        domain = creator.rsplit("@", 1)[1].lower() if creator and "@" in creator else None
    if sent.get("resolved_at") is None and event.closes():
        sent["resolved_at"] = event.time
    if event.comment_number is not None and event.comment_text is not None:  # a public comment
        sent["last_comment_time"] = max(t for t in (base.last_comment_time, event.time) if t is not None)
    changed_at = [t for t in (base.last_change_time, sent.pop("last_change_time", None), event.time)
                  if t is not None]
    whiteboard = sent.pop("whiteboard", base.whiteboard) or ""
    try:
        tags = whiteboard_tags(whiteboard, taxonomy)
    except InvalidIncident as exc:
        raise InvalidIncident(f"bug.{exc}", field="bug.whiteboard") from None
    return replace(base, **sent, creator=None, creator_domain=domain, whiteboard=whiteboard,
                   tags=tags, last_change_time=max(changed_at),
                   description=base.description if description is None else description)


def _store_event(*, session: Session, event: BugEvent, description: str | None,
                 taxonomy: Taxonomy, model: Callable[[], LoadedModel]) -> HookOutcome:
    """Write the event's record, and classify the bug when it is new or its text changed."""
    row = session.get(IncidentRow, event.bug_id, options=[selectinload(IncidentRow.tags)],
                      populate_existing=True)
    base = record_of(row=row) if row is not None else None
    record = _record(event, base, description, taxonomy)
    text_changed = base is None or (record.summary, record.description) != (base.summary,
                                                                            base.description)
    loaded = model() if text_changed or event.kind is EventKind.CREATE else None
    upsert_bugs(session=session, records=[record])
    if base is None:
        new_row = session.get(IncidentRow, event.bug_id)
        assert new_row is not None  # just stored
        new_row.last_event_time = event.time
        session.flush()
    changed = tuple(f.name for f in fields(BugRecord)
                    if base is not None and getattr(base, f.name) != getattr(record, f.name))
    classification, stored = None, False
    if loaded is not None:
        classification = classify(loaded, [record.incident()], taxonomy, explain=True)[0]
        if text_changed or session.scalar(select(PredictionRow.id).where(
                PredictionRow.incident_id == event.bug_id,
                PredictionRow.model_version == loaded.version)) is None:
            save_predictions(session=session, predictions=[classification.prediction(event.bug_id)])
            stored = True
    if base is None:
        what = f"bug {event.bug_id} stored and classified"
    else:
        what = (f"bug {event.bug_id}: {', '.join(changed)} updated" if changed
                else f"bug {event.bug_id}: already as this event has it")
        if stored:
            what += "; re-classified" if text_changed else "; classified"
    return HookOutcome(event.bug_id, event.kind, applied=True, reason=what, changed=changed,
                       classification=classification, prediction_stored=stored)
