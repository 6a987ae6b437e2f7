"""Bugzilla's REST API through ``requests``: bugs and comments of the CA-compliance component.

Transient failures (timeouts, connection errors, 429, 5xx, broken JSON) are retried with
exponential backoff, honouring ``Retry-After``; a refusal (another 4xx) stops at once. The API
key is sent as a header and never appears in a log line, a message or a ``repr``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr

from classifier import BugzillaUnavailable

from ..config import Settings

log = logging.getLogger(__name__)

PRODUCT = "CA Program"
COMPONENT = "CA Certificate Compliance"
BUG_FIELDS = ("id", "summary", "whiteboard", "status", "resolution", "creation_time",
              "last_change_time", "cf_last_resolved", "creator")
API_KEY_HEADER = "X-BUGZILLA-API-KEY"

Sleep = Callable[[float], None]


class _Transient(Exception):
    """A failed attempt worth repeating: no answer, a broken answer, 429 or 5xx."""

    def __init__(self, reason: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (seconds or an HTTP date), if any."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _bugzilla_message(response: requests.Response) -> str:
    """Bugzilla's own error text (``{"error": true, "message": ...}``), or the HTTP reason."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, Mapping) and isinstance(data.get("message"), str):
        return data["message"][:300]
    return response.reason or "no reason given"


