"""GET /review: uncorrected incidents the active model is least sure of, most unsure first."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_read_review_queue(client: TestClient, store, maintainer, fixture_bugs):
    assert client.post("/classify/batch", json={"bugs": fixture_bugs}).status_code == 200
    response = client.get("/review", params={"limit": 100})
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == "v1"
    assert body["count"] == len(fixture_bugs) == len(body["data"])
    order = [(not item["needs_review"], item["confidence"]) for item in body["data"]]
    assert order == sorted(order)
    first = body["data"][0]
    assert set(first) == {"id", "summary", "tags", "needs_review", "confidence", "top_scores"}
    assert len(first["top_scores"]) == 3
    assert list(first["top_scores"].values()) == sorted(first["top_scores"].values(),
                                                        reverse=True)
    assert client.get("/review", params={"limit": 5}).json()["data"] == body["data"][:5]

    client.post("/corrections", headers=maintainer, json={"bug_id": first["id"], "tags": []})
    after = client.get("/review", params={"limit": 100}).json()
    assert after["count"] == len(fixture_bugs) - 1
    assert first["id"] not in [item["id"] for item in after["data"]]


def test_read_review_queue_only_active_version(client: TestClient, store):
    body = client.get("/review").json()
    assert body == {"data": [], "count": 0, "model_version": "v1"}


def test_read_review_queue_without_model(client_without_model: TestClient, store):
    body = client_without_model.get("/review").json()
    assert body == {"data": [], "count": 0, "model_version": None}
