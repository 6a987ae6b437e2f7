"""`incidents review`: the review queue in a terminal, least sure first, with why each waits."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cli._shared import context, fail, reported_errors
from core.text import printable

app = typer.Typer()


@app.command()
def review(
    invocation: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, least sure first.")] = 20,
    start: Annotated[str | None, typer.Option(
        help="Only incidents open on or after this day (2023-01-01, UTC) or time.")] = None,
    end: Annotated[str | None, typer.Option(
        help="Only incidents open on or before this day (included whole) or time.")] = None,
    ca: Annotated[str | None, typer.Option(help="Only this CA's incidents, by any of its names.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """The incidents a model flagged for review, least sure first.

    Those labelled by a model alone (no correction, no Bugzilla type tags), with the prediction
    the briefing counts: the active version's, or an older one's until it has classified the
    incident. Each one's confidence, tags and why it waits. Correct them with `incidents
    corrections import`."""
    from core.aggregate import bounds
    from core.ca_names import CANames
    from core.review import review_count, review_queue, stored_names_of

    with reported_errors():
        ctx = context(invocation)
        settings = ctx.settings
        lower, upper = bounds(start, end)  # start after end: one line naming start
        version = ctx.registry.active_version()
        if version is None:
            raise fail("no model version is active, so nothing waits for review: run "
                       "`incidents train` first")
        filters: dict[str, Any] = {"start": lower, "end": upper, "ca": ca,
                   "ca_names": CANames.load(settings.ca_names_file),
                   "excluded_resolutions": settings.briefing_excluded_resolutions}
        with ctx.reading() as session:  # a store never migrated holds nothing to review
            items = [] if session is None else review_queue(
                session=session, model_version=version, limit=limit, **filters)
            count = 0 if session is None else review_count(session=session, model_version=version,
                                                           **filters)
            # Said, not left as a plain 0: a CA name mistyped looks like a CA with nothing waiting.
            no_such_ca = (count == 0 and ca is not None and bool(ca.strip()) and session is not None
                          and not stored_names_of(session=session, ca=ca, ca_names=filters["ca_names"]))
    if no_such_ca:
        typer.echo(f"note: no incident in the store is of a CA named {ca!r}; `incidents report` "
                   "lists the CAs by the names the briefing gives them", err=True)
    if as_json:
        for item in items:
            typer.echo(json.dumps({
                "bug_id": item.incident_id, "confidence": item.confidence, "tags": list(item.tags),
                "review_reason": item.review_reason, "top_scores": item.top_scores,
                "model_version": item.model_version,
                "ca": item.ca, "ca_name": item.ca_name, "summary": item.summary,
                "creation_time": item.creation_time.isoformat() if item.creation_time else None}))
        return
    shown = f", the first {len(items)} below" if len(items) < count else ""
    older = sorted({item.model_version for item in items} - {version})
    by = (f"{version} alone" if not older else
          f"a model alone ({version}, and {', '.join(older)} where {version} has not classified "
          f"them yet: `incidents relabel`)")
    typer.echo(f"{count} incidents labelled by {by} wait for review{shown}; least sure first")
    for item in items:
        whose = f"  [{item.model_version}]" if item.model_version != version else ""
        typer.echo(f"{item.incident_id}  {item.confidence:.2f}  {', '.join(item.tags) or '-'}  "
                   f"{printable(item.summary)}{whose}")  # a summary's ESC sequences drive the terminal
        typer.echo(f"    why: {item.review_reason or 'flagged before reasons were stored'}")
