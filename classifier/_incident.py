"""An incident as the model sees it: what a Bugzilla bug says at filing time, nothing later."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from ._exceptions import InvalidIncident

#: Columns of the frame every estimator of this package takes as ``X``.
FEATURE_COLUMNS = ("summary", "description", "ca_name", "reporter")

_WEBMAIL = frozenset({"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "yahoo.com",
                      "protonmail.com", "proton.me", "icloud.com", "gmx.de", "mail.ru"})
_MOZILLA = frozenset({"mozilla.com", "mozilla.org", "mozillafoundation.org"})


@dataclass(frozen=True)
class Incident:
    """One CA-compliance incident, from its Bugzilla bug.

    Only ``summary``, ``description`` (comment 0), ``creator_domain`` and the CA name taken from
    the summary are features; the rest is kept for the store and the briefings.
    """

    summary: str
    description: str = ""
    id: int | None = None
    creator_domain: str | None = None
    creation_time: datetime | None = None
    status: str | None = None
    resolution: str | None = None
    resolved_at: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.summary, str) or not self.summary.strip():
            raise InvalidIncident("summary must be a non-empty string", field="summary")

    @property
    def ca_name(self) -> str:
        return ca_name_from_summary(self.summary)

    @property
    def reporter(self) -> str:
        return reporter_kind(self.creator_domain, self.ca_name)


#: The colon after a summary's CA: ASCII, or full width (U+FF1A).
_COLON = re.compile("[:\uff1a]")


def ca_written_in_summary(summary: str) -> str:
    """The CA named before the first colon of a summary, as written (``"D-TRUST: ..."`` →
    ``"D-TRUST"``), without bracketed words; ``""`` when the summary names none. A full-width
    colon (``"某CA：..."``, as Chinese and Japanese text writes it) is a colon too."""
    parts = _COLON.split(summary, maxsplit=1)
    head = parts[0]
    if len(parts) == 1 or len(head) > 60:
        return ""
    return " ".join(re.sub(r"\[[^\]]*\]", " ", head).split())


def ca_name_from_summary(summary: str) -> str:
    """The CA named before the first colon of a summary (``"Entrust: ..."`` → ``"entrust"``)."""
    return ca_written_in_summary(summary).lower()


def reporter_kind(domain: str | None, ca_name: str) -> str:
    """Who filed the bug: the CA itself, Mozilla, someone on webmail, another party, unknown.

    A CA reporting its own incident is a different kind of bug from an outsider's report.
    """
    if not domain:
        return "unknown"
    domain = domain.lower().strip()
    if domain in _MOZILLA:
        return "mozilla"
    if domain in _WEBMAIL:
        return "webmail"
    org = domain.split(".")[-2] if "." in domain else domain
    ca_words = re.findall(r"[a-z0-9]+", ca_name)
    squashed = "".join(ca_words)
    if org and squashed and (org in squashed or squashed in org or any(
            len(w) >= 4 and (w in org or org in w) for w in ca_words)):
        return "self"
    return "external"


#: Not a feature: when each training incident was filed (training data adds it to the frame),
#: which an estimator may use to weigh recent incidents more.
FILED_COLUMN = "filed"


def incidents_frame(incidents: Iterable[Incident]) -> pd.DataFrame:
    """The feature frame (one row an incident, :data:`FEATURE_COLUMNS`) the estimators take."""
    rows = [(i.summary, i.description or "", i.ca_name, i.reporter) for i in incidents]
    return pd.DataFrame(rows, columns=list(FEATURE_COLUMNS))
