"""Webhook events applied to the store (core.hooks), on SQLite and PostgreSQL: what each event
does, repeats and out-of-order deliveries, privacy, and comment 0 fetched from a stand-in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from classifier import BugzillaUnavailable, Incident, InvalidIncident, Taxonomy
from core.bugzilla import COMPONENT, PRODUCT, BugRecord, BugzillaClient
from core.classification import classify
from core.config import Settings
from core.db import get_engine, session_scope, upgrade
from core.hooks import BugEvent, EventKind, HookOutcome, apply_event, event_kind
from core.registry import LoadedModel, ModelRegistry
from core.store import upsert_bugs
from core.tables import IncidentRow
from tests.fixtures import stored_bug
from tests.standin import BugzillaStandIn

BUG = 1_900_001
T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
SUMMARY = "Nimbus Trust: OCSP responder returned unknown for valid certificates"
REPORT = "Our OCSP responder answered unknown for valid certificates for 6 hours."


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def filed(bug_id: int = BUG, *, minutes: int = 0, comment: str | None = REPORT,
          **fields: Any) -> BugEvent:
    """A ``create`` event of a bug of the component, with comment 0 unless ``comment`` is None."""
    return BugEvent(action="create", target="bug", time=at(minutes), bug_id=bug_id,
                    fields={"product": PRODUCT, "component": COMPONENT, "summary": SUMMARY,
                            "whiteboard": "[ca-compliance]", "status": "UNCONFIRMED",
                            "resolution": "", "creator": "compliance@NimbusTrust.example",
                            "creation_time": T0, "last_change_time": at(minutes), **fields},
                    comment_number=0 if comment is not None else None, comment_text=comment)


def changed(minutes: int, *changes: tuple[str, Any, Any], bug_id: int = BUG,
            action: str = "modify", target: str = "bug", **fields: Any) -> BugEvent:
    """A later event of the bug: ``changes`` applied to the fields it carries."""
    values = {"product": PRODUCT, "component": COMPONENT, "last_change_time": at(minutes),
              **fields}
    for name, _, added in changes:
        values.setdefault(name, added)
    return BugEvent(action=action, target=target, time=at(minutes), bug_id=bug_id, fields=values,
                    changes=tuple(changes))


@pytest.fixture
def loaded(models_dir: Path) -> LoadedModel:
    return ModelRegistry(models_dir).load()


@pytest.fixture
def apply(store: str, settings: Settings, taxonomy: Taxonomy,
          loaded: LoadedModel) -> Callable[..., HookOutcome]:
    """Apply one event in a session of its own, committed as the service does."""

    def run(event: BugEvent, *, model: Callable[[], LoadedModel] = lambda: loaded,
            client: BugzillaClient | None = None) -> HookOutcome:
        with Session(get_engine(store)) as session:
            outcome = apply_event(session=session, event=event, taxonomy=taxonomy, model=model,
                                  settings=settings, client=client)
            session.commit()
        return outcome

    return run


def state(url: str, bug_id: int = BUG) -> dict[str, Any]:
    return stored_bug(url, bug_id)


def no_model() -> LoadedModel:
    raise LookupError("no model is loaded")


@pytest.mark.parametrize(("action", "target", "kind"), [
    ("create", "bug", EventKind.CREATE), ("modify", "bug", EventKind.MODIFY),
    ("create", "comment", EventKind.COMMENT), ("create", "attachment", EventKind.ATTACHMENT),
    ("modify", "attachment", EventKind.ATTACHMENT), ("comment", None, EventKind.COMMENT),
    ("attachment", "bug", EventKind.ATTACHMENT), ("delete", "bug", None), ("create", "flag", EventKind.CREATE),
])
def test_event_kind(action, target, kind):
    assert event_kind(action, target) is kind


def test_create_stores_and_classifies_as_classify_would(apply, store, loaded, taxonomy):
    outcome = apply(filed())
    assert outcome.applied and outcome.prediction_stored
    expected = classify(loaded, [Incident(summary=SUMMARY, description=REPORT, id=BUG,
                                          creator_domain="nimbustrust.example")], taxonomy,
                        explain=True)[0]
    assert outcome.classification == expected
    stored = state(store)
    incident = stored["incident"]
    assert (incident["summary"], incident["description"]) == (SUMMARY, REPORT)
    assert incident["creator"] is None  # only the reporter's domain is kept, as by the sync
    assert incident["creator_domain"] == "nimbustrust.example"
    assert incident["last_event_time"] == T0 and incident["last_change_time"] == T0
    assert stored["tags"] == [("ca-compliance", "meta")]
    assert [p[:2] for p in stored["predictions"]] == [(loaded.version, expected.tags)]


def test_create_twice_leaves_the_same_state(apply, store):
    first = apply(filed())
    before = state(store)
    again = apply(filed())
    assert again.applied and not again.prediction_stored
    assert again.classification == first.classification
    assert state(store) == before


def test_whiteboard_tags_score_the_earlier_prediction(apply, store, loaded):
    predicted = apply(filed()).classification
    outcome = apply(changed(5, ("whiteboard", "[ca-compliance]", "[ca-compliance] [ocsp-failure]")))
    assert outcome.applied and outcome.classification is None
    assert {"whiteboard", "tags", "last_change_time"} <= set(outcome.changed)
    after = state(store)
    assert ("ocsp-failure", "type") in after["tags"]
    assert [live[:3] for live in after["live"]] == [(loaded.version, predicted.tags, ["ocsp-failure"])]
    assert after["incident"]["tags_known_at"] is not None
    assert after["incident"]["last_event_time"] == at(5)


def test_older_event_changes_nothing(apply, store):
    apply(filed())
    apply(changed(10, ("whiteboard", "[ca-compliance]", "[ca-compliance] [ocsp-failure]")))
    before = state(store)
    older = apply(changed(5, ("whiteboard", "[ca-compliance]", "[ca-compliance] [crl-failure]"),
                          ("summary", SUMMARY, "Nimbus Trust: CRL expired")))
    assert not older.applied
    assert "older than what the store holds" in older.reason
    assert state(store) == before
    # The newer one again: applied, nothing to change.
    again = apply(changed(10, ("whiteboard", "[ca-compliance]", "[ca-compliance] [ocsp-failure]")))
    assert again.applied and again.changed == ()
    assert state(store) == before


def test_event_older_than_a_sync_is_ignored(apply, store, taxonomy):
    """The sync stored Bugzilla's last change time: a delivery from before it is not applied."""
    with session_scope(store) as session:
        record = BugRecord.from_rest({"id": BUG, "summary": SUMMARY, "whiteboard": "[ocsp-failure]",
                                      "product": PRODUCT, "component": COMPONENT,
                                      "last_change_time": "2025-03-04T11:00:00Z"},
                                     [{"count": 0, "text": REPORT}], taxonomy)
        upsert_bugs(session=session, records=[record])
    before = state(store)
    assert not apply(changed(30, ("whiteboard", "[ocsp-failure]", ""))).applied
    assert state(store) == before
    newer = apply(changed(61, ("status", "NEW", "ASSIGNED")))
    assert newer.applied and "status" in newer.changed


