"""POST /models/retrain: a maintainer's retraining is recorded, and the service follows it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.db import session_scope
from core.tables import ModelDecisionRow
from service.routes.models import RETRAINING


@pytest.fixture
def retrain_client(client: TestClient) -> Iterator[TestClient]:
    yield client
    client.app.dependency_overrides.clear()


def test_retrain_model_forced(retrain_client: TestClient, maintainer, settings):
    response = retrain_client.post("/models/retrain", headers=maintainer, json={"force": True})
    assert response.status_code == 200
    body = response.json()
    assert body["promoted"] is True and body["forced"] is True
    assert body["active_before"] == "v1" and body["challenger"] == "v2"
    assert body["active_after"] == "v2"
    assert body["requested_by"] == "alice"
    assert "category_micro_f1" in body["challenger_metrics"]
    assert "category_macro_f1" in body["active_metrics"]
    assert retrain_client.get("/models/active").json()["version"] == "v2"
    with session_scope(settings.database_url) as session:
        row = session.scalar(select(ModelDecisionRow))
        assert (row.id, row.challenger, row.requested_by) == (body["id"], "v2", "alice")


def test_retrain_model_without_body(retrain_client: TestClient, maintainer):
    response = retrain_client.post("/models/retrain", headers=maintainer)
    assert response.status_code == 200
    body = response.json()
    assert body["forced"] is False
    assert body["reason"]
    assert body["active_after"] == ("v2" if body["promoted"] else "v1")


def test_retrain_model_while_running(retrain_client: TestClient, maintainer, settings):
    with RETRAINING:
        response = retrain_client.post("/models/retrain", headers=maintainer, json={})
    assert response.status_code == 409
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(ModelDecisionRow)) is None


def test_retrain_model_bad_body(retrain_client: TestClient, maintainer):
    response = retrain_client.post("/models/retrain", headers=maintainer,
                                   json={"force": True, "tolerance": 1})
    assert response.status_code == 422
