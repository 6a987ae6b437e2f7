"""`incidents train | evaluate | audit-labels | retrain | relabel`: model versions from the store's incidents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli._shared import (
    Context,
    StatusLine,
    cli_user,
    context,
    fail,
    plain_table,
    print_table,
    reported_errors,
)
from core.text import printable

if TYPE_CHECKING:
    from training.dataset import Dataset

app = typer.Typer()


def _stored_dataset(ctx: Context) -> Dataset:
    """The store's labelled incidents, read without migrating it (none when it never was)."""
    import numpy as np

    from classifier import incidents_frame
    from training.dataset import Dataset, load_dataset

    with ctx.reading() as session:
        if session is not None:
            return load_dataset(session=session)
    return Dataset(ids=np.array([], dtype=np.int64), X=incidents_frame([]), y=[],
                   created=np.array([], dtype="datetime64[s]"))


@app.command()
def train(
    invocation: typer.Context,
    if_no_active: Annotated[bool, typer.Option(
        "--if-no-active", help="Do nothing when a version is already active.")] = False,
    years: Annotated[bool, typer.Option(
        help="Also evaluate at every INCIDENTS_EVAL_CUTOFFS cutoff (train before, test on the "
             "year after) and record the table in the model card.")] = True,
) -> None:
    """Train a new model version on the store's labelled incidents (the first becomes active)."""
    from core.db import session_scope
    from training.dataset import load_dataset
    from training.evaluate import render_years
    from training.train import parse_day, train_version

    with reported_errors():
        ctx = context(invocation)
        settings, taxonomy, registry = ctx.settings, ctx.taxonomy, ctx.registry
        if if_no_active and registry.active_version():
            typer.echo(f"{registry.active_version()} is active in {registry.root}; not training")
            return
        cutoffs = [parse_day(c, "eval_cutoffs") for c in settings.eval_cutoffs] if years else []
        with StatusLine("loading labelled incidents from the store", log=True) as status:
            with session_scope(ctx.writable_store()) as session:
                dataset = load_dataset(session=session)
            version, card = train_version(dataset, settings=settings, taxonomy=taxonomy,
                                          registry=registry, year_cutoffs=cutoffs, progress=status,
                                          by=cli_user())
    m = card["metrics"]["contenders"]
    never = [t for t in taxonomy.type_tags if t not in set(card["labels"])]
    unlearned = (f"; never given, seen fewer than {card['params']['min_support']} times and no cue: "
                 f"{', '.join(never)}" if never else "")
    typer.echo(f"wrote {version} ({card['training_data']['size']} incidents, "
               f"{len(card['labels'])} tags{unlearned}) in {registry.root / version}")
    typer.echo(f"  held-out category micro-F1 {m['model']['category_micro_f1']:.3f} "
               f"macro-F1 {m['model']['category_macro_f1']:.3f} "
               f"(tfidf+logreg {m['tfidf+logreg']['category_micro_f1']:.3f} / "
               f"{m['tfidf+logreg']['category_macro_f1']:.3f})")
    if "metrics_by_year" in card:
        typer.echo("")
        typer.echo(render_years(card["metrics_by_year"]))
        typer.echo("")
    typer.echo(f"  active version: {registry.active_version()}")


