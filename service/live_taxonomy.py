"""The taxonomy the service answers with, following its file live.

Maintainers own ``taxonomy.toml``: a change there (a tag moved to another briefing row, a new
alias) is meant to change ``GET /aggregate`` without a code change, a retrain or a restart. The
service looks at the file's modification time and size at most once every ``check_interval``
seconds, from whichever request comes first, and loads it again when they changed. A request
takes the taxonomy once, at its start, and keeps it to its end.

A file that no longer loads (bad TOML, an unknown category) is logged and the taxonomy in service
stays; the same file state is not retried until it changes again. The model's own cues and
exclusions were fixed when it was trained and change with the next training only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from classifier import Taxonomy, TaxonomyError

from .polling import Throttled

logger = logging.getLogger("service.taxonomy")


def _state(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class LiveTaxonomy:
    """The taxonomy of ``path``, loaded at start and again when the file changes.

    Parameters
    ----------
    path : the taxonomy file; it must load at start (a service never starts without one).
    check_interval : seconds between two looks at the file (0 looks every time).
    clock : monotonic clock, replaceable in tests.
    """

    def __init__(self, path: Path, *, check_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.check_interval = check_interval
        self._seen = _state(self.path)
        self._taxonomy = Taxonomy.load(self.path)
        self._checks = Throttled(self._follow, interval=check_interval, clock=clock,
                                 due_now=False)
        self.error: str | None = None

    def current(self) -> Taxonomy:
        """The taxonomy a new request should use (looking at the file if it is time to)."""
        self._checks.maybe()
        return self._taxonomy

    def _follow(self) -> None:
        state = _state(self.path)
        if state == self._seen:
            return
        self._seen = state
        try:
            self._taxonomy = Taxonomy.load(self.path)
        except TaxonomyError as exc:
            self.error = str(exc)
            logger.error("taxonomy file changed but does not load: %s; keeping the one in service",
                         exc)
            return
        self.error = None
        logger.info("taxonomy reloaded from %s", self.path)
