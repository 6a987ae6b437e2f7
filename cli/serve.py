"""`incidents serve`: the REST service under uvicorn (named by string: the CLI never imports it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli._shared import context, reported_errors

app = typer.Typer()


@app.command()
def serve(
    invocation: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(
        min=1, max=64, help="Worker processes; /metrics sums over them.")] = 1,
) -> None:
    """Run the REST service (uvicorn); it migrates the store and loads the active model."""
    import tempfile

    import uvicorn

    with reported_errors():
        from sqlalchemy.engine import make_url

        from classifier import Taxonomy
        from service.config import ServiceSettings

        # What the app reads when it is built, read here first: in the app a bad setting, a
        # taxonomy file that does not load or a store URL that does not parse is a traceback,
        # and with several workers uvicorn would start each crashing worker again for ever.
        # (A store that is down is not refused: the service starts, and /ready says so.)
        settings = ServiceSettings()
        Taxonomy.load(settings.taxonomy_file)
        _check_metrics_folder(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        make_url(settings.database_url)

    def run() -> None:
        from service.memory import limit_arenas

        limit_arenas()  # before uvicorn starts a thread (see service/memory.py)
        # Named, not imported: the CLI imports service.app only to serve it, and here not even
        # that. The service logs every request itself, with its request id, so uvicorn's access
        # log is off.
        # The protocol puts a deadline (INCIDENTS_REQUEST_READ_TIMEOUT) on reading a request, so
        # a slow client cannot hold a connection for ever.
        uvicorn.run("service.app:create_app", factory=True, host=host, port=port,
                    access_log=False, workers=workers, http="service.server:DeadlineH11Protocol")

    if workers == 1:
        run()
        return
    with reported_errors():
        context(invocation).writable_store()  # once, before the workers start and race to it
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        run()  # the operator's folder, which they empty between runs
        return
    with tempfile.TemporaryDirectory(prefix="incidents-metrics-") as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder  # the workers inherit it
        run()


def _check_metrics_folder(folder: str | None) -> None:
    """``PROMETHEUS_MULTIPROC_DIR``, when set, is a folder the workers can write their metrics
    into: each worker writes there as it starts, and one that cannot dies with a traceback
    (uvicorn then starts it again, for ever)."""
    from classifier import IncidentError

    if not folder:
        return
    path = Path(folder)
    if not path.is_dir():
        raise IncidentError(f"PROMETHEUS_MULTIPROC_DIR: {folder}: "
                            f"{'not a folder' if path.exists() else 'no such folder'}; create it "
                            "(and empty it between runs) or unset it")
    if not os.access(path, os.W_OK | os.X_OK):
        raise IncidentError(f"PROMETHEUS_MULTIPROC_DIR: {folder}: not writable")

