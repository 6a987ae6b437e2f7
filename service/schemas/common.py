"""What every resource's schemas share: the error message body and the stored fields' types."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StrictInt, ValidationInfo

from core.aggregate import OPEN_STATUSES
from core.config import BUGZILLA_RESOLUTIONS
from core.moments import as_utc
from core.store import MAX_BUG_ID

from ..config import MAX_DESCRIPTION_CHARS, MAX_SUMMARY_CHARS, MAX_WHITEBOARD_CHARS


def not_blank(value: Any) -> Any:
    """Refuse text that is only blanks as Python counts them (also the separators \\x1c-\\x1f,
    which the schema's own stripping keeps): refused here, the error names the field's place.
    Checked before the schema strips blanks, which would leave "" and pydantic's "at least 1
    character" for "   "; a value that is not text is left to the type's own check."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be blank")
    return value


def no_nul(value: str) -> str:
    """Refuse NUL: PostgreSQL refuses it in text, so refusing it here keeps it a 422."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _iso_time(value: Any) -> Any:
    if value is not None and not isinstance(value, str | datetime):
        raise ValueError("expected an ISO 8601 time such as 2023-12-29T16:33:04Z")
    return value


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return as_utc(value)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


#: How far past the service's clock a Bugzilla time may be (the two clocks may differ).
CLOCK_SLACK = timedelta(days=1)


#: Before any Bugzilla time: Bugzilla began in 1998.
BUGZILLA_BEGAN = datetime(1998, 1, 1, tzinfo=UTC)


def _happened(value: datetime | None) -> datetime | None:
    """A Bugzilla time is of something that has happened, since Bugzilla began: a filing time in
    9999 was stored and made the bug the newest labelled incident of every retraining's
    comparison window, and one in year 1 a briefing of "January 1, 1"."""
    if value is not None and value > datetime.now(UTC) + CLOCK_SLACK:
        raise ValueError("is in the future: a Bugzilla time is of something that has happened")
    if value is not None and value < BUGZILLA_BEGAN:
        raise ValueError("is before 1998, when Bugzilla began: not a Bugzilla time")
    return value


def not_before_creation(value: datetime | None, info: ValidationInfo) -> datetime | None:
    """A bug's later time (its last change, its resolution) is not before its filing time, when
    both are sent (a field validator of a model whose ``creation_time`` comes first)."""
    created = info.data.get("creation_time")
    if value is not None and created is not None and value < created:
        raise ValueError(f"is before the bug's creation_time ({created:%Y-%m-%dT%H:%M:%SZ})")
    return value


#: A Bugzilla timestamp; one without a zone is taken as UTC, as Bugzilla's are.
BugzillaTime = Annotated[datetime, BeforeValidator(_iso_time), AfterValidator(_utc),
                         AfterValidator(_happened)]
BugId = Annotated[StrictInt, Field(gt=0, le=MAX_BUG_ID, description="Bugzilla bug id.")]
#: A bug id as text: ASCII digits only (``str.isdigit`` also takes "²" and "١", which int()
#: refuses or reads as 1) and no more than MAX_BUG_ID has (int() refuses over 4300 digits).
_BUG_ID_TEXT = re.compile(rf"[0-9]{{1,{len(str(MAX_BUG_ID))}}}")


def bug_id_of(text: str) -> int | None:
    """The bug id ``text`` spells (blanks around it ignored), or None when it spells none."""
    text = text.strip()
    number = int(text) if _BUG_ID_TEXT.fullmatch(text) else 0
    return number if 0 < number <= MAX_BUG_ID else None


#: A bug's summary: not empty, bounded, without NUL.
Summary = Annotated[str, BeforeValidator(not_blank), Field(min_length=1, max_length=MAX_SUMMARY_CHARS),
                    AfterValidator(no_nul)]
#: Text that is stored: bounded, and without NUL (PostgreSQL refuses it).
LongText = Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS), AfterValidator(no_nul)]
Whiteboard = Annotated[str, Field(max_length=MAX_WHITEBOARD_CHARS), AfterValidator(no_nul)]
Name = Annotated[str, Field(max_length=255), AfterValidator(no_nul)]
Code = Annotated[str, Field(max_length=64), AfterValidator(no_nul)]
#: The characters of a domain name as the store keeps it.
_DOMAIN_NAME = r"[A-Za-z0-9.-]*"
Domain = Annotated[str, Field(max_length=255, pattern=f"^{_DOMAIN_NAME}$")]
_DOMAIN = re.compile(_DOMAIN_NAME)


def _address_domain(value: str) -> str:
    """The part of an address after its last @, when it has one, is a domain name as ``Domain``
    takes it: it is what is kept of the address, and the model reads it."""
    if "@" in value and not _DOMAIN.fullmatch(value.rsplit("@", 1)[1]):
        raise ValueError("the part after @ must be a domain name (letters, digits, dots, hyphens)")
    return value


#: Bugzilla's bug statuses: the open ones (a bug with no resolution, as the briefing reads
#: them), then the closed ones.
BUGZILLA_STATUSES = (*OPEN_STATUSES, "RESOLVED", "VERIFIED", "CLOSED")


def _status(value: str) -> str:
    """A Bugzilla status (any case, written upper case), or "" for none."""
    if value and value.upper() not in BUGZILLA_STATUSES:
        raise ValueError(f"{value!r} is not a Bugzilla status (one of {', '.join(BUGZILLA_STATUSES)})")
    return value.upper()


def _resolution(value: str) -> str:
    """A Bugzilla resolution (any case, written upper case), or "" for an open bug's."""
    if value and value.upper() not in BUGZILLA_RESOLUTIONS:
        raise ValueError(f"{value!r} is not a Bugzilla resolution (one of "
                         f"{', '.join(sorted(BUGZILLA_RESOLUTIONS))}, or empty for an open bug)")
    return value.upper()


#: A bug's status and resolution as a client sends them (a sync stores what Bugzilla says).
Status = Annotated[str, Field(max_length=64, examples=["RESOLVED"]), AfterValidator(_status)]
Resolution = Annotated[str, Field(max_length=64, examples=["FIXED"]), AfterValidator(_resolution)]


def resolution_agrees(value: str | None, info: ValidationInfo) -> str | None:
    """An open bug has no resolution and a closed one has one, when both are sent (a field
    validator of ``resolution`` in a model whose ``status`` comes first)."""
    status = info.data.get("status")
    if value is None or not status:
        return value
    if status in OPEN_STATUSES and value:
        raise ValueError(f"a {status} bug has no resolution (send \"\")")
    if status not in OPEN_STATUSES and not value:
        raise ValueError(f"a {status} bug has a resolution (FIXED, INVALID, DUPLICATE, ...)")
    return value


#: A reporter's address: only its domain is kept.
Address = Annotated[str, Field(max_length=255), AfterValidator(no_nul), AfterValidator(_address_domain)]


class Message(BaseModel):
    detail: str
