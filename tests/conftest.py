"""Shared fixtures: settings isolated in tmp_path, a store on SQLite and PostgreSQL, a small model."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from classifier import Taxonomy
from core.config import PROJECT_ROOT, Settings, get_settings
from core.corrections import correct_incident
from core.db import get_engine, retire_engine, session_scope, upgrade
from core.registry import ModelRegistry
from core.tables import IncidentRow, IncidentTagRow
from tests.fixtures import BAD_SNAPSHOTS, Incidents, end_background_jobs, write_snapshot
from tests.standin import BugzillaStandIn, bugzilla_data

REAL_SNAPSHOT = PROJECT_ROOT.parent / "shared" / "data" / "bugzilla"
POSTGRES_URL = os.environ.get("INCIDENTS_TEST_POSTGRES_URL")


def pytest_report_header() -> str:
    """Said once at the top, as skip reasons are not listed one by one (``-rfEX``)."""
    if POSTGRES_URL:
        return "PostgreSQL tests: on (INCIDENTS_TEST_POSTGRES_URL)"
    return ("PostgreSQL tests: skipped, INCIDENTS_TEST_POSTGRES_URL is not set (`make test` sets it; "
            "see the README's \"Running part of the tests\")")


@pytest.fixture(autouse=True)
def _close_engines() -> Iterator[None]:
    """End background jobs and close pooled connections after each test."""
    yield
    end_background_jobs(collect=False)


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return Taxonomy.load()


@pytest.fixture
def snapshot_dir(tmp_path: Path) -> Path:
    """A small snapshot folder written by the tests (48 bugs, 4 type tags)."""
    return write_snapshot(tmp_path / "snapshot")


@pytest.fixture(scope="session")
def real_snapshot() -> Path:
    if not (REAL_SNAPSHOT / "bugs.json").is_file():
        pytest.skip(f"the real snapshot is not at {REAL_SNAPSHOT}")
    return REAL_SNAPSHOT


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    if not POSTGRES_URL:
        pytest.skip("INCIDENTS_TEST_POSTGRES_URL is not set")
    return POSTGRES_URL


def _postgres_schema_url(base_url: str) -> Iterator[str]:
    """A fresh schema of the test database for one test, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        end_background_jobs()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """The store's URL: a SQLite file in tmp_path, or a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield from _postgres_schema_url(request.getfixturevalue("postgres_server_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, snapshot_dir: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings of one test, also visible to code that calls get_settings() (the CLI)."""
    values = {
        "INCIDENTS_DATABASE_URL": database_url,
        "INCIDENTS_MODELS_DIR": str(tmp_path / "models"),
        "INCIDENTS_SNAPSHOT_DIR": str(snapshot_dir),
        "INCIDENTS_EVAL_CUTOFF": "2021-06-01",
        # No test reaches the internet: a sync without a stand-in meets a closed loopback port.
        "INCIDENTS_BUGZILLA_URL": "http://127.0.0.1:9",
        "INCIDENTS_BUGZILLA_MAX_ATTEMPTS": "1",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def store(settings: Settings) -> str:
    """The settings' store, migrated and loaded with the small snapshot."""
    from core.bugzilla import read_snapshot
    from core.store import upsert_bugs

    upgrade(settings.database_url)
    records = read_snapshot(settings.snapshot_dir, Taxonomy.load(settings.taxonomy_file))
    with session_scope(settings.database_url) as session:
        upsert_bugs(session=session, records=records)
    return settings.database_url


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with one active version trained on the small snapshot (built once)."""
    from core.bugzilla import read_snapshot
    from core.store import upsert_bugs
    from training.dataset import load_dataset
    from training.train import train_version

    root = tmp_path_factory.mktemp("trained")
    url = f"sqlite:///{root / 'store.db'}"
    snap = write_snapshot(root / "snapshot")
    settings = Settings(database_url=url, models_dir=root / "models", snapshot_dir=snap,
                        eval_cutoff="2021-06-01")
    taxonomy = Taxonomy.load(settings.taxonomy_file)
    upgrade(url)
    with session_scope(url) as session:
        upsert_bugs(session=session, records=read_snapshot(snap, taxonomy))
        dataset = load_dataset(session=session)
    train_version(dataset, settings=settings, taxonomy=taxonomy,
                  registry=ModelRegistry(settings.models_dir))
    return settings.models_dir


@pytest.fixture
def models_dir(settings: Settings, trained_models: Path) -> Path:
    """The test's models folder, holding a copy of the small trained model (active)."""
    shutil.copytree(trained_models, settings.models_dir)
    return settings.models_dir


@pytest.fixture
def incidents(settings: Settings) -> Incidents:
    return Incidents()


@pytest.fixture
def store_rows(settings: Settings) -> Callable[[], dict[str, list[tuple]]]:
    """Every column of every incident and tag row in the store, to compare before and after."""

    def read() -> dict[str, list[tuple]]:
        upgrade(settings.database_url)
        with session_scope(settings.database_url) as session:
            incidents = [tuple(getattr(row, c.key) for c in IncidentRow.__table__.columns)
                         for row in session.scalars(select(IncidentRow).order_by(IncidentRow.id))]
            tags = [(t.incident_id, t.tag, t.kind) for t in session.scalars(
                select(IncidentTagRow).order_by(IncidentTagRow.incident_id, IncidentTagRow.tag))]
        return {"incidents": incidents, "tags": tags}

    return read


@pytest.fixture(params=list(BAD_SNAPSHOTS))
def bad_snapshot(request, tmp_path: Path) -> tuple[Path, Path, str]:
    """A snapshot folder with one problem; the file its error names; what the error says."""
    spoil, name, problem = BAD_SNAPSHOTS[request.param]
    folder = tmp_path / f"bad-{request.param}"
    spoil(folder)
    return folder, folder / name, problem


@pytest.fixture
def correct(settings: Settings, taxonomy: Taxonomy) -> Callable[..., int]:
    """Store one correction (in its own transaction) and return its id."""

    def store(bug_id: int, tags: list[str], note: str = "", author: str = "tester") -> int:
        with session_scope(settings.database_url) as session:
            return correct_incident(session=session, taxonomy=taxonomy, bug_id=bug_id, tags=tags,
                                  note=note, author=author).id

    return store


@pytest.fixture
def something_new(store: str, correct: Callable[..., int]) -> int:
    """A correction the trained v1 never learned: the oldest labelled incident gets one more tag.
    Without one, `retrain` on the fixture store has nothing new to learn and fits nothing."""
    from training.dataset import load_dataset

    with session_scope(store) as session:
        dataset = load_dataset(session=session)
    extra = "policy-failure" if "policy-failure" not in dataset.y[0] else "audit-delay"
    return correct(int(dataset.ids[0]), [*dataset.y[0], extra], note="one more tag")


# -- a Bugzilla stand-in --------------------------------------------------------------------
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
    retire_engine(get_engine(settings.database_url))