@app.command()
def evaluate(
    invocation: typer.Context,
    cutoff: Annotated[str | None, typer.Option(
        help="Only this split: train before this date, test from it.")] = None,
    end: Annotated[str | None, typer.Option(help="With --cutoff: test on bugs filed before this.")
                   ] = None,
    ablation: Annotated[bool, typer.Option(
        help="Also refit the model without each ingredient, at every cutoff.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    replay: Annotated[bool, typer.Option(
        "--replay", help="The deployment replay instead: quarter by quarter, classify with the "
                         "active model, learn the quarter's tags, run the gated retraining; "
                         "beside the frozen first model and a strong baseline.")] = False,
    since: Annotated[str | None, typer.Option(
        help="With --replay: its first day (default: January 1st two years before the newest "
             "incident's year).")] = None,
) -> None:
    """Time-based report of the model and three baselines on the same splits.

    Without --cutoff: the table for every INCIDENTS_EVAL_CUTOFFS cutoff (train before, test on the
    year after), the detailed report at INCIDENTS_EVAL_CUTOFF (test on everything after), and an
    ablation. With --cutoff: the detailed report of that one split. With --replay: the
    deployment replay of the store's incidents (in a scratch store; yours is only read).
    """
    wrong = ("--replay takes --since, not --cutoff or --end" if replay and (cutoff or end)
             else "--end needs --cutoff (the split it ends)" if end and not cutoff
             else "--since goes with --replay" if since and not replay
             else None)
    if wrong:  # an option that would be silently ignored, or read against a default
        raise fail(wrong, code=2)
    if replay:
        _replay(invocation, since, as_json)
        return
    from classifier import InvalidPeriod
    from training.ablation import render_ablation, run_ablation
    from training.evaluate import evaluate as run_evaluation
    from training.evaluate import evaluate_years, render, render_years, year_rows
    from training.train import default_model, parse_day

    def note(message: str) -> None:
        typer.echo(f"training {message} ...", err=True)

    with reported_errors():
        ctx = context(invocation)
        settings, taxonomy = ctx.settings, ctx.taxonomy
        main = parse_day(cutoff or settings.eval_cutoff, "cutoff")
        stop = parse_day(end, "end") if end else None
        if stop is not None and stop <= main:
            raise InvalidPeriod(f"end: {end} is not after the cutoff {main:%Y-%m-%d}", field="end")
        years = [] if cutoff else [parse_day(c, "eval_cutoffs") for c in settings.eval_cutoffs]
        dataset = _stored_dataset(ctx)
        model = default_model(settings, taxonomy)
        report: dict[str, Any] = {"main": run_evaluation(
            dataset, cutoff=main, end=stop, taxonomy=taxonomy, model=model, progress=note)}
        if years:
            report["years"] = evaluate_years(dataset, cutoffs=years, taxonomy=taxonomy,
                                             model=model, progress=note, done=[report["main"]])
            if ablation:
                report["ablation"] = run_ablation(dataset, cutoffs=years, taxonomy=taxonomy,
                                                  model=model, n_jobs=settings.n_jobs,
                                                  progress=note)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    parts = [render(report["main"])]
    if "years" in report:
        parts.append(render_years(year_rows(report["years"])))
    if "ablation" in report:
        parts.append(render_ablation(report["ablation"]))
    typer.echo("\n\n".join(parts))


def _replay(invocation: typer.Context, since: str | None, as_json: bool) -> None:
    import tempfile

    from sqlalchemy import select

    from core.store import stored_records
    from core.tables import IncidentRow
    from training.replay import default_start, render
    from training.replay import replay as run_replay
    from training.train import parse_day

    with reported_errors():
        ctx = context(invocation)
        with ctx.reading() as session:
            records = [] if session is None else list(stored_records(
                session=session, ids=session.scalars(select(IncidentRow.id))).values())
        start = parse_day(since, "since") if since else default_start(records)
        with tempfile.TemporaryDirectory(prefix="incidents-replay-") as workdir:
            report = run_replay(records, settings=ctx.settings, taxonomy=ctx.taxonomy,
                                start=start, workdir=Path(workdir),
                                progress=lambda line: typer.echo(line, err=True))
    typer.echo(json.dumps(report, indent=2) if as_json else render(report))