def test_summary_change_reclassifies(apply, store):
    apply(filed())
    (_, _, _, _, _, first_at), = state(store)["predictions"]
    quiet = apply(changed(5, ("status", "UNCONFIRMED", "NEW")))
    assert quiet.classification is None and not quiet.prediction_stored
    assert state(store)["predictions"][0][5] == first_at
    renamed = apply(changed(6, ("summary", SUMMARY, "Nimbus Trust: CRL not served from the "
                                                    "published URL")))
    assert renamed.classification is not None and renamed.prediction_stored
    assert "re-classified" in renamed.reason
    after = state(store)
    assert after["incident"]["summary"] == "Nimbus Trust: CRL not served from the published URL"
    assert after["predictions"][0][1] == renamed.classification.tags
    assert after["predictions"][0][5] > first_at


def test_comment_moves_the_last_change_only(apply, store):
    apply(filed())
    before = state(store)
    comment = BugEvent(action="create", target="comment", time=at(20), bug_id=BUG,
                       fields={"product": PRODUCT, "component": COMPONENT,
                               "last_change_time": at(20)},
                       comment_number=3, comment_text="We will post an update on Friday.")
    outcome = apply(comment)
    assert outcome.applied and outcome.kind is EventKind.COMMENT and outcome.classification is None
    after = state(store)
    assert after["incident"]["last_change_time"] == at(20)
    assert after["incident"]["description"] == REPORT
    assert after["predictions"] == before["predictions"]
    # The time of its last comment too: the briefing's stand-in for a resolution time.
    assert before["incident"]["last_comment_time"] == at(0)  # comment 0, from the create event
    assert after["incident"]["last_comment_time"] == at(20)
    apply(changed(30, ("status", "UNCONFIRMED", "RESOLVED")))  # no comment: the time stays
    assert state(store)["incident"]["last_comment_time"] == at(20)


