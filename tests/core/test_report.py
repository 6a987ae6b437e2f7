"""The briefing report's parts: the note when incidents count in several rows, the previous period,
the CAs and bugs of each row, the label sources, and the chart."""

from __future__ import annotations

import re

import pytest

from classifier import Taxonomy
from core.aggregate import Period, long_date
from core.bugzilla import BugRecord
from core.ca_names import CANames
from core.db import session_scope, upgrade
from core.report import (
    BriefingReport,
    bugzilla_list_url,
    build_report,
    incident_list_url,
    render_chart,
    render_html,
    render_markdown,
)
from core.store import save_prediction, upsert_bugs

PERIOD = Period.parse("2023-03-01", "2023-03-31")


def _bug(bug_id: int, summary: str, whiteboard: str, commented: str, taxonomy: Taxonomy,
         resolution: str = "FIXED", filed: str = "2023-03-02T00:00:00Z") -> BugRecord:
    return BugRecord.from_rest(
        {"id": bug_id, "summary": summary, "whiteboard": whiteboard, "creation_time": filed,
         "status": "RESOLVED", "resolution": resolution},
        [{"count": 0, "text": "report", "creation_time": filed},
         {"count": 1, "text": "", "creation_time": commented}], taxonomy)


@pytest.fixture
def report(database_url: str, taxonomy: Taxonomy) -> BriefingReport:
    upgrade(database_url)
    march, february = "2023-03-10T00:00:00Z", "2023-02-10T00:00:00Z"
    records = [
        _bug(1, "Comodo: EV certificates revoked late", "[ev-misissuance] [leaf-revocation-delay]", march, taxonomy),
        _bug(2, "Sectigo: EV jurisdiction wrong", "[ev-misissuance]", march, taxonomy),
        _bug(3, "Acme Trust: CRL expired", "[crl-failure]", february, taxonomy,   # the month before
             filed="2023-01-05T00:00:00Z"),
        _bug(4, "Acme Trust: something", "[ca-compliance]", march, taxonomy),       # in no row
        _bug(5, "Acme Trust: OCSP down", "", march, taxonomy),                      # predicted
        _bug(6, "Acme Trust: OCSP down again", "[ocsp-failure]", march, taxonomy, resolution="DUPLICATE"),
    ]
    with session_scope(database_url) as session:
        upsert_bugs(session=session, records=records)
        save_prediction(session=session, incident_id=5, model_version="v1", tags=["ocsp-failure"],
                        scores={"ocsp-failure": 0.6}, needs_review=True, confidence=0.4)
        return build_report(session=session, taxonomy=taxonomy, period=PERIOD, active_version="v1",
                            ca_names=CANames.load())


def test_build_report_rows_and_note(report: BriefingReport):
    rows = {r.category: r for r in report.rows}
    assert report.total == 4 and report.category_entries == 4
    assert rows["EV Misissuance"].incident_ids == (1, 2)
    assert rows["EV Misissuance"].ca_counts == {"Sectigo": 2}  # Comodo is Sectigo
    assert rows["EV Misissuance"].ca_ids == {"Sectigo": (1, 2)}
    assert rows["EV Misissuance"].previous == 0 and rows["EV Misissuance"].change == 2
    assert rows["CRL Failures"].incidents == 0 and rows["CRL Failures"].previous == 1
    assert report.previous_total == 1 and report.previous is not None
    assert report.previous.period == Period.parse("2023-02-01", "2023-02-28")  # the month before
    assert report.several_types == 1 and report.note is None  # 4 rows for 4 incidents: no note
    assert report.source_ids == {"correction": (), "bugzilla": (1, 2), "model": (5,), "none": (4,)}
    assert report.waiting_for_review == (5,)
    assert report.current.excluded_ids == {"DUPLICATE": (6,)}
    assert "4 in all" in report.reconciliation and "1 in none" in report.reconciliation


def test_report_note_when_rows_add_up_to_more(database_url: str, taxonomy: Taxonomy):
    upgrade(database_url)
    with session_scope(database_url) as session:
        upsert_bugs(session=session, records=[
            _bug(1, "Acme Trust: EV revoked late", "[ev-misissuance] [leaf-revocation-delay]",
                 "2023-03-10T00:00:00Z", taxonomy)])
        report = build_report(session=session, taxonomy=taxonomy, period=PERIOD, active_version=None)
    assert report.total == 1 and report.category_entries == 2
    assert report.note == ("The rows add up to 2, more than the 1 incident: 1 incident has types of "
                           "several categories and counts in each of its rows.")
    assert report.reconciliation == ("The rows add up to 2: 1 incident counts in at least one row "
                                     "(1 of them in several), 0 in none; 1 in all.")
    assert f"Note: {report.note}" in render_markdown(report)


def test_report_says_when_its_data_is_from(report: BriefingReport, database_url: str,
                                          taxonomy: Taxonomy):
    """A briefing says the date of the newest change the store holds, and warns when the period
    runs past it (a period in the future counted as if it were over)."""
    assert report.as_of is not None
    line = report.as_of_line
    assert line is not None and line.startswith(f"Data as of {long_date(report.as_of)}: the newest "
                                                "change to a bug in the store")
    assert (report.period.end > report.as_of) == ("can still grow" in line)
    assert line in render_markdown(report)
    with session_scope(database_url) as session:
        later = build_report(session=session, taxonomy=taxonomy, active_version=None,
                             period=Period.parse("2099-01-01", "2099-03-31"))
    assert later.as_of_line is not None and "the period ends after it, so its figures can still " \
        "grow" in later.as_of_line
    assert later.as_of_line in render_html(later, list_url=incident_list_url)


