"""Fixtures of the Bugzilla client tests: a client of the stand-in that records its waits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.bugzilla import BugzillaClient
from tests.standin import BugzillaStandIn


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
