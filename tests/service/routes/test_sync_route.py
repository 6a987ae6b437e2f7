"""POST /incidents/sync: the Bugzilla sync run by a maintainer from the service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from core.config import Settings
from core.jobs import JobLock
from tests.fixtures import finished_job
from tests.standin import BugzillaStandIn, bugzilla_data


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[BugzillaStandIn]:
    bugs, comments = bugzilla_data()
    server = BugzillaStandIn.from_data(bugs, comments).start()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    try:
        yield server
    finally:
        server.stop()


def test_sync_incidents(make_client, models_dir, maintainer, standin, fixture_bugs):
    client: TestClient = make_client(bugzilla_url=standin.url, bugzilla_page_size=10)
    job = finished_job(client, client.post("/incidents/sync", headers=maintainer))
    assert (job["kind"], job["state"], job["status_code"]) == ("sync", "succeeded", 200)
    assert job["progress"] == f"{len(fixture_bugs)} bugs fetched and stored"
    body = job["result"]
    assert body["source"] == standin.url and body["since"] is None
    assert body["new"] + body["updated"] + body["unchanged"] == len(fixture_bugs)
    again = finished_job(client, client.post("/incidents/sync", headers=maintainer))["result"]
    assert again["since"] is not None
    assert again["new"] == 0


def test_sync_incidents_bugzilla_down(client: TestClient, maintainer):
    response = client.post("/incidents/sync", headers=maintainer)  # a closed loopback port
    job = finished_job(client, response)
    assert (job["state"], job["status_code"], job["result"]) == ("failed", 502, None)
    assert "Stopped with 0 bugs stored" in job["error"]


def test_sync_incidents_while_running(client: TestClient, maintainer, settings: Settings):
    with JobLock(settings.database_url, "sync", holder="nightly via incidents nightly, pid 7 on h"):
        response = client.post("/incidents/sync", headers=maintainer)
    assert response.status_code == 409
    assert "a sync from Bugzilla is already running, started by nightly via incidents nightly" \
        in response.json()["detail"]
