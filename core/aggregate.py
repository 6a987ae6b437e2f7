"""The briefing table: incidents open at some time in a period, counted per briefing category.

An incident counts when it was filed on or before the end of the period and was not resolved
before its start. Which rule placed it in time (one an incident, checked in this order):

``still_open``
    Bugzilla says the bug is open (``UNCONFIRMED``, ``NEW``, ``ASSIGNED``, ``REOPENED``): filed
    on or before the end.
``resolved_at``
    The resolution time is known (Bugzilla's ``cf_last_resolved``, which the sync and the webhook
    store): filed on or before the end, and resolved on or after the start.
``last_comment``
    The bug is closed and its resolution time unknown, but the time of its last public comment
    is known: Bugzilla closes a bug with a comment, so that time stands in for the resolution
    (every bug of the March 2026 snapshot is here: it has no ``cf_last_resolved``).
``created_in_window``
    Closed (or of unknown status) with neither time known: it counts only when it was filed
    inside the period.

A bug stored without a filing time is taken as filed when the store received it (``synced_at``),
and the answer says how many were (``filed_when_received``). Bugs resolved as not being incidents
of their own (``DUPLICATE``: the incident is counted once, under the bug it duplicates;
``INVALID``: no incident) are left out by default (the setting ``briefing_excluded_resolutions``),
and so are tracking bugs (a summary that begins ``[meta]``); the answer says which, per
resolution (``META`` for the tracking bugs).

Which label an incident counts with is :mod:`core.labels`'s rule (correction > Bugzilla tags >
prediction), the same one training data uses; which CA, :mod:`core.ca_names`'s table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from classifier import InvalidPeriod, Taxonomy

from .ca_names import CANames, shown_ca_names
from .labels import Label, LabelSource, incident_labels
from .moments import as_utc, calendar_day, calendar_moment
from .tables import IncidentRow

OPEN_STATUSES = ("UNCONFIRMED", "NEW", "ASSIGNED", "REOPENED")
DEFAULT_EXCLUDED_RESOLUTIONS = ("DUPLICATE", "INVALID")
#: The ``excluded`` key of tracking bugs: a summary that begins ``[meta]`` (Bugzilla's mark of
#: a bug that tracks others, such as 1029147 "[meta] Bug for Tracking BR Compliance Issues"),
#: which is no incident whatever its resolution.
TRACKING = "META"
#: How a tracking bug's summary begins (in any case).
TRACKING_MARK = "[meta]"


def is_tracking_bug(summary: str | None) -> bool:
    """Whether a summary marks a tracking bug (``[meta] ...``, in any case); in SQL,
    :func:`excluded_resolution`."""
    return (summary or "")[:len(TRACKING_MARK)].lower() == TRACKING_MARK


def excluded_words(key: str) -> str:
    """Why the bugs of an ``excluded`` key are left out, in the briefing's words."""
    if key == TRACKING:
        return "[meta] tracking bugs"
    return f"resolved {key}"


def period_bound(value: str, name: str, *, end: bool) -> datetime:
    """A bound of a period: a day (``2023-01-01``, UTC; as an end, the whole day) or a time
    (``2023-01-01T12:00:00Z``; without a zone, UTC). InvalidPeriod names ``name``."""
    try:
        if len(value) == 10:
            return datetime.combine(calendar_day(value), time.max if end else time.min, tzinfo=UTC)
        moment = calendar_moment(value)
    except ValueError:
        raise InvalidPeriod(f"{name}: {value!r} is not a date like 2023-01-01 or a time like "
                            "2023-01-01T12:00:00Z", field=name) from None
    try:
        return as_utc(moment)
    except OverflowError:
        raise InvalidPeriod(f"{name}: {value!r} is out of range once converted to UTC",
                            field=name) from None


