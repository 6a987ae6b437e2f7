"""The exceptions of incident-classifier.

IncidentError                     every error this project raises on purpose
├── InvalidIncident               a bug record that cannot be used (missing summary, wrong type)
├── InvalidSnapshot               a snapshot file that is missing, unreadable or of the wrong shape
├── TaxonomyError                 a taxonomy file that cannot be read
├── BugzillaUnavailable           Bugzilla kept failing or refused a request, so a sync stopped
└── ModelError                    anything about trained model versions
    ├── ModelNotFound             no such version, or no active version
    ├── ArtefactTampered          an artefact whose sha256 differs from the one recorded
    └── UntrustedArtefact         an artefact that would load types outside the trusted list
"""

from __future__ import annotations


class IncidentError(Exception):
    """Base of every error raised on purpose by this project."""


class InvalidIncident(IncidentError, ValueError):
    """A bug record that cannot be classified or stored; ``field`` names what is wrong."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidSnapshot(IncidentError):
    """A Bugzilla snapshot file that is missing, unreadable or not in Bugzilla's REST shape."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class TaxonomyError(IncidentError):
    """A taxonomy file that is missing or malformed."""


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


class ModelError(IncidentError):
    """A problem with a trained model version."""


class ModelNotFound(ModelError, LookupError):
    """The version asked for does not exist, or no version is active yet."""


class ArtefactTampered(ModelError):
    """The artefact's bytes are not the ones recorded when it was written."""


class UntrustedArtefact(ModelError):
    """The artefact names types that are not on the trusted list, so it is not loaded."""