def test_comment_zero_reclassifies(apply, store):
    apply(filed(comment=None, whiteboard="[ca-compliance]"), client=_Comments(""))
    new_text = "Our CRL expired and was not refreshed for two days."
    outcome = apply(BugEvent(action="create", target="comment", time=at(1), bug_id=BUG,
                             fields={"product": PRODUCT, "component": COMPONENT},
                             comment_number=0, comment_text=new_text))
    assert outcome.classification is not None and outcome.prediction_stored
    assert state(store)["incident"]["description"] == new_text


def test_attachment_moves_the_last_change(apply, store):
    apply(filed())
    outcome = apply(BugEvent(action="create", target="attachment", time=at(7), bug_id=BUG,
                             fields={"product": PRODUCT, "component": COMPONENT}))
    assert outcome.applied and outcome.changed == ("last_change_time",)
    assert state(store)["incident"]["last_change_time"] == at(7)


def test_closing_sets_the_resolution_time(apply, store):
    apply(filed())
    # The payload's cf_last_resolved is null: the event's time is when it was resolved.
    apply(changed(30, ("status", "UNCONFIRMED", "RESOLVED"), ("resolution", "", "FIXED"),
                  resolved_at=None))
    incident = state(store)["incident"]
    assert (incident["status"], incident["resolution"], incident["resolved_at"]) == (
        "RESOLVED", "FIXED", at(30))
    # Verified later: still resolved when it was resolved.
    apply(changed(40, ("status", "RESOLVED", "VERIFIED")))
    assert state(store)["incident"]["resolved_at"] == at(30)
    # Bugzilla's own cf_last_resolved wins when the payload has it.
    apply(changed(50, ("status", "VERIFIED", "REOPENED"), resolution=""))
    apply(changed(60, ("status", "REOPENED", "RESOLVED"), resolved_at=at(59)))
    assert state(store)["incident"]["resolved_at"] == at(59)


@pytest.mark.parametrize(("event", "says"), [
    pytest.param(filed(product="Firefox"), "is in Firefox / CA Certificate Compliance",
                 id="product"),
    pytest.param(filed(component="CA Certificate Root Inclusion Request"),
                 "not CA Program / CA Certificate Compliance", id="component"),
    pytest.param(BugEvent(action="create", target="bug", time=T0, bug_id=BUG, private="bug"),
                 "the bug is private", id="private-bug"),
    pytest.param(BugEvent(action="create", target="comment", time=T0, bug_id=BUG,
                          private="comment"), "the comment is private", id="private-comment"),
    pytest.param(replace(filed(), action="delete"), "is not one this service takes",
                 id="unknown-action"),
])
def test_ignored_events_store_nothing(apply, store, event, says):
    count = _incidents(store)
    outcome = apply(event)
    assert not outcome.applied
    assert says in outcome.reason
    assert _incidents(store) == count
    assert state(store)["incident"] is None


def test_new_bug_needs_its_summary(apply, store, standin: BugzillaStandIn):
    event = changed(5, ("status", "NEW", "ASSIGNED"))
    with BugzillaClient(standin.url, max_attempts=1) as client, \
            pytest.raises(InvalidIncident) as caught:
        apply(event, client=client)
    assert standin.requests == []  # refused before Bugzilla is asked for comment 0
    assert caught.value.field == "bug.summary"
    assert state(store)["incident"] is None


