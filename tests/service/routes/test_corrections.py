"""POST /corrections and GET /corrections; the incident view and the label follow corrections."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from core.corrections import MAX_NOTE_CHARS
from core.tables import CorrectionRow
from tests.fixtures import count_rows


def test_create_correction(client: TestClient, maintainer, fixture_bugs):
    bug = fixture_bugs[0]  # ocsp-failure in Bugzilla
    response = client.post("/corrections", headers=maintainer,
                           json={"bug_id": bug["id"], "tags": ["crl-failure"], "note": " why "})
    assert response.status_code == 201
    body = response.json()
    assert body["bug_id"] == bug["id"]
    assert body["tags"] == ["crl-failure"]
    assert body["categories"]
    assert body["author"] == "alice"
    assert body["note"] == "why"
    assert body["created_at"]
    assert body["model_version"] == "v1"
    assert body["model_tags"] is not None and body["model_scores"]


def test_create_correction_records_stored_prediction(client: TestClient, maintainer,
                                                     fixture_bugs):
    bug = fixture_bugs[0]
    predicted = client.post("/classify", json=bug, headers=maintainer).json()
    body = client.post("/corrections", headers=maintainer,
                       json={"bug_id": bug["id"], "tags": []}).json()
    assert body["model_tags"] == predicted["tags"]
    assert body["model_scores"] == predicted["scores"]


def test_create_correction_without_model(client_without_model: TestClient, maintainer,
                                         fixture_bugs):
    response = client_without_model.post(
        "/corrections", headers=maintainer,
        json={"bug_id": fixture_bugs[0]["id"], "tags": ["ocsp-failure"]})
    assert response.status_code == 201
    body = response.json()
    assert body["model_version"] is None and body["model_tags"] is None


def test_create_correction_supersedes_and_keeps_history(client: TestClient, maintainer,
                                                        create_token, fixture_bugs):
    bug_id = fixture_bugs[0]["id"]
    bob, _ = create_token("bob")
    first = client.post("/corrections", headers=maintainer,
                        json={"bug_id": bug_id, "tags": ["crl-failure"]})
    second = client.post("/corrections", headers={"Authorization": f"Bearer {bob}"},
                         json={"bug_id": bug_id, "tags": ["ev-misissuance"], "note": "no"})
    assert first.status_code == second.status_code == 201
    incident = client.get(f"/incidents/{bug_id}").json()
    assert [(c["tags"], c["author"]) for c in incident["corrections"]] == [
        (["crl-failure"], "alice"), (["ev-misissuance"], "bob")]
    assert incident["label"]["source"] == "correction"
    assert incident["label"]["tags"] == ["ev-misissuance"]
    listed = client.get("/corrections", params={"bug_id": bug_id}).json()
    assert listed["count"] == 2
    assert [c["author"] for c in listed["data"]] == ["bob", "alice"]


def test_read_corrections_pages(client: TestClient, maintainer, fixture_bugs):
    for bug in fixture_bugs[:3]:
        client.post("/corrections", headers=maintainer, json={"bug_id": bug["id"], "tags": []})
    page = client.get("/corrections", params={"limit": 2, "offset": 1})
    assert page.status_code == 200
    assert page.json()["count"] == 3
    assert [c["bug_id"] for c in page.json()["data"]] == [fixture_bugs[1]["id"],
                                                          fixture_bugs[0]["id"]]
    assert client.get("/corrections", params={"limit": 0}).status_code == 422


def test_create_correction_unknown_tag(client: TestClient, maintainer, fixture_bugs, settings):
    response = client.post("/corrections", headers=maintainer,
                           json={"bug_id": fixture_bugs[0]["id"], "tags": ["no-such-tag"]})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "tags"]
    # Said once (the loc names the field), with the tags it could have been.
    assert error["msg"].startswith("no-such-tag is not a type tag of the taxonomy (its type tags: "
                                   "audit-delay, audit-failure, ")
    assert client.get("/corrections").json()["count"] == 0


def test_create_correction_unknown_bug(client: TestClient, maintainer):
    response = client.post("/corrections", headers=maintainer,
                           json={"bug_id": 999_999_999, "tags": []})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["body", "bug_id"], "bug 999999999 is not in the store")


def test_create_correction_bad_body(client: TestClient, maintainer, fixture_bugs):
    bug_id = fixture_bugs[0]["id"]
    for body in ({"tags": []}, {"bug_id": bug_id}, {"bug_id": bug_id, "tags": "crl-failure"},
                 {"bug_id": bug_id, "tags": [], "author": "mallory"}):
        assert client.post("/corrections", headers=maintainer, json=body).status_code == 422


def test_create_correction_bad_note(client: TestClient, maintainer, fixture_bugs):
    for note in ("a\x00b", "n" * (MAX_NOTE_CHARS + 1)):
        response = client.post("/corrections", headers=maintainer,
                               json={"bug_id": fixture_bugs[0]["id"], "tags": [], "note": note})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "note"]
    longest = client.post("/corrections", headers=maintainer,
                          json={"bug_id": fixture_bugs[0]["id"], "tags": [], "note": "n" * MAX_NOTE_CHARS})
    assert longest.status_code == 201 and longest.json()["note"] == "n" * MAX_NOTE_CHARS
    assert client.get("/corrections").json()["count"] == 1


def test_create_correction_answers_stored(client: TestClient, maintainer, fixture_bugs):
    response = client.post("/corrections", headers=maintainer,
                           json={"bug_id": fixture_bugs[0]["id"], "tags": ["crl-failure"]})
    assert response.status_code == 201 and response.json()["stored"] is True
    schema = client.get("/openapi.json").json()["paths"]["/corrections"]["post"]["responses"]
    assert {"200", "201"} <= set(schema)


def test_create_correction_repeated_stores_nothing(client: TestClient, maintainer, create_token,
                                                   fixture_bugs):
    """A retried request (the same tags, in any order or by alias, the same note, blanks aside,
    the same author) answers 200 with the correction that counts, `stored` false, and stores
    nothing (it stored an identical row each time); another author's, another note or going back
    to earlier tags after another correction is a new correction (201)."""
    bug_id = fixture_bugs[0]["id"]
    body = {"bug_id": bug_id, "tags": ["crl-failure"], "note": "crl not ocsp"}
    first = client.post("/corrections", headers=maintainer, json=body)
    assert first.status_code == 201
    for again in (body, {**body, "note": " crl not ocsp "}):
        repeat = client.post("/corrections", headers=maintainer, json=again)
        assert repeat.status_code == 200, repeat.text
        assert repeat.json() == {**first.json(), "stored": False}
    assert client.get("/corrections").json()["count"] == 1
    assert len(client.get(f"/incidents/{bug_id}").json()["corrections"]) == 1

    bob = {"Authorization": f"Bearer {create_token('bob')[0]}"}
    assert client.post("/corrections", headers=maintainer, json={**body, "note": ""}).status_code == 201
    assert client.post("/corrections", headers=bob, json={**body, "note": ""}).status_code == 201
    assert client.post("/corrections", headers=bob, json={**body, "tags": []}).status_code == 201
    back = client.post("/corrections", headers=bob, json={**body, "note": ""})
    assert back.status_code == 201 and back.json()["stored"] is True
    assert client.get("/corrections").json()["count"] == 5


def test_create_correction_repeated_at_once_stores_one(client: TestClient, maintainer,
                                                       fixture_bugs):
    """Identical requests at the same time store one correction (a concurrency run left 160
    identical rows for three bugs): one 201, the others 200 with it."""
    bodies = [{"bug_id": bug["id"], "tags": ["crl-failure"], "note": "crl not ocsp"}
              for bug in fixture_bugs[:3]] * 6
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda b: client.post("/corrections", headers=maintainer, json=b),
                                bodies))
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    for bug in fixture_bugs[:3]:
        mine = [a for a in answers if a.json()["bug_id"] == bug["id"]]
        assert sorted(a.status_code for a in mine) == [200] * 5 + [201]
        assert len({a.json()["id"] for a in mine}) == 1
    assert client.get("/corrections").json()["count"] == 3


def test_correct_from_page_twice_stores_once(client: TestClient, create_token, fixture_bugs,
                                             settings):
    """The page's form sent twice (a double click, a reload) stores one correction; both answers
    go back to the page, which says the correction counts."""
    token, _ = create_token("alice")
    form = {"bug_id": str(fixture_bugs[0]["id"]), "tags": "crl-failure", "note": "crl", "token": token}
    for _ in range(2):
        response = client.post("/ui/corrections", data=form, follow_redirects=False)
        assert response.status_code == 303, response.text
    assert count_rows(settings, CorrectionRow) == 1
    page = client.get(response.headers["location"])
    assert f"Correction of bug {fixture_bugs[0]['id']} stored" in page.text
