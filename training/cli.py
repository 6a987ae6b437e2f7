"""The ``incidents`` command line: sync, train, evaluate, models, classify, tokens, corrections,
retrain, relabel, serve."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from joblib import Parallel, delayed

from classifier import IncidentError, InvalidPeriod, NotEnoughData, Taxonomy
from core.config import Settings, get_settings
from core.db import safe_url, session_scope, upgrade
from core.registry import ModelRegistry

app = typer.Typer(help="Classify Mozilla CA-compliance incidents.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
models_app = typer.Typer(help="List, inspect, promote and roll back model versions.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")
tokens_app = typer.Typer(help="Create, list and revoke maintainers' API tokens.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
corrections_app = typer.Typer(help="Import and list maintainers' label corrections.",
                              no_args_is_help=True)
app.add_typer(corrections_app, name="corrections")


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn the project's own errors into one line on stderr and a non-zero exit."""
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (IncidentError, ValidationError, OSError) as exc:
        raise fail(str(exc)) from None
    except SQLAlchemyError as exc:  # the store is unreachable, refuses us, or the URL is wrong
        cause = getattr(exc, "orig", None) or exc
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise fail(f"store ({safe_url(get_settings().database_url)}): {first}") from None


def _context() -> tuple[Settings, Taxonomy, ModelRegistry]:
    settings = get_settings()
    return settings, Taxonomy.load(settings.taxonomy_file), ModelRegistry(settings.models_dir)


def _store_ready(settings: Settings) -> str:
    upgrade(settings.database_url)
    return settings.database_url


@app.command()
def sync(
    snapshot: Annotated[Path | None, typer.Option(
        help="Load this folder (bugs.json, comments.json) instead of asking Bugzilla.")] = None,
    auto: Annotated[bool, typer.Option(
        "--auto", help="Load INCIDENTS_SNAPSHOT_DIR when it holds bugs.json, "
                       "else sync from Bugzilla.")] = False,
) -> None:
    """Sync the store from Bugzilla (only changes after the first run), or load a snapshot."""
    from tqdm import tqdm

    from core.bugzilla import BUGS_FILE, read_snapshot, sync_from_bugzilla
    from core.store import upsert_bugs

    with reported_errors():
        settings, taxonomy, _ = _context()
        if snapshot is not None and auto:
            raise fail("--snapshot and --auto exclude each other")
        if auto and (settings.snapshot_dir / BUGS_FILE).is_file():
            snapshot = settings.snapshot_dir
        if snapshot is not None:
            folder = snapshot.expanduser()
            records = read_snapshot(folder, taxonomy)
            with session_scope(_store_ready(settings)) as session:
                counts = upsert_bugs(session=session, records=records)
            message = f"synced {len(records)} bugs from {folder}: {counts.summary()}"
        else:
            _store_ready(settings)
            with tqdm(desc="bugs", unit=" bugs", disable=None) as bar:
                report = sync_from_bugzilla(settings=settings, taxonomy=taxonomy,
                                            progress=bar.update)
            message = report.summary()
    typer.echo(message)


