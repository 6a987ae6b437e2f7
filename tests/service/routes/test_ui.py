"""The maintainers' page at /: the briefing, the review queue and its corrections, the model versions
with promotion and rollback, errors said on the page, and an accessibility check of its HTML and
stylesheet."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from classifier import Taxonomy
from core.corrections import MAX_NOTE_CHARS
from core.db import session_scope
from core.registry import ModelRegistry
from core.review import review_queue
from core.tables import CorrectionRow
from core.tokens import revoke_token
from service.routes.ui import STYLESHEET, read_period
from tests.fixtures import SQLITE_ONLY, UNTAGGED, add_review_queue, count_rows, new_bug, second_version

PERIOD = {"start": "2023-01-01", "end": "2023-06-30"}


# -- the page's HTML, parsed with the standard library ----------------------------------------------
class Element:
    """An element of the page: its tag, attributes, children (elements and text) and parent."""

    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element | str] = []

    def iter(self, tag: str | None = None, **attrs: str) -> Iterator[Element]:
        """This element's descendants with ``tag`` and ``attrs`` (``class_`` for one class)."""
        for child in self.children:
            if isinstance(child, Element):
                if child.matches(tag, attrs):
                    yield child
                yield from child.iter(tag, **attrs)

    def matches(self, tag: str | None, attrs: dict[str, str]) -> bool:
        if tag is not None and self.tag != tag:
            return False
        for name, value in attrs.items():
            if name == "class_":
                if value not in self.attrs.get("class", "").split():
                    return False
            elif self.attrs.get(name) != value:
                return False
        return True

    def all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        return list(self.iter(tag, **attrs))

    def one(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.all(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join("".join(parts).split())


class _Builder(HTMLParser):
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {}, None)
        self.open = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v if v is not None else "" for k, v in attrs}, self.open)
        self.open.children.append(element)
        if tag not in self.VOID:
            self.open = element

    def handle_endtag(self, tag: str) -> None:
        element: Element | None = self.open
        while element is not None and element.tag != tag:
            element = element.parent
        assert element is not None and element.parent is not None, f"</{tag}> closes nothing"
        self.open = element.parent

    def handle_data(self, data: str) -> None:
        self.open.children.append(data)


