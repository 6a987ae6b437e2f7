"""uvicorn's HTTP/1.1 protocol with a deadline for reading each request, against slow clients."""

from __future__ import annotations

import asyncio
import logging
from functools import cache
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .config import ServiceSettings

logger = logging.getLogger("service.server")


@cache
def _read_timeout() -> float:
    return ServiceSettings().request_read_timeout


class DeadlineH11Protocol(H11Protocol):
    """Closes a connection whose request (headers and body) is not all in within
    ``INCIDENTS_REQUEST_READ_TIMEOUT`` seconds of the connection opening or of the previous answer.

    uvicorn itself times out only an idle kept-alive connection, and any byte resets that: a
    client sending its headers or body a byte at a time, or never finishing them, would hold its
    connection (a file descriptor, a slot of ``--limit-concurrency``) for ever. Once a request is
    read the deadline stops: how long the service takes to answer is its own business.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_deadline: asyncio.TimerHandle | None = None

    def _arm_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
        self._read_deadline = self.loop.call_later(_read_timeout(), self._read_deadline_passed)

    def _read_deadline_passed(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing() or self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            return
        logger.warning("closed a connection from %s: its request was not in within %s s",
                       "{}:{}".format(*self.client) if self.client else "?", _read_timeout())
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_read_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_read_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None
        super().connection_lost(exc)
