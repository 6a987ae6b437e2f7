"""GET /models, /models/active, /models/{version}, and following promotions without a restart."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from core.registry import ACTIVE, ARTEFACT, ModelRegistry
from tests.fixtures import SQLITE_ONLY, add_live_scores, new_bug, refuse_reading, second_version


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


# -- the live record of GET /models/{version} -----------------------------------------------------


def test_read_model_live_record(client: TestClient, store: str, models_dir):
    held_out = ModelRegistry(models_dir).card("v1")["metrics"]["contenders"]["model"]["category_micro_f1"]
    empty = client.get("/models/v1").json()["live"]
    assert (empty["model_version"], empty["scored"], empty["scored_in_all"]) == ("v1", 0, 0)
    assert empty["category_micro_f1"] is None and empty["alarm"] is None
    assert empty["held_out_category_micro_f1"] == held_out and empty["window"] == 100
    add_live_scores(store, "v1", [(["ocsp-failure"], ["ocsp-failure"], False),
                               (["crl-failure"], ["ocsp-failure"], True)])
    live = client.get("/models/v1").json()["live"]
    assert (live["scored"], live["category_micro_f1"], live["tag_micro_f1"]) == (2, 0.5, 0.5)
    assert (live["not_sent_to_review"], live["auto_precision"]) == (1, 1.0)
    assert live["categories"]["OCSP Failures"] == {"precision": 1.0, "recall": 0.5, "support": 2,
                                                   "predicted": 1, "correct": 1}
    assert live["tags"]["crl-failure"]["predicted"] == 1
    assert live["first_scored_at"] == "2025-03-01T12:00:00+00:00"
    assert live["alarm"] is None and live["min_scored"] == 20 and live["margin"] == 0.1
    # A version's routes read the store (the active one's too); the list leaves it out.
    assert client.get("/models").json()["data"][0]["live"] is None
    assert client.get("/models/active").json()["live"] == live


def test_read_model_live_record_alarm(client: TestClient, store: str):
    add_live_scores(store, "v1", [(["crl-failure"], ["ocsp-failure"], False)] * 20)
    live = client.get("/models/v1").json()["live"]
    assert live["scored"] == 20 and live["category_micro_f1"] == 0.0
    assert live["alarm"].startswith("v1's live category micro-F1 0.000 over its last 20 scored incidents")


# -- GET /models/decisions: the recorded retraining decisions ------------------------------------
def _record_decisions(url: str, n: int) -> None:
    """``n`` decisions as `retrain` records them: v2, v3, ... challenging v1, every other promoted."""
    from datetime import UTC, datetime, timedelta

    from core.db import session_scope
    from core.tables import ModelDecisionRow

    start = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    with session_scope(url) as session:
        for i in range(n):
            figures = {"category_micro_f1": 0.7, "category_macro_f1": 0.6, "holdout_size": 30 + i,
                       "holdout_from": "2024-01-01T00:00:00+00:00",
                       "holdout_to": "2024-12-01T00:00:00+00:00", "holdout_unseen": True}
            session.add(ModelDecisionRow(
                created_at=start + timedelta(hours=i), challenger=f"v{i + 2}", active_before="v1",
                promoted=i % 2 == 1, forced=False, tolerance=0.01, reason=f"reason {i}",
                challenger_metrics=figures, active_metrics=figures, requested_by="alice"))


def test_read_decisions(client: TestClient, store: str):
    assert client.get("/models/decisions").json() == {"data": [], "count": 0}
    _record_decisions(store, 3)
    response = client.get("/models/decisions")
    assert response.status_code == 200  # not taken by /models/{version} (a 422 then)
    body = response.json()
    assert body["count"] == 3
    assert [d["id"] for d in body["data"]] == [3, 2, 1]  # newest first
    newest = body["data"][0]
    assert newest == {
        "id": 3, "created_at": "2025-03-01T14:00:00Z", "challenger": "v4", "active_before": "v1",
        "active_after": "v1", "promoted": False, "forced": False, "tolerance": 0.01,
        "reason": "reason 2", "holdout_size": 32, "challenger_metrics": newest["challenger_metrics"],
        "active_metrics": newest["active_metrics"], "requested_by": "alice"}
    assert newest["challenger_metrics"]["holdout_unseen"] is True
    assert body["data"][1]["active_after"] == "v3"  # promoted
    # The versions' own route still answers beside it.
    assert client.get("/models/v1").status_code == 200
    assert client.get("/models/decisionz").status_code == 422


def test_read_decisions_pages(client: TestClient, store: str):
    _record_decisions(store, 5)
    page = client.get("/models/decisions", params={"limit": 2, "offset": 1}).json()
    assert page["count"] == 5 and [d["id"] for d in page["data"]] == [4, 3]
    assert client.get("/models/decisions", params={"offset": 5}).json()["data"] == []
    assert client.get("/models/decisions", params={"limit": 0}).status_code == 422
    assert client.get("/models/decisions", params={"limit": 1001}).status_code == 422
    assert client.get("/models/decisions", params={"offset": -1}).status_code == 422


def test_read_decisions_needs_a_reader_token_when_required(make_client, models_dir, maintainer):
    client = make_client(require_token_for_reads=True)
    assert client.get("/models/decisions").status_code == 401
    assert client.get("/models/decisions",
                      headers={"Authorization": "Bearer inc_nope"}).status_code == 403
    assert client.get("/models/decisions", headers=maintainer).status_code == 200


# -- a damaged card: listed as such, never a 500 ----------------------------------------------------
def _damage(models_dir, version: str, text: str = "{not json") -> None:
    """``version``'s card.json made unreadable, as a disk error or a careless hand edit would."""
    (models_dir / version).mkdir(exist_ok=True)
    (models_dir / version / "card.json").write_text(text + "\n")


