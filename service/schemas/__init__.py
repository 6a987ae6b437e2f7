"""Request and response bodies, one module a resource, in families (Base, Create/Classify, Public).

Every name is re-exported here: ``from service.schemas import IncidentClassify``.
"""

from .aggregate import BriefingPublic, CategoryRowPublic, WindowRulePublic
from .classify import ClassificationPublic, ClassificationsPublic, TermWeight
from .common import BugId, BugzillaTime, Code, Domain, LongText, Message, Name, Summary, Whiteboard, bug_id_of
from .corrections import (
    CorrectionBase,
    CorrectionCreate,
    CorrectionCreated,
    CorrectionPublic,
    CorrectionsStored,
    CorrectionStored,
    TypeTag,
)
from .health import HealthPublic, ReadyPublic
from .hooks import (
    HookResultPublic,
    WebhookAttachment,
    WebhookBug,
    WebhookChange,
    WebhookComment,
    WebhookDelivery,
    WebhookEvent,
)
from .incidents import (
    EXAMPLE_BUG,
    EXAMPLE_DESCRIPTION,
    EXAMPLE_NEW_BUG,
    BugzillaComment,
    IncidentBase,
    IncidentClassify,
    IncidentListItemPublic,
    IncidentListPublic,
    IncidentPublic,
    IncidentsClassify,
    LabelPublic,
    PredictionPublic,
    TagPublic,
)
from .jobs import JobPublic, JobsPublic
from .models import (
    ActivationPublic,
    ModelDecisionPublic,
    ModelDecisionsPublic,
    ModelPublic,
    ModelsPublic,
    RetrainDecisionPublic,
    RetrainRequest,
)
from .review import ReviewItemPublic, ReviewPublic
from .sync import SyncReportPublic

__all__ = [
    "ActivationPublic",
    "EXAMPLE_BUG",
    "EXAMPLE_DESCRIPTION",
    "EXAMPLE_NEW_BUG",
    "BriefingPublic",
    "BugId",
    "BugzillaComment",
    "BugzillaTime",
    "CategoryRowPublic",
    "ClassificationPublic",
    "ClassificationsPublic",
    "Code",
    "CorrectionBase",
    "CorrectionCreate",
    "CorrectionCreated",
    "CorrectionPublic",
    "CorrectionStored",
    "CorrectionsStored",
    "Domain",
    "HealthPublic",
    "HookResultPublic",
    "IncidentBase",
    "IncidentClassify",
    "IncidentListItemPublic",
    "IncidentListPublic",
    "IncidentPublic",
    "IncidentsClassify",
    "JobPublic",
    "JobsPublic",
    "LabelPublic",
    "LongText",
    "Message",
    "ModelDecisionPublic",
    "ModelDecisionsPublic",
    "ModelPublic",
    "ModelsPublic",
    "Name",
    "PredictionPublic",
    "ReadyPublic",
    "RetrainDecisionPublic",
    "RetrainRequest",
    "ReviewItemPublic",
    "ReviewPublic",
    "Summary",
    "SyncReportPublic",
    "TagPublic",
    "TermWeight",
    "TypeTag",
    "WebhookAttachment",
    "WebhookBug",
    "WebhookChange",
    "WebhookComment",
    "WebhookDelivery",
    "WebhookEvent",
    "Whiteboard",
    "WindowRulePublic",
    "bug_id_of",
]
