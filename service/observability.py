"""Request ids, request logs and Prometheus metrics of the service."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from typing import TYPE_CHECKING

from fastapi import HTTPException
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.text import printable

if TYPE_CHECKING:
    from core.live import LiveRecord

REQUEST_ID_HEADER = "X-Request-ID"
#: The request id of the request being served, for log records.
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

access_logger = logging.getLogger("service.access")
#: Methods counted by name on /metrics; any other is "other" (each name a client makes up would
#: be a new series for the life of the process).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class _OneLineFormatter(logging.Formatter):
    """Each record on one line: whatever a message quotes (a webhook's name, a path) cannot
    end it and forge the next; a traceback, added after, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(level: str = "INFO") -> None:
    """Send the ``service`` loggers to stderr with request ids; calling it again changes nothing.

    Called by ``create_app``, never at import. Records still propagate, so a host process (or
    pytest's caplog) sees them too.
    """
    logger = logging.getLogger("service")
    logger.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(_OneLineFormatter(_LOG_FORMAT))
        logger.addHandler(handler)


def resident_memory_bytes() -> int | None:
    """This process's resident memory (Linux's ``/proc/self/statm``); None elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app).

    Under several worker processes (``incidents serve --workers N``) each worker writes its
    values to files in ``PROMETHEUS_MULTIPROC_DIR`` and :meth:`exposition` sums them over the
    workers, so ``/metrics`` tells the same whichever worker answers it.
    """

    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "incidents_http_requests", "HTTP requests answered.", ["method", "route", "status"],
            registry=self.registry)
        self.latency = Histogram(
            "incidents_http_request_duration_seconds", "Time to answer an HTTP request.",
            ["method", "route"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
        self.classified = Counter(
            "incidents_classified", "Bugs classified.", ["model_version"], registry=self.registry)
        self.classify_group = Histogram(
            "incidents_classify_group_bugs", "Bugs classified and stored together, in one model "
            "call and one transaction, for the requests waiting at once (service.batching).",
            registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
        self.predictions_stored = Counter(
            "incidents_predictions_stored", "Predictions written to the store.",
            registry=self.registry)
        self.webhook_events = Counter(
            "incidents_webhook_events", "Bugzilla webhook events taken (POST /hooks/bugzilla), by "
            "event and whether they were applied or ignored.", ["event", "outcome"],
            registry=self.registry)
        self.model_loads = Counter(
            "incidents_model_loads", "Attempts to load the active model version.", ["outcome"],
            registry=self.registry)
        self.model_info = Gauge(
            "incidents_model_serving", "1 for the model version being served, 0 for one served "
            "before.", ["version"], registry=self.registry, multiprocess_mode="livemax")
        # Set from the store each time /metrics is asked (by the worker answering it): the
        # most recent value of a live worker is the one to show.
        self.live_micro_f1 = Gauge(
            "incidents_live_category_micro_f1", "Live category micro-F1 of a model version: its "
            "predictions of incidents Mozilla tagged later, over the last INCIDENTS_LIVE_WINDOW "
            "scored.", ["version"], registry=self.registry, multiprocess_mode="livemostrecent")
        self.live_scored = Gauge(
            "incidents_live_scored", "Scored incidents the live micro-F1 of a model version is "
            "computed over (at most INCIDENTS_LIVE_WINDOW).", ["version"], registry=self.registry,
            multiprocess_mode="livemostrecent")

        # The worker's own state, set each time it looks at ACTIVE (every
        # INCIDENTS_MODEL_CHECK_INTERVAL) and when /metrics is asked: under several workers, the
        # lowest of the live ones, so that one worker serving no model shows.
        self.model_loaded = Gauge(
            "incidents_model_loaded", "1 when the worker serves a model version, 0 when it serves "
            "none (the lowest over the workers).", registry=self.registry,
            multiprocess_mode="livemin")
        self.store_reachable = Gauge(
            "incidents_store_reachable", "1 when the store answered the last /metrics, 0 when it "
            "did not.", registry=self.registry, multiprocess_mode="livemostrecent")
        self.resident_memory = Gauge(
            "incidents_worker_resident_memory_bytes", "Resident memory of the worker (one series "
            "a worker process under several).", registry=self.registry,
            multiprocess_mode="liveall")

    def worker_observed(self, *, model_loaded: bool) -> None:
        """Set the worker's own gauges: whether it serves a model, and its resident memory."""
        self.model_loaded.set(1 if model_loaded else 0)
        rss = resident_memory_bytes()
        if rss is not None:
            self.resident_memory.set(rss)

    def model_changed(self, previous: str | None, new: str | None, ok: bool) -> None:
        self.model_loads.labels(outcome="loaded" if ok else "failed").inc()
        if ok:
            if previous is not None and previous != new:
                self.model_info.labels(version=previous).set(0)
            if new is not None:
                self.model_info.labels(version=new).set(1)

    def live_observed(self, records: Iterable[LiveRecord]) -> None:
        """Set the live-record gauges of each version's record (those with scored incidents)."""
        for record in records:
            if record.scored and record.category_micro_f1 is not None:
                self.live_micro_f1.labels(version=record.model_version).set(record.category_micro_f1)
                self.live_scored.labels(version=record.model_version).set(record.scored)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format, summed over the workers when there are several."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry)


class RequestContextMiddleware:
    """Gives each request an id (``X-Request-ID``, echoed or made), logs it and counts it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = offered if _SAFE_ID.match(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            method = scope.get("method", "")
            counted = method if method in _METHODS else "other"
            self.metrics.requests.labels(method=counted, route=route, status=str(status)).inc()
            self.metrics.latency.labels(method=counted, route=route).observe(elapsed)
            access_logger.info("%s %s %d %.1fms", printable(method[:20]),
                               printable(scope.get("path", "")[:200]), status, elapsed * 1000)
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """Refuses a request body above ``max_bytes`` with 413, before it is parsed or stored.

    A declared Content-Length is checked before any byte is read; a chunked body is counted as
    it arrives. The error is raised where the route reads its body, so it is answered, logged
    and counted like any other client error.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        too_long = declared is not None and declared.isdigit() and int(declared) > self.max_bytes
        seen = 0

        async def receive_limited() -> Message:
            nonlocal seen
            if too_long:
                raise self.too_large()
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self.too_large()
            return message

        await self.app(scope, receive_limited, send)

    def too_large(self) -> HTTPException:
        return HTTPException(413, detail=[{
            "type": "too_large", "loc": ["body"],
            "msg": f"request body is larger than {self.max_bytes} bytes "
                   "(the limit is INCIDENTS_MAX_BODY_BYTES)"}])


class HeadAsGetMiddleware:
    """Answers ``HEAD`` on every ``GET`` route with the ``GET`` answer's status and headers and no
    body (FastAPI's routes answer HEAD 405; monitors and ``curl -I`` send it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # A copy: the server reads the method of its own scope to know not to send a body.
        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, send_headers_only)
        finally:
            if "route" in as_get:  # for the metrics' route label
                scope["route"] = as_get["route"]
