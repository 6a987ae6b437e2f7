"""POST /classify and /classify/batch: answers, storage, and every kind of bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.db import session_scope
from core.tables import IncidentRow, PredictionRow
from core.tokens import revoke_token
from tests.fixtures import new_bug, without

BUG_ID = 1_900_001


def _count(url: str, table) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(table))


def _stored(url: str) -> tuple[int, int]:
    return _count(url, IncidentRow), _count(url, PredictionRow)


# -- answers ----------------------------------------------------------------------------------
def test_classify_incident(client: TestClient, fixture_bugs):
    bug = fixture_bugs[0]  # an OCSP failure
    response = client.post("/classify", json=without(bug, "id"))
    assert response.status_code == 200
    body = response.json()
    assert body["tags"] == ["ocsp-failure"]
    assert body["categories"] == ["OCSP Failures"]
    assert body["model_version"] == "v1"
    assert set(body["scores"]) >= {"ocsp-failure", "crl-failure"}
    assert 0.0 <= body["confidence"] <= 1.0
    assert isinstance(body["needs_review"], bool)
    assert (body["review_reason"] is None) == (not body["needs_review"])
    assert body["stored"] is False and body["id"] is None
    terms = [t["term"] for t in body["explanation"]["ocsp-failure"]]
    assert terms and all(t in (bug["summary"] + " " + bug["comments"][0]["text"]).lower()
                         for t in terms)


@pytest.mark.parametrize("path", ["/classify", "/classify/batch"])
def test_classify_incident_without_explanation(client: TestClient, fixture_bugs, path: str):
    """`explain=false` answers the same tags and scores, with the explanation empty."""
    def answer(query: str) -> dict:
        bug = without(fixture_bugs[0], "id")
        body = {"bugs": [bug]} if path.endswith("batch") else bug
        response = client.post(path + query, json=body)
        assert response.status_code == 200
        return response.json()["data"][0] if path.endswith("batch") else response.json()
    explained, plain = answer(""), answer("?explain=false")
    assert explained["explanation"]["ocsp-failure"] and plain["explanation"] == {}
    assert {**explained, "explanation": {}} == plain
    assert client.post(path + "?explain=maybe", json={}).json()["detail"][0]["loc"] == [
        "query", "explain"]


def test_classify_incident_ignores_whiteboard(client: TestClient, fixture_bugs):
    bug = without(fixture_bugs[1], "id")
    plain = client.post("/classify", json=without(bug, "whiteboard")).json()
    misleading = client.post("/classify", json={**bug, "whiteboard": "[ev-misissuance]"}).json()
    assert plain["scores"] == misleading["scores"]
    assert plain["tags"] == misleading["tags"]


def test_classify_incident_description_over_comments(client: TestClient):
    by_comment = client.post("/classify", json=new_bug(description=None, comments=[
        {"count": 1, "text": "a later comment about CRL"},
        {"count": 0, "text": "Our OCSP responder answered with malformed responses."}]))
    by_description = client.post("/classify", json=new_bug(
        description="Our OCSP responder answered with malformed responses.",
        comments=[{"count": 0, "text": "The CRL expired and was not refreshed."}]))
    assert by_comment.status_code == by_description.status_code == 200
    assert by_comment.json()["scores"] == by_description.json()["scores"]


def test_classify_incident_reporter_from_creator(client: TestClient):
    by_domain = client.post("/classify", json=new_bug(creator_domain="gmail.com")).json()
    by_creator = client.post("/classify", json={**without(new_bug(), "creator_domain"),
                                                "creator": "someone@GMAIL.com"}).json()
    assert by_domain["scores"] == by_creator["scores"]


def test_classify_incident_accepts_unknown_bugzilla_fields(client: TestClient):
    response = client.post("/classify", json=new_bug(
        keywords=[], cc=["a@example.org"], see_also=[], flags=[], is_open=False, severity="--"))
    assert response.status_code == 200


# -- storage ----------------------------------------------------------------------------------
def test_classify_incident_with_id_stores_it(client: TestClient, service_settings,
                                             maintainer_no_bugs):
    response = client.post("/classify", json=new_bug(BUG_ID), headers=maintainer_no_bugs)
    assert response.status_code == 200
    assert response.json()["stored"] is True
    incident = client.get(f"/incidents/{BUG_ID}").json()
    assert incident["summary"] == new_bug()["summary"]
    assert incident["ca_name"] == "nimbus trust"
    assert [p["model_version"] for p in incident["predictions"]] == ["v1"]
    assert incident["predictions"][0]["tags"] == response.json()["tags"]
    assert _stored(service_settings.database_url) == (1, 1)


def test_classify_incident_repeat_does_not_duplicate(client: TestClient, service_settings,
                                                     maintainer_no_bugs):
    first = client.post("/classify", json=new_bug(BUG_ID), headers=maintainer_no_bugs).json()
    second = client.post("/classify", json=new_bug(BUG_ID), headers=maintainer_no_bugs).json()
    batch = client.post("/classify/batch", json={"bugs": [new_bug(BUG_ID)]},
                        headers=maintainer_no_bugs)
    assert batch.status_code == 200
    assert first["scores"] == second["scores"]
    assert _stored(service_settings.database_url) == (1, 1)
    assert len(client.get(f"/incidents/{BUG_ID}").json()["predictions"]) == 1


def test_classify_incident_without_whiteboard_keeps_synced_tags(client: TestClient, store,
                                                                fixture_bugs, maintainer):
    bug = fixture_bugs[2]  # an EV misissuance with its whiteboard synced into the store
    before = client.get(f"/incidents/{bug['id']}").json()
    assert before["bugzilla_tags"] and before["predictions"] == []

    response = client.post("/classify", json=without(bug, "whiteboard", "comments"),
                           headers=maintainer)
    assert response.status_code == 200
    after = client.get(f"/incidents/{bug['id']}").json()
    assert after["whiteboard"] == bug["whiteboard"]
    assert after["bugzilla_tags"] == before["bugzilla_tags"]
    assert after["description"] == before["description"]  # left out: kept
    assert after["label"]["source"] == "bugzilla"
    assert len(after["predictions"]) == 1


def test_classify_incident_with_whiteboard_replaces_tags(client: TestClient, store,
                                                         fixture_bugs, maintainer):
    bug = fixture_bugs[2]
    response = client.post("/classify", json={**bug, "whiteboard": "[ca-compliance] [crl-failure]"},
                           headers=maintainer)
    assert response.status_code == 200
    after = client.get(f"/incidents/{bug['id']}").json()
    assert after["bugzilla_tags"] == ["crl-failure"]
    assert {"tag": "ca-compliance", "kind": "meta"} in after["whiteboard_tags"]

    cleared = client.post("/classify", json={**bug, "whiteboard": ""}, headers=maintainer)
    assert cleared.status_code == 200
    incident = client.get(f"/incidents/{bug['id']}").json()
    assert incident["bugzilla_tags"] == []
    assert incident["label"] == {"source": "model", "tags": cleared.json()["tags"],
                                 "categories": cleared.json()["categories"],
                                 "model_version": "v1"}


def test_classify_incident_fields_sent_replace_stored(client: TestClient, maintainer_no_bugs):
    client.post("/classify", json=new_bug(BUG_ID, status="NEW", resolution=""),
                headers=maintainer_no_bugs)
    client.post("/classify", json={"id": BUG_ID, "summary": new_bug()["summary"],
                                   "status": "RESOLVED", "resolution": "FIXED",
                                   "cf_last_resolved": "2020-04-01T00:00:00Z"},
                headers=maintainer_no_bugs)
    incident = client.get(f"/incidents/{BUG_ID}").json()
    assert (incident["status"], incident["resolution"]) == ("RESOLVED", "FIXED")
    assert incident["resolved_at"] == "2020-04-01T00:00:00Z"
    assert incident["description"] == new_bug()["description"]
    assert incident["creation_time"] == "2020-03-04T10:00:00Z"


def test_classify_incident_private_comment_zero_not_read_nor_stored(client: TestClient,
                                                                    maintainer_no_bugs):
    """As by the sync and the webhook: a private comment 0 is left out (it was stored as the
    description, which GET /incidents shows to anyone)."""
    secret = "Our OCSP responder answered with malformed responses for Contoso's CA."
    bug = {**without(new_bug(BUG_ID), "description"),
           "comments": [{"count": 0, "text": secret, "is_private": True}]}
    sent = client.post("/classify", json=bug, headers=maintainer_no_bugs).json()
    blank = client.post("/classify", json={**without(new_bug(), "description"), "description": ""})
    assert sent["stored"] is True and sent["scores"] == blank.json()["scores"]
    incident = client.get(f"/incidents/{BUG_ID}")
    assert incident.json()["description"] == "" and secret not in incident.text


@pytest.mark.parametrize("path", ["/classify", "/classify/batch"])
def test_classify_incident_summary_alone_is_classified_as_stored(client: TestClient, path: str,
                                                                 maintainer_no_bugs):
    """A stored bug sent again with its summary alone keeps its comment 0 and reporter, and is
    classified on them: the answer and the stored prediction are of the text stored, not of the
    summary alone (the prediction stored was the summary's, beside the whole text)."""
    full = client.post("/classify", json=new_bug(BUG_ID), headers=maintainer_no_bugs).json()
    summary_alone = client.post("/classify", json={"summary": new_bug()["summary"]}).json()
    assert summary_alone["scores"] != full["scores"]  # the test can tell the two apart
    body = {"id": BUG_ID, "summary": new_bug()["summary"]}
    response = client.post(path + "?explain=false", json={"bugs": [body]} if "batch" in path else body,
                           headers=maintainer_no_bugs)
    assert response.status_code == 200, response.text
    answer = response.json()["data"][0] if "batch" in path else response.json()
    assert answer["stored"] is True and answer["scores"] == full["scores"]
    assert answer["explanation"] == {}  # as asked, though classified again on the stored text
    incident = client.get(f"/incidents/{BUG_ID}").json()
    assert incident["description"] == new_bug()["description"]
    assert [p["scores"] for p in incident["predictions"]] == [full["scores"]]


@pytest.mark.parametrize("path", ["/classify", "/classify/batch"])
def test_classify_incident_older_copy_is_not_stored(client: TestClient, path: str,
                                                    maintainer_no_bugs):
    """A copy of a stored bug older than the stored one (a retried or late request) changes
    nothing stored, as an older webhook event; it is answered with why. A newer one is stored."""
    first = new_bug(BUG_ID, last_change_time="2025-04-01T00:00:00Z")
    assert client.post("/classify", json=first, headers=maintainer_no_bugs).json()["stored"] is True
    stale = new_bug(BUG_ID, summary="Nimbus Trust: CRL expired", description="An old copy.",
                    last_change_time="2025-03-01T00:00:00Z")
    fresh = new_bug(BUG_ID + 1, last_change_time="2025-03-01T00:00:00Z")

    def post(bug: dict) -> dict:
        response = client.post(path, json={"bugs": [bug, fresh]} if "batch" in path else bug,
                               headers=maintainer_no_bugs)
        assert response.status_code == 200, response.text
        return response.json()["data"][0] if "batch" in path else response.json()

    answer = post(stale)
    assert answer["stored"] is False and answer["id"] == BUG_ID
    assert answer["not_stored_because"] == (
        f"bug {BUG_ID}: the last_change_time sent (2025-03-01T00:00:00Z) is older than the stored "
        "copy's (2025-04-01T00:00:00Z); send the bug as it is now to store it")
    incident = client.get(f"/incidents/{BUG_ID}").json()
    assert (incident["summary"], incident["description"]) == (first["summary"], first["description"])
    assert incident["last_change_time"] == "2025-04-01T00:00:00Z"
    assert len(incident["predictions"]) == 1
    if "batch" in path:  # the rest of the batch is stored
        assert client.get(f"/incidents/{BUG_ID + 1}").status_code == 200
    newer = post({**stale, "last_change_time": "2025-04-02T00:00:00Z"})
    assert newer["stored"] is True and newer["not_stored_because"] is None
    assert client.get(f"/incidents/{BUG_ID}").json()["summary"] == "Nimbus Trust: CRL expired"


@pytest.mark.parametrize(("fields", "where"), [
    ({"product": "Firefox", "component": "General"}, "Firefox / General"),
    ({"component": "CA Certificate Root Inclusion Request"},
     "(no product) / CA Certificate Root Inclusion Request"),
])
def test_classify_incident_of_another_component_is_not_stored(client: TestClient, service_settings,
                                                              maintainer_no_bugs, fields, where):
    """Only incidents are stored, as by the sync and the webhook: a bug of another product or
    component is classified and answered with why it was not stored."""
    response = client.post("/classify", json=new_bug(BUG_ID, **fields), headers=maintainer_no_bugs)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["stored"] is False and answer["tags"]
    assert answer["not_stored_because"] == (
        f"bug {BUG_ID} is in {where}, not CA Program / CA Certificate Compliance: only incidents "
        "are stored")
    assert _stored(service_settings.database_url) == (0, 0)
    ours = new_bug(BUG_ID, product="CA Program", component="CA Certificate Compliance")
    assert client.post("/classify", json=ours, headers=maintainer_no_bugs).json()["stored"] is True


def test_classify_incident_keeps_the_reporters_domain_only(client: TestClient, maintainer_no_bugs):
    """The address is not kept, as by the sync and the webhook; its domain is."""
    bug = {**without(new_bug(BUG_ID), "creator_domain"), "creator": "Jane.Doe@Contoso.example"}
    client.post("/classify", json=bug, headers=maintainer_no_bugs)
    incident = client.get(f"/incidents/{BUG_ID}").json()
    assert (incident["creator"], incident["creator_domain"]) == (None, "contoso.example")
    assert "Jane.Doe" not in json.dumps(incident)


def test_classify_incidents_batch(client: TestClient, fixture_bugs, service_settings,
                                  maintainer_no_bugs):
    bugs = fixture_bugs[:5]
    response = client.post("/classify/batch", json={"bugs": bugs + [without(bugs[0], "id")]},
                           headers=maintainer_no_bugs)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 6 and body["model_version"] == "v1"
    assert [r["id"] for r in body["data"]] == [b["id"] for b in bugs] + [None]
    assert [r["stored"] for r in body["data"]] == [True] * 5 + [False]
    single = client.post("/classify", json=without(bugs[3], "id")).json()
    assert body["data"][3]["scores"] == single["scores"]
    assert _stored(service_settings.database_url) == (5, 5)


# -- storing needs a maintainer's token --------------------------------------------------------
REWRITTEN_SUMMARY = "Other CA: rewritten summary"


def _rewritten(bug: dict) -> dict:
    """``bug`` with what a client could overwrite if anyone could store: its summary, its
    whiteboard (Mozilla's tags: training labels), its status and its times."""
    return {**bug, "summary": REWRITTEN_SUMMARY, "whiteboard": "[crl-failure]", "status": "NEW",
            "resolution": "", "creation_time": "2024-01-02T00:00:00Z",
            "cf_last_resolved": "2024-02-01T00:00:00Z"}


def test_classify_incident_anonymous_changes_nothing_stored(client: TestClient, store, fixture_bugs,
                                                            service_settings, store_rows,
                                                            maintainer):
    """Without a token a stored bug is classified as if it had no id: nothing of it changes
    and no prediction is added. The same body with a maintainer's token is stored."""
    bug = fixture_bugs[2]  # an EV misissuance with its whiteboard synced into the store
    before, incident = store_rows(), client.get(f"/incidents/{bug['id']}").json()
    response = client.post("/classify", json=_rewritten(bug))
    assert response.status_code == 200
    body = response.json()
    assert body["stored"] is False and body["id"] == bug["id"]
    # It said why not (it answered null, as for a bug that was stored).
    assert body["not_stored_because"].startswith("the request carries no maintainer's token")
    assert body == {**client.post("/classify", json=without(_rewritten(bug), "id")).json(),
                    "id": bug["id"], "not_stored_because": body["not_stored_because"]}
    assert client.get(f"/incidents/{bug['id']}").json() == incident
    assert store_rows() == before
    assert _count(service_settings.database_url, PredictionRow) == 0

    stored = client.post("/classify", json=_rewritten(bug), headers=maintainer)
    assert stored.status_code == 200
    assert stored.json() == {**body, "stored": True, "not_stored_because": None}
    after = client.get(f"/incidents/{bug['id']}").json()
    assert after["summary"] == REWRITTEN_SUMMARY and after["bugzilla_tags"] == ["crl-failure"]
    assert len(after["predictions"]) == 1


def test_classify_incident_anonymous_new_id_stores_nothing(client: TestClient, service_settings):
    response = client.post("/classify", json=new_bug(BUG_ID))
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["stored"]) == (BUG_ID, False)
    assert client.get(f"/incidents/{BUG_ID}").status_code == 404
    assert _stored(service_settings.database_url) == (0, 0)


