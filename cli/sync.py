"""`incidents sync` and `incidents db-upgrade`: filling the store, and migrating its schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli._shared import context, fail, reported_errors

app = typer.Typer()


@app.command()
def sync(
    invocation: typer.Context,
    snapshot: Annotated[Path | None, typer.Option(
        help="Load this folder (bugs.json, comments.json) instead of asking Bugzilla.")] = None,
    auto: Annotated[bool, typer.Option(
        "--auto", help="Load INCIDENTS_SNAPSHOT_DIR when it holds bugs.json, "
                       "else sync from Bugzilla.")] = False,
) -> None:
    """Sync the store from Bugzilla (only changes after the first run), or load a snapshot."""
    from tqdm import tqdm

    from core.bugzilla import BUGS_FILE, sync_from_bugzilla, sync_snapshot

    with reported_errors():
        ctx = context(invocation)
        settings, taxonomy = ctx.settings, ctx.taxonomy
        if snapshot is not None and auto:
            raise fail("--snapshot and --auto exclude each other")
        if auto and (settings.snapshot_dir / BUGS_FILE).is_file():
            snapshot = settings.snapshot_dir
        if snapshot is not None:
            message, _ = sync_snapshot(url=ctx.writable_store(), folder=snapshot.expanduser(),
                                       taxonomy=taxonomy)
        else:
            with ctx.job_lock("sync"), tqdm(desc="bugs", unit=" bugs", disable=None) as bar:
                report = sync_from_bugzilla(settings=settings, taxonomy=taxonomy,
                                            progress=bar.update)
            message = report.summary()
    typer.echo(message)


@app.command("db-upgrade")
def db_upgrade(invocation: typer.Context) -> None:
    """Bring the store's schema to the newest migration."""
    from core.db import safe_url, upgrade

    with reported_errors():
        url = context(invocation).settings.database_url
        done = upgrade(url)
    typer.echo(f"store at {safe_url(url)} {done}")
