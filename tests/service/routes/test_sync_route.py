"""POST /incidents/sync: the Bugzilla sync run by a maintainer from the service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.routes.incidents import SYNCING
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
    response = client.post("/incidents/sync", headers=maintainer)
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == standin.url and body["since"] is None
    assert body["new"] + body["updated"] + body["unchanged"] == len(fixture_bugs)
    again = client.post("/incidents/sync", headers=maintainer).json()
    assert again["since"] is not None
    assert again["new"] == 0


def test_sync_incidents_bugzilla_down(client: TestClient, maintainer):
    response = client.post("/incidents/sync", headers=maintainer)  # a closed loopback port
    assert response.status_code == 502
    assert "Stopped with 0 bugs stored" in response.json()["detail"]


def test_sync_incidents_while_running(client: TestClient, maintainer):
    with SYNCING:
        response = client.post("/incidents/sync", headers=maintainer)
    assert response.status_code == 409