@SQLITE_ONLY
def test_read_models_with_a_damaged_card(client: TestClient, models_dir):
    _damage(models_dir, "v2")
    second_version(models_dir)  # v3: the versions after a damaged one are listed as before
    response = client.get("/models")
    assert response.status_code == 200
    body = response.json()
    assert [m["version"] for m in body["data"]] == ["v1", "v2", "v3"] and body["count"] == 3
    v1, v2, v3 = body["data"]
    assert v1["card"]["labels"] and v1["damaged"] is None and v3["damaged"] is None
    assert v2["card"] is None and (v2["active"], v2["serving"]) == (False, False)
    assert v2["damaged"].startswith("v2/card.json is not a readable card (Expecting property name")
    assert body["active_version"] == body["serving_version"] == "v1"
    assert str(models_dir) not in response.text


@SQLITE_ONLY
@pytest.mark.parametrize(("text", "says"), [
    ("{not json", "v2/card.json is not a readable card (Expecting property name"),
    ('["a list"]', "v2/card.json is not a readable card (not a JSON object)"),
])
def test_read_damaged_model_is_a_conflict(client: TestClient, models_dir, text, says):
    _damage(models_dir, "v2", text)
    response = client.get("/models/v2")
    assert response.status_code == 409
    assert response.json()["detail"].startswith(says)
    assert str(models_dir) not in response.text
    assert client.get("/models/v9").status_code == 404  # a version not there is still not found


@SQLITE_ONLY
def test_read_models_with_the_active_card_damaged(client: TestClient, models_dir):
    """The card of the version in service damaged under it: the service keeps answering with
    what it loaded, /models/active says so, the list and the version's route say it is damaged."""
    assert client.get("/models/active").status_code == 200  # v1 loaded
    _damage(models_dir, "v1")
    body = client.get("/models").json()
    assert [(m["version"], m["active"], m["serving"], m["card"]) for m in body["data"]] == [
        ("v1", True, True, None)]
    assert body["data"][0]["damaged"].startswith("v1/card.json is not a readable card")
    active = client.get("/models/active")
    assert active.status_code == 200 and active.json()["card"]["version"] == "v1"
    assert active.json()["damaged"] is None
    assert client.get("/models/v1").status_code == 409


@SQLITE_ONLY
def test_read_models_started_with_the_active_card_damaged(make_client, models_dir):
    _damage(models_dir, "v1")
    client = make_client()
    body = client.get("/models").json()
    assert (body["active_version"], body["serving_version"], body["count"]) == ("v1", None, 1)
    assert body["data"][0]["damaged"].startswith("v1/card.json is not a readable card")
    response = client.get("/models/active")
    assert response.status_code == 503
    assert "active version v1 could not be loaded" in response.json()["detail"]
    assert client.get("/models/v1").status_code == 409


@SQLITE_ONLY
def test_read_model_whose_card_cannot_be_opened(client: TestClient, models_dir, monkeypatch):
    """A card the service may not open (copied in by another user) is damaged too, not a 500."""
    second_version(models_dir)
    refuse_reading(monkeypatch, models_dir / "v2" / "card.json")  # as another user's file
    says = "v2/card.json cannot be read (Permission denied)"
    assert [m["damaged"] for m in client.get("/models").json()["data"]] == [None, says]
    response = client.get("/models/v2")
    assert (response.status_code, response.json()) == (409, {"detail": says})


# -- promote and roll back through the API --------------------------------------------------------
@SQLITE_ONLY
def test_promote_and_rollback_through_the_api(client: TestClient, models_dir, maintainer):
    """What `incidents models promote` and `rollback` do, with the token's name in the history;
    the service answers with the new version at once."""
    second_version(models_dir)
    promoted = client.post("/models/v2/promote", headers=maintainer)
    assert promoted.status_code == 200, promoted.text
    assert promoted.json() == {"active_version": "v2", "previous": "v1", "by": "alice"}
    assert client.get("/models/active").json()["version"] == "v2"
    assert client.post("/classify", json=new_bug()).json()["model_version"] == "v2"
    entry = ModelRegistry(models_dir).history()[-1]
    assert (entry["kind"], entry["active"], entry["by"]) == ("promote", "v2", "alice")
    back = client.post("/models/rollback", headers=maintainer)
    assert back.status_code == 200, back.text
    assert back.json() == {"active_version": "v1", "previous": "v2", "by": "alice"}
    assert client.get("/models/active").json()["version"] == "v1"
    # v1 was the first active version: nothing before it to roll back to.
    again = client.post("/models/rollback", headers=maintainer)
    assert again.status_code == 409
    assert again.json()["detail"] == "v1 has no earlier active version to roll back to"
    assert ModelRegistry(models_dir).active_version() == "v1"


@SQLITE_ONLY
def test_promote_through_the_api_refuses(client: TestClient, models_dir, maintainer):
    """No token: 401; an unknown version: 404; a damaged one: 409; nothing changes."""
    second_version(models_dir)
    assert client.post("/models/v2/promote").status_code == 401
    assert client.post("/models/rollback").status_code == 401
    unknown = client.post("/models/v9/promote", headers=maintainer)
    assert unknown.status_code == 404 and "v9" in unknown.json()["detail"]
    assert client.post("/models/nine/promote", headers=maintainer).status_code == 422
    (models_dir / "v2" / ARTEFACT).write_bytes(b"not the artefact the card names")
    damaged = client.post("/models/v2/promote", headers=maintainer)
    assert damaged.status_code == 409 and str(models_dir) not in damaged.text
    assert ModelRegistry(models_dir).active_version() == "v1"
    assert client.get("/models/active").json()["version"] == "v1"
