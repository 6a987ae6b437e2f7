"""The echo service the speed benchmark measures `incidents serve` against: the same request bodies
validated by the same schemas under the same uvicorn settings, and nothing else done.

``python -m benchmarks.echo --port N`` serves it on 127.0.0.1:N (one worker, no access log,
``service.server.DeadlineH11Protocol``, as ``incidents serve`` runs).
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import FastAPI

from service.schemas import IncidentClassify, IncidentsClassify

# About the size of a /classify answer without its explanation.
_ANSWER = {"id": None, "tags": ["ov-misissuance"], "categories": ["OV Misissuance"],
           "scores": {"ov-misissuance": 0.9}, "needs_review": False, "review_reason": None,
           "confidence": 0.9,
           "model_version": "echo", "explanation": {}, "stored": False}


def create_app() -> FastAPI:
    """The echo app: POST /classify and /classify/batch validate their body, GET /aggregate and
    GET /ready answer at once."""
    app = FastAPI(title="incident-classifier echo")

    # `async def`, as the service's classify routes are: answered on the event loop, no thread.
    @app.post("/classify")
    async def classify(bug: IncidentClassify) -> dict[str, Any]:
        return {**_ANSWER, "id": bug.id}

    @app.post("/classify/batch")
    async def classify_batch(batch: IncidentsClassify) -> dict[str, Any]:
        return {"data": [{**_ANSWER, "id": bug.id} for bug in batch.bugs], "count": len(batch.bugs),
                "model_version": "echo"}

    @app.get("/aggregate")
    async def aggregate(start: str, end: str) -> dict[str, Any]:
        return {"start": start, "end": end, "total": 0, "rows": []}

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.echo", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run("benchmarks.echo:create_app", factory=True, host="127.0.0.1", port=args.port,
                access_log=False, workers=1, http="service.server:DeadlineH11Protocol")


if __name__ == "__main__":
    main()