def bounds(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    """Optional ``start`` and ``end`` as :func:`period_bound` reads them (None where not given);
    InvalidPeriod naming ``start``, in the words typed, when both are given and start is after
    end. What a filter with an open end (``GET /review``, ``incidents review``) and
    :meth:`Period.parse` read."""
    lower = period_bound(start, "start", end=False) if start is not None else None
    upper = period_bound(end, "end", end=True) if end is not None else None
    if lower is not None and upper is not None and lower > upper:
        raise InvalidPeriod(f"start: {start} is after end {end}", field="start")
    return lower, upper


def _months_before(moment: datetime, months: int) -> datetime:
    """The first moment of the month ``months`` months before ``moment``'s (a month's start)."""
    index = moment.year * 12 + moment.month - 1 - months
    return moment.replace(year=index // 12, month=index % 12 + 1, day=1)


def long_date(moment: datetime) -> str:
    return f"{moment:%B} {moment.day}, {moment.year}"


def _bound_words(moment: datetime, *, end: bool) -> str:
    """A period's bound in words: its day, with the time (UTC) when the bound is not the day's
    first moment (a start) or last (an end): "January 1, 2023, 10:00 UTC"."""
    edge = time.max if end else time.min
    if moment.timetz().replace(tzinfo=None) == edge:
        return long_date(moment)
    shown = f"{moment:%H:%M:%S}" if moment.second or moment.microsecond else f"{moment:%H:%M}"
    return f"{long_date(moment)}, {shown} UTC"


@dataclass(frozen=True)
class Period:
    """A period of time, both ends included, as aware UTC datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise InvalidPeriod(f"start: {self.start.isoformat()} is after end {self.end.isoformat()}",
                                field="start")

    @classmethod
    def parse(cls, start: str, end: str) -> Period:
        """The period from ``start`` to ``end`` as :func:`period_bound` reads them."""
        lower, upper = bounds(start, end)
        assert lower is not None and upper is not None  # noqa: S101 - both were given
        return cls(lower, upper)

    def previous(self) -> Period | None:
        """The period just before this one, of as many calendar months when this one is whole
        months (a quarter's is the quarter before, a year's the year before: the periods earlier
        briefings gave), else of the same length. None before year 1."""
        try:
            end = self.start - timedelta(microseconds=1)
            months = self.calendar_months
            if months:
                return Period(_months_before(self.start, months), end)
            return Period(end - (self.end - self.start), end)
        except (OverflowError, ValueError):
            return None

    @property
    def calendar_months(self) -> int:
        """How many calendar months the period is, when it is whole months (from the first
        moment of a month to the last of one), else 0."""
        first = self.start == self.start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        try:
            after = self.end + timedelta(microseconds=1)
        except OverflowError:  # the last moment of year 9999
            return 0
        last = after == after.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if not (first and last):
            return 0
        return (after.year - self.start.year) * 12 + after.month - self.start.month

    @property
    def previous_words(self) -> str:
        """What :meth:`previous` is, in words: "the previous 6 calendar months", "the previous
        period of the same length"."""
        months = self.calendar_months
        if months == 1:
            return "the previous calendar month"
        if months:
            return f"the previous {months} calendar months"
        return "the previous period of the same length"

    @property
    def words(self) -> str:
        """``January 1, 2023, and June 30, 2023`` (the briefing's way)."""
        return f"{_bound_words(self.start, end=False)}, and {_bound_words(self.end, end=True)}"

    @property
    def span(self) -> str:
        """``January 1, 2023, to June 30, 2023``."""
        return f"{_bound_words(self.start, end=False)}, to {_bound_words(self.end, end=True)}"

    @property
    def slug(self) -> str:
        return f"{self.start:%Y-%m-%d}_{self.end:%Y-%m-%d}"


class WindowRule(StrEnum):
    """Why an incident counts as open in a period (see the module docstring)."""

    STILL_OPEN = "still_open"
    RESOLVED_AT = "resolved_at"
    LAST_COMMENT = "last_comment"
    CREATED_IN_WINDOW = "created_in_window"

    @property
    def description(self) -> str:
        return _RULE_TEXT[self]


_RULE_TEXT = {
    WindowRule.STILL_OPEN: "open in Bugzilla: filed on or before the end",
    WindowRule.RESOLVED_AT: "resolution time known (cf_last_resolved): filed on or before the end "
                            "and not resolved before the start",
    WindowRule.LAST_COMMENT: "closed, resolution time unknown: filed on or before the end and last "
                             "commented on (Bugzilla closes a bug with a comment) on or after the start",
    WindowRule.CREATED_IN_WINDOW: "closed or of unknown status, with no resolution or comment time: "
                                  "filed inside the period",
}


@dataclass(frozen=True)
class OpenIncident:
    """An incident the briefing counts: where it stands in time, its CA and its label."""

    id: int
    summary: str
    ca: str
    filed: datetime
    filed_when_received: bool
    rule: WindowRule
    label: Label
    categories: tuple[str, ...]


@dataclass(frozen=True)
class CategoryCount:
    """One row of the briefing: a category, its incidents, their CAs and label sources."""

    category: str
    incidents: int
    cas: tuple[str, ...]
    sources: dict[str, int]
    incident_ids: tuple[int, ...] = ()
    ca_counts: dict[str, int] = field(default_factory=dict)


def incidents(n: int) -> str:
    """``n`` incidents, in words: "1 incident", "2 incidents"."""
    return f"{n} incident" if n == 1 else f"{n} incidents"


@dataclass(frozen=True)
class Briefing:
    """The briefing table of a period, with how each count was reached."""

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
    incidents: dict[int, OpenIncident] = field(default_factory=dict, repr=False)
    excluded_ids: dict[str, tuple[int, ...]] = field(default_factory=dict)
    uncategorised_ids: tuple[int, ...] = ()
    filed_when_received: int = 0
    ca_counts: dict[str, int] = field(default_factory=dict)
    #: Of the incidents counted with a prediction, how many each model version labelled, most
    #: first: more than one while a relabel with the active version is under way, or before it.
    model_versions: dict[str, int] = field(default_factory=dict)

    @property
    def predicted_by(self) -> str:
        """Which models the counted predictions come from, in words (the report's footnote)."""
        active = self.model_version or "none active"
        others = [v for v in self.model_versions if v != self.model_version]
        if not others:
            return f"model {active}"
        versions = " and ".join(f"{v} for {self.model_versions[v]:,}" for v in self.model_versions)
        return (f"models {versions}: not every incident is labelled by the active version "
                f"({active}) yet; `incidents relabel` does it")

    @property
    def period(self) -> Period:
        return Period(self.start, self.end)

    @property
    def several_types(self) -> int:
        """Incidents that count in more than one row."""
        return sum(len(i.categories) > 1 for i in self.incidents.values())

    @property
    def reconciliation(self) -> str:
        """How the rows, the total and the incidents in no row fit together (the report's and
        the page's sentence)."""
        if not self.total:
            return "No incident was open in the period."
        categorised = sum(bool(i.categories) for i in self.incidents.values())
        return (f"The rows add up to {self.category_entries}: {incidents(categorised)} "
                f"{'counts' if categorised == 1 else 'count'} in at least one row "
                f"({self.several_types} of them in several), {self.uncategorised} in none; "
                f"{self.total} in all.")

    @property
    def waiting_for_review(self) -> tuple[int, ...]:
        """Incidents counted with a predicted label that its model flagged for review."""
        return tuple(i for i, label in self.labels.items()
                     if label.source is LabelSource.MODEL and label.needs_review)


def _status():
    return func.upper(func.coalesce(IncidentRow.status, ""))


def _is_open() -> ColumnElement[bool]:
    return _status().in_(OPEN_STATUSES)


def _is_closed() -> ColumnElement[bool]:
    """Bugzilla gave a status, and not an open one (an unknown status is neither)."""
    return and_(_status() != "", not_(_is_open()))


def filed_time():
    """When an incident was filed, or, unknown, when the store received it."""
    return func.coalesce(IncidentRow.creation_time, IncidentRow.synced_at)


def window_rule_case(start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
    """The SQL conditions of the four rules, in :class:`WindowRule`'s order (exclusive)."""
    filed = filed_time()
    filed_by_end = filed <= end
    unresolved = and_(not_(_is_open()), IncidentRow.resolved_at.is_(None))
    commented = and_(_is_closed(), IncidentRow.last_comment_time.is_not(None))
    still_open = and_(filed_by_end, _is_open())
    resolved_at = and_(filed_by_end, not_(_is_open()), IncidentRow.resolved_at.is_not(None),
                       IncidentRow.resolved_at >= start)
    last_comment = and_(filed_by_end, unresolved, commented, IncidentRow.last_comment_time >= start)
    created_in = and_(unresolved, not_(commented), filed >= start, filed_by_end)
    return still_open, resolved_at, last_comment, created_in


def open_in_window(start: datetime, end: datetime) -> Select:
    """``select`` of the ids of incidents open at some time in ``[start, end]``."""
    return select(IncidentRow.id).where(or_(*window_rule_case(start, end)))


def excluded_resolution(resolutions: Sequence[str]) -> ColumnElement[bool]:
    """A bug that is not an incident of its own: a closed one resolved as one of
    ``resolutions`` (case-insensitive), or a tracking bug (:func:`is_tracking_bug`)."""
    resolved = and_(not_(_is_open()), func.upper(func.coalesce(IncidentRow.resolution, ""))
                    .in_([r.upper() for r in resolutions]))
    tracking = func.lower(func.substr(IncidentRow.summary, 1, len(TRACKING_MARK))) == TRACKING_MARK
    return or_(resolved, tracking)


class _Closing(Protocol):
    """What :func:`rule_of` reads of an incident (a stored row, or those columns of it)."""

    @property
    def status(self) -> str | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def last_comment_time(self) -> datetime | None: ...


#: The columns the briefing reads of an incident: neither comment 0 nor the whiteboard, so that
#: a period of tens of thousands of incidents is rows of a few fields, not whole stored bugs.
_BRIEFED = (IncidentRow.id, IncidentRow.summary, IncidentRow.ca_name, IncidentRow.creation_time,
            IncidentRow.synced_at, IncidentRow.status, IncidentRow.resolution,
            IncidentRow.resolved_at, IncidentRow.last_comment_time)


def rule_of(row: _Closing) -> WindowRule:
    """Which rule counts ``row`` (when it is open in the period): :func:`window_rule_case` in Python."""
    status = (row.status or "").upper()
    if status in OPEN_STATUSES:
        return WindowRule.STILL_OPEN
    if row.resolved_at is not None:
        return WindowRule.RESOLVED_AT
    if status and row.last_comment_time is not None:
        return WindowRule.LAST_COMMENT
    return WindowRule.CREATED_IN_WINDOW


def _ca_counts(members: Sequence[OpenIncident]) -> dict[str, int]:
    counts = Counter(m.ca for m in members)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].lower())))


