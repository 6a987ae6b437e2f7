"""GET /models, /models/active, /models/{version}, and following promotions without a restart."""

from __future__ import annotations

import shutil

from fastapi.testclient import TestClient

from core.registry import ACTIVE, ARTEFACT, ModelRegistry
from tests.fixtures import new_bug, second_version


def test_read_models(client: TestClient, models_dir):
    second_version(models_dir)
    response = client.get("/models")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [m["version"] for m in body["data"]] == ["v1", "v2"]
    assert [m["active"] for m in body["data"]] == [True, False]
    assert body["active_version"] == body["serving_version"] == "v1"
    assert body["data"][0]["card"]["labels"]


def test_read_active_model(client: TestClient):
    response = client.get("/models/active")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == "v1" and body["active"] and body["serving"]
    assert body["card"]["version"] == "v1"
    assert "metrics" in body["card"] and "thresholds" in body["card"]


def test_read_model(client: TestClient, models_dir):
    second_version(models_dir)
    response = client.get("/models/v2")
    assert response.status_code == 200
    assert response.json()["card"]["version"] == "v2"
    assert response.json()["active"] is False
    assert client.get("/models/v7").status_code == 404
    assert client.get("/models/latest").status_code == 422


def test_read_models_without_model(client_without_model: TestClient):
    body = client_without_model.get("/models").json()
    assert body == {"data": [], "count": 0, "active_version": None, "serving_version": None}
    response = client_without_model.get("/models/active")
    assert response.status_code == 503
    assert "incidents train" in response.json()["detail"]


def test_promote_switches_model_without_restart(client: TestClient, models_dir):
    registry = ModelRegistry(models_dir)
    assert client.post("/classify", json=new_bug()).json()["model_version"] == "v1"
    registry.promote(second_version(models_dir))
    assert client.post("/classify", json=new_bug()).json()["model_version"] == "v2"
    assert client.get("/models/active").json()["version"] == "v2"
    registry.rollback()
    assert client.post("/classify", json=new_bug()).json()["model_version"] == "v1"
    metrics = client.get("/metrics").text
    assert 'incidents_model_serving{version="v1"} 1.0' in metrics
    assert 'incidents_model_loads_total{outcome="loaded"} 3.0' in metrics


def test_first_trained_model_is_picked_up(client_without_model: TestClient, service_settings,
                                          trained_models):
    assert client_without_model.post("/classify", json=new_bug()).status_code == 503
    shutil.copytree(trained_models, service_settings.models_dir, dirs_exist_ok=True)
    response = client_without_model.post("/classify", json=new_bug())
    assert response.status_code == 200
    assert response.json()["model_version"] == "v1"


def test_model_checked_at_most_once_an_interval(make_client, models_dir):
    client = make_client(model_check_interval=3600.0)
    ModelRegistry(models_dir).promote(second_version(models_dir))
    assert client.post("/classify", json=new_bug()).json()["model_version"] == "v1"


def test_broken_active_version_keeps_serving_the_old_one(client: TestClient, models_dir):
    version = second_version(models_dir)
    artefact = models_dir / version / ARTEFACT
    artefact.write_bytes(artefact.read_bytes()[:-10] + b"tampered!!")
    (models_dir / ACTIVE).write_text(version + "\n")  # as a careless hand edit would
    response = client.post("/classify", json=new_bug())
    assert response.status_code == 200
    assert response.json()["model_version"] == "v1"
    models = client.get("/models").json()
    assert models["active_version"] == "v2" and models["serving_version"] == "v1"
    assert 'incidents_model_loads_total{outcome="failed"} 1.0' in client.get("/metrics").text
