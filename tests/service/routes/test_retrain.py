"""POST /models/retrain: a maintainer's retraining is recorded, and the service follows it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.config import Settings, get_settings
from core.db import session_scope
from core.tables import ModelDecisionRow
from service.routes.models import RETRAINING


@pytest.fixture
def settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The test's settings, comparing on at least 10 incidents: the small store holds 48 labelled
    ones, fewer than the 60 the default minimum (30, and as many to fit on) needs to compare."""
    monkeypatch.setenv("INCIDENTS_RETRAIN_MIN_HOLDOUT", "10")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


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


def test_retrain_model_records_its_window(retrain_client: TestClient, maintainer):
    body = retrain_client.post("/models/retrain", headers=maintainer, json={}).json()
    assert body["window"].startswith("the newest 10 labelled incidents, filed ")
    for metrics in (body["challenger_metrics"], body["active_metrics"]):
        assert metrics["holdout_size"] == 10 and metrics["holdout_unseen"] is False  # v1 saw them
        assert metrics["holdout_from"] < metrics["holdout_to"]
    decisions = retrain_client.get("/models/decisions").json()
    assert decisions["count"] == 1
    (recorded,) = decisions["data"]
    assert recorded["id"] == body["id"] and recorded["holdout_size"] == 10
    assert recorded["active_after"] == body["active_after"]
    assert recorded["challenger_metrics"] == body["challenger_metrics"]


@pytest.mark.parametrize("force", [False, True])
def test_retrain_model_too_few_to_compare(make_client, models_dir, maintainer, settings,
                                          force: bool):
    client = make_client(retrain_min_holdout=30)
    response = client.post("/models/retrain", headers=maintainer, json={"force": force})
    assert response.status_code == 200
    body = response.json()
    assert body["challenger"] == "v2" and body["active_before"] == "v1"
    assert body["promoted"] is force and body["forced"] is force
    assert body["active_after"] == ("v2" if force else "v1")
    assert body["reason"].startswith(("forced although " if force else "")
                                     + "too few labelled incidents to compare (48 < 60")
    assert body["window"].startswith("none: too few labelled incidents to compare")
    assert body["active_metrics"] is None and body["challenger_metrics"]["holdout_size"] == 0
    assert client.get("/models/active").json()["version"] == body["active_after"]
    with session_scope(settings.database_url) as session:
        row = session.scalar(select(ModelDecisionRow))
        assert (row.promoted, row.forced, row.reason) == (force, force, body["reason"])
