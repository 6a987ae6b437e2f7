"""The domain core: incidents, the taxonomy, the estimators and the artefact format (no I/O but files)."""

from ._artefact import TRUSTED_TYPES, file_sha256, load_artefact, save_artefact
from ._baselines import KeywordTagger, MostFrequentTag, TfidfLogisticBaseline, WordCharTfidfBaseline
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
    FILED_COLUMN,
    Incident,
    ca_name_from_summary,
    incidents_frame,
    reporter_kind,
)
from ._model import Decision, IncidentTypeClassifier
from ._report import IncidentReport, level_evidence, parse_report
from ._taxonomy import DEFAULT_TAXONOMY_FILE, Taxonomy, WhiteboardTags

__all__ = [
    "ArtefactTampered",
    "BugzillaUnavailable",
    "DEFAULT_TAXONOMY_FILE",
    "Decision",
    "FEATURE_COLUMNS",
    "FILED_COLUMN",
    "Incident",
    "IncidentError",
    "IncidentReport",
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
    "WordCharTfidfBaseline",
    "ca_name_from_summary",
    "file_sha256",
    "incidents_frame",
    "level_evidence",
    "load_artefact",
    "parse_report",
    "reporter_kind",
    "save_artefact",
]
