"""The root callback's setup: read-only commands never migrate the store; a bad setting is one line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from core.config import Settings, get_settings
from core.db import get_engine, session_scope, upgrade
from core.tokens import TOKEN_PREFIX
from tests.fixtures import SQLITE_ONLY

#: Commands that only read the store, and what each answers on one that was never migrated:
#: it holds nothing (exit 0 and this stdout, or the one-line error of an empty store).
READ_ONLY = {
    "models list": (["models", "list"], "no model versions in", None),
    "corrections list": (["corrections", "list"], "", None),
    "corrections list --bug -1": (["corrections", "list", "--bug", "-1"], None,
                                  "--bug: expected a positive integer"),
    "tokens list": (["tokens", "list"], "no tokens; create one with `incidents tokens create NAME`", None),
    "evaluate": (["evaluate", "--no-ablation"], None, "leaves 0 training and 0 test"),
    "audit-labels": (["audit-labels"], None, "no labelled incidents"),
    "classify": (["classify", "{snapshot}/bugs.json"], None, "no active model"),
}


def tables(url: str) -> list[str]:
    return sorted(inspect(get_engine(url)).get_table_names())


@pytest.mark.parametrize("args, says, error", READ_ONLY.values(), ids=READ_ONLY.keys())
def test_read_only_command_does_not_migrate(incidents, settings: Settings, snapshot_dir: Path,
                                            args: list[str], says: str | None, error: str | None) -> None:
    """On SQLite the store's file is not even created; on PostgreSQL the schema stays empty."""
    url = settings.database_url
    args = [a.format(snapshot=snapshot_dir) for a in args]
    if error is None:
        result = incidents.ok(*args)
        assert result.stdout.strip().startswith(says) if says else result.stdout == ""
        assert result.stderr == ""
    else:
        result = incidents.fails(*args, says=(error,))
        assert len(result.stderr.strip().splitlines()) == 1
    if url.startswith("sqlite"):
        assert not Path(url.split("///", 1)[1]).exists()
    else:
        assert tables(url) == []


STORE_READERS = {k: READ_ONLY[k] for k in ("corrections list", "tokens list", "evaluate", "audit-labels")}


@SQLITE_ONLY
@pytest.mark.parametrize("args, says, error", STORE_READERS.values(), ids=STORE_READERS.keys())
def test_read_only_command_on_empty_sqlite_file(incidents, settings: Settings, args: list[str],
                                                says: str | None, error: str | None) -> None:
    """A store file that exists but has no tables (never migrated) is read as empty, and left so."""
    sqlite3.connect(Path(settings.database_url.split("///", 1)[1])).close()
    if error is None:
        assert incidents.ok(*args).stdout.strip() == says
    else:
        incidents.fails(*args, says=(error,))
    assert tables(settings.database_url) == []


@pytest.mark.parametrize("args, migrations", [
    (["models", "list"], 0), (["tokens", "list"], 0), (["corrections", "list"], 0),
    (["tokens", "create", "erin"], 1), (["sync", "--snapshot", "{snapshot}"], 1), (["db-upgrade"], 1),
])
def test_only_writing_commands_migrate_once(incidents, settings: Settings, snapshot_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch, args: list[str],
                                            migrations: int) -> None:
    import core.db

    calls: list[str] = []
    real = core.db.upgrade

    def counted(url: str, *args: object, **kwargs: object) -> None:
        calls.append(url)
        real(url, *args, **kwargs)

    monkeypatch.setattr(core.db, "upgrade", counted)
    incidents.ok(*[a.format(snapshot=snapshot_dir) for a in args])
    assert calls == [settings.database_url] * migrations


def test_read_only_commands_read_a_migrated_store(incidents, settings: Settings, store: str,
                                                  correct) -> None:
    correct(1500001, ["crl-failure"], note="was ocsp", author="alice")
    incidents.ok("tokens", "create", "carol")
    assert "carol" in incidents.ok("tokens", "list").stdout
    assert '"author": "alice"' in incidents.ok("corrections", "list").stdout