def test_whiteboard_tag_too_long_names_the_field(apply, store):
    with pytest.raises(InvalidIncident) as caught:
        apply(filed(whiteboard="[" + "x" * 200 + "]"))
    assert caught.value.field == "bug.whiteboard"
    assert state(store)["incident"] is None


def test_no_model_stores_nothing_for_a_new_bug_but_updates_tags(apply, store, loaded):
    with pytest.raises(LookupError):
        apply(filed(), model=no_model)
    assert state(store)["incident"] is None
    apply(filed())
    outcome = apply(changed(5, ("whiteboard", "[ca-compliance]", "[ocsp-failure]")), model=no_model)
    assert outcome.applied
    assert [live[0] for live in state(store)["live"]] == [loaded.version]


def test_unknown_bug_fetches_comment_zero(apply, store, standin: BugzillaStandIn):
    """A bug new to the store without comment 0 in the event: Bugzilla's REST API gives it."""
    standin.file({"id": BUG, "product": PRODUCT, "component": COMPONENT, "summary": SUMMARY,
                  "creation_time": "2025-03-04T10:00:00Z"}, REPORT)
    with BugzillaClient(standin.url, max_attempts=1) as client:
        outcome = apply(changed(5, ("status", "NEW", "ASSIGNED"), summary=SUMMARY), client=client)
    assert outcome.applied and outcome.classification is not None
    assert [r.comment_bug for r in standin.requests] == [BUG]
    assert state(store)["incident"]["description"] == REPORT


def test_private_comment_zero_is_not_stored(apply, store, standin: BugzillaStandIn):
    standin.file({"id": BUG, "product": PRODUCT, "component": COMPONENT, "summary": SUMMARY,
                  "creation_time": "2025-03-04T10:00:00Z"}, "private: the customer's name")
    standin.comments[BUG][0]["is_private"] = True
    with BugzillaClient(standin.url, max_attempts=1) as client:
        assert apply(filed(comment=None), client=client).applied
    assert state(store)["incident"]["description"] == ""
    # Comment 0 private in the event itself: not stored, nothing fetched.
    standin.clear_log()
    apply(replace(filed(bug_id=BUG + 1), comment_text=None))
    assert standin.requests == []
    assert state(store, BUG + 1)["incident"]["description"] == ""


def test_bugzilla_comment_count_not_a_number_stores_nothing(apply, store, standin: BugzillaStandIn):
    """Bugzilla's comments of a new bug, one numbered "a": its answer gives no comment 0, as
    when it fails (a TypeError before), and the payload is not blamed for it."""
    standin.file({"id": BUG, "product": PRODUCT, "component": COMPONENT, "summary": SUMMARY,
                  "creation_time": "2025-03-04T10:00:00Z"}, REPORT)
    standin.comments[BUG].append({"bug_id": BUG, "count": "a", "text": "later"})
    with BugzillaClient(standin.url, max_attempts=1) as client, \
            pytest.raises(BugzillaUnavailable, match=rf"comments of bug {BUG}: comments\[1\]\.count"):
        apply(filed(comment=None), client=client)
    assert state(store)["incident"] is None


def test_bugzilla_failing_stores_nothing(apply, store, standin: BugzillaStandIn):
    standin.file({"id": BUG, "product": PRODUCT, "component": COMPONENT, "summary": SUMMARY,
                  "creation_time": "2025-03-04T10:00:00Z"}, REPORT)
    standin.fail("comment", "500", times=None)
    with BugzillaClient(standin.url, max_attempts=2, backoff=0.01) as client, \
            pytest.raises(BugzillaUnavailable):
        apply(filed(comment=None), client=client)
    assert len(standin.requests) == 2
    assert state(store)["incident"] is None


class _Comments:
    """A client whose comment 0 is ``text`` (the tests that are not about fetching)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def comments(self, bug_id: int) -> list[dict[str, Any]]:
        return [{"count": 0, "text": self.text, "is_private": False}]


def _incidents(url: str) -> int:
    upgrade(url)
    with session_scope(url) as session:
        return int(session.scalar(select(func.count()).select_from(IncidentRow)))
