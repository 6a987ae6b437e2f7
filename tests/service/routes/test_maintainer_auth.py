"""Maintainer routes need a valid API token (401 without one or with a malformed header, 403 for
a wrong, revoked or expired one), and a refused request changes nothing; reading needs one only
when the setting says so, but a bad token sent to a read route is refused, not ignored.

The routes come from the app itself, so a new maintainer or read route is covered here without
being listed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import routing
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from core.config import Settings
from core.db import session_scope
from core.tables import (
    ApiTokenRow,
    CorrectionRow,
    IncidentRow,
    ModelDecisionRow,
    PredictionRow,
    SyncStateRow,
    utcnow,
)
from core.tokens import revoke_token
from service.app import create_app
from service.auth import depends_on, get_maintainer, get_reader

#: Bodies the routes would accept, so a refusal can only come from the token (others get none).
BODIES: dict[str, dict[str, Any]] = {
    "/corrections": {"bug_id": 1, "tags": ["ocsp-failure"], "note": "x"},
    "/models/retrain": {"force": True},
}


def _concrete(template: str) -> str:
    """A path of the route ``template``: its parameters filled in (any value: the token is
    checked before the route looks at them)."""
    return template.replace("{bug_id}", "1").replace("{version}", "v1").replace("{job_id}", "1")


def _guarded_routes() -> Iterator[tuple[str, str, str]]:
    """(kind, method, path) of every route of the app that reads a token: "maintainer" (the
    Authorization header, required), "reader" (the header, required only by setting) or "page"
    (a maintainer's form on the pages: a ``token`` form field)."""
    for route in routing.iter_route_contexts(create_app(Settings()).routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue
        path = _concrete(route.path)
        for method in sorted(route.methods - {"HEAD"}):
            if depends_on(dependant, get_maintainer):
                yield "maintainer", method, path
            elif any(p.name == "token" for p in dependant.body_params):
                yield "page", method, path
            elif depends_on(dependant, get_reader):
                yield "reader", method, path


GUARDED = list(_guarded_routes())
MAINTAINER_ROUTES = [pytest.param(path, BODIES.get(path), id=path)
                     for kind, method, path in GUARDED if kind == "maintainer"]
READ_ROUTES = [pytest.param(method, path, id=f"{method} {path}")
               for kind, method, path in GUARDED if kind == "reader"]
PAGE_ROUTES = [pytest.param(path, id=path) for kind, _, path in GUARDED if kind == "page"]


def test_guarded_routes_found() -> None:
    """The enumeration finds the routes we know of (so an empty list cannot pass silently)."""
    paths = {path for _, _, path in GUARDED}
    assert {"/corrections", "/models/retrain", "/incidents/sync"} <= {
        p.values[0] for p in MAINTAINER_ROUTES}
    assert {"/classify", "/review", "/models", "/ui/corrections", "/ui/models/promote"} <= paths
    assert all(method == "POST" for kind, method, _ in GUARDED if kind == "maintainer")


def test_guarded_routes_document_auth_errors() -> None:
    """Every route that reads a header token documents its 401 and 403 (the schema is the
    contract schemathesis checks answers against)."""
    documented = {(method.upper(), _concrete(template)): set(operation["responses"])
                  for template, operations in create_app(Settings()).openapi()["paths"].items()
                  for method, operation in operations.items()}
    assert {"401", "403"} <= documented[("GET", "/models")]
    for _, method, path in GUARDED:
        if (method, path) in documented:  # the pages are left out of the schema
            assert {"401", "403"} <= documented[(method, path)], path


def _expire(settings: Settings, token_id: int) -> None:
    with session_scope(settings.database_url) as session:
        session.execute(update(ApiTokenRow).where(ApiTokenRow.id == token_id)
                        .values(expires_at=utcnow() - timedelta(seconds=1)))


def _revoke(settings: Settings, token_id: int) -> None:
    with session_scope(settings.database_url) as session:
        revoke_token(session=session, token_id=token_id)


#: A token that was valid, made bad: revoked, or past its expiry.
SPOILED: dict[str, Callable[[Settings, int], None]] = {"revoked": _revoke, "expired": _expire}


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
@pytest.mark.parametrize("header", [None, "Bearer", "Bearer   ", "Basic YWxpY2U6cHc=", "inc_abc",
                                    "Bearer inc_abc extra"])  # a token has no blank in it
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
    assert response.json()["detail"] == "the API token is unknown, revoked or expired"
    assert token not in response.text
    assert store_state(settings) == before


@pytest.mark.parametrize(("path", "body"), MAINTAINER_ROUTES)
@pytest.mark.parametrize("spoil", list(SPOILED))
def test_maintainer_route_spoiled_token(client: TestClient, settings, create_token, bug_id,
                                        path, body, spoil):
    token, token_id = create_token("alice")
    SPOILED[spoil](settings, token_id)
    before = store_state(settings)
    response = client.post(path, json=_body(body, bug_id),
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["detail"] == "the API token is unknown, revoked or expired"
    assert token not in response.text
    assert store_state(settings) == before


def test_token_not_yet_expired_accepted(client: TestClient, settings, create_token, bug_id):
    token, token_id = create_token("alice")
    with session_scope(settings.database_url) as session:
        session.execute(update(ApiTokenRow).where(ApiTokenRow.id == token_id)
                        .values(expires_at=utcnow() + timedelta(hours=1)))
    response = client.post("/corrections", json={"bug_id": bug_id, "tags": []},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text


def _bad_tokens(settings: Settings, create_token) -> dict[str, str]:
    """A token of each bad kind, as sent: wrong (never issued), revoked, expired."""
    bad = {"wrong": "inc_not-a-token-of-ours"}
    for kind, spoil in SPOILED.items():
        bad[kind], token_id = create_token(f"alice-{kind}")
        spoil(settings, token_id)
    return bad


def test_read_routes_refuse_bad_token(client: TestClient, settings, create_token):
    """Reads are open (the default), yet a bad token sent to any read route is refused before
    the route runs (one app for all of them: starting one per case would take minutes)."""
    bad = _bad_tokens(settings, create_token)
    headers = {"malformed": "Token inc_whatever"} | {kind: f"Bearer {token}"
                                                   for kind, token in bad.items()}
    assert READ_ROUTES
    for param in READ_ROUTES:
        method, path = param.values
        for kind, header in headers.items():
            response = client.request(method, path, headers={"Authorization": header})
            assert response.status_code == (401 if kind == "malformed" else 403), \
                (method, path, kind, response.text)
            assert "token" in response.json()["detail"].lower()
            assert header.split()[-1] not in response.text


@pytest.mark.parametrize("path", PAGE_ROUTES)
def test_page_form_refuses_bad_token(client: TestClient, settings, create_token, bug_id, path):
    sent = {"missing": ""} | _bad_tokens(settings, create_token)
    before = store_state(settings)
    for kind, token in sent.items():
        response = client.post(path, data={"token": token, "bug_id": str(bug_id),
                                           "tags": "none", "version": "v1"})
        assert response.status_code == (401 if kind == "missing" else 403), (kind, response.text)
        assert "Nothing" in response.text and (not token or token not in response.text)
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
