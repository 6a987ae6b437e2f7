"""At most a few briefings counted at once in a worker: each holds its period's incidents in
memory (about 300 MB for an all-time briefing of a 42,000-incident store), and nothing else
bounded how many ran together."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException

#: Seconds a briefing waits for a slot before it is answered 503.
SLOT_WAIT = 20.0


class BriefingSlots:
    """``n`` slots; :meth:`held` takes one for the time a briefing is counted."""

    def __init__(self, n: int, *, wait: float = SLOT_WAIT) -> None:
        self.n, self.wait = n, wait
        self._slots = threading.BoundedSemaphore(n)

    @contextmanager
    def held(self) -> Iterator[None]:
        """One slot, waited for up to ``wait`` seconds: else 503 with ``Retry-After``, saying
        why (the request is refused before it reads anything)."""
        if not self._slots.acquire(timeout=self.wait):
            raise HTTPException(
                503, f"{self.n} briefings are being counted in this worker "
                     f"(INCIDENTS_BRIEFING_CONCURRENCY) and none ended within {self.wait:g} s; "
                     "try again in a few seconds", headers={"Retry-After": "5"})
        try:
            yield
        finally:
            self._slots.release()
