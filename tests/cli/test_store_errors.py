"""Every command that opens the store says so in one line when it cannot: no traceback."""

from __future__ import annotations

import importlib.util

import pytest
import typer

from cli._shared import reported_errors
from core.config import get_settings
from tests.fixtures import unstamped, write_snapshot

UNREACHABLE = "postgresql+psycopg://nobody:s3cret@127.0.0.1:9/nothing"  # nothing listens on 9

COMMANDS = {
    "sync": ["sync", "--snapshot", "{snapshot}"],
    "train": ["train"],
    "evaluate": ["evaluate", "--no-ablation"],
    "audit-labels": ["audit-labels"],
    "relabel": ["relabel"],
    "retrain": ["retrain"],
    "corrections list": ["corrections", "list"],
    "corrections import": ["corrections", "import", "{corrections}", "--author", "alice"],
    "tokens create": ["tokens", "create", "alice"],
    "tokens list": ["tokens", "list"],
    "tokens revoke": ["tokens", "revoke", "1"],
    "db-upgrade": ["db-upgrade"],
}


@pytest.fixture
def unreachable_store(settings, monkeypatch) -> None:
    monkeypatch.setenv("INCIDENTS_DATABASE_URL", UNREACHABLE)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
def test_unreachable_store_is_one_line(incidents, unreachable_store, tmp_path, args) -> None:
    snapshot = write_snapshot(tmp_path / "snapshot")
    corrections = tmp_path / "corrections.jsonl"
    corrections.write_text('{"bug_id": 1500001, "tags": ["ocsp-failure"]}\n', encoding="utf-8")
    result = incidents.fails(*[a.format(snapshot=snapshot, corrections=corrections) for a in args],
                             says=("store (postgresql+psycopg://nobody:***@127.0.0.1:9/nothing)",
                                   "connection failed"))
    assert "s3cret" not in result.stderr
    assert len(unstamped(result.stderr)) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unparsable_store_url(incidents, settings, monkeypatch) -> None:
    monkeypatch.setenv("INCIDENTS_DATABASE_URL", "not a url")
    get_settings.cache_clear()
    try:
        incidents.fails("train", says=("store (<unparsable url>)", "Could not parse"))
    finally:
        get_settings.cache_clear()


@pytest.mark.skipif(importlib.util.find_spec("MySQLdb") is not None, reason="MySQLdb is installed")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
def test_store_driver_not_installed(incidents, settings, monkeypatch, tmp_path, args) -> None:
    """A database SQLAlchemy knows, whose driver is not here: one line naming the driver and the
    stores there are (it was a ModuleNotFoundError traceback)."""
    monkeypatch.setenv("INCIDENTS_DATABASE_URL", "mysql://alice:s3cret@127.0.0.1/incidents")
    get_settings.cache_clear()
    snapshot = write_snapshot(tmp_path / "snapshot")
    corrections = tmp_path / "corrections.jsonl"
    corrections.write_text('{"bug_id": 1500001, "tags": ["ocsp-failure"]}\n', encoding="utf-8")
    try:
        result = incidents.fails(
            *[a.format(snapshot=snapshot, corrections=corrections) for a in args],
            says=("store (mysql://alice:***@127.0.0.1/incidents): driver mysqldb of mysql is not "
                  "installed", "SQLite (sqlite:///FILE) or PostgreSQL through psycopg"))
    finally:
        get_settings.cache_clear()
    assert "s3cret" not in result.stderr
    assert len(unstamped(result.stderr)) == 1


def test_overflow_is_one_line_as_a_last_resort(capsys: pytest.CaptureFixture[str]) -> None:
    """A number no check bounded (SQLite binds 64 bits at most) is one line, not a traceback."""
    with pytest.raises(typer.Exit) as info, reported_errors():
        raise OverflowError("Python int too large to convert to SQLite INTEGER")
    assert info.value.exit_code == 1
    assert capsys.readouterr().err == ("error: a value out of range: Python int too large to "
                                       "convert to SQLite INTEGER\n")


@pytest.mark.parametrize(("error", "says"), [
    (FileExistsError(17, "File exists", "/srv/report"), "/srv/report: File exists"),
    (PermissionError(13, "Permission denied", "/srv/models/.ACTIVE.1f2e"),
     "cannot write in /srv/models: Permission denied"),
    (OSError("disk on fire"), "disk on fire"),
])
def test_os_errors_are_said_in_words(capsys: pytest.CaptureFixture[str], error: OSError,
                                     says: str) -> None:
    """The file and why, without Python's "[Errno 17]"; a file written aside by its folder."""
    with pytest.raises(typer.Exit), reported_errors():
        raise error
    assert capsys.readouterr().err == f"error: {says}\n"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("args", [*COMMANDS.values(), ["report", "--start", "2023-01-01",
                                                        "--end", "2023-03-31"]],
                         ids=[*COMMANDS.keys(), "report"])
def test_sqlite_store_in_a_folder_that_does_not_exist(incidents, settings, monkeypatch, tmp_path,
                                                      args) -> None:
    """A mistyped folder is named, and not made (it was, with an empty store in it)."""
    missing = tmp_path / "incidnets" / "store"
    monkeypatch.setenv("INCIDENTS_DATABASE_URL", f"sqlite:///{missing / 'incidents.db'}")
    get_settings.cache_clear()
    snapshot = write_snapshot(tmp_path / "snapshot")
    corrections = tmp_path / "corrections.jsonl"
    corrections.write_text('{"bug_id": 1500001, "tags": ["ocsp-failure"]}\n', encoding="utf-8")
    try:
        incidents.fails(*[a.format(snapshot=snapshot, corrections=corrections) for a in args],
                        says=(f"the SQLite store's folder {missing} does not exist",
                              "INCIDENTS_DATABASE_URL"))
    finally:
        get_settings.cache_clear()
    assert not (tmp_path / "incidnets").exists()
