"""GET /health (the process answers), /ready (model loaded, store reachable), /metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from classifier import StoreUnavailable

from ..deps import ActiveModelDep, LiveTaxonomyDep, MetricsDep, StoreDep
from ..schemas import HealthPublic, ReadyPublic

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic)
def health() -> HealthPublic:
    """The process is up and answering."""
    return HealthPublic()


@router.get("/ready", response_model=ReadyPublic, responses={503: {"model": ReadyPublic}})
def ready(active: ActiveModelDep, taxonomy: LiveTaxonomyDep, store: StoreDep) -> ReadyPublic | JSONResponse:
    """Ready to serve: a model version is loaded and the store answers (503 otherwise)."""
    problems: list[str] = []
    loaded = active.current()
    if loaded is None:
        problems.append(active.error or "no model is loaded")
    try:
        store.ping()
        store_state = "ok"
    except StoreUnavailable as exc:
        store_state = "unreachable"
        problems.append(str(exc))
    taxonomy.current()  # looks at the file if it is time to, so a broken edit shows here
    warnings = [f"taxonomy: {taxonomy.error}"] if taxonomy.error else []
    answer = ReadyPublic(ready=not problems, model_version=loaded.version if loaded else None,
                         store=store_state, problems=problems, warnings=warnings)
    if problems:
        return JSONResponse(answer.model_dump(), status_code=503)
    return answer


@router.get("/metrics", response_class=Response, responses={
    200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}})
def metrics(metrics: MetricsDep) -> Response:
    """Prometheus metrics: requests, latency, classifications, model loads (of every worker)."""
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