@SQLITE_ONLY
@pytest.mark.parametrize("args", [["tokens", "list"], ["corrections", "list"], ["audit-labels"]])
def test_read_only_command_on_older_store_says_upgrade(incidents, settings: Settings, args: list[str]) -> None:
    upgrade(settings.database_url, "0002")
    result = incidents.fails(*args, says=("store (sqlite:///", "at migration 0002", "incidents db-upgrade"))
    assert len(result.stderr.strip().splitlines()) == 1
    with session_scope(settings.database_url) as session:
        assert session.scalar(text("SELECT version_num FROM alembic_version")) == "0002"


@SQLITE_ONLY
@pytest.mark.parametrize("args", [["tokens", "list"], ["corrections", "list"], ["db-upgrade"],
                                  ["tokens", "create", "dave"]])
def test_store_of_a_newer_version_is_left_alone(incidents, settings: Settings, args: list[str]) -> None:
    """A store a newer version of the project migrated (a code rollback on a shared store): no
    command writes to it, none says `db-upgrade` can help, and none is a traceback."""
    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    result = incidents.fails(*args, says=("store (sqlite:///", "is at migration 9999, which this "
                                          "version of incident-classifier does not have"))
    assert len(result.stderr.strip().splitlines()) == 1 and "db-upgrade" not in result.stderr
    with session_scope(settings.database_url) as session:
        assert session.scalar(text("SELECT version_num FROM alembic_version")) == "9999"
        assert session.scalar(text("SELECT count(*) FROM api_tokens")) == 0


