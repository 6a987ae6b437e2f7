"""GET /incidents/{id}: the stored incident, its tags, predictions and (empty) corrections."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def test_read_incident(client: TestClient, store, fixture_bugs):
    bug = fixture_bugs[3]  # leaf-revocation-delay, written with the legacy name
    response = client.get(f"/incidents/{bug['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == bug["id"]
    assert body["summary"] == bug["summary"]
    assert body["description"] == bug["comments"][0]["text"]
    assert body["whiteboard"] == bug["whiteboard"]
    assert body["bugzilla_tags"] == ["leaf-revocation-delay"]
    assert body["creation_time"] == bug["creation_time"]
    assert body["predictions"] == []
    assert body["corrections"] == []
    assert body["label"] == {"source": "bugzilla", "tags": ["leaf-revocation-delay"],
                             "categories": ["Leaf Revocation Delays"], "model_version": None}
    # Its CA as the list of incidents (and the briefing) shows it; ca_name is the store's key.
    [listed] = client.get("/incidents", params={"ids": bug["id"]}).json()["data"]
    assert body["ca"] == listed["ca"] == bug["summary"].split(":")[0]
    assert body["ca_name"] == body["ca"].lower()


def test_read_incident_predictions_of_each_version(client: TestClient, models_dir, fixture_bugs,
                                                   maintainer_no_bugs):
    from core.registry import ModelRegistry

    bug = fixture_bugs[0]
    client.post("/classify", json=bug, headers=maintainer_no_bugs)
    registry = ModelRegistry(models_dir)
    loaded = registry.load()
    card = {k: v for k, v in loaded.card.items()
            if k not in ("version", "artefact", "artefact_sha256")}
    registry.promote(registry.create(loaded.model, card))
    client.post("/classify", json=bug, headers=maintainer_no_bugs)
    body = client.get(f"/incidents/{bug['id']}").json()
    assert [p["model_version"] for p in body["predictions"]] == ["v1", "v2"]
    assert all(p["categories"] == ["OCSP Failures"] for p in body["predictions"])
    assert body["label"]["source"] == "bugzilla"


def test_read_incident_not_stored(client: TestClient):
    response = client.get("/incidents/1999999")
    assert response.status_code == 404
    assert "1999999" in response.json()["detail"]


@pytest.mark.parametrize("bug_id", ["0", "-3", "abc", "1.5", str(2**40)])
def test_read_incident_bad_id(client: TestClient, bug_id):
    response = client.get(f"/incidents/{bug_id}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "bug_id"]
