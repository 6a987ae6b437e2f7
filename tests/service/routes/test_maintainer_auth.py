"""Maintainer routes need a valid API token (401 without one, 403 for a wrong or revoked one),
and a refused request changes nothing; reading needs one only when the setting says so."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.config import Settings
from core.db import session_scope
from core.tables import (
    ApiTokenRow,
    CorrectionRow,
    IncidentRow,
    ModelDecisionRow,
    PredictionRow,
    SyncStateRow,
)
from core.tokens import revoke_token

#: Every maintainer route, with a body it would accept.
MAINTAINER_ROUTES = [
    pytest.param("/corrections", {"bug_id": 1, "tags": ["ocsp-failure"], "note": "x"},
                 id="corrections"),
    pytest.param("/models/retrain", {"force": True}, id="retrain"),
    pytest.param("/incidents/sync", None, id="sync"),
]


def store_state(settings: Settings) -> dict[str, Any]:
    """What a maintainer route could change: row counts, token uses, model versions."""
    with session_scope(settings.database_url) as session:
        counts = {table.__tablename__: session.scalar(select(func.count()).select_from(table))
                  for table in (CorrectionRow, IncidentRow, ModelDecisionRow, PredictionRow,
                                SyncStateRow, ApiTokenRow)}
        used = list(session.scalars(select(ApiTokenRow.last_used_at).order_by(ApiTokenRow.id)))
    models = sorted(p.name for p in settings.models_dir.iterdir())
    active = (settings.models_dir / "ACTIVE").read_text()
    return {"counts": counts, "used": used, "models": models, "active": active}


@pytest.fixture
def bug_id(fixture_bugs) -> int:
    return fixture_bugs[0]["id"]


def _body(body: dict | None, bug_id: int) -> dict | None:
    return {**body, "bug_id": bug_id} if body and "bug_id" in body else body


@pytest.mark.parametrize(("path", "body"), MAINTAINER_ROUTES)
@pytest.mark.parametrize("header", [None, "Bearer", "Bearer   ", "Basic YWxpY2U6cHc=", "inc_abc"])
def test_maintainer_route_without_token(client: TestClient, settings, create_token, bug_id,
                                        path, body, header):
    create_token("alice")
    before = store_state(settings)
    headers = {"Authorization": header} if header is not None else {}
    response = client.post(path, json=_body(body, bug_id), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "Bearer" in response.json()["detail"]
    assert store_state(settings) == before


@pytest.mark.parametrize(("path", "body"), MAINTAINER_ROUTES)
@pytest.mark.parametrize("token", ["inc_not-a-token-of-ours", "not-even-the-prefix"])
def test_maintainer_route_wrong_token(client: TestClient, settings, create_token, bug_id,
                                      path, body, token):
    create_token("alice")
    before = store_state(settings)
    response = client.post(path, json=_body(body, bug_id),
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["detail"] == "the API token is unknown or revoked"
    assert store_state(settings) == before


@pytest.mark.parametrize(("path", "body"), MAINTAINER_ROUTES)
def test_maintainer_route_revoked_token(client: TestClient, settings, create_token, bug_id,
                                        path, body):
    token, token_id = create_token("alice")
    with session_scope(settings.database_url) as session:
        revoke_token(session=session, token_id=token_id)
    before = store_state(settings)
    response = client.post(path, json=_body(body, bug_id),
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert store_state(settings) == before


def test_maintainer_route_token_use_recorded(client: TestClient, settings, maintainer, bug_id):
    response = client.post("/corrections", json={"bug_id": bug_id, "tags": []},
                           headers=maintainer)
    assert response.status_code == 201
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(ApiTokenRow.last_used_at)) is not None


def test_read_routes_open_by_default(client: TestClient, store, fixture_bugs):
    assert client.get("/corrections").status_code == 200
    assert client.get("/review").status_code == 200
    assert client.get(f"/incidents/{fixture_bugs[0]['id']}").status_code == 200
    assert client.post("/classify", json=fixture_bugs[0]).status_code == 200


def test_read_routes_with_required_token(make_client, models_dir, maintainer, fixture_bugs):
    client = make_client(require_token_for_reads=True)
    bug = fixture_bugs[0]
    reads = [("get", "/corrections", None), ("get", "/review", None),
             ("get", f"/incidents/{bug['id']}", None), ("get", "/models", None),
             ("get", "/aggregate?start=2020-01-01&end=2020-12-31", None),
             ("post", "/classify", bug), ("post", "/classify/batch", {"bugs": [bug]})]
    for method, path, body in reads:
        kwargs = {"json": body} if body is not None else {}
        refused = client.request(method, path, **kwargs)
        assert refused.status_code == 401, path
        wrong = client.request(method, path, headers={"Authorization": "Bearer inc_nope"},
                               **kwargs)
        assert wrong.status_code == 403, path
        assert client.request(method, path, headers=maintainer, **kwargs).status_code == 200, path
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200
