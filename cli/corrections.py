"""`incidents corrections import | list`: maintainers' label corrections in the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli._shared import context, reported_errors

app = typer.Typer(help="Import and list maintainers' label corrections.", no_args_is_help=True)


@app.command("import")
def corrections_import(
    invocation: typer.Context,
    file: Annotated[Path, typer.Argument(help='One JSON object a line: {"bug_id", "tags", "note"} (the other '
                                             'fields of a `review --json` line are ignored).')],
    author: Annotated[str, typer.Option(help="The maintainer the corrections are from.")],
) -> None:
    """Store a file of corrections, all or nothing: every line is checked before any is stored.

    A line that is already the correction that counts for its bug, by the same author, is
    skipped: importing a file again (say, after an interrupted run), or a line twice in it,
    stores nothing twice."""
    from classifier import InvalidIncident
    from core.corrections import jsonl_lines, parse_correction_lines, record_correction
    from core.db import session_scope
    from core.pause import pause_at
    from core.tokens import maintainer_name

    with reported_errors():
        author = maintainer_name(author, "--author")
        ctx = context(invocation)
        taxonomy, registry = ctx.taxonomy, ctx.registry
        active = registry.active_version()
        try:  # each named as `classify` names its bugs file
            text = file.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is no JSON
        except FileNotFoundError:
            raise InvalidIncident(f"{file}: no such file", field="file") from None
        except IsADirectoryError:
            raise InvalidIncident(f"{file}: is a directory, not a file", field="file") from None
        except UnicodeDecodeError as exc:
            raise InvalidIncident(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                                  field="file") from None
        with session_scope(ctx.writable_store()) as session:
            checked = parse_correction_lines(session=session, taxonomy=taxonomy,
                                             lines=jsonl_lines(text))
            # Only now, the lines being good: a bad file is told without the model's seconds.
            loaded = registry.load() if active and checked else None
            stored = 0
            for c in checked:
                # Line by line, after storing the lines above: a line repeating the one that
                # counts by then, from the store or from this file, is skipped alike (the rule
                # of POST /corrections and the page: core.corrections.counting_repeat).
                stored += record_correction(
                    session=session, taxonomy=taxonomy, bug_id=c.bug_id, tags=list(c.tags),
                    note=c.note, author=author, active_version=active, loaded=loaded).stored
            pause_at("corrections:before-commit")
        pause_at("corrections:committed")
    skipped = f" ({len(checked) - stored} already stored)" if stored < len(checked) else ""
    typer.echo(f"stored {stored} corrections from {file} by {author}{skipped}")
    # A file is a sequence of verdicts, the last counting; one bug given different tags on two
    # lines is more often a slip than a change of mind, so it is said.
    last: dict[int, tuple[str, ...]] = {}
    changed: set[int] = set()
    for c in checked:
        if c.bug_id in last and last[c.bug_id] != c.tags:
            changed.add(c.bug_id)
        last[c.bug_id] = c.tags
    for bug_id in sorted(changed):
        tags = ", ".join(last[bug_id]) or "no incident type"
        typer.echo(f"note: bug {bug_id} is given different tags on several lines; the last "
                   f"counts ({tags})", err=True)


@app.command("list")
def corrections_list(
    invocation: typer.Context,
    bug: Annotated[int | None, typer.Option(help="Only this bug's corrections.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 50,
) -> None:
    """Corrections, newest first: one JSON object a line."""
    from core.corrections import list_corrections
    from core.store import checked_bug_id, get_incident

    with reported_errors():
        if bug is not None:  # named as typed, and refused on a store never migrated too
            checked_bug_id(bug, "--bug")
        with context(invocation).reading() as session:  # a store never migrated holds no corrections
            rows = [] if session is None else list_corrections(session=session, bug_id=bug, limit=limit)[0]
            lines = [json.dumps({"id": r.id, "bug_id": r.incident_id, "tags": r.tags, "note": r.note,
                                 "author": r.author, "created_at": r.created_at.isoformat(),
                                 "model_version": r.model_version, "model_tags": r.model_tags})
                     for r in rows]
            # Said, not left as nothing: a mistyped bug id looks like a bug never corrected.
            unknown = (bug is not None and not rows and session is not None
                       and get_incident(session=session, bug_id=bug) is None)
    if unknown:
        typer.echo(f"note: bug {bug} is not in the store", err=True)
    for line in lines:
        typer.echo(line)
