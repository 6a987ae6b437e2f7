"""POST /corrections and GET /corrections; the incident view and the label follow corrections."""

from __future__ import annotations

from fastapi.testclient import TestClient

from core.corrections import MAX_NOTE_CHARS


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
    assert response.json()["detail"][0]["loc"] == ["body", "tags"]
    assert client.get("/corrections").json()["count"] == 0


def test_create_correction_unknown_bug(client: TestClient, maintainer):
    response = client.post("/corrections", headers=maintainer,
                           json={"bug_id": 999_999_999, "tags": []})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "bug_id"]


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
