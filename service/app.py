"""The FastAPI app factory: settings in, app out; the model and the store come up in lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from importlib import metadata

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from classifier import StoreUnavailable
from core.config import Settings
from core.db import safe_url
from core.registry import ModelRegistry

from . import auth, errors
from .active_model import ActiveModel
from .batching import ClassifyBatcher
from .briefing_slots import BriefingSlots
from .config import MAX_DESCRIPTION_CHARS, MAX_SUMMARY_CHARS, ServiceSettings
from .live_taxonomy import LiveTaxonomy
from .observability import BodyLimitMiddleware, HeadAsGetMiddleware, Metrics, RequestContextMiddleware, configure_logging
from .routes import aggregate, classify, corrections, health, hooks, incidents, jobs, models, report, review, ui
from .store import Store

logger = logging.getLogger("service")

_DESCRIPTION = """
Classifies Mozilla CA-compliance incidents (Bugzilla bugs of *CA Program / CA Certificate
Compliance*) into the incident type tags maintainers put in the whiteboard and into the rows of
the CA/Browser Forum briefing, keeps every classification, and counts the incidents open in a
period per briefing row.

**Limits** (client errors answer 4xx naming the field): summary ≤ {summary} characters,
description and each comment ≤ {description} characters, ≤ {batch} bugs a batch
(`INCIDENTS_MAX_BATCH`), request body ≤ {body} bytes (`INCIDENTS_MAX_BODY_BYTES`, 413 above).

**Model versions**: the service answers with the version named by `models/ACTIVE` and follows
`incidents models promote` / `rollback` within {interval} s, without a restart.
"""


def _version() -> str:
    try:
        return metadata.version("incident-classifier")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Migrate the store and load the active model before the first request."""
    settings: ServiceSettings = app.state.settings
    try:
        await run_in_threadpool(app.state.store.migrate)
    except StoreUnavailable:
        logger.error("starting without a store; /ready answers 503 until it is reachable")
    loaded = await run_in_threadpool(app.state.active_model.refresh)
    if loaded is None:
        logger.warning("starting without a model: %s", app.state.active_model.error)
    logger.info("ready: store %s, model %s from %s", safe_url(settings.database_url),
                loaded.version if loaded else "none", settings.models_dir)
    # This frame lives as long as the service: holding the first model here would keep it in
    # memory after a promotion replaces it.
    del loaded
    follower = (asyncio.create_task(_follow(app, settings.model_check_interval))
                if settings.model_check_interval > 0 else None)
    try:
        yield
    finally:
        if follower is not None:
            follower.cancel()
            with suppress(asyncio.CancelledError):
                await follower
        app.state.store.close()


async def _follow(app: FastAPI, interval: float) -> None:
    """Look at ACTIVE and the taxonomy file every ``interval`` seconds, requests or not: an idle
    worker took a promotion up only with its next request (and loaded it then)."""
    while True:
        await asyncio.sleep(interval)
        try:
            loaded = await run_in_threadpool(app.state.active_model.current)
            app.state.metrics.worker_observed(model_loaded=loaded is not None)
            del loaded  # not held across the sleep: a promotion frees the old model
            await run_in_threadpool(app.state.taxonomy.current)
        except Exception:  # noqa: BLE001 - each look logs its own failure; the next one retries
            logger.exception("looking at the models folder or the taxonomy failed")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for ``settings`` (read from ``INCIDENTS_*`` when not given).

    Nothing is read from disk or the network here but the taxonomy file; the store is migrated
    and the model loaded when the app starts (its lifespan).
    """
    settings = ServiceSettings.of(settings)
    configure_logging(settings.log_level)
    app = FastAPI(
        title="incident-classifier",
        version=_version(),
        description=_DESCRIPTION.format(summary=MAX_SUMMARY_CHARS,
                                        description=MAX_DESCRIPTION_CHARS,
                                        batch=settings.max_batch, body=settings.max_body_bytes,
                                        interval=settings.model_check_interval),
        lifespan=lifespan,
    )
    metrics = Metrics()
    app.state.settings = settings
    app.state.taxonomy = LiveTaxonomy(settings.taxonomy_file,
                                      check_interval=settings.model_check_interval)
    app.state.metrics = metrics
    app.state.store = Store(settings.database_url)
    app.state.briefing_slots = BriefingSlots(settings.briefing_concurrency)
    app.state.batcher = ClassifyBatcher(store=app.state.store, metrics=metrics)
    app.state.active_model = ActiveModel(ModelRegistry(settings.models_dir),
                                         check_interval=settings.model_check_interval,
                                         on_change=metrics.model_changed)
    errors.install(app)
    # Added last runs first: the request id wraps everything, including a refused body.
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    for router in (classify.router, incidents.router, corrections.router, review.router,
                   aggregate.router, report.router, models.router, jobs.router, health.router, ui.router):
        auth.document_read_errors(router)
        auth.document_unavailable(router)
        app.include_router(router)
    if settings.webhook_secret is not None:  # without its secret the webhook route is not there
        auth.document_unavailable(hooks.router)
        app.include_router(hooks.router)
    return app
