"""`incidents classify FILE`: a file of bugs classified with the active model (the store is not used)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli._shared import context, reported_errors

app = typer.Typer()


@app.command()
def classify(
    invocation: typer.Context,
    file: Annotated[Path, typer.Argument(help="A Bugzilla bugs file ({\"bugs\": [...]}).")],
    comments: Annotated[Path | None, typer.Option(help="Its comments file, for comment 0.")] = None,
    explain: Annotated[bool, typer.Option(help="Add the words behind each tag.")] = False,
) -> None:
    """Classify a file of bugs with the active model: one JSON object a line on stdout."""
    from joblib import Parallel, delayed

    from core.bugzilla.snapshot import records_from_files
    from core.classification import classify as run_classify

    with reported_errors():
        ctx = context(invocation)
        settings, taxonomy, registry = ctx.settings, ctx.taxonomy, ctx.registry
        # The files first: a bad one is told in a moment, not after the model's seconds of loading.
        records = records_from_files(file, comments, taxonomy)
        loaded = registry.load()
        incidents = [r.incident() for r in records]
        size = 256
        chunks = [incidents[i:i + size] for i in range(0, len(incidents), size)]
        results = Parallel(n_jobs=settings.n_jobs)(
            delayed(run_classify)(loaded, chunk, taxonomy, explain=explain) for chunk in chunks)
    for chunk in results:
        for result in chunk:
            sys.stdout.write(json.dumps(result.as_dict(explanation=explain)) + "\n")