def bugzilla_time(moment: datetime) -> str:
    """A time as Bugzilla's search takes it: ``2024-05-01T12:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BugzillaClient:
    """Reads bugs and comments from one Bugzilla's REST API, retrying transient failures.

    Parameters
    ----------
    base_url : the Bugzilla's address, e.g. ``https://bugzilla.mozilla.org``.
    api_key : sent as the ``X-BUGZILLA-API-KEY`` header when given; never logged, never part
        of a message or of ``repr``.
    timeout : seconds to wait to connect, and then for each read.
    max_attempts : tries of one request before :class:`BugzillaUnavailable` is raised.
    backoff : seconds before the first retry, doubled on each further one.
    max_wait : cap of one wait, also of what ``Retry-After`` asks for.
    sleep : how to wait (tests pass a recorder instead of :func:`time.sleep`).
    """

    def __init__(self, base_url: str, *, api_key: SecretStr | None = None, timeout: float = 30.0,
                 max_attempts: int = 5, backoff: float = 1.0, max_wait: float = 60.0,
                 sleep: Sleep = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_wait = max_wait
        self._sleep = sleep
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        self._has_key = api_key is not None
        if api_key is not None:
            self._session.headers[API_KEY_HEADER] = api_key.get_secret_value()

    @classmethod
    def from_settings(cls, settings: Settings, *, sleep: Sleep = time.sleep) -> BugzillaClient:
        return cls(settings.bugzilla_url, api_key=settings.bugzilla_api_key,
                   timeout=settings.bugzilla_timeout, max_attempts=settings.bugzilla_max_attempts,
                   backoff=settings.bugzilla_backoff, max_wait=settings.bugzilla_max_wait,
                   sleep=sleep)

    def __repr__(self) -> str:
        key = "set" if self._has_key else "none"
        return f"BugzillaClient({self.base_url!r}, api_key={key})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> BugzillaClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def bug_page(self, *, offset: int, limit: int,
                 changed_since: datetime | None = None) -> list[dict[str, Any]]:
        """One page of the component's bugs in bug id order, optionally only changed ones.

        Bug id order keeps pages stable while the sync runs: a bug filed meanwhile lands on the
        last page, and a bug changed meanwhile keeps its place.
        """
        params: dict[str, Any] = {
            "product": PRODUCT, "component": COMPONENT, "include_fields": ",".join(BUG_FIELDS),
            "order": "bug_id", "limit": limit, "offset": offset,
        }
        if changed_since is not None:
            params["last_change_time"] = bugzilla_time(changed_since)
        what = f"GET /rest/bug (offset {offset})"
        data = self._get_json("/rest/bug", params, what)
        bugs = data.get("bugs") if isinstance(data, Mapping) else None
        if not isinstance(bugs, list) or not all(isinstance(b, Mapping) for b in bugs):
            raise BugzillaUnavailable(f"{what} at {self.base_url}: expected {{\"bugs\": [...]}}, "
                                      "got another shape")
        return [dict(b) for b in bugs]

    def comments(self, bug_id: int) -> list[Mapping[str, Any]]:
        """The comments of one bug (comment 0 first), as ``GET /rest/bug/<id>/comment`` gives."""
        what = f"GET /rest/bug/{bug_id}/comment"
        data = self._get_json(f"/rest/bug/{bug_id}/comment", {}, what)
        bugs = data.get("bugs") if isinstance(data, Mapping) else None
        entry = bugs.get(str(bug_id)) if isinstance(bugs, Mapping) else None
        comments = entry.get("comments") if isinstance(entry, Mapping) else None
        if not isinstance(comments, list) or not all(isinstance(c, Mapping) for c in comments):
            raise BugzillaUnavailable(f"{what} at {self.base_url}: expected "
                                      f'{{"bugs": {{"{bug_id}": {{"comments": [...]}}}}}}')
        return comments

    def _get_json(self, path: str, params: Mapping[str, Any], what: str) -> Any:
        """The JSON answer of one GET, retried with backoff while the failure is transient."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._attempt(path, params, what)
            except _Transient as failure:
                last = failure
            if attempt == self.max_attempts:
                break
            wait = self._wait(attempt, last.retry_after)
            log.warning("%s at %s: %s; retry %d of %d in %.1f s", what, self.base_url, last.reason,
                        attempt, self.max_attempts - 1, wait)
            self._sleep(wait)
        raise BugzillaUnavailable(
            f"{what} at {self.base_url} failed {self.max_attempts} "
            f"time{'s' if self.max_attempts > 1 else ''} (last: {last.reason})",
            attempts=self.max_attempts, status=last.status)

    def _attempt(self, path: str, params: Mapping[str, Any], what: str) -> Any:
        try:
            # No redirects: requests would carry the API key header to whatever host they name.
            response = self._session.get(self.base_url + path, params=params,
                                         timeout=self.timeout, allow_redirects=False)
        except requests.Timeout as exc:
            raise _Transient(f"no answer within {self.timeout:g} s") from exc
        except requests.ConnectionError as exc:
            raise _Transient(f"connection failed ({type(exc).__name__})") from exc
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            raise _Transient(f"the answer broke off ({type(exc).__name__})") from exc
        except requests.RequestException as exc:
            raise BugzillaUnavailable(f"{what} at {self.base_url}: cannot send the request "
                                      f"({type(exc).__name__})") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Transient(f"HTTP {status}", status=status,
                             retry_after=_retry_after(response.headers.get("Retry-After")))
        if 300 <= status < 400:
            target = urlsplit(response.headers.get("Location", ""))
            where = f"{target.scheme}://{target.netloc}" if target.netloc else "another path"
            raise BugzillaUnavailable(
                f"{what} at {self.base_url}: redirected (HTTP {status}) to {where}; set "
                "INCIDENTS_BUGZILLA_URL to the address Bugzilla answers at", status=status)
        if status >= 400:
            raise BugzillaUnavailable(f"{what} at {self.base_url}: refused with HTTP {status}: "
                                      f"{_bugzilla_message(response)}", status=status)
        try:
            data = response.json()
        except ValueError as exc:
            raise _Transient("the answer is not valid JSON (truncated?)", status=status) from exc
        if isinstance(data, Mapping) and data.get("error"):
            raise BugzillaUnavailable(f"{what} at {self.base_url}: Bugzilla error "
                                      f"{data.get('code', '?')}: {_bugzilla_message(response)}",
                                      status=status)
        return data

    def _wait(self, attempt: int, retry_after: float | None) -> float:
        wanted = retry_after if retry_after is not None else self.backoff * 2 ** (attempt - 1)
        return min(self.max_wait, wanted)
