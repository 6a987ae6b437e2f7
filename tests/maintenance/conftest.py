"""Fixtures of the maintenance tests: the `incidents` command in-process, corrections, counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from classifier import Taxonomy
from core.config import Settings
from core.corrections import add_correction
from core.db import session_scope
from training.cli import app

#: A wrong mapping of the fixture's tags: corrections that teach it make a worse model.
SWAPPED = {"ocsp-failure": "crl-failure", "crl-failure": "ev-misissuance",
           "ev-misissuance": "leaf-revocation-delay", "leaf-revocation-delay": "ocsp-failure"}


def run(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def correct(settings: Settings, taxonomy: Taxonomy) -> Callable[..., int]:
    """Store one correction (in its own transaction) and return its id."""

    def store(bug_id: int, tags: list[str], note: str = "", author: str = "tester") -> int:
        with session_scope(settings.database_url) as session:
            return add_correction(session=session, taxonomy=taxonomy, bug_id=bug_id, tags=tags,
                                  note=note, author=author).id

    return store


def count_rows(settings: Settings, table) -> int:
    with session_scope(settings.database_url) as session:
        return int(session.scalar(select(func.count()).select_from(table)))
