"""Bugzilla's REST client: bugs and comments of the CA-compliance component, retried when transient.

Sends and their retries belong to urllib3's ``Retry``, mounted on the ``requests`` session:
timeouts, connection errors, 429 and 5xx are tried again with exponential backoff, honouring
``Retry-After``, both capped. An answer whose body breaks off or is not JSON is retried here, on
the same count and backoff, since urllib3 hands the body over unread. A refusal (another 4xx)
stops at once. The API key is sent as a header and never appears in a log line, a message or a
``repr``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import RequestHistory, Retry

from classifier import BugzillaUnavailable

from ..config import Settings

log = logging.getLogger(__name__)

PRODUCT = "CA Program"
COMPONENT = "CA Certificate Compliance"


def elsewhere(bug_id: int | None, product: str | None, component: str | None) -> str | None:
    """Why a bug of ``product`` / ``component`` is not an incident (None when it is one): the
    sync, the webhook and ``POST /classify`` store no other."""
    if (product, component) == (PRODUCT, COMPONENT):
        return None
    return (f"bug {bug_id} is in {product or '(no product)'} / {component or '(no component)'}, "
            f"not {PRODUCT} / {COMPONENT}")
BUG_FIELDS = ("id", "summary", "whiteboard", "status", "resolution", "creation_time",
              "last_change_time", "cf_last_resolved", "creator")
API_KEY_HEADER = "X-BUGZILLA-API-KEY"
# 429 and every status from 500 up: http.client admits statuses up to 999, and any of them
# above 499 is the server's trouble, worth another try.
TRANSIENT_STATUSES = frozenset({429, *range(500, 1000)})

Sleep = Callable[[float], None]


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


def _failure(error: BaseException | None, timeout: float) -> str:
    """Why one attempt failed, from the error recorded in its ``Retry`` history."""
    if isinstance(error, _Uncounted):
        return error.reason
    if isinstance(error, ReadTimeoutError) or (isinstance(error, ConnectTimeoutError)
                                               and not isinstance(error, NewConnectionError)):
        return f"no answer within {timeout:g} s"
    # The names requests.adapters.HTTPAdapter.send gives these errors when it raises them.
    name = ("ProxyError" if isinstance(error, ProxyError)
            else "SSLError" if isinstance(error, SSLError) else "ConnectionError")
    return f"connection failed ({name})"


def _request_failure(exc: requests.RequestException, timeout: float) -> str | None:
    """Why a request failed when sending it again may help; None when it cannot."""
    cause = exc.args[0] if exc.args else None
    if isinstance(exc, requests.ConnectionError) and isinstance(cause, MaxRetryError):
        # urllib3 gave up; a read timeout then comes as a bare ConnectionError, so its last
        # error says what happened.
        return _failure(cause.reason, timeout)
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.ConnectionError):
        return f"connection failed ({type(exc).__name__})"
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError)):
        return f"the answer broke off ({type(exc).__name__})"
    return None


def _gave_up(exc: requests.RequestException) -> bool:
    """Whether urllib3 raised this after its last retry (its count is spent)."""
    return bool(exc.args) and isinstance(exc.args[0], MaxRetryError)


class _Uncounted(Exception):
    """A failed attempt urllib3 did not count: the body broke off or is not JSON.

    ``spent`` is urllib3's count up to that attempt; the retry goes on from it, so these
    failures share the attempts and the backoff with the ones urllib3 retries.
    """

    def __init__(self, reason: str, *, status: int | None, spent: Retry) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.spent = spent


@dataclass(frozen=True)
class RequestBudget:
    """What one caller may spend on a request at most: the timeout of each try, the tries, and
    the wait between two (``BugzillaClient.from_settings`` takes the lower of it and the
    settings)."""

    timeout: float
    max_attempts: int
    max_wait: float


@dataclass(frozen=True)
class _Request:
    """What a retry's wait and log line need to know of the request it repeats."""

    what: str  # "GET /rest/bug (offset 20) at https://bugzilla.mozilla.org"
    timeout: float
    retries: int  # allowed in all, for "retry 2 of 4"
    sleep: Sleep


