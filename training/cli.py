"""The ``incidents`` command line: sync, train, evaluate, models, classify, serve."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from joblib import Parallel, delayed

from classifier import IncidentError, Taxonomy
from core.config import Settings, get_settings
from core.db import session_scope, upgrade
from core.registry import ModelRegistry

app = typer.Typer(help="Classify Mozilla CA-compliance incidents.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
models_app = typer.Typer(help="List, inspect, promote and roll back model versions.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn the project's own errors into one line on stderr and a non-zero exit."""
    try:
        yield
    except (IncidentError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None


def _context() -> tuple[Settings, Taxonomy, ModelRegistry]:
    settings = get_settings()
    return settings, Taxonomy.load(settings.taxonomy_file), ModelRegistry(settings.models_dir)


def _store_ready(settings: Settings) -> str:
    upgrade(settings.database_url)
    return settings.database_url


@app.command()
def sync(snapshot: Annotated[Path | None, typer.Option(
        help="Folder with bugs.json and comments.json (default: INCIDENTS_SNAPSHOT_DIR).")] = None
         ) -> None:
    """Load a Bugzilla REST snapshot into the store (upsert by bug id)."""
    from .snapshot import read_snapshot
    from core.store import upsert_bugs

    with reported_errors():
        settings, taxonomy, _ = _context()
        folder = (snapshot or settings.snapshot_dir).expanduser()
        records = read_snapshot(folder, taxonomy)
        url = _store_ready(settings)
        with session_scope(url) as session:
            counts = upsert_bugs(session=session, records=records)
    typer.echo(f"synced {len(records)} bugs from {folder}: {counts.summary()}")


@app.command()
def train(if_no_active: Annotated[bool, typer.Option(
        "--if-no-active", help="Do nothing when a version is already active.")] = False) -> None:
    """Train a new model version on the store's labelled incidents (the first becomes active)."""
    from .dataset import load_dataset
    from .train import train_version

    with reported_errors():
        settings, taxonomy, registry = _context()
        if if_no_active and registry.active_version():
            typer.echo(f"{registry.active_version()} is active in {registry.root}; not training")
            return
        with session_scope(_store_ready(settings)) as session:
            dataset = load_dataset(session=session)
        version, card = train_version(dataset, settings=settings, taxonomy=taxonomy,
                                      registry=registry)
    m = card["metrics"]["contenders"]
    typer.echo(f"wrote {version} ({card['training_data']['size']} incidents, "
               f"{len(card['labels'])} tags) in {registry.root / version}")
    typer.echo(f"  held-out category micro-F1 {m['model']['category_micro_f1']:.3f} "
               f"macro-F1 {m['model']['category_macro_f1']:.3f} "
               f"(tfidf+logreg {m['tfidf+logreg']['category_micro_f1']:.3f} / "
               f"{m['tfidf+logreg']['category_macro_f1']:.3f})")
    typer.echo(f"  active version: {registry.active_version()}")


@app.command()
def evaluate(
    cutoff: Annotated[str | None, typer.Option(help="Train before this date, test from it "
                                                     "(default: INCIDENTS_EVAL_CUTOFF).")] = None,
    end: Annotated[str | None, typer.Option(help="Test on bugs filed before this date.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Time-based report of the model and three baselines on the same split."""
    from .dataset import load_dataset
    from .evaluate import evaluate as run_evaluation
    from .evaluate import render
    from .train import default_model, parse_day

    with reported_errors():
        settings, taxonomy, _ = _context()
        start = parse_day(cutoff or settings.eval_cutoff, "cutoff")
        stop = parse_day(end, "end") if end else None
        with session_scope(_store_ready(settings)) as session:
            dataset = load_dataset(session=session)
        report = run_evaluation(dataset, cutoff=start, end=stop, taxonomy=taxonomy,
                                model=default_model(settings),
                                progress=lambda n: typer.echo(f"training {n} ...", err=True))
    typer.echo(json.dumps(report, indent=2) if as_json else render(report))


@app.command()
def classify(
    file: Annotated[Path, typer.Argument(help="A Bugzilla bugs file ({\"bugs\": [...]}).")],
    comments: Annotated[Path | None, typer.Option(help="Its comments file, for comment 0.")] = None,
    explain: Annotated[bool, typer.Option(help="Add the words behind each tag.")] = False,
) -> None:
    """Classify a file of bugs with the active model: one JSON object a line on stdout."""
    from core.classification import classify as run_classify

    from .snapshot import records_from_files

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


if __name__ == "__main__":  # pragma: no cover
    app()
