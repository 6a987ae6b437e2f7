"""Days and times as the project reads them from people: calendar dates (``2023-01-01``) and ISO
times (``2023-01-01T12:00:00Z``) only. Python's own reading also takes week dates (``2023-W26``,
which as the end of a period covered its Monday alone) and dates without dashes (``20230101``);
every command, setting and route reads through here so that all refuse them alike."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

#: A day, or a day and a time (``T`` or a blank between them).
_CALENDAR = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:$|[T ])")


def as_utc(moment: datetime) -> datetime:
    """``moment`` aware and in UTC: a naive one is taken as UTC already (the store, Bugzilla and
    the cards write UTC), an aware one is converted."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def calendar_day(text: str) -> date:
    """``text`` as a calendar day, ``2023-01-01`` only; ValueError otherwise."""
    if len(text) != 10 or not _CALENDAR.match(text):
        raise ValueError(text)
    return date.fromisoformat(text)


def calendar_moment(text: str) -> datetime:
    """``text`` as a calendar day (at midnight) or a time on one, naive when it names no zone;
    ValueError otherwise."""
    if not _CALENDAR.match(text):
        raise ValueError(text)
    return datetime.fromisoformat(text)
