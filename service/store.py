"""The store as the service reaches it: its sessions, migrated before first use, probed by /ready."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from classifier import StoreUnavailable
from core.db import get_engine, retire_engine, upgrade

logger = logging.getLogger("service.store")


def _lost_tables(exc: OperationalError | ProgrammingError) -> bool:
    """Whether ``exc`` is a query on a table the store does not have (PostgreSQL's SQLSTATE
    42P01, SQLite's "no such table")."""
    return (getattr(exc.orig, "sqlstate", None) == "42P01"
            or str(exc.orig).startswith("no such table"))


class Store:
    """The database at ``url``, whose migrations are applied before its first use.

    The service starts even when the store is down: /ready answers 503 and calls that need the
    store answer 503, and the migrations are tried again on the next call that needs them.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._migrated = False
        self._lock = threading.Lock()
        self._sessions = sessionmaker(expire_on_commit=False)
        event.listen(self._sessions, "after_transaction_create", self._migrate_first)

    def migrate(self) -> None:
        """Apply the store's migrations (once per process); StoreUnavailable if it is down."""
        if self._migrated:
            return
        with self._lock:
            if self._migrated:
                return
            try:
                done = upgrade(self.url)
            except OperationalError as exc:
                logger.error("store unreachable, migrations not applied: %s", exc.orig or exc)
                raise StoreUnavailable("the store is unreachable; see the service log") from exc
            except StoreUnavailable as exc:  # a SQLite folder that does not exist, a newer store
                logger.error("store not usable: %s", exc)
                raise
            self._migrated = True
            logger.info("store %s", done)

    def _migrate_first(self, _session: Session, transaction: SessionTransaction) -> None:
        # A session's transaction begins with its first query: the store is migrated then, so
        # a request that ends up not reaching the store needs none (classifying a bug without
        # an id works while the store is down).
        if transaction.parent is None:
            self.migrate()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the store, migrated before its first query; the caller commits, and
        closing rolls back the rest. OperationalError in the block becomes StoreUnavailable."""
        with self._sessions(bind=get_engine(self.url)) as session:
            try:
                yield session
            except (OperationalError, ProgrammingError) as exc:
                if _lost_tables(exc):
                    # The database was dropped and made again (an empty one back from a restore):
                    # migrate at the next call, as at startup, rather than fail every call.
                    self._migrated = False
                    logger.error("store has lost its tables (%s); migrating again at the next "
                                 "call", exc.orig or exc)
                    raise StoreUnavailable("the store has lost its tables; they are made again "
                                           "at the next call") from exc
                if isinstance(exc, ProgrammingError):
                    raise
                logger.error("store error: %s", exc.orig or exc)
                raise StoreUnavailable("the store is unreachable; see the service log") from exc

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers a query."""
        with self.session() as session:
            session.execute(text("SELECT 1"))

    def close(self) -> None:
        try:
            engine = get_engine(self.url)
        except StoreUnavailable:  # it never opened (a SQLite folder that does not exist)
            return
        retire_engine(engine)  # a job's thread may still hold one of its connections
