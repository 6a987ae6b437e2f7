"""The model version the service answers with, following the registry's ACTIVE file live.

``incidents models promote`` (or ``rollback``) rewrites ``models/ACTIVE`` by an atomic rename.
The service looks at that file at most once every ``check_interval`` seconds, from whichever
request comes first; when it names another version, that request loads it and swaps one
reference. A request takes the reference once, at its start, and keeps that model to its end,
so requests in flight finish on the version they began with while new ones get the new one;
no lock is held while a request classifies. A switch loads in a thread of its own: no request
waits for it (not even the one that saw ACTIVE change, nor a readiness probe), they go on with
the current version until the new one is loaded. (With ``check_interval`` 0, which reads ACTIVE
at every request, the request that sees the change loads it before it goes on.)

The first version loads in this process; every later one (``isolate_switches``) in a child
process that hands the model back pickled, so that the loading's short-lived memory, some
eight times the model's size, does not interleave with the requests served meanwhile and stay
in the server's heap after the switch.

A version that fails to load (tampered artefact, missing file) is logged and the current model
stays in service; the same version is tried again ``retry_after`` seconds later (and at once when
ACTIVE changes), so that a worker started while the artefact was bad, serving no model, comes
back once it is mended, without a restart. ``error`` says so for ``/ready`` meanwhile, naming
the version but no server path (the log line has the details).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable

from classifier import ArtefactTampered, ModelError, ModelNotFound, UntrustedArtefact
from core.registry import LoadedModel, ModelRegistry

from .memory import give_back_memory
from .polling import Throttled

logger = logging.getLogger("service.model")

_UNSEEN = object()


def _released(version: str) -> None:
    logger.info("model %s released by the last request that held it; heap given back: %s",
                version, give_back_memory())


def _why_not_loaded(exc: Exception) -> str:
    """Why a version did not load, in words fit for an answer (no path, no file content)."""
    if isinstance(exc, ArtefactTampered):
        return "its artefact was changed or truncated after it was written"
    if isinstance(exc, UntrustedArtefact):
        return "its artefact holds types that are not trusted"
    if isinstance(exc, ModelNotFound):
        return "its files are missing"
    return f"it could not be read ({type(exc).__name__})"


class ActiveModel:
    """The loaded active version of a registry, reloaded when ACTIVE changes.

    Parameters
    ----------
    registry : the model versions on disk.
    check_interval : seconds between two reads of the ACTIVE file (0 reads it every time).
    on_change : called with ``(previous_version, new_version, ok)`` after each switch attempt.
    clock : monotonic clock, replaceable in tests.
    isolate_switches : load every version after the first in a child process.
    retry_after : seconds after a failed load before the same version is tried again.
    """

    def __init__(self, registry: ModelRegistry, *, check_interval: float = 1.0,
                 on_change: Callable[[str | None, str | None, bool], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 isolate_switches: bool = True, retry_after: float = 30.0) -> None:
        self.registry = registry
        self.check_interval = check_interval
        self.isolate_switches = isolate_switches
        self.retry_after = retry_after
        self._clock = clock
        self._failed: tuple[str, float] | None = None  # the version that failed to load, when
        self._on_change = on_change
        self._loaded: LoadedModel | None = None
        self._seen: object = _UNSEEN
        self._checks = Throttled(self._follow, interval=check_interval, clock=clock)
        self._error: str | None = None  # the last switch's failure
        self._unreadable: str | None = None  # why the last look at ACTIVE read nothing
        self._loading = threading.Lock()  # held while a version loads

    @property
    def unreadable(self) -> bool:
        """Whether the last look at ACTIVE could not read it (training would not help)."""
        return self._unreadable is not None

    @property
    def error(self) -> str | None:
        """Why the version ACTIVE names is not the one in service, or None."""
        if self._unreadable is not None:
            serving = f"; serving {self._loaded.version}" if self._loaded is not None else ""
            return f"{self._unreadable}{serving}"
        return self._error

    @property
    def loaded(self) -> LoadedModel | None:
        """The model in service now, without looking at the ACTIVE file."""
        return self._loaded

    def current(self) -> LoadedModel | None:
        """The model a new request should use (looking at ACTIVE if it is time to)."""
        self._checks.maybe()
        return self._loaded

    def named(self) -> str | None:
        """The version ACTIVE names now; None when it names none or cannot be read (``error``
        says why): what a page or a listing shows, which must not fail on it."""
        try:
            return self.registry.active_version()
        except (OSError, ValueError, ModelError):
            return None

    def refresh(self) -> LoadedModel | None:
        """Look at ACTIVE now and load what it names (waits for a load in progress)."""
        self._checks.now()
        with self._loading:  # a switch loading in the background ends first
            return self._loaded

    def _follow(self) -> None:
        try:
            wanted = self.registry.active_version()
        except (OSError, ValueError, ModelError) as exc:  # unreadable, or not text
            logger.error("cannot read the active version in %s: %s", self.registry.root, exc)
            # Said without the path (the log line has it): INCIDENTS_MODELS_DIR is what to check.
            if isinstance(exc, NotADirectoryError):
                self._unreadable = "INCIDENTS_MODELS_DIR is not a folder; point it at the models folder"
            elif isinstance(exc, ModelError):  # not text: it answered 409 on every route
                self._unreadable = ("ACTIVE in the models folder does not name a version (not "
                                    "text); promote one with `incidents models promote`")
            else:
                self._unreadable = f"the active version could not be read ({type(exc).__name__})"
            return
        self._unreadable = None
        if wanted == self._seen and not self._retry_due(wanted):
            return
        # Every load after the first ACTIVE read is a switch under way while requests run.
        switch = self._seen is not _UNSEEN
        if switch and self.check_interval > 0:
            if not self._loading.acquire(blocking=False):
                return  # another version is loading: ACTIVE is looked at again after it
            self._seen = wanted
            try:
                threading.Thread(target=self._switch_then_release, args=(wanted,), daemon=True,
                                 name=f"model-load-{wanted}").start()
            except BaseException:
                self._loading.release()
                raise
            return
        self._seen = wanted
        with self._loading:
            self._switch(wanted, isolated=self.isolate_switches and switch)

    def _retry_due(self, wanted: str | None) -> bool:
        """Whether ``wanted`` failed to load and is to be tried again now."""
        failed = self._failed
        return (failed is not None and failed[0] == wanted
                and self._clock() - failed[1] >= self.retry_after)

    def _switch_then_release(self, wanted: str | None) -> None:
        try:
            self._switch(wanted, isolated=self.isolate_switches)
        finally:
            self._loading.release()

    def _switch(self, wanted: str | None, *, isolated: bool) -> None:
        """Serve ``wanted`` (loading it), or say why it is not served."""
        previous = self._loaded.version if self._loaded is not None else None
        self._failed = None
        if wanted is not None and wanted == previous:
            self._error = None  # back to the version in service (a rollback after a failed load)
            return
        if wanted is None:
            self._serve(None)
            self._error = "no active model"
            logger.warning("%s (models folder %s)", self._error, self.registry.root)
            self._notify(previous, None, True)
            return
        started = time.perf_counter()
        try:
            loaded = self.registry.load(wanted, isolated=isolated)
        except Exception as exc:  # noqa: BLE001 - a bad version must not take the service down
            self._error = (f"active version {wanted} could not be loaded: {_why_not_loaded(exc)}; "
                          f"serving {previous or 'no model'}")
            self._failed = (wanted, self._clock())
            logger.error("active version %s could not be loaded: %s; still serving %s; trying "
                         "again in %g s", wanted, exc, previous or "no model", self.retry_after)
            self._notify(previous, wanted, False)
            return
        self._serve(loaded)
        self._error = None
        logger.info("serving model %s (was %s), loaded in %.2f s%s", wanted, previous or "none",
                    time.perf_counter() - started, " by a loader process" if isolated else "")
        self._notify(previous, wanted, True)

    def _serve(self, loaded: LoadedModel | None) -> None:
        if self._loaded is not None:
            # Requests in flight may still hold the old model: once the last one drops it, give
            # its memory back to the system (a soak run grew by a model with each promotion).
            weakref.finalize(self._loaded.model, _released, self._loaded.version)
        self._loaded = loaded

    def _notify(self, previous: str | None, new: str | None, ok: bool) -> None:
        if self._on_change is not None:
            self._on_change(previous, new, ok)