@app.command()
def train(
    if_no_active: Annotated[bool, typer.Option(
        "--if-no-active", help="Do nothing when a version is already active.")] = False,
    years: Annotated[bool, typer.Option(
        help="Also evaluate at every INCIDENTS_EVAL_CUTOFFS cutoff (train before, test on the "
             "year after) and record the table in the model card.")] = True,
) -> None:
    """Train a new model version on the store's labelled incidents (the first becomes active)."""
    from training.dataset import load_dataset
    from training.evaluate import render_years
    from training.train import parse_day, train_version

    with reported_errors():
        settings, taxonomy, registry = _context()
        if if_no_active and registry.active_version():
            typer.echo(f"{registry.active_version()} is active in {registry.root}; not training")
            return
        cutoffs = [parse_day(c, "eval_cutoffs") for c in settings.eval_cutoffs] if years else []
        with session_scope(_store_ready(settings)) as session:
            dataset = load_dataset(session=session)
        version, card = train_version(dataset, settings=settings, taxonomy=taxonomy,
                                      registry=registry, year_cutoffs=cutoffs)
    m = card["metrics"]["contenders"]
    typer.echo(f"wrote {version} ({card['training_data']['size']} incidents, "
               f"{len(card['labels'])} tags) in {registry.root / version}")
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
    cutoff: Annotated[str | None, typer.Option(
        help="Only this split: train before this date, test from it.")] = None,
    end: Annotated[str | None, typer.Option(help="With --cutoff: test on bugs filed before this.")
                   ] = None,
    ablation: Annotated[bool, typer.Option(
        help="Also refit the model without each ingredient, at every cutoff.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Time-based report of the model and three baselines on the same splits.

    Without --cutoff: the table for every INCIDENTS_EVAL_CUTOFFS cutoff (train before, test on the
    year after), the detailed report at INCIDENTS_EVAL_CUTOFF (test on everything after), and an
    ablation. With --cutoff: the detailed report of that one split.
    """
    from training.ablation import render_ablation, run_ablation
    from training.dataset import load_dataset
    from training.evaluate import evaluate as run_evaluation
    from training.evaluate import evaluate_years, render, render_years, year_rows
    from training.train import default_model, parse_day

    def note(message: str) -> None:
        typer.echo(f"training {message} ...", err=True)

    with reported_errors():
        settings, taxonomy, _ = _context()
        main = parse_day(cutoff or settings.eval_cutoff, "cutoff")
        stop = parse_day(end, "end") if end else None
        if stop is not None and stop <= main:
            raise InvalidPeriod(f"end: {end} is not after the cutoff {main:%Y-%m-%d}", field="end")
        years = [] if cutoff else [parse_day(c, "eval_cutoffs") for c in settings.eval_cutoffs]
        with session_scope(_store_ready(settings)) as session:
            dataset = load_dataset(session=session)
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


@app.command("audit-labels")
def audit_labels(
    top: Annotated[int, typer.Option(min=1, help="How many incidents to list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
    proposals: Annotated[Path | None, typer.Option(
        help="Also write the listed incidents as proposed corrections, in the format of "
             "`incidents corrections import`, for a maintainer to edit and import.")] = None,
) -> None:
    """List training incidents whose tags the model most disagrees with (out of fold)."""
    from training.audit import audit_labels as run_audit
    from training.audit import proposed_correction
    from training.dataset import load_dataset
    from training.train import default_model

    with reported_errors():
        settings, taxonomy, _ = _context()
        with session_scope(_store_ready(settings)) as session:
            dataset = load_dataset(session=session)
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
        typer.echo(f"\n  bug {r['id']} ({r['disagreement']:.2f}): {r['summary'][:90]}")
        typer.echo(f"    tagged   {', '.join(r['tags'])}")
        for tag, p in r["doubted"].items():
            typer.echo(f"    doubts   {tag} (p={p:.2f})")
        for tag, p in r["suggested"].items():
            words = ", ".join(r["because"].get(tag, [])) or "-"
            typer.echo(f"    suggests {tag} (p={p:.2f}) because of: {words}")


@app.command()
def classify(
    file: Annotated[Path, typer.Argument(help="A Bugzilla bugs file ({\"bugs\": [...]}).")],
    comments: Annotated[Path | None, typer.Option(help="Its comments file, for comment 0.")] = None,
    explain: Annotated[bool, typer.Option(help="Add the words behind each tag.")] = False,
) -> None:
    """Classify a file of bugs with the active model: one JSON object a line on stdout."""
    from core.bugzilla.snapshot import records_from_files
    from core.classification import classify as run_classify

    with reported_errors():
        settings, taxonomy, registry = _context()
        loaded = registry.load()
        records = records_from_files(file, comments, taxonomy)
        incidents = [r.incident() for r in records]
        size = 256
        chunks = [incidents[i:i + size] for i in range(0, len(incidents), size)]
        results = Parallel(n_jobs=settings.n_jobs)(
            delayed(run_classify)(loaded, chunk, taxonomy, explain=explain) for chunk in chunks)
    for chunk in results:
        for result in chunk:
            sys.stdout.write(json.dumps(result.as_dict(explanation=explain)) + "\n")


@app.command("db-upgrade")
def db_upgrade() -> None:
    """Bring the store's schema to the newest migration."""
    with reported_errors():
        settings = get_settings()
        _store_ready(settings)
    typer.echo(f"store at {settings.database_url} is up to date")


def _card_line(registry: ModelRegistry, version: str, active: str | None) -> str:
    card = registry.card(version)
    m = card.get("metrics", {}).get("contenders", {}).get("model", {})
    mark = "*" if version == active else " "
    return (f"{mark} {version:<6} {card.get('created_at', '')[:19]:<20} "
            f"{card.get('training_data', {}).get('size', '?'):>6} incidents  "
            f"micro-F1 {m.get('category_micro_f1', float('nan')):.3f}  "
            f"macro-F1 {m.get('category_macro_f1', float('nan')):.3f}")


@models_app.command("list")
def models_list() -> None:
    """Every version, newest last; * marks the active one."""
    with reported_errors():
        _, _, registry = _context()
        versions = registry.versions()
        active = registry.active_version()
        if not versions:
            typer.echo(f"no model versions in {registry.root}; run `incidents train`")
            return
        for version in versions:
            typer.echo(_card_line(registry, version, active))


@models_app.command("show")
def models_show(version: Annotated[str, typer.Argument(help="A version such as v3.")]) -> None:
    """Print a version's model card (JSON)."""
    with reported_errors():
        _, _, registry = _context()
        card: dict[str, Any] = registry.card(version)
    typer.echo(json.dumps(card, indent=2))


@models_app.command("promote")
def models_promote(version: Annotated[str, typer.Argument(help="The version to make active.")]
                   ) -> None:
    """Make a version active (checked to load first; the switch is atomic)."""
    with reported_errors():
        _, _, registry = _context()
        previous = registry.promote(version)
    typer.echo(f"active version: {version} (was {previous or 'none'})")


@models_app.command("rollback")
def models_rollback() -> None:
    """Make the previously active version active again."""
    with reported_errors():
        _, _, registry = _context()
        current = registry.active_version()
        target = registry.rollback()
    typer.echo(f"active version: {target} (rolled back from {current})")


@tokens_app.command("create")
def tokens_create(name: Annotated[str, typer.Argument(help="The maintainer who holds the token.")]
                  ) -> None:
    """Create a maintainer's API token and print it (once: only its hash is stored)."""
    from core.tokens import create_token

    with reported_errors():
        settings = get_settings()
        with session_scope(_store_ready(settings)) as session:
            token, row = create_token(session=session, name=name)
            token_id = row.id
    typer.echo(token)
    typer.secho(f"token {token_id} for {name}: copy it now, it will not be shown again "
                "(send it as `Authorization: Bearer <token>`)", err=True, fg=typer.colors.YELLOW)


@tokens_app.command("list")
def tokens_list() -> None:
    """Every token: id, name, prefix, created, last used, revoked."""
    from core.tokens import list_tokens

    with reported_errors():
        settings = get_settings()
        with session_scope(_store_ready(settings)) as session:
            rows = list_tokens(session=session)
    if not rows:
        typer.echo("no tokens; create one with `incidents tokens create NAME`")
    for r in rows:
        def when(moment: Any) -> str:
            return moment.isoformat(timespec="seconds") if moment else "-"
        typer.echo(f"{r.id:>4}  {r.name:<24} {r.prefix}...  created {when(r.created_at)}  "
                   f"last used {when(r.last_used_at)}  "
                   f"{'REVOKED ' + when(r.revoked_at) if r.revoked_at else 'active'}")


@tokens_app.command("revoke")
def tokens_revoke(token: Annotated[str, typer.Argument(
        help="A token id (see `tokens list`), or a name or prefix: all its active tokens.")]) -> None:
    """Revoke a token: requests with it are refused from now on."""
    from core.tokens import revoke_token

    with reported_errors():
        settings = get_settings()
        with session_scope(_store_ready(settings)) as session:
            rows = revoke_token(session=session, token_id=int(token)) if token.isdigit() else \
                revoke_token(session=session, name_or_prefix=token)
            revoked = [(r.id, r.name) for r in rows]
    for token_id, name in revoked:
        typer.echo(f"revoked token {token_id} ({name})")


@corrections_app.command("import")
def corrections_import(
    file: Annotated[Path, typer.Argument(help='One JSON object a line: {"bug_id", "tags", "note"}.')],
    author: Annotated[str, typer.Option(help="The maintainer the corrections are from.")],
) -> None:
    """Store a file of corrections, all or nothing: every line is checked before any is stored."""
    from core.classification import correct_incident
    from core.corrections import parse_correction_lines

    with reported_errors():
        settings, taxonomy, registry = _context()
        active = registry.active_version()
        loaded = registry.load() if active else None
        with session_scope(_store_ready(settings)) as session:
            checked = parse_correction_lines(session=session, taxonomy=taxonomy,
                                             lines=file.read_text(encoding="utf-8").splitlines())
            for c in checked:
                correct_incident(session=session, taxonomy=taxonomy, bug_id=c.bug_id, tags=list(c.tags),
                               note=c.note, author=author, active_version=active, loaded=loaded)
    typer.echo(f"stored {len(checked)} corrections from {file} by {author}")


@corrections_app.command("list")
def corrections_list(
    bug: Annotated[int | None, typer.Option(help="Only this bug's corrections.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 50,
) -> None:
    """Corrections, newest first: one JSON object a line."""
    from core.corrections import list_corrections

    with reported_errors():
        settings = get_settings()
        with session_scope(_store_ready(settings)) as session:
            rows, _ = list_corrections(session=session, bug_id=bug, limit=limit)
            lines = [json.dumps({"id": r.id, "bug_id": r.incident_id, "tags": r.tags, "note": r.note,
                                 "author": r.author, "created_at": r.created_at.isoformat(),
                                 "model_version": r.model_version, "model_tags": r.model_tags})
                     for r in rows]
    for line in lines:
        typer.echo(line)


@app.command()
def retrain(
    force: Annotated[bool, typer.Option("--force", help="Promote the challenger whatever its figures.")
                     ] = False,
    requested_by: Annotated[str | None, typer.Option(help="Who asked (recorded).")] = None,
) -> None:
    """Train a challenger on the store (corrections included); promote it only if it is not worse."""
    from training.retrain import retrain as run_retrain

    with reported_errors():
        settings, taxonomy, registry = _context()
        _store_ready(settings)
        d = run_retrain(settings=settings, taxonomy=taxonomy, registry=registry, force=force,
                        requested_by=requested_by,
                        progress=lambda message: typer.echo(f"{message} ...", err=True))
    c, a = d.challenger_metrics, d.active_metrics
    typer.echo(f"challenger {d.challenger}: category micro-F1 {c['category_micro_f1']:.3f} "
               f"macro-F1 {c['category_macro_f1']:.3f} on the newest {c['holdout_size']} incidents")
    if a is not None:
        typer.echo(f"active {d.active_before}: category micro-F1 {a['category_micro_f1']:.3f} "
                   f"macro-F1 {a['category_macro_f1']:.3f} on the same incidents")
    if d.promoted:
        typer.echo(f"{'FORCED: ' if d.forced else ''}promoted {d.challenger} "
                   f"(was {d.active_before or 'none'}): {d.reason}")
    else:
        typer.echo(f"kept {d.active_before} active; {d.challenger} stays a candidate: {d.reason}")


@app.command()
def relabel() -> None:
    """Classify every stored incident with the active model (the nightly batch; resumable)."""
    from training.relabel import relabel as run_relabel

    with reported_errors():
        settings, taxonomy, registry = _context()
        _store_ready(settings)
        report = run_relabel(settings=settings, taxonomy=taxonomy, registry=registry)
    typer.echo(report.summary())
    typer.echo(f"{'category':<40} {'before':>7} {'after':>7}")
    for category in [*taxonomy.categories, "(none)"]:
        before, after = report.counts_before.get(category, 0), report.counts_after.get(category, 0)
        if before or after or category != "(none)":
            typer.echo(f"{category:<40} {before:>7} {after:>7}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(
        min=1, max=64, help="Worker processes; /metrics sums over them.")] = 1,
) -> None:
    """Run the REST service (uvicorn); it migrates the store and loads the active model."""
    import tempfile

    import uvicorn

    def run() -> None:
        # Named, not imported: training/ and service/ never import each other. The service logs
        # every request itself, with its request id, so uvicorn's access log is off.
        uvicorn.run("service.app:create_app", factory=True, host=host, port=port,
                    access_log=False, workers=workers)

    if workers == 1:
        run()
        return
    with reported_errors():
        upgrade(get_settings().database_url)  # once, before the workers start and race to it
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        run()  # the operator's folder, which they empty between runs
        return
    with tempfile.TemporaryDirectory(prefix="incidents-metrics-") as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder  # the workers inherit it
        run()


if __name__ == "__main__":  # pragma: no cover
    app()
