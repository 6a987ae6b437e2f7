"""GET /health (the process answers), /ready (model loaded, store reachable), /metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from classifier import StoreUnavailable
from core.ca_names import CANamesError, current_ca_names
from core.live import live_alarm, live_record, scored_versions

from ..deps import ActiveModelDep, LiveTaxonomyDep, MetricsDep, SettingsDep, StoreDep, no_model
from ..errors import without_paths
from ..schemas import HealthPublic, ReadyPublic

router = APIRouter(tags=["health"])
logger = logging.getLogger("service.health")


@router.get("/health", response_model=HealthPublic)
def health() -> HealthPublic:
    """The process is up and answering."""
    return HealthPublic()


@router.get("/ready", response_model=ReadyPublic, responses={503: {"model": ReadyPublic}})
def ready(active: ActiveModelDep, taxonomy: LiveTaxonomyDep, store: StoreDep,
          settings: SettingsDep) -> ReadyPublic | JSONResponse:
    """Ready to serve: a model version is loaded and the store answers (503 otherwise).

    Warnings need a maintainer but do not stop the service: a taxonomy edit that does not load,
    or that took out tags the served model gives,
    a CA names file that does not load (the briefing's routes answer 503 meanwhile),
    an active version refused (a changed or truncated artefact; the version it had goes on
    answering), or the served version's live record alarming (its live category micro-F1, over at least 20
    scored incidents, below its held-out one by more than INCIDENTS_LIVE_MARGIN; the next
    `incidents nightly` retrains)."""
    problems: list[str] = []
    loaded = active.current()
    if loaded is None:
        problems.append(no_model(active))
    try:
        store.ping()
        store_state = "ok"
    except StoreUnavailable as exc:
        store_state = "unreachable"
        problems.append(str(exc))
    taxonomy.current()  # looks at the file if it is time to, so a broken edit shows here
    warnings = [f"taxonomy: {taxonomy.error}"] if taxonomy.error else []
    try:  # the briefing's routes answer 503 while it does not load
        current_ca_names(settings.ca_names_file)
    except CANamesError as exc:
        warnings.append(f"CA names: {exc}; /aggregate, /report and /review answer 503 until it "
                        "is fixed")
    if loaded is not None and active.error:  # a newer active version was refused
        warnings.append(f"model: {active.error}")
    if loaded is not None:
        untaxed = sorted(set(getattr(loaded.model, "classes_", ())) - set(taxonomy.current().type_tags))
        if untaxed:  # a taxonomy edit took out tags the served model still gives
            warnings.append(
                f"taxonomy: model {loaded.version} gives tags the taxonomy does not have "
                f"({', '.join(untaxed)}): they count in no briefing row and corrections cannot "
                "name them; put them back, or train on the taxonomy (`incidents retrain`)")
    if loaded is not None and store_state == "ok":
        try:
            with store.session() as session:
                record = live_record(session=session, model_version=loaded.version,
                                     taxonomy=taxonomy.current(), last_n=settings.live_window)
            alarm = live_alarm(record, loaded.card, margin=settings.live_margin)
        except StoreUnavailable:
            alarm = None
        if alarm is not None:
            warnings.append(f"live record: {alarm}; the next `incidents nightly` retrains")
    problems = [without_paths(text, settings.models_dir) for text in problems]
    warnings = [without_paths(text, settings.models_dir) for text in warnings]
    answer = ReadyPublic(ready=not problems, model_version=loaded.version if loaded else None,
                         store=store_state, problems=problems, warnings=warnings)
    if problems:
        return JSONResponse(answer.model_dump(), status_code=503)
    return answer


@router.get("/metrics", response_class=Response, responses={
    200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}})
def metrics(metrics: MetricsDep, store: StoreDep, settings: SettingsDep,
            taxonomy: LiveTaxonomyDep, active: ActiveModelDep) -> Response:
    """Prometheus metrics: requests, latency, classifications, model loads (of every worker),
    whether every worker serves a model and its memory, whether the store answers, and each
    model version's live record (micro-F1 and scored incidents, read from the store now)."""
    metrics.worker_observed(model_loaded=active.loaded is not None)
    try:
        with store.session() as session:
            current = taxonomy.current()
            metrics.live_observed([
                live_record(session=session, model_version=version, taxonomy=current,
                            last_n=settings.live_window)
                for version in scored_versions(session=session)])
        metrics.store_reachable.set(1)
    except StoreUnavailable:
        metrics.store_reachable.set(0)
        logger.warning("/metrics without the live record: the store is unreachable")
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
