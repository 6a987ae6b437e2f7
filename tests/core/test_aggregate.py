"""Which incidents are open in a period, and by which rule: the edges of each rule, filing times
the store lacks, excluded resolutions, CA names merged across aliases, and periods."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from classifier import InvalidPeriod, Taxonomy
from core.aggregate import Briefing, Period, WindowRule, bounds, briefing, excluded_words, period_bound
from core.bugzilla import BugRecord
from core.ca_names import CANames
from core.db import session_scope, upgrade
from core.store import save_prediction, upsert_bugs
from core.tables import IncidentRow

START, END = "2023-03-01", "2023-03-31"


@pytest.fixture
def url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def bug(bug_id: int, *, filed: str | None = "2023-01-10T12:00:00Z", status: str = "RESOLVED",
        resolved: str | None = None, commented: str | None = None, resolution: str = "FIXED",
        summary: str = "Acme Trust: CRL expired", whiteboard: str = "[ca-compliance] [crl-failure]",
        taxonomy: Taxonomy) -> BugRecord:
    comments: list[dict] = [{"count": 0, "text": "report"}]  # no time: see ``commented``
    if commented is not None:
        comments.append({"count": 1, "text": "", "creation_time": commented})
    return BugRecord.from_rest({"id": bug_id, "summary": summary, "whiteboard": whiteboard,
                                "creation_time": filed, "status": status, "resolution": resolution,
                                "cf_last_resolved": resolved}, comments, taxonomy)


def store(url: str, *records: BugRecord) -> None:
    with session_scope(url) as session:
        upsert_bugs(session=session, records=list(records))


def count(url: str, taxonomy: Taxonomy, start: str = START, end: str = END, **options) -> Briefing:
    period = Period.parse(start, end)
    with session_scope(url) as session:
        return briefing(session=session, taxonomy=taxonomy, start=period.start, end=period.end,
                        active_version=None, **options)


#: (what, the bug's times and status, the rule that counts it or None when it is not open)
EDGES = {
    "resolved the day before the start": (
        {"resolved": "2023-02-28T23:59:59Z"}, None),
    "resolved on the start day": ({"resolved": "2023-03-01T00:00:00Z"}, WindowRule.RESOLVED_AT),
    "resolved inside": ({"resolved": "2023-03-15T08:00:00Z"}, WindowRule.RESOLVED_AT),
    "resolved after the end": ({"resolved": "2023-05-01T00:00:00Z"}, WindowRule.RESOLVED_AT),
    "filed on the end day": ({"filed": "2023-03-31T23:00:00Z", "resolved": "2023-04-02T00:00:00Z"},
                             WindowRule.RESOLVED_AT),
    "filed the day after the end": ({"filed": "2023-04-01T00:00:00Z", "resolved": "2023-04-02T00:00:00Z"},
                                    None),
    "still open, filed long before": ({"filed": "2019-01-01T00:00:00Z", "status": "ASSIGNED",
                                       "resolution": ""}, WindowRule.STILL_OPEN),
    "still open, filed after the end": ({"filed": "2023-04-01T00:00:00Z", "status": "NEW",
                                         "resolution": ""}, None),
    "last comment the day before the start": ({"commented": "2023-02-28T23:59:59Z"}, None),
    "last comment on the start day": ({"commented": "2023-03-01T09:00:00Z"}, WindowRule.LAST_COMMENT),
    "last comment after the end": ({"commented": "2023-06-01T00:00:00Z"}, WindowRule.LAST_COMMENT),
    "resolution time wins over a later comment": (
        {"resolved": "2023-02-01T00:00:00Z", "commented": "2023-03-05T00:00:00Z"}, None),
    "closed, no times, filed before": ({"filed": "2023-02-01T00:00:00Z"}, None),
    "closed, no times, filed inside": ({"filed": "2023-03-10T00:00:00Z"}, WindowRule.CREATED_IN_WINDOW),
    "unknown status, a comment time: filed inside only": (
        {"filed": "2023-02-01T00:00:00Z", "status": "", "commented": "2023-03-05T00:00:00Z"}, None),
}


@pytest.mark.parametrize("times, rule", EDGES.values(), ids=EDGES.keys())
def test_briefing_window_rule_edges(url: str, taxonomy: Taxonomy, times: dict, rule: WindowRule | None):
    store(url, bug(1, taxonomy=taxonomy, **times))
    table = count(url, taxonomy)
    assert table.total == (rule is not None)
    expected = {r.value: int(r is rule) for r in WindowRule}
    assert table.rules == expected
    if rule is not None:
        assert table.incidents[1].rule is rule
        assert next(r for r in table.rows if r.category == "CRL Failures").incident_ids == (1,)


def test_briefing_window_rules_together(url: str, taxonomy: Taxonomy):
    store(url, bug(1, resolved="2023-03-02T00:00:00Z", taxonomy=taxonomy),
          bug(2, commented="2023-03-03T00:00:00Z", taxonomy=taxonomy),
          bug(3, status="REOPENED", resolution="", taxonomy=taxonomy),
          bug(4, filed="2023-03-04T00:00:00Z", taxonomy=taxonomy),
          bug(5, commented="2023-01-11T00:00:00Z", taxonomy=taxonomy))
    table = count(url, taxonomy)
    assert table.rules == {"still_open": 1, "resolved_at": 1, "last_comment": 1, "created_in_window": 1}
    assert set(table.incidents) == {1, 2, 3, 4}
    # One day earlier, bug 5's last comment (January 11) is still before the start.
    assert count(url, taxonomy, start="2023-01-12").total == 4
    assert count(url, taxonomy, start="2023-01-11").total == 5


def test_briefing_counts_undated_bug_from_when_received(url: str, taxonomy: Taxonomy):
    """A bug stored without a filing time counts from when the store received it, and says so."""
    store(url, bug(1, filed=None, status="NEW", resolution="", taxonomy=taxonomy),
          bug(2, filed=None, taxonomy=taxonomy))
    received = datetime(2023, 3, 20, 10, 0, tzinfo=UTC)
    with session_scope(url) as session:
        session.execute(update(IncidentRow).values(synced_at=received))
    table = count(url, taxonomy)
    assert table.total == 2 and table.undated == 2 and table.filed_when_received == 2
    assert table.rules["still_open"] == 1 and table.rules["created_in_window"] == 1
    assert table.incidents[1].filed == received and table.incidents[1].filed_when_received
    # Received after the period: not open in it, still counted as undated in the store.
    before = count(url, taxonomy, start="2023-03-01", end="2023-03-19")
    assert before.total == 0 and before.undated == 2 and before.filed_when_received == 0


def test_briefing_leaves_out_excluded_resolutions(url: str, taxonomy: Taxonomy):
    store(url, bug(1, commented="2023-03-05T00:00:00Z", taxonomy=taxonomy),
          bug(2, commented="2023-03-05T00:00:00Z", resolution="DUPLICATE", taxonomy=taxonomy),
          bug(3, commented="2023-03-05T00:00:00Z", resolution="invalid", taxonomy=taxonomy),
          bug(4, commented="2023-03-05T00:00:00Z", resolution="WONTFIX", taxonomy=taxonomy),
          # A tracking bug is no incident, whatever its resolution (the snapshot's 1029147 was
          # counted in every briefing of 2014 to 2017, with the model's guess of its type).
          bug(5, summary="[Meta] Bug for tracking BR compliance issues", commented="2023-03-05T00:00:00Z",
              resolution="WORKSFORME", taxonomy=taxonomy),
          bug(6, summary="Acme: [meta] in the middle is an incident", commented="2023-03-05T00:00:00Z",
              taxonomy=taxonomy))
    table = count(url, taxonomy, excluded_resolutions=["DUPLICATE", "INVALID"])
    assert table.total == 3 and set(table.incidents) == {1, 4, 6}
    assert table.excluded == {"DUPLICATE": 1, "INVALID": 1, "META": 1}
    assert table.excluded_ids == {"DUPLICATE": (2,), "INVALID": (3,), "META": (5,)}
    assert [excluded_words(k) for k in table.excluded] == [
        "resolved DUPLICATE", "resolved INVALID", "[meta] tracking bugs"]


def test_briefing_merges_ca_aliases(url: str, taxonomy: Taxonomy):
    names = CANames.load()
    summaries = {1: "Comodo: CRL expired", 2: "Sectigo: CRL not served", 3: "Comodo/cPanel: CRL late",
                 4: "D-TRUST: CRL expired", 5: "D-Trust: CRL malformed", 6: "D-TRUST: CRL old",
                 7: "CRL expired without a CA name"}
    store(url, *(bug(i, summary=s, commented="2023-03-05T00:00:00Z", taxonomy=taxonomy)
                 for i, s in summaries.items()))
    table = count(url, taxonomy, ca_names=names)
    assert table.ca_counts == {"Sectigo": 3, "D-TRUST": 3, "(no CA named)": 1}
    crl = next(r for r in table.rows if r.category == "CRL Failures")
    assert crl.cas == ("(no CA named)", "D-TRUST", "Sectigo")
    assert crl.ca_counts == {"Sectigo": 3, "D-TRUST": 3, "(no CA named)": 1}
    # Without the file, each name is its own CA, written as most of its summaries write it.
    plain = count(url, taxonomy)
    assert plain.ca_counts == {"D-TRUST": 3, "Comodo": 1, "Comodo/cPanel": 1, "Sectigo": 1,
                               "(no CA named)": 1}


def test_briefing_says_when_its_predictions_are_of_two_models(url: str, taxonomy: Taxonomy):
    """During a relabel after a promotion the table mixed v1's and v2's labels and named v2 alone."""
    store(url, *(bug(i, status="NEW", whiteboard="", taxonomy=taxonomy) for i in (1, 2, 3)))
    with session_scope(url) as session:
        for incident_id, version in ((1, "v1"), (2, "v1"), (3, "v1"), (3, "v2")):
            save_prediction(session=session, incident_id=incident_id, model_version=version,
                            tags=["crl-failure"], scores={"crl-failure": 0.9}, needs_review=False,
                            confidence=0.9)
    with session_scope(url) as session:
        mixed = briefing(session=session, taxonomy=taxonomy, start=Period.parse(START, END).start,
                         end=Period.parse(START, END).end, active_version="v2")
    assert mixed.model_versions == {"v1": 2, "v2": 1}
    assert mixed.predicted_by == ("models v1 for 2 and v2 for 1: not every incident is labelled "
                                  "by the active version (v2) yet; `incidents relabel` does it")
    with session_scope(url) as session:
        for incident_id in (1, 2):
            save_prediction(session=session, incident_id=incident_id, model_version="v2",
                            tags=["crl-failure"], scores={"crl-failure": 0.9}, needs_review=False,
                            confidence=0.9)
    with session_scope(url) as session:
        relabelled = briefing(session=session, taxonomy=taxonomy, start=Period.parse(START, END).start,
                              end=Period.parse(START, END).end, active_version="v2")
    assert relabelled.model_versions == {"v2": 3} and relabelled.predicted_by == "model v2"


def test_briefing_rows_and_total(url: str, taxonomy: Taxonomy):
    store(url, bug(1, whiteboard="[ev-misissuance] [leaf-revocation-delay]", commented="2023-03-05T00:00:00Z",
                   taxonomy=taxonomy),
          bug(2, whiteboard="[ca-compliance]", commented="2023-03-05T00:00:00Z", taxonomy=taxonomy),
          bug(3, whiteboard="[ocsp-failure]", commented="2023-03-05T00:00:00Z", taxonomy=taxonomy))
    table = count(url, taxonomy)
    assert table.total == 3 and table.category_entries == 3 and table.uncategorised == 1
    assert table.uncategorised_ids == (2,)
    rows = {r.category: r.incident_ids for r in table.rows if r.incidents}
    assert rows == {"EV Misissuance": (1,), "Leaf Revocation Delays": (1,), "OCSP Failures": (3,)}
    assert table.sources == {"correction": 0, "bugzilla": 2, "model": 0, "none": 1}


PERIODS = {
    "not a date": (("last year", "2023-01-01"), "start", "is not a date"),
    "impossible end": (("2023-01-01", "2023-02-30"), "end", "is not a date"),
    "start after end": (("2023-02-01", "2023-01-31"), "start", "is after end"),
    "out of range once in UTC": (("0001-01-01T00:00:00+14:00", "2023-01-01"), "start",
                                 "is out of range once converted to UTC"),
}


@pytest.mark.parametrize("bounds, field, says", PERIODS.values(), ids=PERIODS.keys())
def test_period_parse_refuses(bounds: tuple[str, str], field: str, says: str):
    with pytest.raises(InvalidPeriod, match=says) as caught:
        Period.parse(*bounds)
    assert caught.value.field == field


def test_open_ended_bounds():
    day = datetime(2023, 1, 1, tzinfo=UTC)
    assert bounds(None, None) == (None, None)
    assert bounds("2023-01-01", None) == (day, None)
    assert bounds(None, "2023-01-01") == (None, day.replace(hour=23, minute=59, second=59, microsecond=999999))
    # A reversed period is told in the words typed, not as the times they stand for.
    with pytest.raises(InvalidPeriod) as caught:
        bounds("2023-06-01", "2023-01-01T00:00:00Z")
    assert str(caught.value) == "start: 2023-06-01 is after end 2023-01-01T00:00:00Z"
    assert caught.value.field == "start"
    with pytest.raises(InvalidPeriod, match="is not a date") as caught:
        bounds(None, "2023-02-30")
    assert caught.value.field == "end"


def test_period_bounds_and_previous():
    period = Period.parse("2023-01-01", "2023-06-30")
    assert period.start == datetime(2023, 1, 1, tzinfo=UTC)
    assert period.end == datetime(2023, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)
    # Whole calendar months: as many months before (the previous half year, not 181 days,
    # which began on July 4 and did not match the half year's own briefing).
    assert period.calendar_months == 6
    assert period.previous() == Period.parse("2022-07-01", "2022-12-31")
    assert period.previous_words == "the previous 6 calendar months"
    assert Period.parse("2023-04-01", "2023-06-30").previous() == Period.parse("2023-01-01", "2023-03-31")
    assert Period.parse("2024-01-01", "2024-12-31").previous() == Period.parse("2023-01-01", "2023-12-31")
    assert Period.parse("2024-03-01", "2024-03-31").previous() == Period.parse("2024-02-01", "2024-02-29")
    assert Period.parse("2024-03-01", "2024-03-31").previous_words == "the previous calendar month"
    # Otherwise the same length just before.
    odd = Period.parse("2023-01-15", "2023-02-14")
    previous = odd.previous()
    assert odd.calendar_months == 0 and previous is not None
    assert previous.end == odd.start - timedelta(microseconds=1)
    assert previous.end - previous.start == odd.end - odd.start
    assert previous.start == datetime(2022, 12, 15, tzinfo=UTC)  # 31 days, as the period
    assert odd.previous_words == "the previous period of the same length"
    assert Period.parse("2023-01-01", "2023-06-30T12:00:00Z").calendar_months == 0
    assert period.words == "January 1, 2023, and June 30, 2023"
    # A bound inside a day shows its time: the previous period of "from 10:00 on January 1" ends
    # on January 1 too, and read as if both held the whole day (operator review).
    timed = Period.parse("2023-01-01T10:00:00Z", "2023-03-31")
    assert timed.words == "January 1, 2023, 10:00 UTC, and March 31, 2023"
    assert timed.previous().span == "October 3, 2022, 20:00 UTC, to January 1, 2023, 09:59:59 UTC"
    assert Period.parse("0001-01-01", "2023-01-01").previous() is None
    assert Period.parse("0001-01-01", "0001-12-31").previous() is None  # whole months, none before
    assert Period.parse("9999-01-01", "9999-12-31").calendar_months == 0  # its end has no after
    assert period_bound("2023-01-01T12:00:00", "end", end=True) == datetime(2023, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(("value", "says"), [
    # Python reads these as dates; a week as an end covered its Monday alone.
    ("2023-W26", "is not a date like 2023-01-01"),
    ("2023-W26-7", "is not a date like 2023-01-01"),
    ("20230101", "is not a date like 2023-01-01"),
    ("2023-001", "is not a date like 2023-01-01"),
    # A valid time whose UTC form is before year 1 was called "not a date".
    ("0001-01-01T00:00:00+01:00", "is out of range once converted to UTC"),
])
def test_period_bound_calendar_dates_only(value: str, says: str):
    with pytest.raises(InvalidPeriod, match=re.escape(f"end: '{value}' {says}")):
        period_bound(value, "end", end=True)


@pytest.mark.parametrize(("value", "expected"), [
    ("2023-06-30", datetime(2023, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)),
    ("2023-06-30T12:00:00Z", datetime(2023, 6, 30, 12, tzinfo=UTC)),
    ("2023-06-30 12:00", datetime(2023, 6, 30, 12, tzinfo=UTC)),
    ("2023-06-30T14:00:00+02:00", datetime(2023, 6, 30, 12, tzinfo=UTC)),
])
def test_period_bound_days_and_times(value: str, expected: datetime):
    assert period_bound(value, "end", end=True) == expected
