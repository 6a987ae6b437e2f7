"""Fixtures of the service tests: apps over the shared settings, and bugs in Bugzilla's shape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import get_engine, retire_engine, upgrade
from service.app import create_app
from service.config import ServiceSettings
from service.store import Store
from tests.fixtures import bug_payloads, join_background_jobs, maintainer_headers


@pytest.fixture
def service_settings(settings: Settings) -> Iterator[ServiceSettings]:
    """The test's settings, looking at the ACTIVE file on every request (no 1 s wait).

    The store's pooled connections are closed afterwards: an engine dropped from core.db's
    cache with connections open would warn when they are collected, in some later test.
    """
    yield ServiceSettings(**settings.model_dump(), model_check_interval=0.0)
    join_background_jobs()
    retire_engine(get_engine(settings.database_url))


@pytest.fixture
def make_client(service_settings: ServiceSettings) -> Iterator[Callable[..., TestClient]]:
    """Build apps with changed settings; each runs its lifespan and is shut down after the test."""
    opened: list[TestClient] = []

    def make(**changes: Any) -> TestClient:
        app = create_app(service_settings.model_copy(update=changes))
        client = TestClient(app)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    # The jobs a test started end before the app shuts down and disposes of the store's engine
    # (a job's connection given back after that was left open, for the collector to warn of:
    # the teardown flake of test_sync_incidents_bugzilla_down[postgres] and others).
    join_background_jobs()
    for client in reversed(opened):
        client.__exit__(None, None, None)


@pytest.fixture
def client(service_settings: ServiceSettings, models_dir: Path) -> Iterator[TestClient]:
    """The app on the test's store, with the small trained model active."""
    with TestClient(create_app(service_settings)) as test_client:
        yield test_client
        join_background_jobs()  # before the app shuts down (see make_client)


@pytest.fixture
def client_without_model(service_settings: ServiceSettings) -> Iterator[TestClient]:
    """The app on the test's store, with an empty models folder."""
    with TestClient(create_app(service_settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def fixture_bugs() -> list[dict[str, Any]]:
    """The 48 bugs of the small snapshot (the ``store`` fixture's), as POST /classify takes them."""
    return bug_payloads()


@pytest.fixture
def create_token(store: str) -> Callable[[str], tuple[str, int]]:
    """Store a maintainer token (on the loaded store) and return the plain token and its id."""
    from core.db import session_scope
    from core.tokens import create_token as create

    def make(name: str = "alice") -> tuple[str, int]:
        with session_scope(store) as session:
            token, row = create(session=session, name=name)
            return token, row.id

    return make


@pytest.fixture
def maintainer(create_token: Callable[[str], tuple[str, int]]) -> dict[str, str]:
    """The headers of maintainer alice's valid token."""
    token, _ = create_token("alice")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def maintainer_no_bugs(settings: Settings) -> dict[str, str]:
    """The headers of maintainer alice's valid token, on the test's store migrated but left
    without bugs (``maintainer`` loads the small snapshot): for a test that stores bugs through
    POST /classify, which stores only a token holder's, and counts what the store then holds."""
    upgrade(settings.database_url)
    return maintainer_headers(settings.database_url)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Session]:
    """Every session the service opens through its Store, in order."""
    sessions: list[Session] = []
    original = Store.session

    @contextmanager
    def counting(self: Store) -> Iterator[Session]:
        with original(self) as session:
            sessions.append(session)
            yield session

    monkeypatch.setattr(Store, "session", counting)
    return sessions
