"""A test-only pause at a named point of a job, so a crash test can kill the process exactly there.

With ``INCIDENTS_PAUSE_AT=<point>`` in its environment a process that reaches ``pause_at(<point>)``
writes ``paused at <point>`` to stderr and sleeps; the test waits for that line and sends SIGKILL.
Unset (always, outside the tests) it does nothing.
"""

from __future__ import annotations

import os
import sys
import time

PAUSE_AT = "INCIDENTS_PAUSE_AT"


def pause_at(point: str) -> None:
    """Sleep here (for a test to kill the process) when ``INCIDENTS_PAUSE_AT`` names ``point``."""
    if os.environ.get(PAUSE_AT) == point:
        sys.stderr.write(f"paused at {point}\n")
        sys.stderr.flush()
        time.sleep(300)
