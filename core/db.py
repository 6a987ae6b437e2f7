"""Engines, sessions and schema migrations of the store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from classifier import StoreUnavailable

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Write-ahead logging: readers (the briefing, the review queue) no longer block the writer
    # nor it them, and a commit syncs one file instead of a journal and the database; still
    # synchronous=FULL, so a committed transaction survives a power cut. Kept in the file.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def get_engine(url: str) -> Engine:
    """One engine a database URL, for the life of the process (or until dispose_engines)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _create_engine(url)
        return engine


def dispose_engines() -> None:
    """Close every pooled connection and forget the engines (tests, and forked workers).

    A connection still checked out (a job's thread mid-work), or taken later from a forgotten
    engine, is closed when it is given back: the pool it returns to is no longer anyone's, and a
    connection left open there would only be closed by the garbage collector (psycopg warns of it
    then, wherever that happens)."""
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        retire_engine(engine)


def retire_engine(engine: Engine) -> None:
    """Close ``engine``'s pooled connections, and each one checked out now when it is given back.

    A plain ``engine.dispose()`` leaves a connection checked out at that moment (a job's thread
    mid-work) to be given back to the discarded pool, where nothing closes it: the garbage
    collector does, later, and psycopg warns of it then, wherever that happens.
    """
    # Listened to before dispose, which hands the pool's listeners on to the new, empty pool it
    # gives the engine: whoever still holds the engine (a session opened before this call) gets
    # a working connection, closed when given back, not pooled where no one would dispose of it.
    event.listen(engine.pool, "checkin", _close_on_checkin)
    engine.dispose()  # closes what is checked in


def _close_on_checkin(_dbapi_connection, record) -> None:
    record.close()


def safe_url(url: str) -> str:
    """The database URL without its password, for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a log line or an error message must not fail
        return "<unparsable url>"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite store at ``url``; None for another database, an in-memory one or a
    ``file:`` URI."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def require_sqlite_folder(url: str) -> None:
    """StoreUnavailable when ``url`` is a SQLite file in a folder that does not exist.

    The folder is not made: a mistyped path would leave folders behind, and a store nobody reads."""
    path = sqlite_file(url)
    if path is not None and not path.parent.is_dir():
        raise StoreUnavailable(f"the SQLite store's folder {path.parent} does not exist; create "
                               "it, or correct INCIDENTS_DATABASE_URL")


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        require_sqlite_folder(url)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except ImportError as exc:  # SQLAlchemy knows the database, but its driver is not installed
        parsed = make_url(url)
        raise StoreUnavailable(
            f"store ({safe_url(url)}): driver {parsed.get_driver_name()} of {parsed.get_backend_name()} "
            f"is not installed ({exc}); the store is SQLite (sqlite:///FILE) or PostgreSQL through "
            "psycopg (postgresql+psycopg://...)") from None


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> str:
    """Bring the store at ``url`` to ``revision`` (the newest by default); what was done, in
    words ("created at migration 0012", "is up to date (migration 0012)", "migrated from ...").

    StoreUnavailable when the store is at a migration this code does not have (a newer version
    of the project migrated it: this one must not write to it).
    """
    cfg = alembic_config(url)
    before = store_revisions(url)
    unknown = before - _known_revisions(cfg)
    if unknown:
        raise StoreUnavailable(newer_store(url, unknown))
    with get_engine(url).begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    was, now = (", ".join(sorted(revisions)) for revisions in (before, store_revisions(url)))
    if not was:
        return f"created at migration {now}"
    if was == now:
        return f"is up to date (migration {now})"
    return f"migrated from {was} to {now}"


def unknown_revisions(url: str) -> set[str]:
    """The store's migrations that this code's migrations folder does not hold."""
    return store_revisions(url) - _known_revisions(alembic_config(url))


def _known_revisions(cfg: Config) -> set[str]:
    from alembic.script import ScriptDirectory

    return {revision.revision for revision in ScriptDirectory.from_config(cfg).walk_revisions()}


def newer_store(url: str, unknown: set[str]) -> str:
    """Why a store migrated by a newer version of the project is not used."""
    return (f"store ({safe_url(url)}) is at migration {', '.join(sorted(unknown))}, which this "
            "version of incident-classifier does not have: a newer version migrated it; run that "
            "version, or restore the store from before")


def store_revisions(url: str) -> set[str]:
    """The migrations the store at ``url`` has had last (empty when it was never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back on any error.

    A block that commits by itself must not use the session afterwards (``sessionmaker.begin()``
    refuses it).
    """
    with sessionmaker(get_engine(url), expire_on_commit=False).begin() as session:
        yield session