@SQLITE_ONLY
def test_db_upgrade_says_what_it_did(incidents, settings: Settings,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from alembic.script import ScriptDirectory

    from core.db import alembic_config

    (newest,) = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_heads()
    url = settings.database_url
    assert incidents.ok("db-upgrade").stdout.strip() == f"store at {url} created at migration {newest}"
    assert incidents.ok("db-upgrade").stdout.strip() == f"store at {url} is up to date (migration {newest})"
    older = settings.database_url.replace("store.db", "older.db")
    upgrade(older, "0009")
    monkeypatch.setenv("INCIDENTS_DATABASE_URL", older)
    get_settings.cache_clear()
    said = incidents.ok("db-upgrade").stdout.strip()
    get_settings.cache_clear()
    assert said == f"store at {older} migrated from 0009 to {newest}"
    with session_scope(older) as session:
        assert session.scalar(text("SELECT version_num FROM alembic_version")) == newest


def test_tokens_list_is_a_plain_table_off_a_terminal(incidents, settings: Settings) -> None:
    created = incidents.ok("tokens", "create", "[bold]dave")
    assert created.stdout.startswith(TOKEN_PREFIX)
    incidents.ok("tokens", "create", "erin")
    lines = incidents.ok("tokens", "list").stdout.splitlines()
    # A rich table off a terminal: plain text, the name not read as markup, no trailing blanks.
    assert len(lines) == 2 and "[bold]dave" in lines[0] and "erin" in lines[1]
    assert not any("\x1b[" in line or line != line.rstrip() for line in lines)
    assert all(line.endswith("active") for line in lines)
    assert lines[0].index("created") == lines[1].index("created")  # columns line up


# -- the callback's setup failing --------------------------------------------------------------
@pytest.fixture
def bad_setting(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    def set_(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield set_
    get_settings.cache_clear()


@SQLITE_ONLY
@pytest.mark.parametrize("name, value, says", [
    ("INCIDENTS_N_JOBS", "many", "INCIDENTS_N_JOBS: Input should be a valid integer"),
    # joblib's ValueError, and its failure to start a million workers, before the bound.
    ("INCIDENTS_N_JOBS", "0", "INCIDENTS_N_JOBS: Value error, must be -1 (every core) or 1 to 64"),
    ("INCIDENTS_N_JOBS", "1000000", "INCIDENTS_N_JOBS: Value error, must be -1 (every core) or 1 to 64"),
    ("INCIDENTS_N_JOBS", "-2", "INCIDENTS_N_JOBS: Value error, must be -1 (every core) or 1 to 64"),
    ("INCIDENTS_BUGZILLA_URL", "ftp://example.org", "INCIDENTS_BUGZILLA_URL: Value error, must start with https://"),
    # Shown in sync errors, which GET /jobs answers to anyone, and in the report's links.
    ("INCIDENTS_BUGZILLA_URL", "https://bzuser:s3cret@bugzilla.example.org",
     "INCIDENTS_BUGZILLA_URL: Value error, must not hold a user name or password"),
    ("INCIDENTS_EVAL_CUTOFFS", "2021-01-01",
     'INCIDENTS_EVAL_CUTOFFS: not a JSON list; write it as ["first", "second"]'),
    ("INCIDENTS_BRIEFING_EXCLUDED_RESOLUTIONS", "DUPLICATE",
     'INCIDENTS_BRIEFING_EXCLUDED_RESOLUTIONS: not a JSON list'),
    # A misspelt resolution matched no bug, and the INVALID ones counted in the briefing.
    ("INCIDENTS_BRIEFING_EXCLUDED_RESOLUTIONS", '["DUPLICATE", "INVALLID"]',
     "INCIDENTS_BRIEFING_EXCLUDED_RESOLUTIONS: Value error, 'INVALLID' is not a Bugzilla resolution "
     "(one of DUPLICATE, EXPIRED, FIXED,"),
    # Named by the variable, before any work (it was "cutoff:" or "eval_cutoffs:" after loading).
    ("INCIDENTS_EVAL_CUTOFF", "last-year",
     "INCIDENTS_EVAL_CUTOFF: Value error, 'last-year' is not a date like 2023-01-01"),
    ("INCIDENTS_EVAL_CUTOFF", "2023-W26",
     "INCIDENTS_EVAL_CUTOFF: Value error, '2023-W26' is not a date like 2023-01-01"),
    ("INCIDENTS_EVAL_CUTOFFS", '["2021-01-01", "2020-13-01"]',
     "INCIDENTS_EVAL_CUTOFFS: Value error, '2020-13-01' is not a date like 2023-01-01"),
    # inf waited for ever, or overflowed a timestamp after a sync's first failure.
    ("INCIDENTS_BUGZILLA_BACKOFF", "inf", "INCIDENTS_BUGZILLA_BACKOFF: Input should be a finite number"),
    ("INCIDENTS_BUGZILLA_TIMEOUT", "nan", "INCIDENTS_BUGZILLA_TIMEOUT: Input should be a finite number"),
    ("INCIDENTS_BUGZILLA_MAX_WAIT", "1e308", "INCIDENTS_BUGZILLA_MAX_WAIT: Input should be less than or equal to 3600"),
    ("INCIDENTS_BUGZILLA_MAX_ATTEMPTS", "99999999999999999999",
     "INCIDENTS_BUGZILLA_MAX_ATTEMPTS: Input should be less than or equal to 100"),
    # Below the fewest scored incidents the live alarm speaks on, it could never alarm.
    ("INCIDENTS_LIVE_WINDOW", "10", "INCIDENTS_LIVE_WINDOW: Input should be greater than or equal to 20"),
])
@pytest.mark.parametrize("args", [["models", "list"], ["tokens", "list"], ["db-upgrade"]])
def test_bad_setting_is_one_line_from_the_callback(incidents, bad_setting, settings: Settings, name: str,
                                                   value: str, says: str, args: list[str]) -> None:
    bad_setting(name, value)
    result = incidents.fails(*args, says=("error: settings: ", says))
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == "" and "s3cret" not in result.stderr  # a value is never echoed
    assert not Path(settings.database_url.split("///", 1)[1]).exists()


def test_excluded_resolutions_are_read_in_bugzillas_case() -> None:
    """Bugzilla writes resolutions in capitals; " invalid" is INVALID, not a bug of no resolution."""
    assert Settings(briefing_excluded_resolutions=["duplicate", " invalid"]).briefing_excluded_resolutions \
        == ["DUPLICATE", "INVALID"]


@pytest.mark.parametrize("value", [-1, 1, 2, 64])
def test_n_jobs_every_core_or_up_to_64(value: int) -> None:
    """-1 is joblib's every core (relabel's docstring says so); 1 to 64 that many processes."""
    assert Settings(n_jobs=value).n_jobs == value


@SQLITE_ONLY
@pytest.mark.parametrize("args", [["--help"], ["models", "--help"], ["tokens", "list", "--help"], ["tokens"]])
def test_help_needs_no_setup(incidents, bad_setting, args: list[str]) -> None:
    """Help (asked for, or a group named alone) comes whatever the settings are."""
    bad_setting("INCIDENTS_N_JOBS", "many")
    result = incidents(*args)
    assert result.exit_code == (2 if args == ["tokens"] else 0), result.output  # Click: no arguments, exit 2
    assert "Usage:" in result.stdout
    assert "error:" not in result.stderr


@SQLITE_ONLY
@pytest.mark.parametrize("workers", ["1", "2"])
def test_bad_service_setting_stops_serve(incidents, bad_setting, monkeypatch: pytest.MonkeyPatch,
                                         workers: str) -> None:
    """A setting only the service reads is checked before uvicorn starts: it was a traceback from
    the app, and with two workers uvicorn restarted the crashing workers for ever."""
    import uvicorn

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(args))
    bad_setting("INCIDENTS_MAX_BATCH", "0")
    result = incidents.fails("serve", "--port", "0", "--workers", workers,
                             says=("error: settings: INCIDENTS_MAX_BATCH: Input should be greater "
                                   "than or equal to 1",))
    assert len(result.stderr.strip().splitlines()) == 1
    assert started == []


@SQLITE_ONLY
@pytest.mark.parametrize(("name", "value", "says"), [
    ("INCIDENTS_TAXONOMY_FILE", "/nonexistent/taxonomy.toml", "no such taxonomy file"),
    ("INCIDENTS_DATABASE_URL", "garbage", "store (<unparsable url>): Could not parse"),
])
def test_serve_refuses_what_the_app_could_not_be_built_with(
        incidents, bad_setting, monkeypatch: pytest.MonkeyPatch, name: str, value: str,
        says: str) -> None:
    """A taxonomy file that does not load, a store URL that does not parse: one line before
    uvicorn starts (an 81-line traceback from the app before)."""
    import uvicorn

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(args))
    bad_setting(name, value)
    result = incidents.fails("serve", "--port", "0", says=(says,))
    assert len(result.stderr.strip().splitlines()) == 1
    assert started == []


@SQLITE_ONLY
@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize(("folder", "says"), [("absent", "no such folder"), ("file", "not a folder")])
def test_serve_refuses_a_metrics_folder_it_cannot_write(
        incidents, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, workers: str, folder: str,
        says: str) -> None:
    """PROMETHEUS_MULTIPROC_DIR naming no folder: one line before uvicorn starts. Each worker
    died writing its metrics there, and uvicorn started them again for ever (operator review)."""
    import uvicorn

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(args))
    (tmp_path / "file").write_text("", encoding="utf-8")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / folder))
    result = incidents.fails("serve", "--port", "0", "--workers", workers,
                             says=(f"error: PROMETHEUS_MULTIPROC_DIR: {tmp_path / folder}: {says}",))
    assert len(result.stderr.strip().splitlines()) == 1
    assert started == []
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # a folder: it starts
    incidents("serve", "--port", "0", "--workers", workers)
    assert len(started) == 1


@SQLITE_ONLY
def test_bad_setting_stops_serve_in_the_callback(incidents, bad_setting, monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` (one worker) never reads the settings itself: only the callback can stop it."""
    import uvicorn

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(args))
    bad_setting("INCIDENTS_N_JOBS", "many")
    result = incidents.fails("serve", "--port", "0", says=("error: settings: INCIDENTS_N_JOBS",))
    assert len(result.stderr.strip().splitlines()) == 1
    assert started == []


@SQLITE_ONLY
def test_setup_runs_once_per_invocation(incidents, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli._shared import Context

    made: list[Context] = []
    real = Context.create.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Context]) -> Context:
        made.append(real(cls))
        return made[-1]

    monkeypatch.setattr(Context, "create", classmethod(counted))
    incidents.ok("tokens", "create", "frank")
    assert len(made) == 1