def test_classify_incidents_batch_anonymous_stores_nothing(client: TestClient, store, fixture_bugs,
                                                           service_settings, store_rows):
    bugs = [_rewritten(b) for b in fixture_bugs[:3]] + [new_bug(BUG_ID)]
    before = store_rows()
    response = client.post("/classify/batch", json={"bugs": bugs})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert [(r["id"], r["stored"]) for r in body["data"]] == [(b["id"], False) for b in bugs]
    assert store_rows() == before
    assert _count(service_settings.database_url, PredictionRow) == 0
    assert client.get(f"/incidents/{BUG_ID}").status_code == 404


@pytest.mark.parametrize("path", ["/classify", "/classify/batch"])
def test_classify_incident_refused_token_stores_nothing(client: TestClient, store, fixture_bugs,
                                                        service_settings, store_rows, create_token,
                                                        path):
    """A revoked or unknown token is refused (403), not taken for an anonymous request."""
    revoked, token_id = create_token("alice")
    with session_scope(service_settings.database_url) as session:
        revoke_token(session=session, token_id=token_id)
    bug = _rewritten(fixture_bugs[2])
    body = {"bugs": [bug, new_bug(BUG_ID)]} if path.endswith("batch") else bug
    before = store_rows()
    for token in (revoked, "inc_not-a-token-of-ours"):
        response = client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403, response.text
        assert response.json()["detail"] == "the API token is unknown, revoked or expired"
    assert store_rows() == before
    assert _count(service_settings.database_url, PredictionRow) == 0


