"""The exceptions of incident-classifier.

IncidentError                     every error this project raises on purpose
├── InvalidInput                  a value given by a user that cannot be used; ``field`` names it
│   ├── InvalidIncident           a bug record or correction that cannot be used (no summary, ...)
│   └── InvalidPeriod             a date or time window that cannot be used (start after end, ...)
├── InvalidSnapshot               a snapshot file that is missing, unreadable or of the wrong shape
├── TaxonomyError                 a taxonomy file that cannot be read
├── CANamesError                  a CA names file (the briefing's CA aliases) that cannot be read
├── BugzillaUnavailable           Bugzilla kept failing or refused a request, so a sync stopped
├── StoreUnavailable              the store cannot be reached, or its migrations not applied
├── NotEnoughData                 too few labelled incidents to fit, split or compare (also a
│                                 ValueError: estimators raise it from ``fit``, as scikit-learn's do)
├── TokenNotFound                 no unrevoked maintainer token matches an id, name or prefix
├── JobRunning                    a retrain, sync or relabel is already running (``holder`` says who)
└── ModelError                    anything about trained model versions
    ├── ModelNotFound             no such version, or no active version
    ├── ActiveChanged             a promotion refused: the version it meant to replace is no longer active
    ├── AlreadyActive             a promotion refused: the version is the active one already
    ├── ArtefactTampered          an artefact whose sha256 differs from the one recorded
    └── UntrustedArtefact         an artefact that would load types outside the trusted list

Layers signal each other with these, never with a bare ``ValueError``: the CLI turns any of
them into one line on stderr and a non-zero exit, the service into a 4xx or 503 answer.
"""

from __future__ import annotations


class IncidentError(Exception):
    """Base of every error raised on purpose by this project."""


class InvalidInput(IncidentError):
    """A value given by a user (a field, an option, a query parameter) that cannot be used;
    ``field`` names it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidIncident(InvalidInput):
    """A bug record (or a correction of one) that cannot be classified or stored."""


class InvalidPeriod(InvalidInput):
    """A date or a time window that cannot be used: not a date, or a start after its end."""


class InvalidSnapshot(IncidentError):
    """A Bugzilla snapshot file that is missing, unreadable or not in Bugzilla's REST shape."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class TaxonomyError(IncidentError):
    """A taxonomy file that is missing or malformed."""


class CANamesError(IncidentError):
    """A CA names file (display names and aliases of the CAs) that is missing or malformed."""


class BugzillaUnavailable(IncidentError):
    """Bugzilla did not give a usable answer, so the sync stopped; what came before is kept.

    Raised after a request kept failing (timeouts, connection errors, 429, 5xx, broken JSON)
    for every attempt, or at once when Bugzilla refuses it (a 4xx such as an invalid API key).
    ``attempts`` is how many times the request was sent, ``status`` the last HTTP status (None
    when no answer came). The message never holds the API key.
    """

    def __init__(self, message: str, *, attempts: int = 1, status: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status


class StoreUnavailable(IncidentError):
    """The store cannot be reached (or its migrations cannot be applied) right now."""


class NotEnoughData(IncidentError, ValueError):
    """Too few labelled incidents to fit a model, split them in time, or compare two models."""


class TokenNotFound(IncidentError, LookupError):
    """No token (or no unrevoked token) matches the given id, name or prefix."""


class JobRunning(IncidentError):
    """A job of this kind (retrain, sync, relabel) already runs, in this process or another.

    ``holder`` says who holds it (name, process, host), ``job_id`` its job in the service (None
    when it was started from the command line).
    """

    def __init__(self, message: str, *, holder: str = "", job_id: str | None = None) -> None:
        super().__init__(message)
        self.holder = holder
        self.job_id = job_id


class ModelError(IncidentError):
    """A problem with a trained model version."""


class ActiveChanged(ModelError):
    """A promotion was refused: another version became active since the caller looked."""


class AlreadyActive(ModelError):
    """A promotion was refused: the version asked for is already the active one (promoting it
    again would change nothing but the history a rollback walks back through)."""


class ModelNotFound(ModelError, LookupError):
    """The version asked for does not exist, or no version is active yet."""


class ArtefactTampered(ModelError):
    """The artefact's bytes are not the ones recorded when it was written."""


class UntrustedArtefact(ModelError):
    """The artefact names types that are not on the trusted list, so it is not loaded."""
