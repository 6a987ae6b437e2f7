"""The sync against the stand-in, on SQLite and PostgreSQL: full, incremental, failing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from classifier import BugzillaUnavailable
from core.bugzilla import BugzillaClient, bugzilla_time, read_sync_state
from core.bugzilla import sync_from_bugzilla as run_sync
from core.bugzilla.sync import SYNC_OVERLAP
from core.config import Settings
from core.db import session_scope
from core.store import get_incident
from core.tables import IncidentRow
from tests.standin import BugzillaStandIn

N_BUGS = 48  # the component's bugs; the stand-in holds one more, in another component


def sync(settings: Settings, sleeps: list[float] | None = None, **options):
    """One sync whose backoff waits are recorded rather than slept."""
    waits = sleeps if sleeps is not None else []
    with BugzillaClient.from_settings(settings, sleep=waits.append) as bugzilla:
        return run_sync(settings=settings, client=bugzilla, **options)


def stored_ids(settings: Settings) -> list[int]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(IncidentRow.id).order_by(IncidentRow.id)))


def sync_state(settings: Settings) -> datetime | None:
    with session_scope(settings.database_url) as session:
        return read_sync_state(session=session, source=settings.bugzilla_url)


def newest_change(standin: BugzillaStandIn) -> datetime:
    return max(datetime.fromisoformat(b["last_change_time"].replace("Z", "+00:00"))
               for b in standin.bugs.values() if b["component"] == "CA Certificate Compliance")


def test_sync_full_stores_every_bug(sync_settings: Settings, standin: BugzillaStandIn):
    progress: list[int] = []

    report = sync(sync_settings, progress=progress.append)

    assert report.since is None
    assert len(report.counts.new) == N_BUGS
    assert report.counts.updated == [] and report.counts.unchanged == [] and report.skipped == []
    assert report.pages == 5 and sum(progress) == N_BUGS
    assert len(stored_ids(sync_settings)) == N_BUGS and 1_400_000 not in stored_ids(sync_settings)
    assert report.state == sync_state(sync_settings) == newest_change(standin)
    assert "48 new, 0 updated, 0 unchanged" in report.summary()
    # pages of 10 until an empty one, then comment 0 of every bug, once
    offsets = [r.query["offset"] for r in standin.requests if r.is_bug_list]
    assert offsets == ["0", "10", "20", "30", "40", "48"]
    comment_ids = [r.comment_bug for r in standin.requests if r.comment_bug]
    assert sorted(comment_ids) == stored_ids(sync_settings)


def test_sync_full_stores_fields_without_reporter_address(sync_settings: Settings,
                                                          standin: BugzillaStandIn):
    sync(sync_settings)

    bug = standin.bugs[1_500_001]
    with session_scope(sync_settings.database_url) as session:
        row = get_incident(session=session, bug_id=1_500_001)
        assert row is not None
        assert row.summary == bug["summary"] and row.whiteboard == bug["whiteboard"]
        assert row.description == standin.comments[1_500_001][0]["text"]
        assert row.creator is None
        assert row.creator_domain == bug["creator"].split("@")[1]
        assert (row.product, row.component) == ("CA Program", "CA Certificate Compliance")
        assert row.status == "RESOLVED" and row.resolved_at is not None
        assert row.last_change_time == datetime.fromisoformat(
            bug["last_change_time"].replace("Z", "+00:00"))
        assert {t.tag for t in row.tags if t.kind == "type"} == {"ocsp-failure"}


def test_sync_incremental_picks_up_changed_whiteboard(sync_settings: Settings,
                                                      standin: BugzillaStandIn):
    sync(sync_settings)
    first_state = sync_state(sync_settings)
    assert first_state is not None
    changed_at = datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)
    standin.change(1_500_002, when=changed_at,
                   whiteboard="[ca-compliance] [crl-failure] [policy-failure]")
    standin.clear_log()

    report = sync(sync_settings)

    since = first_state - SYNC_OVERLAP
    assert report.since == since
    lists = [r for r in standin.requests if r.is_bug_list]
    assert all(r.query["last_change_time"] == bugzilla_time(since) for r in lists)
    # only the changed bug needs comment 0 again; the overlap's bugs are known and unchanged
    assert [r.comment_bug for r in standin.requests if r.comment_bug] == [1_500_002]
    assert report.counts.updated == [1_500_002] and report.counts.new == []
    assert len(report.counts.unchanged) < 5
    assert report.state == sync_state(sync_settings) == changed_at
    with session_scope(sync_settings.database_url) as session:
        row = get_incident(session=session, bug_id=1_500_002)
        assert row is not None
        assert {t.tag for t in row.tags if t.kind == "type"} == {"crl-failure", "policy-failure"}


def test_sync_incremental_picks_up_new_bug(sync_settings: Settings, standin: BugzillaStandIn):
    sync(sync_settings)
    new_bug = {**standin.bugs[1_500_001], "id": 1_600_000, "creation_time": "2024-05-01T09:00:00Z",
               "last_change_time": "2024-05-02T09:00:00Z", "creator": "pki@granite.example",
               "whiteboard": "[ca-compliance] [ev-misissuance]",
               "summary": "Granite CA: EV certificates with wrong jurisdiction"}
    standin.file(new_bug, "We issued EV certificates with the wrong jurisdiction.")

    report = sync(sync_settings)

    assert report.counts.new == [1_600_000] and report.counts.updated == []
    assert stored_ids(sync_settings)[-1] == 1_600_000
    with session_scope(sync_settings.database_url) as session:
        row = get_incident(session=session, bug_id=1_600_000)
        assert row is not None and row.creator_domain == "granite.example"
        assert row.description.startswith("We issued EV")


def test_sync_without_changes_changes_nothing(sync_settings: Settings, standin: BugzillaStandIn):
    sync(sync_settings)
    state = sync_state(sync_settings)
    standin.clear_log()

    report = sync(sync_settings)

    assert report.counts.new == [] and report.counts.updated == []
    assert not [r for r in standin.requests if r.comment_bug]
    assert sync_state(sync_settings) == state


def test_sync_full_asks_for_every_bug_again(sync_settings: Settings, standin: BugzillaStandIn):
    sync(sync_settings)
    standin.clear_log()

    report = sync(sync_settings, full=True)

    assert report.since is None and len(report.counts.unchanged) == N_BUGS
    assert all("last_change_time" not in r.query for r in standin.requests if r.is_bug_list)
    assert not [r for r in standin.requests if r.comment_bug]


def test_sync_recovers_from_transient_failures(sync_settings: Settings, standin: BugzillaStandIn):
    standin.fail("bugs@0", "timeout", times=1)
    standin.fail("bugs@10", "500", times=2)
    standin.fail("bugs@20", "429", times=2, retry_after="1")
    standin.fail("bugs@30", "truncated", times=1)
    standin.fail("bugs@40", "broken", times=1)
    standin.fail("comment@1500003", "500", times=2)
    standin.fail("comment@1500017", "timeout", times=1)
    sleeps: list[float] = []

    report = sync(sync_settings, sleeps)

    assert len(report.counts.new) == N_BUGS
    assert len(stored_ids(sync_settings)) == N_BUGS
    assert sync_state(sync_settings) == newest_change(standin)
    assert len(sleeps) == 10
    assert max(sleeps) <= sync_settings.bugzilla_max_wait


def test_sync_stops_cleanly_on_persistent_failure(sync_settings: Settings,
                                                  standin: BugzillaStandIn):
    standin.fail("bugs@20", "500", times=None)

    with pytest.raises(BugzillaUnavailable) as caught:
        sync(sync_settings)

    message = str(caught.value)
    assert "GET /rest/bug (offset 20)" in message and "failed 3 times" in message
    assert "Stopped with 20 bugs stored" in message
    assert "sync state was not advanced" in message
    assert len(stored_ids(sync_settings)) == 20  # the two pages before the failing one
    assert sync_state(sync_settings) is None

    standin.heal()
    standin.clear_log()
    report = sync(sync_settings)

    assert len(report.counts.new) == N_BUGS - 20 and len(report.counts.unchanged) == 20
    assert len(stored_ids(sync_settings)) == N_BUGS
    assert len([r for r in standin.requests if r.comment_bug]) == N_BUGS - 20
    assert sync_state(sync_settings) == newest_change(standin)


def test_sync_comment_failure_keeps_earlier_pages_only(sync_settings: Settings,
                                                       standin: BugzillaStandIn):
    third_page_bug = sorted(stored for stored in standin.bugs if stored >= 1_500_000)[25]
    standin.fail(f"comment@{third_page_bug}", "timeout", times=None)

    with pytest.raises(BugzillaUnavailable, match=f"GET /rest/bug/{third_page_bug}/comment"):
        sync(sync_settings)

    assert len(stored_ids(sync_settings)) == 20
    assert sync_state(sync_settings) is None


def test_sync_failure_during_incremental_keeps_previous_state(sync_settings: Settings,
                                                              standin: BugzillaStandIn):
    sync(sync_settings)
    state = sync_state(sync_settings)
    standin.change(1_500_004, when=datetime(2024, 1, 2, tzinfo=UTC), whiteboard="[ca-compliance]")
    standin.fail("bugs@0", "500", times=None)

    with pytest.raises(BugzillaUnavailable):
        sync(sync_settings)

    assert sync_state(sync_settings) == state


def test_sync_pages_through_server_cap_on_limit(sync_settings: Settings,
                                                standin: BugzillaStandIn):
    standin.max_limit = 4  # Bugzilla answers at most 4 bugs a page, whatever limit says

    report = sync(sync_settings)

    assert len(report.counts.new) == N_BUGS and report.pages == 12


def test_sync_skips_bug_the_store_cannot_take(sync_settings: Settings, standin: BugzillaStandIn):
    standin.bugs[1_500_005]["summary"] = "   "

    report = sync(sync_settings)

    assert report.skipped == [1_500_005]
    assert len(report.counts.new) == N_BUGS - 1
    assert "1 skipped" in report.summary()


def test_sync_updates_bugs_loaded_from_snapshot(store: str, sync_settings: Settings,
                                                standin: BugzillaStandIn):
    # The snapshot fixture holds the same bug ids, without change times or reporters.
    report = sync(sync_settings)

    assert len(report.counts.updated) == N_BUGS and report.counts.new == []
    assert len([r for r in standin.requests if r.comment_bug]) == N_BUGS


def test_sync_stores_last_public_comment_time(sync_settings: Settings, standin: BugzillaStandIn):
    """The briefing's stand-in for a resolution time: the newest public comment, refreshed when
    the bug changes, kept as stored while it does not."""
    sync(sync_settings)
    bug_id = 1_500_003
    filed = datetime.fromisoformat(standin.bugs[bug_id]["creation_time"].replace("Z", "+00:00"))
    with session_scope(sync_settings.database_url) as session:
        assert get_incident(session=session, bug_id=bug_id).last_comment_time == filed
    commented = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
    standin.comments[bug_id] += [
        {"bug_id": bug_id, "count": 1, "text": "Closing.", "creation_time": "2024-06-01T08:00:00Z",
         "is_private": False},
        {"bug_id": bug_id, "count": 2, "text": "", "creation_time": "2024-06-02T08:00:00Z",
         "is_private": True}]
    standin.change(bug_id, when=commented, status="RESOLVED")

    report = sync(sync_settings)

    assert report.counts.updated == [bug_id]
    with session_scope(sync_settings.database_url) as session:
        assert get_incident(session=session, bug_id=bug_id).last_comment_time == commented
    standin.clear_log()
    again = sync(sync_settings)  # unchanged: its comments are not asked for, the time stays
    assert again.counts.updated == [] and not [r for r in standin.requests if r.comment_bug]
    with session_scope(sync_settings.database_url) as session:
        assert get_incident(session=session, bug_id=bug_id).last_comment_time == commented


def test_sync_skips_bug_whose_comment_time_is_broken(sync_settings: Settings, standin: BugzillaStandIn):
    standin.comments[1_500_004][0]["creation_time"] = "yesterday"

    report = sync(sync_settings)

    assert report.skipped == [1_500_004]
    assert 1_500_004 not in stored_ids(sync_settings) and len(stored_ids(sync_settings)) == N_BUGS - 1


def test_sync_skips_bug_whose_comment_count_is_not_a_number(sync_settings: Settings,
                                                            standin: BugzillaStandIn):
    """A count that is not a number among numbers (a TypeError before) leaves out that bug
    alone, as any bug the store cannot take: the sync completes, and the next one runs too."""
    standin.comments[1_500_004].insert(0, {"bug_id": 1_500_004, "count": "a", "text": "x",
                                           "creation_time": "2024-06-01T08:00:00Z"})

    report = sync(sync_settings)

    assert report.skipped == [1_500_004]
    assert 1_500_004 not in stored_ids(sync_settings) and len(stored_ids(sync_settings)) == N_BUGS - 1
    assert sync_state(sync_settings) == newest_change(standin)
    assert sync(sync_settings).counts.unchanged != []


def test_sync_skips_bug_whose_comment_zero_holds_a_nul(sync_settings: Settings,
                                                      standin: BugzillaStandIn):
    """Comment 0 fetched from Bugzilla is checked as a snapshot's is: with a NUL (which PostgreSQL
    refuses) it was stored as it came, and on PostgreSQL the page's commit failed every night."""
    standin.comments[1_500_004][0]["text"] = "before\x00after"

    report = sync(sync_settings)

    assert report.skipped == [1_500_004]
    assert 1_500_004 not in stored_ids(sync_settings) and len(stored_ids(sync_settings)) == N_BUGS - 1
    assert sync_state(sync_settings) == newest_change(standin)


@pytest.mark.parametrize("bug_id", [2**31, 10**23])
def test_sync_skips_bug_id_the_store_cannot_take(sync_settings: Settings, standin: BugzillaStandIn,
                                                 bug_id: int):
    """An id above the REST API's bound, or beyond SQLite's 64 bits (an OverflowError that
    stopped the sync before any bug was read), leaves out that bug alone."""
    standin.bugs[bug_id] = {**standin.bugs[1_500_001], "id": bug_id}

    report = sync(sync_settings)

    assert report.skipped == [bug_id]
    assert len(stored_ids(sync_settings)) == N_BUGS and bug_id not in stored_ids(sync_settings)