# -- no model ---------------------------------------------------------------------------------
def test_classify_incident_without_model(client_without_model: TestClient, service_settings,
                                         maintainer_no_bugs):
    response = client_without_model.post("/classify", json=new_bug(BUG_ID),
                                         headers=maintainer_no_bugs)
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert detail.startswith("no active model: train one with `incidents sync` and `incidents train`")
    assert detail.count("train one") == 1  # said once, not by the registry and again here
    batch = client_without_model.post("/classify/batch", json={"bugs": [new_bug(BUG_ID)]},
                                      headers=maintainer_no_bugs)
    assert batch.status_code == 503
    assert _stored(service_settings.database_url) == (0, 0)


@pytest.mark.parametrize("summary", ["", "   ", "\x1c\t"])
def test_classify_incident_blank_summary_says_blank(client: TestClient, summary: str):
    """A blank summary is said to be blank, not "at least 1 character" (the schema strips the
    blanks first), and the answer does not echo an input other than the one sent."""
    response = client.post("/classify", json={"summary": summary})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["body", "summary"], "Value error, must not be blank")
    assert error["input"] == summary


# -- bad input: every one a 4xx naming the field, nothing stored (sent with a maintainer's token,
# which would store a valid bug with an id) --------------------------------------------------
BAD_BODIES = {
    "malformed json": (b'{"summary": "Foo: bar",', 422, ["body"]),
    "not an object": (b'["Foo: bar"]', 422, ["body"]),
    "missing summary": (json.dumps(without(new_bug(BUG_ID), "summary")), 422, ["body", "summary"]),
    "empty summary": (json.dumps(new_bug(BUG_ID, summary="")), 422, ["body", "summary"]),
    "blank summary": (json.dumps(new_bug(BUG_ID, summary="   \n ")), 422, ["body", "summary"]),
    "summary not a string": (json.dumps(new_bug(BUG_ID, summary=42)), 422, ["body", "summary"]),
    "summary too long": (json.dumps(new_bug(BUG_ID, summary="x" * 1001)), 422,
                         ["body", "summary"]),
    "summary with NUL": (json.dumps(new_bug(BUG_ID, summary="Foo:\u0000 bar")), 422,
                         ["body", "summary"]),
    "summary with lone surrogate": (b'{"id": 1900001, "summary": "Foo: \\ud800 bar"}', 422,
                                    ["body", "summary"]),
    "id as string": (json.dumps(new_bug("1900001")), 422, ["body", "id"]),
    "id negative": (json.dumps(new_bug(-5)), 422, ["body", "id"]),
    "id boolean": (json.dumps(new_bug(True)), 422, ["body", "id"]),
    "id too large": (json.dumps(new_bug(2**63)), 422, ["body", "id"]),
    "description too long": (json.dumps(new_bug(BUG_ID, description="d" * 100_001)), 422,
                             ["body", "description"]),
    "comments not a list": (json.dumps(new_bug(BUG_ID, comments="text")), 422,
                            ["body", "comments"]),
    "comment text not a string": (json.dumps(new_bug(BUG_ID, comments=[{"text": 3}])), 422,
                                  ["body", "comments", 0, "text"]),
    "unknown date": (json.dumps(new_bug(BUG_ID, creation_time="yesterday")), 422,
                     ["body", "creation_time"]),
    "impossible date": (json.dumps(new_bug(BUG_ID, creation_time="2023-02-30T00:00:00Z")), 422,
                        ["body", "creation_time"]),
    "date out of range in UTC": (json.dumps(new_bug(BUG_ID,
                                                    creation_time="0001-01-01T00:00:00+05:00")),
                                 422, ["body", "creation_time"]),
    "id as float": (b'{"id": 1900001.0, "summary": "Foo: bar"}', 422, ["body", "id"]),
    "summary NaN": (b'{"id": 1900001, "summary": NaN}', 422, ["body", "summary"]),
    "comment count negative": (json.dumps(new_bug(BUG_ID, comments=[{"count": -1, "text": "t"}])),
                               422, ["body", "comments", 0, "count"]),
    "date as number": (json.dumps(new_bug(BUG_ID, cf_last_resolved=1700000000)), 422,
                       ["body", "cf_last_resolved"]),
    "whiteboard not a string": (json.dumps(new_bug(BUG_ID, whiteboard=["ocsp-failure"])), 422,
                                ["body", "whiteboard"]),
    "whiteboard tag too long": (json.dumps(new_bug(BUG_ID, whiteboard="[" + "t" * 200 + "]")),
                                422, ["body", "whiteboard"]),
    "status too long": (json.dumps(new_bug(BUG_ID, status="S" * 65)), 422, ["body", "status"]),
    "creator_domain not a domain": (json.dumps(new_bug(BUG_ID, creator_domain="a b@c")), 422,
                                    ["body", "creator_domain"]),
    # A filing time in 9999 was stored, and was the newest labelled incident of every window.
    "filed in the future": (json.dumps(new_bug(BUG_ID, creation_time="9999-12-31T23:59:59Z")), 422,
                            ["body", "creation_time"]),
    "comment in the future": (json.dumps(new_bug(BUG_ID, comments=[
        {"count": 0, "text": "t", "creation_time": "2999-01-01T00:00:00Z"}])), 422,
        ["body", "comments", 0, "creation_time"]),
    "resolved before filed": (json.dumps(new_bug(BUG_ID, creation_time="2020-03-04T10:00:00Z",
                                                 cf_last_resolved="2020-03-01T00:00:00Z")), 422,
                              ["body", "cf_last_resolved"]),
    "changed before filed": (json.dumps(new_bug(BUG_ID, creation_time="2020-03-04T10:00:00Z",
                                                last_change_time="2019-01-01T00:00:00Z")), 422,
                             ["body", "last_change_time"]),
    # Its domain is what is kept and read: it was stored as "évil domain/<x>".
    "creator's domain not a domain": (json.dumps(new_bug(BUG_ID, creator="a@Évil Domain/<x>")),
                                      422, ["body", "creator"]),
    # Stored as sent, they were (a triager's review): WEIRD, BOGUS, NEW and FIXED, year 1.
    "status not Bugzilla's": (json.dumps(new_bug(BUG_ID, status="WEIRD")), 422, ["body", "status"]),
    "resolution not Bugzilla's": (json.dumps(new_bug(BUG_ID, resolution="BOGUS")), 422,
                                  ["body", "resolution"]),
    "open and resolved": (json.dumps(new_bug(BUG_ID, status="NEW", resolution="FIXED")), 422,
                          ["body", "resolution"]),
    "resolved without a resolution": (json.dumps(new_bug(BUG_ID, resolution="")), 422,
                                      ["body", "resolution"]),
    "filed before Bugzilla": (json.dumps(new_bug(BUG_ID, creation_time="0001-01-01T00:00:00Z")),
                              422, ["body", "creation_time"]),
}


