"""A check that runs at most once an interval, from whichever request comes first.

The service follows two files live (``models/ACTIVE`` and the taxonomy file). A request looks at
them only when the interval has passed, and only one request looks at a time: the others go on
with what is in service instead of waiting for a load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Throttled:
    """Run ``check`` when ``interval`` seconds have passed since the last run (0: every time).

    Parameters
    ----------
    check : what to run; it must not raise.
    interval : seconds between two runs.
    clock : monotonic clock, replaceable in tests.
    due_now : whether the first call runs ``check`` (else it waits one interval).
    """

    def __init__(self, check: Callable[[], None], *, interval: float,
                 clock: Callable[[], float] = time.monotonic, due_now: bool = True) -> None:
        self.check = check
        self.interval = interval
        self._clock = clock
        self._next = float("-inf") if due_now else clock() + interval
        self._lock = threading.Lock()

    def maybe(self) -> None:
        """Run the check if it is due and no other thread is running it; never wait."""
        if self._clock() >= self._next and self._lock.acquire(blocking=False):
            try:
                self._run()
            finally:
                self._lock.release()

    def now(self) -> None:
        """Run the check now (waiting for a run in progress to end)."""
        with self._lock:
            self._run()

    def _run(self) -> None:
        self._next = self._clock() + self.interval
        self.check()