def parse(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert builder.open is builder.root, f"<{builder.open.tag}> is not closed"
    return builder.root


def page_of(response: Response, status: int = 200) -> Element:
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"].startswith("text/html")
    return parse(response.text)


def briefing_counts(page: Element) -> dict[str, int]:
    """Category (and "total") -> incidents, as the page's briefing table shows them."""
    table = page.one("table", id="briefing-table")
    return {row.attrs["data-category"]: int(row.one("td", class_="count").text)
            for row in table.iter("tr") if "data-category" in row.attrs}


def review_ids(page: Element) -> list[int]:
    return [int(a.attrs["id"].removeprefix("bug-")) for a in page.iter("article", class_="review-item")]


def alert(page: Element) -> str:
    return page.one(role="alert").text


def follow(client: TestClient, response: Response, location: str) -> Element:
    """The page a post's redirect leads to (303 to ``location``)."""
    assert response.status_code == 303, response.text[:2000]
    assert response.headers["location"] == location
    return page_of(client.get(location.split("#")[0]))


@pytest.fixture
def queue(store: str, models_dir: Path) -> list[int]:
    """The incidents only the model labelled (filed in 2023), in the review queue."""
    return add_review_queue(store, models_dir)


@pytest.fixture
def token(create_token) -> str:
    return create_token("alice")[0]


# -- reading -----------------------------------------------------------------------------------------
def test_read_page_briefing_matches_aggregate(client: TestClient, queue):
    page = page_of(client.get("/", params=PERIOD))
    body = client.get("/aggregate", params=PERIOD).json()
    assert briefing_counts(page) == {**{r["category"]: r["incidents"] for r in body["rows"]},
                                     "total": body["total"]}
    assert body["total"] == len(UNTAGGED)
    assert page.one("input", id="start").attrs["value"] == PERIOD["start"]
    assert page.one("input", id="end").attrs["value"] == PERIOD["end"]
    chart = page.one("figure", class_="chart").one("img")
    assert chart.attrs["src"] == "/aggregate/chart.svg?start=2023-01-01&end=2023-06-30"
    assert "2023-01-01 and 2023-06-30" in chart.attrs["alt"]


def test_read_page_names_cas_by_the_ca_names_file(make_client, models_dir, queue, tmp_path):
    """The page's CAs are the briefing's: a CA the names file merges is one CA there too (the
    page named it as the summaries write it, where /aggregate merged it)."""
    names = tmp_path / "ca_names.toml"
    names.write_text('[[ca]]\nname = "Kestrel Group"\naliases = ["kestrel trust", "lumen ca"]\n',
                     encoding="utf-8")
    client = make_client(ca_names_file=names)
    page = page_of(client.get("/", params=PERIOD))
    body = client.get("/aggregate", params=PERIOD).json()
    shown = {row.attrs["data-category"]: row.one("td", class_="cas").text.strip()
             for row in page.one("table", id="briefing-table").iter("tr")
             if row.attrs.get("data-category") not in (None, "total")}
    for row in body["rows"]:
        assert shown[row["category"]] == (", ".join(row["cas"]) or "–"), row
    assert "Kestrel Group" in " ".join(shown.values()) and "Lumen CA" not in " ".join(shown.values())


def test_read_page_review_queue(client: TestClient, settings, queue):
    page = page_of(client.get("/", params=PERIOD))
    with session_scope(settings.database_url) as session:
        expected = review_queue(session=session, model_version="v1", limit=20)
    assert review_ids(page) == [item.incident_id for item in expected]
    assert sorted(review_ids(page)) == queue
    # The queue of the period shown: none of these incidents was open in 2019.
    earlier = page_of(client.get("/", params={"start": "2019-01-01", "end": "2019-12-31"}))
    assert review_ids(earlier) == []
    assert "Nothing waits for review in the period shown" in earlier.one("section", id="review").text
    first = expected[0]
    article = page.one("article", id=f"bug-{first.incident_id}")
    link = article.one("h3").one("a")
    assert link.attrs["href"] == f"{settings.bugzilla_url}/show_bug.cgi?id={first.incident_id}"
    assert first.summary in article.one("h3").text
    shown = [tag.text for tag in article.iter("span", class_="tag")]
    assert shown == [f"{t} {first.top_scores[t]:.2f}" for t in first.tags]
    assert f"{first.confidence:.2f} · flagged for review" in article.text
    assert first.review_reason and article.one("dd", class_="reason").text == first.review_reason

    # The words behind each tag are /classify's explanation of the same bug by the same model.
    bug_id, summary, text, day = next(b for b in UNTAGGED if b[0] == first.incident_id)
    said = client.post("/classify", json={
        "summary": summary, "description": f"## Incident Report\n\n{text}",
        "creator_domain": summary.split()[0].lower() + ".example",
        "creation_time": f"{day}T09:00:00Z"}).json()
    assert said["tags"] == list(first.tags)
    why = " ".join(s.text for s in article.iter("span", class_="why"))
    for tag, terms in said["explanation"].items():
        assert terms
        assert f"{tag}: " + ", ".join(f"{t['term']} {t['weight']:.2f}" for t in terms) in why

    form = article.one("form")
    assert form.attrs == {"method": "post", "action": "/ui/corrections"}
    fields = {i.attrs["name"]: i for i in form.iter("input")}
    assert fields["bug_id"].attrs["value"] == str(first.incident_id)
    assert fields["tags"].attrs["value"] == " ".join(first.tags)
    assert fields["token"].attrs["type"] == "password" and "value" not in fields["token"].attrs
    assert (fields["start"].attrs["value"], fields["end"].attrs["value"]) == tuple(PERIOD.values())


def test_read_page_model_versions(client: TestClient, models_dir):
    second_version(models_dir)
    page = page_of(client.get("/"))
    rows = {r.attrs["data-version"]: r for r in page.one("table", id="versions-table").iter("tr")
            if "data-version" in r.attrs}
    assert list(rows) == ["v1", "v2"]
    assert rows["v1"].one("td", class_="status").text == "active, in service"
    assert rows["v2"].one("td", class_="status").text == ""
    card = ModelRegistry(models_dir).card("v1")
    held_out = card["metrics"]["contenders"]["model"]["category_micro_f1"]
    assert f"{held_out:.2f} n={card['metrics']['test_size']}" in rows["v1"].text
    assert [o.attrs["value"] for o in page.one("select", id="promote-version").iter("option")] == ["v2"]
    assert not page.all("form", action="/ui/models/rollback")  # v1 was never replaced
    assert [d.attrs["id"] for d in page.iter("details", class_="card")] == ["card-v1", "card-v2"]
    # the card's table gives the model's lead over each baseline with its interval
    contenders = {r.attrs["data-contender"]: r for r in page.one("details", id="card-v1").iter("tr")
                  if "data-contender" in r.attrs}
    assert set(contenders) == set(card["metrics"]["contenders"])
    assert contenders["model"].one("td", class_="lead").text == "–"
    lead = card["metrics"]["model_against"]["tfidf+logreg"]["micro_f1"]
    assert contenders["tfidf+logreg"].one("td", class_="lead").text == (
        f"{lead['difference']:+.2f} [{lead['low']:+.2f}, {lead['high']:+.2f}]")


def test_read_page_model_version_with_bare_card(client: TestClient, models_dir):
    registry = ModelRegistry(models_dir)
    registry.create(registry.load("v1").model, {})  # no metrics, no training data
    row = page_of(client.get("/")).one("tr", **{"data-version": "v2"})
    assert [td.text for td in row.all("td")] == ["", "? incidents", "– n=?", "–", "– n=0", ""]


@SQLITE_ONLY
def test_read_page_model_version_with_damaged_card(client: TestClient, models_dir):
    (models_dir / "v2").mkdir()
    (models_dir / "v2" / "card.json").write_text("{not json\n")
    second_version(models_dir)  # v3
    response = client.get("/", params=PERIOD)
    page = page_of(response)
    rows = {r.attrs["data-version"]: r for r in page.one("table", id="versions-table").iter("tr")
            if "data-version" in r.attrs}
    assert list(rows) == ["v1", "v2", "v3"]
    assert rows["v1"].one("td", class_="status").text == "active, in service"
    status = rows["v2"].one("td", class_="status").text
    assert status.startswith("damaged: v2/card.json is not a readable card (Expecting property name")
    assert "damaged" in rows["v2"].attrs["class"].split()
    assert "damaged" not in rows["v3"].one("td", class_="status").text
    # Not offered for promotion, which would fail: its card cannot be read.
    assert [o.attrs["value"] for o in page.one("select", id="promote-version").iter("option")] == ["v3"]
    card = page.one("details", id="card-v2")
    assert card.one("summary").text == "Card of v2 (damaged)"
    assert "v2/card.json is not a readable card" in card.text
    assert str(models_dir) not in response.text
    check_accessible(response.text)


@SQLITE_ONLY
def test_read_page_active_card_damaged(client: TestClient, models_dir):
    assert client.get("/models/active").status_code == 200  # v1 loaded, then its card damaged
    (models_dir / "v1" / "card.json").write_text("[]\n")
    row = page_of(client.get("/")).one("tr", **{"data-version": "v1"})
    assert row.one("td", class_="status").text == (
        "active, in service damaged: v1/card.json is not a readable card (not a JSON object)")


def test_read_page_without_model(client_without_model: TestClient, store):
    page = page_of(client_without_model.get("/", params=PERIOD))
    assert "No model in service" in page.one("p", class_="lede").text
    assert "No model version is active" in page.one("section", id="review").text
    assert "No model version yet" in page.one("section", id="models").text
    assert briefing_counts(page)["total"] == 0


@pytest.mark.parametrize(("params", "says"), [
    ({"start": "2023-13-01", "end": "2023-06-30"}, "start: '2023-13-01' is not a day like 2024-01-31"),
    ({"start": "2023-06-30", "end": "2023-01-01"}, "start: 2023-06-30 is after end 2023-01-01"),
    # Refused as /aggregate refuses them (Python's date reads both).
    ({"start": "20230101", "end": "2023-06-30"}, "start: '20230101' is not a day like 2024-01-31"),
    ({"start": "2023-01-01", "end": "2023-W26-7"}, "end: '2023-W26-7' is not a day like 2024-01-31"),
])
def test_read_page_bad_period(client: TestClient, params, says):
    page = page_of(client.get("/", params=params), 422)
    assert says in alert(page)
    default, _ = read_period(None, None)
    assert page.one("input", id="start").attrs["value"] == default.start.isoformat()


def test_read_page_needs_token_when_reads_do(make_client, settings, models_dir, queue, maintainer):
    client = make_client(require_token_for_reads=True)
    assert client.get("/").status_code == 401
    assert client.get("/", headers=maintainer).status_code == 200
    assert client.get("/ui/style.css").status_code == 200
    # A refused post shows the page: not to whoever may not read it.
    refused = client.post("/ui/corrections", data={"bug_id": str(queue[0]), "tags": "crl-failure",
                                                   "token": "inc_wrong"})
    assert refused.status_code == 401
    assert "Kestrel" not in refused.text
    assert client.post("/ui/models/rollback", data={}).status_code == 401
    assert count_rows(settings, CorrectionRow) == 0


# -- correcting -------------------------------------------------------------------------------------
def test_correct_incident_from_page(client: TestClient, settings, taxonomy: Taxonomy, queue, token):
    before = page_of(client.get("/", params=PERIOD))
    counts = briefing_counts(before)
    bug = review_ids(before)[0]
    predicted = before.one("article", id=f"bug-{bug}").one("input", name="tags").attrs["value"].split()
    new_tag = "crl-failure" if "crl-failure" not in predicted else "ocsp-failure"

    response = client.post("/ui/corrections", follow_redirects=False, data={
        "bug_id": str(bug), "tags": new_tag, "note": " seen on the page ", "token": token, **PERIOD})
    after = follow(client, response, f"/?start=2023-01-01&end=2023-06-30&corrected={bug}#review")
    assert token not in response.headers["location"]
    assert after.one(role="status").text == (f"Correction of bug {bug} stored ({new_tag}; by alice): "
                                             "the briefing counts it with these tags now.")
    expected = dict(counts)
    for category in taxonomy.categories_of(predicted):
        expected[category] -= 1
    for category in taxonomy.categories_of([new_tag]):
        expected[category] += 1
    assert briefing_counts(after) == expected != counts
    total = after.one("tr", **{"data-category": "total"}).all("td")
    assert [td.text for td in total[1:4]] == ["1", "0", str(len(queue) - 1)]
    assert bug not in review_ids(after)

    stored = client.get("/corrections", params={"bug_id": bug}).json()["data"]
    assert [(c["tags"], c["author"], c["note"], c["model_version"], c["model_tags"])
            for c in stored] == [([new_tag], "alice", "seen on the page", "v1", predicted)]


def test_correct_incident_from_page_no_type(client: TestClient, queue, token):
    response = client.post("/ui/corrections", follow_redirects=False,
                           data={"bug_id": str(queue[0]), "tags": "none", "token": token, **PERIOD})
    page = follow(client, response, f"/?start=2023-01-01&end=2023-06-30&corrected={queue[0]}#review")
    assert "(no incident type; by alice)" in page.one(role="status").text
    assert client.get("/corrections", params={"bug_id": queue[0]}).json()["data"][0]["tags"] == []
    assert "1 incident in no category" in page.one("ul", class_="notes").text


@pytest.mark.parametrize(("typed", "status", "says"), [
    ("", 401, "Nothing stored: type your maintainer token"),
    ("   ", 401, "Nothing stored: type your maintainer token"),
    ("inc_not-a-real-token", 403, "Nothing stored: the API token is unknown, revoked or expired."),
    ("revoked", 403, "Nothing stored: the API token is unknown, revoked or expired."),
])
def test_correct_incident_from_page_refused_token(client: TestClient, settings, store, queue,
                                                  create_token, typed, status, says):
    if typed == "revoked":
        typed, token_id = create_token("mallory")
        with session_scope(store) as session:
            revoke_token(session=session, token_id=token_id)
    response = client.post("/ui/corrections", follow_redirects=False, data={
        "bug_id": str(queue[0]), "tags": "crl-failure audit-finding", "note": "n", "token": typed,
        **PERIOD})
    page = page_of(response, status)
    assert says in alert(page)
    assert count_rows(settings, CorrectionRow) == 0
    article = page.one("article", id=f"bug-{queue[0]}")
    assert "failed" in article.attrs["class"].split()
    assert "open" in article.one("details").attrs
    assert article.one("input", name="tags").attrs["value"] == "crl-failure audit-finding"
    if typed.strip():
        assert typed not in response.text


@pytest.mark.parametrize(("data", "says"), [
    ({"tags": "ocsp-failure not-a-tag bogus"},
     "Nothing stored: tags: bogus, not-a-tag are not type tags of the taxonomy (its type tags: "
     "audit-delay, audit-failure, audit-finding, auditor-compliance, ca-misissuance, "
     "ca-revocation-delay, crl-failure, disclosure-failure, dv-misissuance, ev-misissuance, "
     "iv-misissuance, leaf-revocation-delay, ocsp-failure, ov-misissuance, policy-failure, "
     "smime-misissuance)."),
    # Left empty: not "no incident type", which takes the incident out of every row unasked.
    ({"tags": ""}, "Nothing stored: tags: type the incident's type tags, or none for no incident type."),
    ({"tags": " , "}, "Nothing stored: tags: type the incident's type tags, or none for no incident type."),
    ({"bug_id": "99"}, "Nothing stored: bug_id: bug 99 is not in the store."),
    ({"bug_id": "12abc"}, "Nothing stored: bug_id: '12abc' is not a bug number."),
    ({"bug_id": "\u00b2"}, "Nothing stored: bug_id: '\u00b2' is not a bug number."),
    ({"bug_id": "\u0661"}, "Nothing stored: bug_id: '\u0661' is not a bug number."),
    ({"bug_id": "9" * 5000}, f"Nothing stored: bug_id: '{'9' * 40}' is not a bug number."),
    ({"bug_id": str(2**31)}, f"Nothing stored: bug_id: '{2**31}' is not a bug number."),
])
def test_correct_incident_from_page_bad_form(client: TestClient, settings, queue, token, data, says):
    form = {"bug_id": str(queue[0]), "tags": "ocsp-failure", "token": token, **PERIOD, **data}
    page = page_of(client.post("/ui/corrections", data=form, follow_redirects=False), 422)
    assert says in alert(page)
    assert count_rows(settings, CorrectionRow) == 0
    assert token not in page.text


@pytest.mark.parametrize(("note", "says"), [
    ("a\x00b", "Nothing stored: note: must not contain NUL characters."),
    ("n" * (MAX_NOTE_CHARS + 1), f"Nothing stored: note: at most {MAX_NOTE_CHARS} characters."),
])
def test_correct_incident_from_page_bad_note(client: TestClient, settings, queue, token, note, says):
    form = {"bug_id": str(queue[0]), "tags": "ocsp-failure", "note": note, "token": token, **PERIOD}
    page = page_of(client.post("/ui/corrections", data=form, follow_redirects=False), 422)
    assert says in alert(page)
    assert count_rows(settings, CorrectionRow) == 0


def test_correct_incident_from_page_longest_note(client: TestClient, queue, token):
    """The page takes as long a note as POST /corrections does."""
    form = {"bug_id": str(queue[0]), "tags": "none", "note": "n" * MAX_NOTE_CHARS, "token": token,
            **PERIOD}
    follow(client, client.post("/ui/corrections", data=form, follow_redirects=False),
           f"/?start=2023-01-01&end=2023-06-30&corrected={queue[0]}#review")
    stored = client.get("/corrections", params={"bug_id": queue[0]}).json()["data"]
    assert [c["note"] for c in stored] == ["n" * MAX_NOTE_CHARS]


# -- promoting and rolling back ---------------------------------------------------------------------
def test_promote_and_roll_back_from_page(client: TestClient, models_dir, token):
    v2 = second_version(models_dir)
    response = client.post("/ui/models/promote", follow_redirects=False,
                           data={"version": v2, "token": token, **PERIOD})
    page = follow(client, response, f"/?start=2023-01-01&end=2023-06-30&promoted={v2}#models")
    assert ModelRegistry(models_dir).active_version() == v2
    assert client.get("/models/active").json()["version"] == v2  # the service follows at once
    assert page.one(role="status").text == f"{v2} is the active model version now."
    assert page.one("tr", **{"data-version": v2}).one("td", class_="status").text == "active, in service"
    rollback = page.one("form", action="/ui/models/rollback")
    assert rollback.one("button").text == "Roll back to v1"
    history = ModelRegistry(models_dir).history()
    assert (history[-1]["reason"], history[-1]["by"]) == ("promoted on the page", "alice")

    response = client.post("/ui/models/rollback", follow_redirects=False, data={"token": token, **PERIOD})
    page = follow(client, response, "/?start=2023-01-01&end=2023-06-30&rolled_back=v1#models")
    assert ModelRegistry(models_dir).active_version() == "v1"
    assert client.get("/models/active").json()["version"] == "v1"
    assert page.one(role="status").text == "Rolled back: v1 is the active model version again."
    assert ModelRegistry(models_dir).history()[-1]["by"] == "alice"


@pytest.mark.parametrize(("route", "data", "status", "says"), [
    ("promote", {"version": "v2", "token": ""}, 401, "Nothing changed: type your maintainer token"),
    ("promote", {"version": "v2", "token": "inc_wrong"}, 403, "Nothing changed: the API token is unknown"),
    ("promote", {"version": "v9"}, 404, "Nothing changed: no model version 'v9' in the models folder."),
    ("promote", {"version": "../v2"}, 404, "Nothing changed: no model version '../v2'"),
    ("rollback", {"token": ""}, 401, "Nothing changed: type your maintainer token"),
    ("rollback", {}, 409, "Nothing changed: v1 has no earlier active version to roll back to."),
])
def test_promote_or_roll_back_from_page_refused(client: TestClient, models_dir, token, route, data,
                                                 status, says):
    second_version(models_dir)
    history = ModelRegistry(models_dir).history()
    response = client.post(f"/ui/models/{route}", follow_redirects=False,
                           data={"token": token, **PERIOD, **data})
    assert says in alert(page_of(response, status))
    assert str(models_dir) not in response.text and str(models_dir.resolve()) not in response.text
    assert ModelRegistry(models_dir).active_version() == "v1"
    assert ModelRegistry(models_dir).history() == history


# -- accessibility ----------------------------------------------------------------------------------
def _hex_rgb(value: str) -> tuple[float, float, float]:
    value = value.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    return (int(value[0:2], 16) / 255, int(value[2:4], 16) / 255, int(value[4:6], 16) / 255)


def contrast(foreground: str, background: str) -> float:
    """WCAG 2's contrast ratio of two sRGB colours (#rrggbb)."""

    def luminance(colour: str) -> float:
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in _hex_rgb(colour))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # just below AA
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1.0)


