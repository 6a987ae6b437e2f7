"""`incidents models live [VERSION]`: a model version's live record (the store is read, never
migrated). Registered on the `models` group by cli/__init__.py."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cli._shared import context, plain_table, print_table, reported_errors


def _figure(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def models_live(
    invocation: typer.Context,
    version: Annotated[str | None, typer.Argument(help="A version such as v3 (default: the active one).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """A version's live record: its predictions of incidents Mozilla tagged later, scored.

    Over the last INCIDENTS_LIVE_WINDOW scored incidents: category and tag precision and recall,
    micro-F1 beside the card's held-out one, the precision of what was not sent to review, and
    the alarm (live micro-F1 below held-out by more than INCIDENTS_LIVE_MARGIN).
    """
    from classifier import ModelNotFound
    from core.live import LiveRecord, live_record, live_summary

    with reported_errors():
        ctx = context(invocation)
        settings, registry = ctx.settings, ctx.registry
        version = version or registry.active_version()
        if version is None:
            raise ModelNotFound(
                f"no active model in {registry.root}; name a version" if registry.versions()
                else f"no model versions in {registry.root}; train one with `incidents train`")
        card = registry.card(version)
        with ctx.reading() as session:
            record = (live_record(session=session, model_version=version, taxonomy=ctx.taxonomy,
                                  last_n=settings.live_window) if session is not None
                      else LiveRecord(version, settings.live_window, 0, 0))
        summary: dict[str, Any] = live_summary(record, card, margin=settings.live_margin)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    if record.scored == 0:
        typer.echo(f"{version}: no scored incidents yet (a prediction is scored when Mozilla's type "
                   "tags reach the store after it was made)")
        return
    typer.echo(f"{version}: live record over its last {record.scored} scored incidents "
               f"(window {record.window}, {record.scored_in_all} scored in all; "
               f"{record.first_scored_at:%Y-%m-%d} to {record.last_scored_at:%Y-%m-%d})")
    typer.echo(f"  category micro-F1 {_figure(record.category_micro_f1)} "
               f"(held-out {_figure(summary['held_out_category_micro_f1'])}), precision "
               f"{_figure(record.category_micro_precision)}, recall {_figure(record.category_micro_recall)}; "
               f"tag micro-F1 {_figure(record.tag_micro_f1)}")
    typer.echo(f"  not sent to review: {record.not_sent_to_review} incidents, category precision "
               f"{_figure(record.auto_precision)}")
    typer.echo(f"  alarm: {summary['alarm']}" if summary["alarm"] else
               f"  no alarm (needs {summary['min_scored']} scored incidents and a micro-F1 below "
               f"held-out by more than {settings.live_margin:g})")
    typer.echo("")
    table = plain_table(header=True)
    table.add_column("label")
    for name in ("precision", "recall", "true", "predicted"):
        table.add_column(name, justify="right")
    for kind, figures in (("category", record.categories), ("tag", record.tags)):
        for label, f in figures.items():
            if f.support or f.predicted:
                table.add_row(f"{kind} {label}", f"{f.precision:.3f}", f"{f.recall:.3f}",
                              str(f.support), str(f.predicted))
    print_table(table)