@app.command("audit-labels")
def audit_labels(
    invocation: typer.Context,
    top: Annotated[int, typer.Option(min=1, help="How many incidents to list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
    proposals: Annotated[Path | None, typer.Option(
        dir_okay=False, help="Also write the listed incidents as proposed corrections, in the format of "
             "`incidents corrections import`, for a maintainer to edit and import.")] = None,
) -> None:
    """List training incidents whose tags the model most disagrees with (out of fold)."""
    from classifier import NotEnoughData
    from training.audit import audit_labels as run_audit
    from training.audit import proposed_correction
    from training.train import default_model

    folder = proposals.expanduser().parent if proposals is not None else None
    if folder is not None and not folder.is_dir():
        # Before the minutes of fitting, not after (the list was lost with them).
        raise fail(f"--proposals: the folder {folder} does not exist", code=2)
    with reported_errors():
        ctx = context(invocation)
        settings, taxonomy = ctx.settings, ctx.taxonomy
        dataset = _stored_dataset(ctx)
        if len(dataset) == 0:
            raise NotEnoughData("the store holds no labelled incidents; run `incidents sync` first")
        rows = run_audit(dataset, model=default_model(settings, taxonomy), top=top)
        if proposals is not None:
            lines = [json.dumps(proposed_correction(r)) for r in rows if r["doubted"] or r["suggested"]]
            proposals.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    if proposals is not None:
        typer.echo(f"wrote {len(lines)} proposed corrections to {proposals}: keep, edit or delete "
                   f"lines, then `incidents corrections import {proposals} --author <you>`", err=True)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo("Training incidents whose tags the model doubts most (out-of-fold; a maintainer "
               "decides, nothing is dropped):")
    for r in rows:
        typer.echo(f"\n  bug {r['id']} ({r['disagreement']:.2f}): {printable(r['summary'][:90])}")
        typer.echo(f"    tagged   {', '.join(r['tags'])}")
        for tag, p in r["doubted"].items():
            typer.echo(f"    doubts   {tag} (p={p:.2f})")
        for tag, p in r["suggested"].items():
            words = ", ".join(r["because"].get(tag, [])) or "-"
            typer.echo(f"    suggests {tag} (p={p:.2f}) because of: {words}")


@app.command()
def retrain(
    invocation: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Promote the challenger whatever its figures.")
                     ] = False,
    requested_by: Annotated[str | None, typer.Option(
        help="Who asked (recorded); the system user running it by default.")] = None,
) -> None:
    """Train a challenger on the store (corrections included); promote it only if it is not worse."""
    from core.tokens import maintainer_name
    from training.evaluate import format_lead
    from training.retrain import retrain as run_retrain

    with reported_errors():
        ctx = context(invocation)
        settings, taxonomy, registry = ctx.settings, ctx.taxonomy, ctx.registry
        # Checked as a maintainer's name is: PostgreSQL refused over 255 characters, naming no option.
        requested_by = (maintainer_name(requested_by, "--requested-by") if requested_by is not None
                        else cli_user())
        with ctx.job_lock("retrain", requested_by), \
                StatusLine("loading labelled incidents from the store", log=True) as status:
            d = run_retrain(settings=settings, taxonomy=taxonomy, registry=registry, force=force,
                            requested_by=requested_by, progress=status)
    c, a = d.challenger_metrics, d.active_metrics
    if d.challenger is None:  # decided before anything was fitted
        typer.echo(f"kept {d.active_after} active, no challenger fitted: {d.reason}")
        return
    if c.get("holdout_size"):
        typer.echo(f"challenger {d.challenger}: category micro-F1 {c['category_micro_f1']:.3f} "
                   f"macro-F1 {c['category_macro_f1']:.3f} on the newest {c['holdout_size']} incidents")
        typer.echo(f"  window: {d.window}")
    else:
        typer.echo(f"challenger {d.challenger}: not compared: {d.window.removeprefix('none: ')}")
    if a is not None:
        how = " (its recipe, as it would have lived them)" if a.get("scored_as") == "recipe" else ""
        typer.echo(f"active {d.active_before}: category micro-F1 {a['category_micro_f1']:.3f} "
                   f"macro-F1 {a['category_macro_f1']:.3f} on the same incidents{how}")
        if "lead_over_active" in c:
            lead = c["lead_over_active"]
            typer.echo(f"  challenger minus active: micro-F1 {format_lead(lead['category_micro_f1'])}, "
                       f"macro-F1 {format_lead(lead['category_macro_f1'])} (95 % paired bootstrap "
                       "interval over the window)")
    if d.promoted:
        typer.echo(f"{'FORCED: ' if d.forced else ''}promoted {d.challenger} "
                   f"(was {d.active_before or 'none'}): {d.reason}")
    else:
        typer.echo(f"kept {d.active_after} active; {d.challenger} stays a candidate: {d.reason}")
    if d.superseded:  # what was asked for (a promotion) did not happen: a script must know
        raise fail(f"{d.challenger} was not promoted: {d.active_after} became active while it "
                   f"trained; `incidents retrain` again compares with it")


@app.command()
def relabel(invocation: typer.Context) -> None:
    """Classify every stored incident with the active model (the nightly batch; resumable)."""
    from training.relabel import relabel as run_relabel

    with reported_errors():
        ctx = context(invocation)
        settings, taxonomy, registry = ctx.settings, ctx.taxonomy, ctx.registry
        with ctx.job_lock("relabel"):
            report = run_relabel(settings=settings, taxonomy=taxonomy, registry=registry)
    if report.total == 0:  # not a table of zeros: say where incidents come from
        typer.echo(f"the store holds no incidents to relabel; load them with `incidents sync` "
                   f"({report.model_version} is active)")
        return
    typer.echo(report.summary())
    table = plain_table(header=True)
    table.add_column("category")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    for category in [*taxonomy.categories, "(none)"]:
        before, after = report.counts_before.get(category, 0), report.counts_after.get(category, 0)
        if before or after or category != "(none)":
            table.add_row(category, str(before), str(after))
    print_table(table)
