"""Bugzilla: its REST shapes as records, the REST client, the incremental sync and snapshot files."""

from .client import API_KEY_HEADER, COMPONENT, PRODUCT, BugzillaClient, RequestBudget, bugzilla_time, elsewhere
from .records import BugRecord, comment_zero, last_comment_time, parse_time, whiteboard_tags
from .snapshot import BUGS_FILE, COMMENTS_FILE, read_snapshot
from .sync import SyncReport, read_sync_state, sync_from_bugzilla, sync_snapshot, write_sync_state

__all__ = [
    "API_KEY_HEADER",
    "BUGS_FILE",
    "COMMENTS_FILE",
    "COMPONENT",
    "PRODUCT",
    "BugRecord",
    "BugzillaClient",
    "RequestBudget",
    "SyncReport",
    "bugzilla_time",
    "comment_zero",
    "elsewhere",
    "last_comment_time",
    "parse_time",
    "read_snapshot",
    "read_sync_state",
    "sync_from_bugzilla",
    "sync_snapshot",
    "whiteboard_tags",
    "write_sync_state",
]