def briefing(*, session: Session, taxonomy: Taxonomy, start: datetime, end: datetime,
             active_version: str | None,
             excluded_resolutions: Sequence[str] = DEFAULT_EXCLUDED_RESOLUTIONS,
             ca_names: CANames | None = None) -> Briefing:
    """Count the incidents open in ``[start, end]`` per briefing category (both ends included).

    Bugs whose resolution is one of ``excluded_resolutions`` (case-insensitive; the setting
    ``briefing_excluded_resolutions``) are left out and counted apart, per resolution. CAs are
    shown as ``ca_names`` merges them (without it, as the summaries write them).
    """
    period = Period(start, end)  # InvalidPeriod when start is after end
    window = open_in_window(period.start, period.end)
    rows = session.execute(
        select(*_BRIEFED).where(IncidentRow.id.in_(window)).order_by(IncidentRow.id)).all()
    labels = incident_labels(session=session, incident_ids=window, active_version=active_version)
    undated = session.scalar(
        select(func.count()).select_from(IncidentRow).where(IncidentRow.creation_time.is_(None)))
    shown = shown_ca_names(session=session, ca_names=ca_names, stored={row.ca_name for row in rows})

    left_out = {r.upper() for r in excluded_resolutions}
    excluded: dict[str, list[int]] = {}
    counted: dict[int, OpenIncident] = {}
    for row in rows:
        resolution = (row.resolution or "").upper()
        if resolution in left_out and (row.status or "").upper() not in OPEN_STATUSES:
            excluded.setdefault(resolution, []).append(row.id)
            continue
        if is_tracking_bug(row.summary):
            excluded.setdefault(TRACKING, []).append(row.id)
            continue
        label = labels.get(row.id, Label(LabelSource.NONE))
        counted[row.id] = OpenIncident(
            id=row.id, summary=row.summary, ca=shown[row.ca_name],
            filed=row.creation_time or row.synced_at, filed_when_received=row.creation_time is None,
            rule=rule_of(row), label=label, categories=tuple(taxonomy.categories_of(label.tags)))

    per_category: dict[str, list[OpenIncident]] = {c: [] for c in taxonomy.categories}
    for incident in counted.values():
        for category in incident.categories:
            per_category[category].append(incident)
    model_sources = [s for s in LabelSource if s is not LabelSource.NONE]
    table = [
        CategoryCount(
            category=category,
            incidents=len(members),
            cas=tuple(sorted({m.ca for m in members}, key=str.lower)),
            sources={s.value: sum(m.label.source is s for m in members) for s in model_sources},
            incident_ids=tuple(m.id for m in members),
            ca_counts=_ca_counts(members),
        )
        for category, members in per_category.items()
    ]
    rules = Counter(i.rule for i in counted.values())
    sources = Counter(i.label.source for i in counted.values())
    versions = Counter(i.label.model_version for i in counted.values()
                       if i.label.source is LabelSource.MODEL and i.label.model_version)
    return Briefing(
        start=period.start, end=period.end, model_version=active_version, rows=table,
        total=len(counted), category_entries=sum(r.incidents for r in table),
        uncategorised=sum(not i.categories for i in counted.values()),
        rules={r.value: rules[r] for r in WindowRule},
        sources={s.value: sources[s] for s in LabelSource},
        undated=int(undated or 0),
        excluded={r: len(ids) for r, ids in sorted(excluded.items())},
        labels={i: incident.label for i, incident in counted.items()}, incidents=counted,
        excluded_ids={r: tuple(ids) for r, ids in sorted(excluded.items())},
        uncategorised_ids=tuple(i for i, incident in counted.items() if not incident.categories),
        filed_when_received=sum(i.filed_when_received for i in counted.values()),
        ca_counts=_ca_counts(list(counted.values())),
        model_versions=dict(sorted(versions.items(), key=lambda kv: (-kv[1], kv[0]))),
    )
