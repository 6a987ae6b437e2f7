"""`incidents nightly`: the one command cron runs (sync, retrain when due, relabel), recorded;
`incidents nightly-runs`: those records."""

from __future__ import annotations

from typing import Any

import typer

from cli._shared import JsonLines, NewestFirst, context, print_listing, reported_errors, stamped

app = typer.Typer()


@app.command()
def nightly(invocation: typer.Context) -> None:
    """Sync the store (INCIDENTS_NIGHTLY_SOURCE), retrain through the gate when due, relabel.

    Retrains when no model is active, when at least INCIDENTS_NIGHTLY_MIN_NEW_LABELS labelled
    incidents are new to the newest version (usually the active one: after a challenger was
    kept out or a rollback, what it learned is not new again), when the recipe is not the newest
    version's (a taxonomy edit of cues, exclusions or pools), when a tag it had too few
    incidents of to learn has enough now, or when the active model's live record alarms and
    some label is new to the newest version. Prints one line a step, each
    starting with its UTC time; the run is recorded in the store (nightly_runs). A failing step
    is recorded and stops the run (exit 1).
    """
    from training.nightly import nightly as run_nightly

    with reported_errors():
        ctx = context(invocation)
        settings, taxonomy, registry = ctx.settings, ctx.taxonomy, ctx.registry
        ctx.writable_store()
        run_nightly(settings=settings, taxonomy=taxonomy, registry=registry,
                    progress=lambda line: typer.echo(stamped(line)))


@app.command("nightly-runs")
def nightly_runs(
    invocation: typer.Context,
    limit: NewestFirst = 20,
    as_json: JsonLines = False,
) -> None:
    """The recorded runs of `incidents nightly`, newest first: when, how it ended, what the sync
    brought, whether it retrained (and the decision) or why not, what the relabel changed."""
    from training.nightly import list_runs

    with reported_errors():
        with context(invocation).reading() as session:  # a store never migrated holds none
            records, count = ([], 0) if session is None else list_runs(session=session, limit=limit)
    print_listing(records, total=count, as_json=as_json,
                  empty="no nightly run recorded; `incidents nightly` records one each time",
                  columns=("id", "started", "status", "source", "new", "updated", "new labels",
                           "retrained", "relabelled", "why"),
                  right=("id", "new", "updated", "new labels", "relabelled"), row=_run_row)


def _run_row(r: dict[str, Any]) -> tuple[str, ...]:
    counts = r["sync_counts"] or {}
    retrained = ("-" if r["retrained"] is None else
                 f"decision {r['retrain_decision_id']}" if r["retrained"] else "no")
    why = (f"failed at {r['failed_step']}: {r['error']}" if r["status"] == "failed"
           else r["error"] if r["status"] == "interrupted" else r["retrain_reason"] or "")
    return (str(r["id"]), str(r["started_at"])[:19], r["status"], r["source"],
            _count(counts.get("new")), _count(counts.get("updated")), _count(r["new_labels"]),
            retrained, _count(r["relabel_changed"]), why)


def _count(value: object) -> str:
    return "-" if value is None else str(value)