def test_render_markdown_of_an_empty_period(database_url: str, taxonomy: Taxonomy):
    """A period with no incident reads as one: no "0 of the 0", no empty headings or tables."""
    upgrade(database_url)
    with session_scope(database_url) as session:
        report = build_report(session=session, taxonomy=taxonomy, period=PERIOD, active_version=None)
    text = render_markdown(report)
    assert "**0 incidents** were open at some time between" in text
    assert "No incident was open in the period." in text
    assert "No label is a prediction, so none waits for a maintainer's review." in text
    assert "## CAs and bugs per category" not in text
    assert "## Incidents per CA\n\nNone: no incident was open in the period." in text
    assert "0 of the 0" not in text and "0 incidents count" not in text


def test_render_markdown(report: BriefingReport):
    text = render_markdown(report, chart="briefing.png")
    assert text.startswith("# CA incident briefing: March 1, 2023, to March 31, 2023\n")
    assert "| EV Misissuance | 2 | 0 | +2 |" in text and "| CRL Failures | 0 | 1 | -1 |" in text
    assert "| **All incidents (distinct)** | **4** | 1 | +3 |" in text
    assert "![Chart based on 4 open incidents between March 1, 2023, and March 31, 2023](briefing.png)" in text
    assert "- CAs: Sectigo (2)" in text
    assert f"- Bugs: 1, 2 ([in Bugzilla]({bugzilla_list_url([1, 2], 'https://bugzilla.mozilla.org')}))" in text
    assert "1 of the 1 predicted label waits for a maintainer's review" in text
    assert "Excluded, resolved DUPLICATE (not an incident of its own): 1" in text
    assert "| `last_comment` | 4 |" in text


def test_render_markdown_escapes_pipes_in_cells(database_url: str):
    """A ``|`` in a category or a CA name is escaped, so it does not split its table cell."""
    taxonomy = Taxonomy.from_dict({"categories": {"order": ["CRL|OCSP Failures"]},
                                   "tags": {"crl-failure": {"categories": ["CRL|OCSP Failures"]}}})
    upgrade(database_url)
    with session_scope(database_url) as session:
        upsert_bugs(session=session, records=[
            _bug(1, "Pipe|Trust CA: CRL expired", "[crl-failure]", "2023-03-10T00:00:00Z", taxonomy)])
        text = render_markdown(build_report(session=session, taxonomy=taxonomy, period=PERIOD,
                                            active_version=None))
    assert "| CRL\\|OCSP Failures | 1 | 0 | +1 |" in text
    assert "| Pipe\\|Trust CA | 1 |" in text
    tables: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.startswith("|"):
            tables[-1].append(line)
        elif tables[-1]:
            tables.append([])
    assert len([t for t in tables if t]) == 4
    for table in filter(None, tables):  # every row has as many cells as its header
        assert len({len(re.split(r"(?<!\\)\|", row)) for row in table}) == 1, table


def test_render_html_links_every_count(report: BriefingReport):
    page = render_html(report, list_url=incident_list_url, chart_src="chart.svg")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="en">' in page
    assert '<a href="/incidents?ids=1,2&amp;format=html">2</a>' in page  # EV Misissuance
    assert '<a href="/incidents?ids=3&amp;format=html">1</a>' in page    # CRL, the period before
    assert '<a href="/incidents?ids=5&amp;format=html">1</a>' in page    # waiting for review
    assert '<img class="chart" src="chart.svg" alt="Chart based on 4 open incidents' in page


@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG\r\n\x1a\n"), ("svg", b"<?xml")])
def test_render_chart(report: BriefingReport, fmt, magic):
    image = render_chart(report.current, fmt)
    assert image.startswith(magic)
    if fmt == "svg":
        text = image.decode()
        assert "Chart based on 4 open incidents between March 1, 2023, and March 31, 2023" in text
        for category in ("EV Misissuance", "Leaf Revocation Delays", "Audit Delays and Findings"):
            assert category in text


def test_markdown_shows_a_ca_name_as_written(database_url: str, taxonomy: Taxonomy):
    """A CA name is what a bug's summary writes before its colon: a security review's HTML and
    terminal escapes went into the Markdown as they were, which is pasted into documents."""
    upgrade(database_url)
    hostile = "<img src=x onerror=alert(1)> *bold* \x1b]0;owned\x07"  # no colon: all of it the CA
    with session_scope(database_url) as session:
        upsert_bugs(session=session, records=[_bug(9, f"{hostile}: EV misissued", "[ev-misissuance]",
                                                   "2023-03-10T00:00:00Z", taxonomy)])
        text = render_markdown(build_report(session=session, taxonomy=taxonomy, period=PERIOD,
                                            active_version=None))
    assert not re.search(r"(?<!\\)[<>*]", text.split("## CAs and bugs", 1)[1]) and "\x1b" not in text
    shown = r"\<img src=x onerror=alert(1)\> \*bold\* \\x1b\]0;owned\\x07"
    assert f"- CAs: {shown} (1)" in text and f"| {shown} | 1 |" in text
