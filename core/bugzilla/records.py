"""Bugzilla's REST shapes (a bug, its comments) turned into the records the store keeps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from classifier import Incident, InvalidIncident, Taxonomy, WhiteboardTags

from ..moments import as_utc
from ..store import checked_bug_id
from ..text import unstorable


def parse_time(value: Any, field: str) -> datetime | None:
    """A Bugzilla timestamp (``2023-12-29T16:33:04Z``) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidIncident(f"{field}: {value!r} is not an ISO 8601 time", field=field) from exc
    else:
        raise InvalidIncident(f"{field}: expected an ISO 8601 string, got {type(value).__name__}",
                              field=field)
    return as_utc(moment)


#: Longest value the store keeps of each short field (its column's size).
MAX_LENGTHS = {"creator": 255, "creator_domain": 255, "product": 255, "component": 255,
               "status": 64, "resolution": 64, "tag": 128,
               # Not the columns' (text), but what the REST API takes too: Bugzilla itself stops
               # a summary at 255 characters and a comment at 65,535, and 5 million characters
               # took 28 s and 1.7 GB to classify.
               "summary": 1_000, "description": 100_000}


def _check_text(value: str, field: str, kind: str | None = None) -> str:
    """Refuse what one back end would store and another would not (NUL, over-long values)."""
    what = f"{field}: a {kind}" if kind else field
    problem = unstorable(value)
    if problem:
        raise InvalidIncident(f"{what} {problem}", field=field)
    limit = MAX_LENGTHS.get(kind or field)
    if limit is not None and len(value) > limit:
        raise InvalidIncident(f"{what} is longer than {limit} characters", field=field)
    return value


def checked_description(comments: Any) -> str:
    """Comment 0's text (:func:`comment_zero`), refused (InvalidIncident naming ``description``)
    when one back end would store it and another would not: a NUL, or over the store's limit."""
    return _check_text(comment_zero(comments), "description")


def whiteboard_tags(whiteboard: str, taxonomy: Taxonomy) -> WhiteboardTags:
    """The whiteboard's tags, refusing a tag too long for the store (InvalidIncident)."""
    tags = taxonomy.parse_whiteboard(whiteboard)
    for tag in tags.all:
        _check_text(tag, "whiteboard", "tag")
    return tags


def _optional_str(bug: Mapping[str, Any], field: str) -> str | None:
    value = bug.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidIncident(f"{field}: expected a string, got {type(value).__name__}", field=field)
    return _check_text(value, field)


def _comment_number(comment: object, index: int) -> int:
    """A comment's ``count`` (its number in the bug; 0 is the description), 0 when it has none.

    Raises :class:`InvalidIncident` naming the comment whose ``count`` is not an integer (one
    such count among numbers would otherwise stop whatever reads the bug with a TypeError).
    """
    count = comment.get("count") if isinstance(comment, Mapping) else None
    if count is None:
        return 0
    if isinstance(count, bool) or not isinstance(count, int):
        raise InvalidIncident(f"comments[{index}].count: expected an integer, got "
                              f"{type(count).__name__}", field=f"comments[{index}].count")
    return count


def comment_zero(comments: Sequence[Mapping[str, Any]] | None, *, public_only: bool = False) -> str:
    """The text of comment 0 (the description) from Bugzilla's comment list, or ``""``.

    With ``public_only``, a private comment 0 (``is_private``) gives ``""`` as well, and so does
    a list without comment 0 (Bugzilla leaves out private comments for who may not see them).
    Raises :class:`InvalidIncident` naming a comment whose ``count`` is not an integer.
    """
    if not comments:
        return ""
    _, first = min(enumerate(comments), key=lambda item: _comment_number(item[1], item[0]))
    if not isinstance(first, Mapping) or (public_only and (first.get("is_private")
                                                           or first.get("count", 0) != 0)):
        return ""
    text = first.get("text")
    return text if isinstance(text, str) else ""


def last_comment_time(comments: Sequence[Mapping[str, Any]] | None) -> datetime | None:
    """The creation time of the newest public comment of Bugzilla's comment list, or None.

    Private comments (``is_private``) are left out: the store keeps nothing private. Raises
    :class:`InvalidIncident` naming the comment whose ``creation_time`` is not a time.
    """
    times = []
    for index, comment in enumerate(comments or ()):
        if not isinstance(comment, Mapping) or comment.get("is_private"):
            continue
        moment = parse_time(comment.get("creation_time"), f"comments[{index}].creation_time")
        if moment is not None:
            times.append(moment)
    return max(times, default=None)


@dataclass(frozen=True)
class BugRecord:
    """A bug as the store keeps it: Bugzilla's fields, comment 0 and the parsed whiteboard."""

    id: int
    summary: str
    description: str
    whiteboard: str
    tags: WhiteboardTags
    creator: str | None = None
    creator_domain: str | None = None
    product: str | None = None
    component: str | None = None
    status: str | None = None
    resolution: str | None = None
    creation_time: datetime | None = None
    last_change_time: datetime | None = None
    resolved_at: datetime | None = None
    last_comment_time: datetime | None = None

    @classmethod
    def from_rest(cls, bug: Mapping[str, Any], comments: Sequence[Mapping[str, Any]] | None,
                  taxonomy: Taxonomy) -> BugRecord:
        """Build a record from ``GET /rest/bug`` and ``GET /rest/bug/<id>/comment`` shapes.

        ``comments`` give comment 0 (the description) and the time of the last public comment.
        Raises :class:`InvalidIncident` naming the field that is wrong.
        """
        if not isinstance(bug, Mapping):
            raise InvalidIncident("a bug must be a JSON object", field="bug")
        bug_id = checked_bug_id(bug.get("id"), "id")
        summary = bug.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise InvalidIncident("summary: must be a non-empty string", field="summary")
        whiteboard = _optional_str(bug, "whiteboard") or ""
        tags = whiteboard_tags(whiteboard, taxonomy)
        description = checked_description(comments)
        creator = _optional_str(bug, "creator")
        domain = _optional_str(bug, "creator_domain")
        if domain is None and creator and "@" in creator:
            domain = creator.rsplit("@", 1)[1]
        return cls(
            id=bug_id,
            summary=_check_text(summary.strip(), "summary"),
            description=description,
            whiteboard=whiteboard,
            tags=tags,
            creator=creator,
            creator_domain=domain.lower() if domain else None,
            product=_optional_str(bug, "product"),
            component=_optional_str(bug, "component"),
            status=_optional_str(bug, "status"),
            resolution=_optional_str(bug, "resolution"),
            creation_time=parse_time(bug.get("creation_time"), "creation_time"),
            last_change_time=parse_time(bug.get("last_change_time"), "last_change_time"),
            resolved_at=parse_time(bug.get("cf_last_resolved"), "cf_last_resolved"),
            last_comment_time=last_comment_time(comments),
        )

    def incident(self) -> Incident:
        return Incident(summary=self.summary, description=self.description, id=self.id,
                        creator_domain=self.creator_domain, creation_time=self.creation_time,
                        status=self.status, resolution=self.resolution,
                        resolved_at=self.resolved_at)
