"""A local Bugzilla stand-in: Bugzilla's REST shapes on a loopback port, failing on purpose."""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fixtures import make_bugs

API_KEY_HEADER = "X-BUGZILLA-API-KEY"
PRODUCT = "CA Program"
COMPONENT = "CA Certificate Compliance"
# How the stand-in can fail: no answer in time, 429, 500, a cut body with a matching length, a
# body that stops before its announced length, or a redirect to another host.
FAILURE_MODES = ("timeout", "429", "500", "truncated", "broken", "redirect")


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def bugzilla_data(n_per_tag: int = 12) -> tuple[list[dict[str, Any]], dict[int, list[dict]]]:
    """The test bugs as Bugzilla itself holds them: reporters' addresses, change times.

    Built from :func:`tests.fixtures.make_bugs`; one more bug sits in another component of the
    product, so a client that forgets the component filter stores it.
    """
    made_bugs, made_comments = make_bugs(n_per_tag=n_per_tag)
    bugs = []
    for i, bug in enumerate(made_bugs["bugs"]):
        created = _parse(bug["creation_time"])
        bug = dict(bug)
        domain = bug.pop("creator_domain")
        bug["creator"] = f"reporter{i}@{domain}"
        bug["last_change_time"] = _time(created + timedelta(days=30 + i % 7, minutes=i))
        bug["cf_last_resolved"] = _time(created + timedelta(days=20))
        bugs.append(bug)
    comments = {int(k): v["comments"] for k, v in made_comments["bugs"].items()}
    other = {**bugs[0], "id": 1_400_000, "component": "CA Certificate Root Inclusion Request",
             "summary": "Acme Trust: root inclusion request"}
    bugs.append(other)
    comments[other["id"]] = [{"bug_id": other["id"], "count": 0, "text": "Please include us.",
                              "creation_time": other["creation_time"], "is_private": False}]
    return bugs, comments


@dataclass(frozen=True)
class Request:
    """One request the stand-in received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]

    @property
    def is_bug_list(self) -> bool:
        return self.path == "/rest/bug"

    @property
    def comment_bug(self) -> int | None:
        parts = self.path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["rest", "bug"] and parts[3] == "comment":
            return int(parts[2])
        return None


@dataclass
class Failure:
    mode: str
    times: int | None  # None: every time
    retry_after: str | None = None
    served: int = 0


@dataclass
class BugzillaStandIn:
    """Serves ``GET /rest/bug`` and ``GET /rest/bug/<id>/comment`` from memory.

    ``fail(target, mode, times)`` makes requests fail: target ``"bugs"`` (any bug list),
    ``"bugs@<offset>"`` (the page at that offset), ``"comment"`` (any) or ``"comment@<id>"``.
    """

    bugs: dict[int, dict[str, Any]]
    comments: dict[int, list[dict[str, Any]]]
    api_key: str | None = None  # when set, any other key is refused with 401
    max_limit: int | None = None  # like Bugzilla's max_search_results
    stall_seconds: float = 5.0
    requests: list[Request] = field(default_factory=list)
    failures: dict[str, Failure] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_data(cls, bugs: list[dict[str, Any]], comments: dict[int, list[dict]],
                  **options: Any) -> BugzillaStandIn:
        return cls({b["id"]: copy.deepcopy(b) for b in bugs}, copy.deepcopy(comments), **options)

    # -- control ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "the stand-in is not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> BugzillaStandIn:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def fail(self, target: str, mode: str, times: int | None = 1,
             retry_after: str | None = None) -> None:
        assert mode in FAILURE_MODES, mode
        with self._lock:
            self.failures[target] = Failure(mode, times, retry_after)

    def heal(self) -> None:
        with self._lock:
            self.failures.clear()

    def change(self, bug_id: int, *, when: datetime, **fields: Any) -> None:
        """Change a bug as a Bugzilla user would: its fields and its last_change_time."""
        with self._lock:
            self.bugs[bug_id].update(fields, last_change_time=_time(when.astimezone(UTC)))

    def file(self, bug: dict[str, Any], comment: str) -> None:
        with self._lock:
            self.bugs[bug["id"]] = bug
            self.comments[bug["id"]] = [{"bug_id": bug["id"], "count": 0, "text": comment,
                                         "creation_time": bug["creation_time"],
                                         "is_private": False}]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- serving -----------------------------------------------------------------------------

    def _failure(self, request: Request) -> Failure | None:
        if request.is_bug_list:
            targets = [f"bugs@{request.query.get('offset', '0')}", "bugs"]
        else:
            targets = [f"comment@{request.comment_bug}", "comment"]
        with self._lock:
            for target in targets:
                failure = self.failures.get(target)
                if failure is not None and (failure.times is None
                                            or failure.served < failure.times):
                    failure.served += 1
                    return failure
        return None

    def answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
            if self.api_key is not None and request.headers.get(API_KEY_HEADER) != self.api_key:
                return 401, {"error": True, "code": 306, "message":
                             "The API key you specified is invalid. Please check that you typed "
                             "it correctly."}
            if request.is_bug_list:
                return 200, {"bugs": self._search(request.query)}
            bug_id = request.comment_bug
            if bug_id is not None and bug_id in self.bugs:
                return 200, {"bugs": {str(bug_id): {"comments": self.comments.get(bug_id, [])}},
                             "comments": {}}
            if bug_id is not None:
                return 404, {"error": True, "code": 101,
                             "message": f"Bug #{bug_id} does not exist."}
            return 404, {"error": True, "code": 32614, "message": "A REST API resource was not "
                         "found for 'GET " + request.path + "'."}

    def _search(self, query: dict[str, str]) -> list[dict[str, Any]]:
        found = [b for b in self.bugs.values() if b["product"] == query.get("product")
                 and b["component"] == query.get("component")]
        if "last_change_time" in query:
            since = _parse(query["last_change_time"])
            found = [b for b in found if _parse(b["last_change_time"]) >= since]
        found.sort(key=lambda b: b["id"])
        offset = int(query.get("offset", 0))
        limit = int(query.get("limit", 0))
        if self.max_limit is not None and (limit == 0 or limit > self.max_limit):
            limit = self.max_limit
        found = found[offset:offset + limit] if limit else found[offset:]
        fields = query.get("include_fields")
        if fields:
            wanted = fields.split(",")
            found = [{k: b[k] for k in wanted if k in b} for b in found]
        return copy.deepcopy(found)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: BugzillaStandIn

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (timeout) leaves a closed socket behind: not the test's business.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        standin = self.server.standin
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        request = Request(parts.path, query, {k: v for k, v in self.headers.items()})
        failure = standin._failure(request)
        status, body = standin.answer(request)
        data = json.dumps(body).encode()
        headers: dict[str, str] = {}
        if failure is not None:
            if failure.mode == "timeout":
                standin._stop.wait(standin.stall_seconds)
            elif failure.mode in ("429", "500"):
                status = int(failure.mode)
                data = json.dumps({"error": True, "message": "try again later"}).encode()
                if failure.retry_after is not None:
                    headers["Retry-After"] = failure.retry_after
            elif failure.mode == "truncated":
                data = data[: len(data) // 2]
            elif failure.mode == "redirect":
                status = 301
                headers["Location"] = "http://elsewhere.invalid" + self.path
                data = b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        length = len(data)
        if failure is not None and failure.mode == "broken":
            data = data[: len(data) // 2]
        self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
