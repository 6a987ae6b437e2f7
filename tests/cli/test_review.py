"""`incidents review`: the active model's review queue in a terminal, least sure first, with why
each incident waits; the filters of `GET /review`; bad input is one error line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.aggregate import Period
from core.ca_names import CANames
from core.config import Settings
from core.db import session_scope
from core.review import review_queue
from tests.fixtures import SQLITE_ONLY, UNTAGGED, Incidents, add_review_queue


@pytest.fixture
def queue(store: str, models_dir: Path) -> list[int]:
    return add_review_queue(store, models_dir)


def _expected(settings: Settings, **filters) -> list:
    with session_scope(settings.database_url) as session:
        return review_queue(session=session, model_version="v1", limit=100, ca_names=CANames.load(),
                            **filters)


def test_review_lists_the_queue_with_why(incidents: Incidents, settings: Settings, queue) -> None:
    expected = _expected(settings)
    assert sorted(i.incident_id for i in expected) == queue
    lines = incidents.ok("review").stdout.splitlines()
    assert lines[0] == f"{len(queue)} incidents labelled by v1 alone wait for review; least sure first"
    assert lines[1::2] == [f"{i.incident_id}  {i.confidence:.2f}  {', '.join(i.tags) or '-'}  {i.summary}"
                           for i in expected]
    assert lines[2::2] == [f"    why: {i.review_reason}" for i in expected]
    assert all(i.review_reason for i in expected)


def test_review_escapes_what_would_drive_the_terminal(incidents: Incidents, settings: Settings,
                                                      queue) -> None:
    """A summary's escape sequences (clear the screen, set the title) were echoed raw."""
    from sqlalchemy import update

    from core.tables import IncidentRow

    with session_scope(settings.database_url) as session:
        session.execute(update(IncidentRow).where(IncidentRow.id == queue[0])
                        .values(summary="Evil\x1b[2J\x1b]0;owned\x07 CA: audit late"))
    out = incidents.ok("review").stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "Evil\\x1b[2J\\x1b]0;owned\\x07 CA: audit late" in out


def test_review_json_limit_and_filters(incidents: Incidents, settings: Settings, queue) -> None:
    expected = _expected(settings)
    rows = [json.loads(line) for line in incidents.ok("review", "--json").stdout.splitlines()]
    assert [(r["bug_id"], r["confidence"], r["tags"], r["review_reason"]) for r in rows] == [
        (i.incident_id, i.confidence, list(i.tags), i.review_reason) for i in expected]
    first = incidents.ok("review", "--limit", "1").stdout.splitlines()
    assert first[0].startswith(f"{len(queue)} incidents labelled by v1 alone wait for review, the "
                               "first 1 below")
    assert len(first) == 3 and first[1].startswith(f"{expected[0].incident_id}  ")
    # The CA and period filters are the queue's own.
    kestrel_rows = [json.loads(line) for line in
                    incidents.ok("review", "--json", "--ca", "Kestrel Trust").stdout.splitlines()]
    # Each names its CA as the briefing does, beside the store's key.
    assert {(r["ca"], r["ca_name"]) for r in kestrel_rows} == {("Kestrel Trust", "kestrel trust")}
    kestrel = [r["bug_id"] for r in kestrel_rows]
    assert sorted(kestrel) == sorted(b for b, summary, _, _ in UNTAGGED if summary.startswith("Kestrel"))
    period = Period.parse("2023-03-01", "2023-04-30")
    spring = [json.loads(line)["bug_id"] for line in incidents.ok(
        "review", "--json", "--start", "2023-03-01", "--end", "2023-04-30").stdout.splitlines()]
    assert spring == [i.incident_id for i in _expected(settings, start=period.start, end=period.end)]
    assert 0 < len(spring) < len(queue)


@SQLITE_ONLY
@pytest.mark.parametrize(("args", "says"), [
    (["--start", "2023-06-01", "--end", "2023-01-01"], ("start: 2023-06-01 is after end 2023-01-01",)),
    (["--end", "2023-02-30"], ("end: '2023-02-30' is not a date",)),
])
def test_review_bad_period_is_one_line(incidents: Incidents, queue, args, says) -> None:
    result = incidents.fails("review", *args, says=says)
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


@SQLITE_ONLY
def test_review_without_an_active_model_says_so(incidents: Incidents, store: str) -> None:
    incidents.fails("review", says=("no model version is active", "incidents train"))


def test_review_of_a_ca_the_store_does_not_hold_says_so(incidents: Incidents, queue) -> None:
    """A mistyped CA name is said to match nothing (it read as a CA with nothing waiting); a CA
    the store holds, with nothing waiting, is a plain 0."""
    mistyped = incidents.ok("review", "--ca", "Kestral Trust")
    assert mistyped.stdout.startswith("0 incidents labelled by v1 alone wait for review")
    assert mistyped.stderr == ("note: no incident in the store is of a CA named 'Kestral Trust'; "
                               "`incidents report` lists the CAs by the names the briefing gives them\n")
    held = incidents.ok("review", "--ca", "Acme Trust")  # the fixture's tagged bugs: none waits
    assert held.stdout.startswith("0 incidents") and held.stderr == ""
    assert incidents.ok("review", "--ca", "kestrel trust").stderr == ""
