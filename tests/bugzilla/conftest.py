"""Fixtures of the Bugzilla sync tests: a running stand-in and settings that point at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.bugzilla_sync import BugzillaClient
from core.config import Settings, get_settings
from core.db import get_engine, upgrade

from .standin import BugzillaStandIn, bugzilla_data

API_KEY = "bz-test-key-7f3a9c21d4"


@pytest.fixture(autouse=True)
def _no_real_bugzilla(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until a test aims it at the stand-in, Bugzilla is a loopback port where nothing listens."""
    monkeypatch.setenv("INCIDENTS_BUGZILLA_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()


@pytest.fixture
def standin() -> Iterator[BugzillaStandIn]:
    """A Bugzilla stand-in on a loopback port, serving the test bugs (48 + 1 elsewhere)."""
    bugs, comments = bugzilla_data()
    server = BugzillaStandIn.from_data(bugs, comments).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sync_settings(settings: Settings, standin: BugzillaStandIn,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The test's settings aimed at the stand-in: pages of 10, short timeouts, 3 attempts.

    The store is migrated. Setting the environment also reaches the CLI's get_settings().
    """
    values = {
        "INCIDENTS_BUGZILLA_URL": standin.url,
        "INCIDENTS_BUGZILLA_PAGE_SIZE": "10",
        "INCIDENTS_BUGZILLA_TIMEOUT": "0.3",
        "INCIDENTS_BUGZILLA_MAX_ATTEMPTS": "3",
        "INCIDENTS_BUGZILLA_BACKOFF": "0.01",
        "INCIDENTS_BUGZILLA_MAX_WAIT": "0.05",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("INCIDENTS_BUGZILLA_API_KEY", raising=False)
    # Loopback requests never go through a proxy the machine may have configured.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    get_settings.cache_clear()
    upgrade(settings.database_url)
    yield get_settings()
    get_settings.cache_clear()
    # Close the pooled connections now: an engine dropped later from get_engine's cache would
    # leave them to the garbage collector (a ResourceWarning, an error under filterwarnings).
    get_engine(settings.database_url).dispose()


@pytest.fixture
def sleeps() -> list[float]:
    """The waits a client asked for, recorded instead of slept."""
    return []


@pytest.fixture
def client(standin: BugzillaStandIn, sleeps: list[float]) -> Iterator[BugzillaClient]:
    """A client of the stand-in that records its backoff waits instead of sleeping."""
    with BugzillaClient(standin.url, timeout=0.3, max_attempts=3, backoff=1.0, max_wait=60.0,
                        sleep=sleeps.append) as bugzilla:
        yield bugzilla
