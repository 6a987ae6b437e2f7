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

Which label an incident has (the first that exists): a maintainer's correction, else its
Bugzilla type tags, else a model's prediction, the active version's if it made one, else the
latest stored one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from classifier import Taxonomy

from .corrections import corrected_labels
from .tables import IncidentRow, IncidentTagRow, PredictionRow

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


class LabelSource(StrEnum):
    """Where an incident's label comes from, strongest first."""

    CORRECTION = "correction"
    BUGZILLA = "bugzilla"
    MODEL = "model"
    NONE = "none"


@dataclass(frozen=True)
class Label:
    """The type tags an incident counts with, and where they come from."""

    source: LabelSource
    tags: tuple[str, ...] = ()
    model_version: str | None = None


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


def incident_labels(*, session: Session, incident_ids: Select | Iterable[int],
                    active_version: str | None) -> dict[int, Label]:
    """The label of each incident among ``incident_ids`` (a list, or a ``select`` of ids)."""
    ids = incident_ids if isinstance(incident_ids, Select) else list(incident_ids)
    labels: dict[int, Label] = {
        bug_id: Label(LabelSource.CORRECTION, tuple(tags))
        for bug_id, tags in corrected_labels(session=session, incident_ids=ids).items()
    }
    bugzilla: dict[int, list[str]] = {}
    for bug_id, tag in session.execute(
            select(IncidentTagRow.incident_id, IncidentTagRow.tag)
            .where(IncidentTagRow.incident_id.in_(ids), IncidentTagRow.kind == "type")
            .order_by(IncidentTagRow.incident_id, IncidentTagRow.tag)):
        bugzilla.setdefault(bug_id, []).append(tag)
    for bug_id, tags in bugzilla.items():
        labels.setdefault(bug_id, Label(LabelSource.BUGZILLA, tuple(tags)))
    predicted: dict[int, PredictionRow] = {}
    for row in session.scalars(
            select(PredictionRow).where(PredictionRow.incident_id.in_(ids))
            .order_by(PredictionRow.incident_id, PredictionRow.created_at, PredictionRow.id)):
        chosen = predicted.get(row.incident_id)
        if chosen is None or chosen.model_version != active_version:
            predicted[row.incident_id] = row  # later rows win unless the active one is held
    for bug_id, row in predicted.items():
        labels.setdefault(bug_id, Label(LabelSource.MODEL, tuple(row.tags), row.model_version))
    return labels


def briefing(*, session: Session, taxonomy: Taxonomy, start: datetime, end: datetime,
             active_version: str | None,
             excluded_resolutions: Sequence[str]) -> Briefing:
    """Count the incidents open in ``[start, end]`` per briefing category (both ends included).

    Bugs whose resolution is one of ``excluded_resolutions`` (case-insensitive; the setting
    ``briefing_excluded_resolutions``) are left out and counted apart, per resolution.
    """
    if start > end:
        raise ValueError("start: must not be after end")
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
