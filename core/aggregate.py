"""The briefing table: incidents open in a time window, counted per briefing category.

Which incidents count (one rule an incident, checked in this order):

``still_open``
    Bugzilla says the bug is open (``UNCONFIRMED``, ``NEW``, ``ASSIGNED``, ``REOPENED``): it
    counts when it was filed on or before the end of the window.
``resolved_at``
    The resolution time is known (``cf_last_resolved``): filed on or before the end, and not
    resolved before the start.
``created_in_window``
    The bug is closed but its resolution time is unknown (or its status is unknown): it counts
    only when it was filed inside the window. Every bug of the March 2026 snapshot is here: the
    snapshot has no ``cf_last_resolved``.

Bugs without a filing time cannot be placed in time and never count (the answer says how many).
Nor do bugs resolved as not being incidents of their own (``DUPLICATE``: the incident is counted
once, under the bug it duplicates; ``INVALID``: no incident), by default (the setting
``briefing_excluded_resolutions``); the answer says how many of each the window had.

Which label an incident counts with is :mod:`core.labels`'s rule (correction > Bugzilla tags >
prediction), the same one training data uses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from classifier import InvalidPeriod, Taxonomy

from .labels import Label, LabelSource, incident_labels
from .tables import IncidentRow

OPEN_STATUSES = ("UNCONFIRMED", "NEW", "ASSIGNED", "REOPENED")


class WindowRule(StrEnum):
    """Why an incident counts as open in a window (see the module docstring)."""

    STILL_OPEN = "still_open"
    RESOLVED_AT = "resolved_at"
    CREATED_IN_WINDOW = "created_in_window"

    @property
    def description(self) -> str:
        return _RULE_TEXT[self]


_RULE_TEXT = {
    WindowRule.STILL_OPEN: "open in Bugzilla: filed on or before the end of the window",
    WindowRule.RESOLVED_AT: "resolution time known: filed on or before the end and not "
                            "resolved before the start",
    WindowRule.CREATED_IN_WINDOW: "closed with no known resolution time: filed inside the window",
}


@dataclass(frozen=True)
class CategoryCount:
    """One row of the briefing: a category, its incidents, their CAs and label sources."""

    category: str
    incidents: int
    cas: tuple[str, ...]
    sources: dict[str, int]


@dataclass(frozen=True)
class Briefing:
    """The briefing table of a window, with how each count was reached."""

    start: datetime
    end: datetime
    model_version: str | None
    rows: list[CategoryCount]
    total: int
    category_entries: int
    uncategorised: int
    rules: dict[str, int]
    sources: dict[str, int]
    undated: int
    excluded: dict[str, int] = field(default_factory=dict)
    labels: dict[int, Label] = field(default_factory=dict, repr=False)


def _is_open():
    return func.upper(func.coalesce(IncidentRow.status, "")).in_(OPEN_STATUSES)


def window_rule_case(start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
    """The SQL conditions of the three rules, in the order they are checked."""
    filed_by_end = IncidentRow.creation_time <= end
    still_open = and_(filed_by_end, _is_open())
    resolved_at = and_(filed_by_end, not_(_is_open()), IncidentRow.resolved_at.is_not(None),
                       IncidentRow.resolved_at >= start)
    created_in = and_(not_(_is_open()), IncidentRow.resolved_at.is_(None),
                      IncidentRow.creation_time >= start, filed_by_end)
    return still_open, resolved_at, created_in


def open_in_window(start: datetime, end: datetime) -> Select:
    """``select`` of the ids of incidents open at some time in ``[start, end]``."""
    return select(IncidentRow.id).where(IncidentRow.creation_time.is_not(None),
                                        or_(*window_rule_case(start, end)))


def _rule_of(row: IncidentRow) -> WindowRule:
    if (row.status or "").upper() in OPEN_STATUSES:
        return WindowRule.STILL_OPEN
    if row.resolved_at is not None:
        return WindowRule.RESOLVED_AT
    return WindowRule.CREATED_IN_WINDOW


def briefing(*, session: Session, taxonomy: Taxonomy, start: datetime, end: datetime,
             active_version: str | None,
             excluded_resolutions: Sequence[str]) -> Briefing:
    """Count the incidents open in ``[start, end]`` per briefing category (both ends included).

    Bugs whose resolution is one of ``excluded_resolutions`` (case-insensitive; the setting
    ``briefing_excluded_resolutions``) are left out and counted apart, per resolution.
    """
    if start > end:
        raise InvalidPeriod("start: must not be after end", field="start")
    window = open_in_window(start, end)
    rows: Sequence[IncidentRow] = session.scalars(
        select(IncidentRow).where(IncidentRow.id.in_(window)).order_by(IncidentRow.id)).all()
    labels = incident_labels(session=session, incident_ids=window, active_version=active_version)
    undated = session.scalar(
        select(func.count()).select_from(IncidentRow).where(IncidentRow.creation_time.is_(None)))

    per_category: dict[str, list[IncidentRow]] = {c: [] for c in taxonomy.categories}
    per_category_sources: dict[str, Counter[str]] = {c: Counter() for c in taxonomy.categories}
    rules: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    uncategorised = 0
    kept: dict[int, Label] = {}
    left_out = {r.upper() for r in excluded_resolutions}
    excluded: Counter[str] = Counter()
    counted: list[IncidentRow] = []
    for row in rows:
        resolution = (row.resolution or "").upper()
        if resolution in left_out and (row.status or "").upper() not in OPEN_STATUSES:
            excluded[resolution] += 1
            continue
        counted.append(row)
        label = labels.get(row.id, Label(LabelSource.NONE))
        kept[row.id] = label
        rules[_rule_of(row)] += 1
        sources[label.source] += 1
        categories = taxonomy.categories_of(label.tags)
        if not categories:
            uncategorised += 1
        for category in categories:
            per_category[category].append(row)
            per_category_sources[category][label.source] += 1
    table = [
        CategoryCount(
            category=category,
            incidents=len(members),
            cas=tuple(sorted({m.ca_name for m in members if m.ca_name})),
            sources={s.value: per_category_sources[category][s] for s in LabelSource
                     if s is not LabelSource.NONE},
        )
        for category, members in per_category.items()
    ]
    return Briefing(
        start=start, end=end, model_version=active_version, rows=table, total=len(counted),
        category_entries=sum(r.incidents for r in table), uncategorised=uncategorised,
        rules={r.value: rules[r] for r in WindowRule},
        sources={s.value: sources[s] for s in LabelSource},
        undated=int(undated or 0), excluded=dict(sorted(excluded.items())), labels=kept,
    )