@pytest.mark.parametrize("body, status, loc", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_classify_incident_bad_input(client: TestClient, service_settings, maintainer_no_bugs,
                                     body, status, loc):
    response = client.post("/classify", content=body,
                           headers={**maintainer_no_bugs, "content-type": "application/json"})
    assert response.status_code == status, response.text
    errors = response.json()["detail"]
    assert any(e["loc"][:len(loc)] == loc and e["msg"] for e in errors), errors
    assert _stored(service_settings.database_url) == (0, 0)


def test_classify_incident_status_and_resolution_written_as_bugzilla_does(
        client: TestClient, service_settings, maintainer_no_bugs):
    """Any case is read, and stored upper case; an open bug with an empty resolution is fine."""
    response = client.post("/classify", json=new_bug(BUG_ID, status="resolved", resolution="fixed"),
                           headers=maintainer_no_bugs)
    assert response.status_code == 200, response.text
    incident = client.get(f"/incidents/{BUG_ID}").json()
    assert (incident["status"], incident["resolution"]) == ("RESOLVED", "FIXED")
    reopened = client.post("/classify", json=new_bug(BUG_ID, status="REOPENED", resolution=""),
                           headers=maintainer_no_bugs)
    assert reopened.status_code == 200, reopened.text


def test_classify_incident_not_json(client: TestClient, service_settings, maintainer_no_bugs):
    response = client.post("/classify", content=json.dumps(new_bug(BUG_ID)),
                           headers={**maintainer_no_bugs, "content-type": "text/plain"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert _stored(service_settings.database_url) == (0, 0)


def test_classify_incident_ten_megabyte_description(client: TestClient, service_settings,
                                                    maintainer_no_bugs):
    body = json.dumps(new_bug(BUG_ID, description="d" * 10_000_000))
    response = client.post("/classify", content=body,
                           headers={**maintainer_no_bugs, "content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert "INCIDENTS_MAX_BODY_BYTES" in response.json()["detail"][0]["msg"]
    assert _stored(service_settings.database_url) == (0, 0)


def test_classify_incident_oversize_chunked_body(client: TestClient, service_settings,
                                                 maintainer_no_bugs):
    def chunks() -> Iterator[bytes]:
        yield b'{"id": 1900001, "summary": "Foo: bar", "description": "'
        for _ in range(100):
            yield b"d" * 100_000
        yield b'"}'

    response = client.post("/classify", content=chunks(),
                           headers={**maintainer_no_bugs, "content-type": "application/json"})
    assert response.status_code == 413
    assert _stored(service_settings.database_url) == (0, 0)


def test_classify_incident_deeply_nested_json(client: TestClient):
    response = client.post("/classify", content=b"[" * 100_000 + b"]" * 100_000,
                           headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500


def test_classify_incident_error_input_is_not_echoed_whole(client: TestClient):
    response = client.post("/classify", json=new_bug(description="d" * 200_000))
    assert response.status_code == 422
    assert len(response.content) < 2_000


def test_classify_incidents_batch_above_limit(make_client, models_dir, fixture_bugs,
                                              service_settings, maintainer_no_bugs):
    client = make_client(max_batch=3)
    response = client.post("/classify/batch", json={"bugs": fixture_bugs[:4]},
                           headers=maintainer_no_bugs)
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "bugs"] and "at most 3" in error["msg"]
    assert _stored(service_settings.database_url) == (0, 0)
    assert client.post("/classify/batch", json={"bugs": fixture_bugs[:3]},
                       headers=maintainer_no_bugs).status_code == 200


def test_classify_incidents_batch_one_bad_bug_stores_nothing(client: TestClient, fixture_bugs,
                                                             service_settings, maintainer_no_bugs):
    bugs = [dict(b) for b in fixture_bugs[:5]]
    bugs[3]["summary"] = ""
    response = client.post("/classify/batch", json={"bugs": bugs}, headers=maintainer_no_bugs)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "bugs", 3, "summary"]
    assert _stored(service_settings.database_url) == (0, 0)


def test_classify_incidents_batch_bad_whiteboard_stores_nothing(client: TestClient, fixture_bugs,
                                                                service_settings, maintainer_no_bugs):
    bugs = [dict(b) for b in fixture_bugs[:3]]
    bugs[2]["whiteboard"] = "[" + "w" * 300 + "]"
    response = client.post("/classify/batch", json={"bugs": bugs}, headers=maintainer_no_bugs)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "bugs", 2, "whiteboard"]
    assert _stored(service_settings.database_url) == (0, 0)


def test_classify_incidents_batch_duplicate_ids(client: TestClient, fixture_bugs,
                                                service_settings, maintainer_no_bugs):
    response = client.post("/classify/batch", json={"bugs": [fixture_bugs[0], fixture_bugs[1],
                                                             fixture_bugs[0]]},
                           headers=maintainer_no_bugs)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "bugs", 2, "id"]
    assert _stored(service_settings.database_url) == (0, 0)


@pytest.mark.parametrize("body", [{}, {"bugs": []}, {"bugs": "all"}, {"bugs": [None]}, []])
def test_classify_incidents_batch_bad_shape(client: TestClient, body):
    response = client.post("/classify/batch", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"