def stylesheet_colour_pairs(css: str) -> dict[str, tuple[str, str]]:
    """Selector -> (text colour, background colour) of every rule that sets either: what it does
    not set comes from the nearest rule of an ancestor in its selector that does, else body."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules: dict[str, dict[str, str]] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        declarations = dict(
            (name.strip(), value.strip()) for name, value in
            (d.split(":", 1) for d in body.split(";") if ":" in d))
        for selector in selectors.split(","):
            rules.setdefault(" ".join(selector.split()), {}).update(declarations)
    variables = {k: v for k, v in rules[":root"].items() if k.startswith("--")}

    def colour(rule: dict[str, str], *names: str) -> str | None:
        for name in names:
            if name in rule:
                value = rule[name].split()[0]
                match = re.fullmatch(r"var\((--[\w-]+)\)", value)
                return variables[match.group(1)] if match else value
        return None

    def inherited(selector: str, *names: str) -> str:
        parts = selector.split()
        while parts:
            found = colour(rules.get(" ".join(parts), {}), *names)
            if found is not None:
                return found
            parts.pop()
        found = colour(rules["body"], *names)
        assert found is not None
        return found

    return {selector: (inherited(selector, "color"), inherited(selector, "background", "background-color"))
            for selector, rule in rules.items()
            if selector != ":root" and colour(rule, "color", "background", "background-color")}


def test_stylesheet_contrast():
    pairs = stylesheet_colour_pairs(STYLESHEET.read_text(encoding="utf-8"))
    assert pairs["body"] == ("#1b1f24", "#ffffff")
    assert pairs[".top a"] == ("#ffffff", "#1b2a3a")  # a link on the bar: the bar's background
    assert pairs[".tag"] == ("#173a61", "#e3ecf7")
    low = {selector: round(contrast(*pair), 2) for selector, pair in pairs.items()
           if contrast(*pair) < 4.5}
    assert low == {}


def check_accessible(html: str) -> None:
    """What an accessibility checker looks at in the HTML: the language, a label for every form
    field, alt text, headings in order, table headers and captions, unique ids."""
    page = parse(html)
    assert page.one("html").attrs.get("lang") == "en"
    assert page.one("title").text
    ids = [e.attrs["id"] for e in page.iter() if "id" in e.attrs]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    labelled = {label.attrs.get("for") for label in page.iter("label")}
    fields = [e for e in page.iter() if e.tag in ("select", "textarea")
              or (e.tag == "input" and e.attrs.get("type") not in ("hidden", "submit", "button"))]
    assert fields
    for field in fields:
        assert field.attrs.get("id") in labelled, f"no label for {field.tag} {field.attrs}"
        label = next(lab for lab in page.iter("label") if lab.attrs.get("for") == field.attrs["id"])
        assert label.text
    for button in page.iter("button"):
        assert button.text
    for image in page.iter("img"):
        assert image.attrs.get("alt", "").strip(), image.attrs
    levels = [int(e.tag[1]) for e in page.iter() if re.fullmatch(r"h[1-6]", e.tag)]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    for table in page.iter("table"):
        assert table.one("caption").text
        headers = table.all("th")
        assert headers and all(th.attrs.get("scope") in ("col", "row") for th in headers)
    for link in page.iter("a"):
        assert link.text and link.attrs.get("href")


def test_page_accessible(client: TestClient, models_dir, queue, token):
    second_version(models_dir)
    check_accessible(client.get("/", params=PERIOD).text)
    refused = client.post("/ui/corrections", data={"bug_id": str(queue[0]), "tags": "bogus", "token": token,
                                                   **PERIOD})
    assert refused.status_code == 422
    check_accessible(refused.text)


def test_page_accessible_without_model(client_without_model: TestClient, store):
    check_accessible(client_without_model.get("/").text)


def test_page_security_headers(client: TestClient):
    response = client.get("/")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "form-action 'self'" in policy
    assert "script-src" not in policy  # no script at all
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in response.text


def test_read_page_says_which_incidents_count_from_when_received(client: TestClient, maintainer):
    """A bug stored without a filing time is placed from when the store received it (the page
    said it "cannot be placed in time", counting the whole store's)."""
    bug = {k: v for k, v in new_bug(1_900_777).items() if k != "creation_time"}
    assert client.post("/classify", json=bug, headers=maintainer).json()["stored"] is True
    today = datetime.now(UTC).date().isoformat()
    notes = page_of(client.get("/", params={"start": today, "end": today})).one("ul", class_="notes").text
    assert "1 incident has no filing time in the store and counts from when it was received." in " ".join(notes.split())
    earlier = page_of(client.get("/", params=PERIOD)).one("ul", class_="notes").text
    assert "no filing time" not in earlier
