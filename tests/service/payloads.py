"""Request bodies of the service tests, in Bugzilla's REST shape."""

from __future__ import annotations

from typing import Any

from tests.fixtures import make_bugs


def bug_payloads(bugs: dict | None = None, comments: dict | None = None) -> list[dict[str, Any]]:
    """Each bug of a ``bugs.json`` payload with its comments (the small snapshot's by default)."""
    if bugs is None or comments is None:
        bugs, comments = make_bugs()
    by_id = comments["bugs"]
    return [{**bug, "comments": by_id.get(str(bug["id"]), {}).get("comments", [])}
            for bug in bugs["bugs"]]


def without(bug: dict[str, Any], *names: str) -> dict[str, Any]:
    """A copy of ``bug`` without the given fields."""
    return {k: v for k, v in bug.items() if k not in names}


def new_bug(bug_id: int | None = None, **fields: Any) -> dict[str, Any]:
    """A bug that is not in any snapshot (an OCSP outage), with ``fields`` changed."""
    bug: dict[str, Any] = {
        "summary": "Nimbus Trust: OCSP responder returned unknown for valid certificates",
        "description": "Our OCSP responder answered with malformed responses for 6 hours.",
        "creation_time": "2020-03-04T10:00:00Z",
        "creator_domain": "nimbustrust.example",
        "status": "RESOLVED",
        "resolution": "FIXED",
    }
    if bug_id is not None:
        bug["id"] = bug_id
    bug.update(fields)
    return bug
