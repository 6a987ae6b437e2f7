"""GET /report: the briefing of a period, whose numbers are those of GET /aggregate (for the period
and the one before it), every count of its page linking to the list of its incidents."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.config import ServiceSettings
from tests.fixtures import CAS, new_bug, refuse_reading

WINDOW = {"start": "2019-01-01", "end": "2019-12-31"}
PREVIOUS = {"start": "2018-01-01", "end": "2018-12-31"}  # 2019 has 365 days, as 2018


class _Table(HTMLParser):
    """The rows of the page's first table: each cell's text and the links in it."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, list[str]]]] = []
        self.links: list[str] = []
        self._tables = 0
        self._cell: tuple[list[str], list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        if tag == "table":
            self._tables += 1
        elif self._tables == 1 and tag == "tr":
            self.rows.append([])
        elif self._tables == 1 and tag in ("td", "th"):
            self._cell = ([], [])
        elif self._cell is not None and tag == "a":
            self._cell[1].append(attributes["href"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(("".join(self._cell[0]).strip(), self._cell[1]))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0].append(data)


def _ids(link: str) -> list[int]:
    query = parse_qs(urlsplit(link).query)
    assert urlsplit(link).path == "/incidents" and query["format"] == ["html"]
    return [int(i) for i in query["ids"][0].split(",")]


@pytest.fixture
def predicted(client: TestClient, maintainer_no_bugs: dict[str, str]) -> list[dict]:
    """Untagged bugs of 2018 and 2019 classified by the model: some of their labels wait for review."""
    texts = ["Incident report", "Problem with some certificates", "Compliance issue found in audit",
             "OCSP responder returned unknown for valid certificates", "CRL expired and was not refreshed"]
    bugs = [new_bug(1_800_000 + i, summary=f"{CAS[i % len(CAS)]}: {text}", description=text,
                    creation_time=f"{2018 + i % 2}-0{1 + i % 9}-10T12:00:00Z")
            for i, text in enumerate(texts * 2)]
    response = client.post("/classify/batch", json={"bugs": bugs}, headers=maintainer_no_bugs)
    assert response.status_code == 200
    return response.json()["data"]


def test_read_report_counts_are_aggregate_counts(client: TestClient, store, predicted):
    aggregate = client.get("/aggregate", params=WINDOW).json()
    before = client.get("/aggregate", params=PREVIOUS).json()
    response = client.get("/report", params=WINDOW)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = _Table()
    page.feed(response.text)
    header, *rows, total = page.rows
    assert [text for text, _ in header] == ["Category", "Incidents", "Previous period", "Change"]
    assert [r[0][0] for r in rows] == [r["category"] for r in aggregate["rows"]]
    for row, now, then in zip(rows, aggregate["rows"], before["rows"], strict=True):
        (_, _), (count, links), (previous, previous_links), (change, _) = row
        assert int(count) == now["incidents"] and int(previous) == then["incidents"]
        assert int(change.replace("+", "")) == now["incidents"] - then["incidents"]
        # every count links to the list of exactly its incidents
        assert (_ids(links[0]) if links else []) == now["incident_ids"]
        assert (_ids(previous_links[0]) if previous_links else []) == then["incident_ids"]
    assert total[0][0] == "All incidents (distinct)"
    assert int(total[1][0]) == aggregate["total"] and int(total[2][0]) == before["total"]
    assert sorted(_ids(total[1][1][0])) == sorted(
        {i for r in aggregate["rows"] for i in r["incident_ids"]} | set(aggregate["uncategorised_ids"]))
    assert f"Chart based on {aggregate['total']} open incidents" in response.text
    assert 'src="/aggregate/chart.svg?start=2019-01-01&amp;end=2019-12-31"' in response.text
    # Each link of the page's counts answers the list of its incidents.
    link = next(links[0] for (_, _), (_, links), *_ in rows if links)
    listing = client.get(link)
    assert listing.status_code == 200 and listing.headers["content-type"].startswith("text/html")
    for bug_id in _ids(link):
        assert f"show_bug.cgi?id={bug_id}" in listing.text


def test_read_report_counts_over_what_a_list_takes_are_not_links(
        client: TestClient, store, predicted, monkeypatch: pytest.MonkeyPatch):
    """A count of more incidents than GET /incidents lists is shown without a link (it linked
    to a 422); here the list takes 2, so the total links nowhere and each row only up to 2."""
    import core.report

    monkeypatch.setattr(core.report, "MAX_LISTED", 2)
    aggregate = client.get("/aggregate", params=WINDOW).json()
    assert aggregate["total"] > 2
    counts = [r["incidents"] for r in aggregate["rows"]]
    assert any(0 < n <= 2 for n in counts) and any(n > 2 for n in counts)  # both kinds here
    page = _Table()
    page.feed(client.get("/report", params=WINDOW).text)
    _, *rows, total = page.rows
    assert total[1] == (str(aggregate["total"]), [])
    for row, now in zip(rows, aggregate["rows"], strict=True):
        count, links = row[1]
        assert int(count) == now["incidents"]
        assert len(links) == (1 if 0 < now["incidents"] <= 2 else 0)


def test_read_report_csv_adds_up(client: TestClient, store, predicted, maintainer):
    aggregate = client.get("/aggregate", params=WINDOW).json()
    response = client.get("/report", params={**WINDOW, "format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {(r["period_start"], r["period_end"]) for r in rows} == {
        ("2019-01-01T00:00:00+00:00", "2019-12-31T23:59:59.999999+00:00")}
    by_kind: dict[str, list[dict]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    categories = by_kind["category"]
    assert [(r["row"], int(r["incidents"])) for r in categories] == [
        (r["category"], r["incidents"]) for r in aggregate["rows"]]

    def n(kind: str, column: str = "incidents") -> int:
        (row,) = by_kind[kind]
        return int(row[column])

    assert n("total") == aggregate["total"] and n("uncategorised") == aggregate["uncategorised"]
    assert n("categorised") + n("uncategorised") == n("total")
    assert n("entries") == sum(int(r["incidents"]) for r in categories) == aggregate["category_entries"]
    assert n("entries") >= n("categorised")
    assert sum(n("total", f"from_{s}") for s in ("correction", "bugzilla", "model", "none")) == n("total")
    assert n("total", "from_model") == aggregate["sources"]["model"] > 0
    excluded = sum(int(r["incidents"]) for r in by_kind.get("excluded", []))
    assert n("bugs") == n("total") + excluded == aggregate["total"] + sum(aggregate["excluded"].values())
    for row in rows:
        ids = row["bug_ids"].split()
        assert len(ids) == int(row["incidents"])
    # The predictions waiting for review are the review queue of the period.
    queue = client.get("/review", params={**WINDOW, "limit": 1000}).json()
    assert n("total", "waiting_for_review") == queue["count"] > 0
    first = queue["data"][0]["id"]
    corrected = client.post("/corrections", headers=maintainer, json={"bug_id": first, "tags": ["crl-failure"]})
    assert corrected.status_code == 201
    after = list(csv.DictReader(io.StringIO(client.get("/report", params={**WINDOW, "format": "csv"}).text)))
    total = next(r for r in after if r["kind"] == "total")
    assert int(total["waiting_for_review"]) == queue["count"] - 1 and int(total["from_correction"]) == 1


def test_read_report_markdown(client: TestClient, store):
    aggregate = client.get("/aggregate", params=WINDOW).json()
    response = client.get("/report", params={**WINDOW, "format": "md"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/markdown")
    text = response.text
    assert text.startswith("# CA incident briefing: January 1, 2019, to December 31, 2019\n")
    for row in aggregate["rows"]:
        assert f"| {row['category']} | {row['incidents']} |" in text
    assert f"| **All incidents (distinct)** | **{aggregate['total']}** |" in text
    # The chart by its whole address: pasted into a document, the Markdown still shows it.
    assert "![Chart based on 12 open incidents" in text
    assert "](http://testserver/aggregate/chart.png?start=2019-01-01&end=2019-12-31)" in text


def test_read_report_markdown_links_the_chart_at_the_public_url(make_client, store):
    """The link's host came from the request's Host header, which any client writes (a triager
    sent "evil.example" and got a briefing linking there); INCIDENTS_PUBLIC_URL names it."""
    forged = {"Host": "evil.example"}
    params = {**WINDOW, "format": "md"}
    assert "](http://evil.example/aggregate/chart.png?" in make_client().get(
        "/report", params=params, headers=forged).text
    public = make_client(public_url="https://incidents.example.org/ca/")
    text = public.get("/report", params=params, headers=forged).text
    assert "](https://incidents.example.org/ca/aggregate/chart.png?start=2019-01-01&end=2019-12-31)" in text
    assert "evil.example" not in text


@pytest.mark.parametrize("url", ["ftp://incidents.example.org", "https://alice:pw@incidents.example.org",
                                 "incidents.example.org"])
def test_public_url_must_be_an_http_address(url: str):
    with pytest.raises(ValidationError, match="public_url"):
        ServiceSettings(public_url=url)


def test_read_report_whole_range_has_no_previous_period(client: TestClient, store):
    response = client.get("/report", params={"start": "0001-01-01", "end": "9999-12-31", "format": "csv"})
    assert response.status_code == 200
    total = next(r for r in csv.DictReader(io.StringIO(response.text)) if r["kind"] == "total")
    assert total["incidents"] == "48" and total["previous"] == "" and total["change"] == ""


def test_list_incidents(client: TestClient, store, fixture_bugs):
    ids = [fixture_bugs[3]["id"], 99, fixture_bugs[0]["id"], fixture_bugs[3]["id"]]
    response = client.get("/incidents", params={"ids": ",".join(map(str, ids))})
    assert response.status_code == 200
    body = response.json()
    assert [i["id"] for i in body["data"]] == [fixture_bugs[3]["id"], fixture_bugs[0]["id"]]
    assert body["count"] == 2 and body["missing"] == [99]
    first = body["data"][0]
    assert first["ca"] == fixture_bugs[3]["summary"].split(":")[0]
    assert first["label"]["source"] == "bugzilla" and first["label"]["categories"]


@pytest.mark.parametrize("ids", ["", "1,x", "0", "1,,2", ",".join(str(i) for i in range(1, 1002)), "-3",
                                 "9" * 4301, "1,\u0661", "\u00b2", str(2**31)])
def test_list_incidents_bad_ids(client: TestClient, ids):
    response = client.get("/incidents", params={"ids": ids})
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"] == ["query", "ids"]
    assert len(error["msg"]) < 200  # a huge id is not echoed whole


def test_read_report_broken_ca_names_file(make_client, models_dir, tmp_path, store):
    broken = tmp_path / "ca_names.toml"
    broken.write_text('[[ca]]\nname = "Sectigo"\naliases = "comodo"\n', encoding="utf-8")
    client = make_client(ca_names_file=broken)
    response = client.get("/report", params=WINDOW)
    assert response.status_code == 503
    assert "'aliases' must be a list" in response.json()["detail"]
    # /ready says so, while the service stays ready for everything else.
    ready = client.get("/ready").json()
    assert ready["ready"] is True
    (warning,) = ready["warnings"]
    assert warning.startswith("CA names: ") and "'aliases' must be a list" in warning
    assert "answer 503 until it is fixed" in warning


def test_read_report_unreadable_ca_names_file(make_client, models_dir, tmp_path, store,
                                              monkeypatch: pytest.MonkeyPatch):
    """A CA names file the service may not read is a 503 naming it, not a 500 (an operator's
    review found an I/O error, as a chmod 000 file gives, answered 500 with a traceback)."""
    unreadable = tmp_path / "ca_names.toml"
    unreadable.write_text('[[ca]]\nname = "Sectigo"\n', encoding="utf-8")
    refuse_reading(monkeypatch, unreadable)
    client = make_client(ca_names_file=unreadable)
    for route in ("/report", "/aggregate"):
        response = client.get(route, params=WINDOW)
        assert response.status_code == 503
        assert response.json()["detail"].endswith("ca_names.toml: cannot be read: Permission denied")
    assert any("cannot be read" in w for w in client.get("/ready").json()["warnings"])