class _Retry(Retry):
    """urllib3's ``Retry`` waiting the way this client always has.

    Every wait goes through the client's ``sleep`` (tests record it) and is logged with why the
    attempt failed. ``backoff_max`` (the client's ``max_wait``) caps what ``Retry-After`` asks
    for as well as the backoff. The first retry waits ``backoff_factor`` where urllib3 would
    wait nothing, each further one twice the one before.
    """

    # status_forcelist alone decides which answers are retried: urllib3 would also retry a 413
    # naming a Retry-After, which is a refusal here like any other 4xx.
    RETRY_AFTER_STATUS_CODES: frozenset[int] = frozenset()

    def __init__(self, *args: Any, request: _Request, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request

    def new(self, **kw: Any) -> Self:
        kw.setdefault("request", self.request)
        return super().new(**kw)

    def get_backoff_time(self) -> float:
        # Every failure counts: no redirect is followed, so none breaks the sequence.
        failures = len(self.history)
        if failures == 0:
            return 0.0
        return float(min(self.backoff_max, self.backoff_factor * 2 ** (failures - 1)))

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        # Our parser, not urllib3's: it takes fractional seconds, and reads an unparsable
        # header as absent (urllib3 raises InvalidHeader) so the backoff applies.
        seconds = _retry_after(response.headers.get("Retry-After"))
        return None if seconds is None else min(self.backoff_max, seconds)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        retry_after = (self.get_retry_after(response)
                       if response is not None and self.respect_retry_after_header else None)
        wait = retry_after if retry_after is not None else self.get_backoff_time()
        last: RequestHistory = self.history[-1]
        reason = (f"HTTP {last.status}" if last.error is None and last.status is not None
                  else _failure(last.error, self.request.timeout))
        log.warning("%s: %s; retry %d of %d in %.1f s", self.request.what, reason,
                    len(self.history), self.request.retries, wait)
        self.request.sleep(wait)  # even a wait of 0 s, which urllib3 would skip


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
        # urllib3 retries every send; _get_json swaps in each request's own count (named after
        # it in log lines), so requests go one at a time.
        self._adapter = HTTPAdapter(max_retries=self._retry("GET"))
        for prefix in ("http://", "https://"):
            self._session.mount(prefix, self._adapter)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, sleep: Sleep = time.sleep,
                      budget: RequestBudget | None = None) -> BugzillaClient:
        """The client of ``settings``; a ``budget`` caps its timeout, tries and waits (a caller
        that someone waits on, such as the webhook, cannot spend a sync's minutes)."""
        timeout, attempts = settings.bugzilla_timeout, settings.bugzilla_max_attempts
        wait = settings.bugzilla_max_wait
        if budget is not None:
            timeout, attempts = min(timeout, budget.timeout), min(attempts, budget.max_attempts)
            wait = min(wait, budget.max_wait)
        return cls(settings.bugzilla_url, api_key=settings.bugzilla_api_key, timeout=timeout,
                   max_attempts=attempts, backoff=min(settings.bugzilla_backoff, wait),
                   max_wait=wait, sleep=sleep)

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

    def _retry(self, what: str) -> _Retry:
        """A full count of attempts for one request; ``what`` names it in log lines."""
        retries = self.max_attempts - 1
        return _Retry(total=retries, connect=retries, read=retries, status=retries,
                      redirect=False, allowed_methods=frozenset({"GET"}),
                      status_forcelist=TRANSIENT_STATUSES, backoff_factor=self.backoff,
                      backoff_max=self.max_wait, respect_retry_after_header=True,
                      # The last 429/5xx comes back as an answer: its status goes in the error.
                      raise_on_status=False,
                      request=_Request(f"{what} at {self.base_url}", self.timeout, retries,
                                       self._sleep))

    def _get_json(self, path: str, params: Mapping[str, Any], what: str) -> Any:
        """The JSON answer of one GET: urllib3 retries failed sends, this loop broken answers."""
        retry: Retry = self._retry(what)
        with self._lock:
            while True:
                # requests passes no Retry per request, only the adapter's: this request's
                # count goes there, so a retry after a broken answer goes on with it.
                self._adapter.max_retries = retry
                try:
                    return self._attempt(path, params, what, retry)
                except _Uncounted as failure:
                    try:
                        retry = failure.spent.increment("GET", path, error=failure)
                    except MaxRetryError:
                        raise self._unavailable(what, len(failure.spent.history) + 1,
                                                failure.reason, failure.status) from failure
                retry.sleep()

    def _attempt(self, path: str, params: Mapping[str, Any], what: str, retry: Retry) -> Any:
        """One send (with urllib3's retries) and its answer read and checked."""
        try:
            # No redirects: requests would carry the API key header to whatever host they name.
            # Streamed, so the body is read below, where a broken one can still be retried.
            response = self._session.get(self.base_url + path, params=params, stream=True,
                                         timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            reason = self._transient(exc, what)
            if _gave_up(exc):  # every attempt failed, the last one without an answer
                raise self._unavailable(what, self.max_attempts, reason, None) from exc
            # urllib3 let it through uncounted (it does not with this Retry): count it here.
            raise _Uncounted(reason, status=None, spent=retry) from exc
        with response:
            spent = response.raw.retries or retry  # urllib3's count up to this answer
            try:
                response.content  # noqa: B018 - reads the body now, where failing is retried
            except requests.RequestException as exc:
                raise _Uncounted(self._transient(exc, what), status=None, spent=spent) from exc
            status = response.status_code
            if status in TRANSIENT_STATUSES:  # urllib3 ran out of retries and passed it on
                raise self._unavailable(what, len(spent.history) + 1, f"HTTP {status}", status)
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
                raise _Uncounted("the answer is not valid JSON (truncated?)", status=status,
                                 spent=spent) from exc
            if isinstance(data, Mapping) and data.get("error"):
                raise BugzillaUnavailable(f"{what} at {self.base_url}: Bugzilla error "
                                          f"{data.get('code', '?')}: {_bugzilla_message(response)}",
                                          status=status)
            return data

    def _transient(self, exc: requests.RequestException, what: str) -> str:
        """Why the request failed, if sending it again may help; else BugzillaUnavailable."""
        reason = _request_failure(exc, self.timeout)
        if reason is None:
            raise BugzillaUnavailable(f"{what} at {self.base_url}: cannot send the request "
                                      f"({type(exc).__name__})") from exc
        return reason

    def _unavailable(self, what: str, attempts: int, reason: str,
                     status: int | None) -> BugzillaUnavailable:
        return BugzillaUnavailable(
            f"{what} at {self.base_url} failed {attempts} "
            f"time{'s' if attempts > 1 else ''} (last: {reason})",
            attempts=attempts, status=status)
