"""POST /models/retrain: a maintainer's retraining runs as a job, is recorded, and the service
follows it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from core.db import session_scope
from core.jobs import JobLock
from core.registry import ModelRegistry
from core.tables import IncidentRow, ModelDecisionRow
from service.routes.models import get_retrain
from tests.fixtures import (
    SQLITE_ONLY,
    finished_job,
    settings_comparing_on_ten,  # noqa: F401  (the `settings` of these tests)
)


@pytest.fixture
def retrain_client(client: TestClient) -> Iterator[TestClient]:
    yield client
    client.app.dependency_overrides.clear()


def test_retrain_model_forced(retrain_client: TestClient, maintainer, settings):
    response = retrain_client.post("/models/retrain", headers=maintainer, json={"force": True})
    job = finished_job(retrain_client, response)
    assert (job["kind"], job["state"], job["status_code"]) == ("retrain", "succeeded", 200)
    assert job["requested_by"] == "alice" and job["error"] is None
    assert job["started_at"] <= job["finished_at"]
    assert job["progress"].startswith("challenger: ")  # its last step
    body = job["result"]
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
    # The job is listed (to find it without its id), as GET /jobs/{id} answers it.
    listed = retrain_client.get("/jobs").json()
    assert listed["count"] == 1 and listed["data"] == [job]
    assert retrain_client.get("/jobs", params={"kind": "sync"}).json() == {"data": [], "count": 0}
    bad = retrain_client.get("/jobs", params={"kind": "dance"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "kind"]


@SQLITE_ONLY
def test_retrain_model_without_body(retrain_client: TestClient, maintainer):
    response = retrain_client.post("/models/retrain", headers=maintainer)
    body = finished_job(retrain_client, response)["result"]
    assert body["forced"] is False
    assert body["reason"]
    assert body["active_after"] == ("v2" if body["promoted"] else "v1")


def test_retrain_model_while_running(retrain_client: TestClient, maintainer, settings):
    # Held by another process (the CLI, another worker): the lock is in the store.
    with JobLock(settings.database_url, "retrain", holder="bob via the CLI, pid 1 on elsewhere"):
        response = retrain_client.post("/models/retrain", headers=maintainer, json={})
    assert response.status_code == 409
    assert response.json()["detail"].startswith(
        "a retraining is already running, started by bob via the CLI, pid 1 on elsewhere since ")
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(ModelDecisionRow)) is None
    # Released, it runs.
    go = threading.Event()
    go.set()
    retrain_client.app.dependency_overrides[get_retrain] = lambda: _quick_retrain(go)
    response = retrain_client.post("/models/retrain", headers=maintainer, json={})
    assert finished_job(retrain_client, response)["result"] == {**KEPT, "window": ""}


#: What ``_quick_retrain`` decides.
KEPT = {"id": 1, "challenger": "v2", "active_before": "v1", "active_after": "v1", "promoted": False,
        "forced": False, "tolerance": 0.0, "reason": "kept", "challenger_metrics": {},
        "active_metrics": None, "requested_by": "alice"}


def _quick_retrain(go: threading.Event):
    """A retraining that waits for ``go`` (2 s at most) and keeps the active version."""

    def retrain(**_: object) -> SimpleNamespace:
        go.wait(2)
        return SimpleNamespace(as_dict=lambda: KEPT)

    return retrain


def test_retrain_model_twice_at_once(retrain_client: TestClient, maintainer):
    go = threading.Event()
    retrain_client.app.dependency_overrides[get_retrain] = lambda: _quick_retrain(go)
    first = retrain_client.post("/models/retrain", headers=maintainer, json={})
    assert first.status_code == 202
    second = retrain_client.post("/models/retrain", headers=maintainer, json={})
    assert second.status_code == 409
    assert f"(job {first.json()['id']})" in second.json()["detail"]
    assert "started by alice via the API, pid " in second.json()["detail"]
    running = retrain_client.get(f"/jobs/{first.json()['id']}").json()
    assert running["state"] == "running" and running["finished_at"] is None
    go.set()
    job = finished_job(retrain_client, first)
    assert job["state"] == "succeeded" and job["result"]["reason"] == "kept"


@pytest.mark.parametrize(("body", "field"), [({"force": True, "tolerance": 1}, "tolerance"),
                                            ({"force": "yes"}, "force"), ({"force": 1}, "force")])
def test_retrain_model_bad_body(retrain_client: TestClient, maintainer, settings, body, field):
    response = retrain_client.post("/models/retrain", headers=maintainer, json=body)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(ModelDecisionRow)) is None


@SQLITE_ONLY
def test_retrain_model_records_its_window(retrain_client: TestClient, maintainer, something_new):
    body = finished_job(retrain_client, retrain_client.post("/models/retrain", headers=maintainer,
                                                            json={}))["result"]
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


@SQLITE_ONLY
@pytest.mark.parametrize("force", [False, True])
def test_retrain_model_too_few_to_compare(make_client, models_dir, maintainer, settings,
                                          something_new, force: bool):
    client = make_client(retrain_min_holdout=30)
    response = client.post("/models/retrain", headers=maintainer, json={"force": force})
    body = finished_job(client, response)["result"]
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


@SQLITE_ONLY
def test_retrain_model_with_nothing_new_fits_nothing(retrain_client: TestClient, maintainer,
                                                     models_dir):
    """v1 learned every label the store holds: the job decides at once, names no challenger and
    writes no version; the decision is listed with its challenger null."""
    job = finished_job(retrain_client, retrain_client.post("/models/retrain", headers=maintainer,
                                                           json={}))
    assert (job["state"], job["status_code"]) == ("succeeded", 200)
    body = job["result"]
    assert (body["challenger"], body["active_before"], body["active_after"]) == (None, "v1", "v1")
    assert body["promoted"] is False and body["reason"].startswith("nothing new to learn: v1 has ")
    assert body["window"] == "none: nothing new to learn" and body["active_metrics"] is None
    assert ModelRegistry(models_dir).versions() == ["v1"]
    (recorded,) = retrain_client.get("/models/decisions").json()["data"]
    assert (recorded["id"], recorded["challenger"], recorded["holdout_size"]) == (body["id"], None, 0)
    assert recorded["active_after"] == "v1" and recorded["reason"] == body["reason"]


def test_retrain_model_not_enough_data(make_client, models_dir, maintainer, settings):
    with session_scope(settings.database_url) as session:  # no labelled incident left
        session.execute(delete(IncidentRow))
    client = make_client()
    job = finished_job(client, client.post("/models/retrain", headers=maintainer, json={}))
    assert (job["state"], job["status_code"], job["result"]) == ("failed", 409, None)
    assert "fewer than 2 labelled incidents" in job["error"]


def test_read_job_unknown(client: TestClient):
    assert client.get(f"/jobs/{'0' * 32}").status_code == 404
    response = client.get("/jobs/nothex")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "job_id"]
