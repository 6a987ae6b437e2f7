"""The store as the service reaches it: migrated at start-up, probed by /ready."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from classifier import StoreUnavailable
from core.db import get_engine, upgrade

logger = logging.getLogger("service.store")


class Store:
    """The database at ``url``, whose migrations are applied before its first use.

    The service starts even when the store is down: /ready answers 503 and calls that need the
    store answer 503, and the migrations are tried again on the next call that needs them.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._migrated = False
        self._lock = threading.Lock()

    def migrate(self) -> None:
        """Apply the store's migrations (once per process); StoreUnavailable if it is down."""
        if self._migrated:
            return
        with self._lock:
            if self._migrated:
                return
            try:
                upgrade(self.url)
            except OperationalError as exc:
                logger.error("store unreachable, migrations not applied: %s", exc.orig or exc)
                raise StoreUnavailable("the store is unreachable; see the service log") from exc
            self._migrated = True
            logger.info("store migrated to the newest schema")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the migrated store; the caller commits, closing rolls back the rest."""
        self.migrate()
        with sessionmaker(get_engine(self.url), expire_on_commit=False)() as session:
            try:
                yield session
            except OperationalError as exc:
                logger.error("store error: %s", exc.orig or exc)
                raise StoreUnavailable("the store is unreachable; see the service log") from exc

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers a query."""
        with self.session() as session:
            session.execute(text("SELECT 1"))

    def close(self) -> None:
        get_engine(self.url).dispose()
