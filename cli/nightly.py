"""`incidents nightly`: the one command cron runs (sync, retrain when due, relabel), recorded."""

from __future__ import annotations

import typer

from cli._shared import context, reported_errors

app = typer.Typer()


@app.command()
def nightly(invocation: typer.Context) -> None:
    """Sync the store (INCIDENTS_NIGHTLY_SOURCE), retrain through the gate when due, relabel.

    Retrains when no model is active, when at least INCIDENTS_NIGHTLY_MIN_NEW_LABELS labelled
    incidents are new to the newest version (usually the active one: after a challenger was
    kept out or a rollback, what it learned is not new again), or when the active model's live
    record alarms and some label is new to the newest version. Prints one line a step; the run is
    recorded in the store (nightly_runs). A failing step is recorded and stops the run (exit 1).
    """
    from training.nightly import nightly as run_nightly

    with reported_errors():
        ctx = context(invocation)
        settings, taxonomy, registry = ctx.settings, ctx.taxonomy, ctx.registry
        ctx.writable_store()
        run_nightly(settings=settings, taxonomy=taxonomy, registry=registry, progress=typer.echo)
