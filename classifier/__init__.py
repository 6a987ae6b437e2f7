"""The domain core: incidents, the taxonomy, the estimators and the artefact format (no I/O but files)."""

from ._artefact import TRUSTED_TYPES, file_sha256, load_artefact, save_artefact
from ._baselines import KeywordTagger, MostFrequentTag, TfidfLogisticBaseline
from ._exceptions import (
    ArtefactTampered,
    BugzillaUnavailable,
    IncidentError,
    InvalidIncident,
    InvalidInput,
    InvalidPeriod,
    InvalidSnapshot,
    ModelError,
    ModelNotFound,
    NotEnoughData,
    StoreUnavailable,
    TaxonomyError,
    TokenNotFound,
    UntrustedArtefact,
)
from ._incident import (
    FEATURE_COLUMNS,
    Incident,
    ca_name_from_summary,
    incidents_frame,
    reporter_kind,
)
from ._model import Decision, IncidentTypeClassifier
from ._taxonomy import DEFAULT_TAXONOMY_FILE, Taxonomy, WhiteboardTags

__all__ = [
    "ArtefactTampered",
    "BugzillaUnavailable",
    "DEFAULT_TAXONOMY_FILE",
    "Decision",
    "FEATURE_COLUMNS",
    "Incident",
    "IncidentError",
    "IncidentTypeClassifier",
    "InvalidIncident",
    "InvalidInput",
    "InvalidPeriod",
    "InvalidSnapshot",
    "KeywordTagger",
    "ModelError",
    "ModelNotFound",
    "MostFrequentTag",
    "NotEnoughData",
    "StoreUnavailable",
    "TRUSTED_TYPES",
    "Taxonomy",
    "TaxonomyError",
    "TfidfLogisticBaseline",
    "TokenNotFound",
    "UntrustedArtefact",
    "WhiteboardTags",
    "ca_name_from_summary",
    "file_sha256",
    "incidents_frame",
    "load_artefact",
    "reporter_kind",
    "save_artefact",
]
