"""`incidents report`: the CA/Browser Forum briefing of a period, as Markdown, HTML or CSV, with its chart."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cli._shared import StatusLine, context, fail, reported_errors

app = typer.Typer()


class ReportFormat(StrEnum):
    MD = "md"
    HTML = "html"
    CSV = "csv"


@app.command()
def report(
    invocation: typer.Context,
    start: Annotated[str, typer.Option(help="First day of the period (2023-01-01, UTC) or a time.")],
    end: Annotated[str, typer.Option(help="Last day of the period, included whole (2023-06-30), or a time.")],
    output: Annotated[ReportFormat, typer.Option("--format", help="md (Markdown), html or csv.")]
    = ReportFormat.MD,
    out: Annotated[Path | None, typer.Option(
        file_okay=False, help="Write the report and its chart (PNG and SVG) into this folder instead of printing "
             "the report.")] = None,
) -> None:
    """The briefing of the incidents open at some time between START and END.

    The count per category against the previous period (a quarter's is the quarter before, a
    year's the year before: as many calendar months; else the period of the same length before
    it), their CAs and bugs, where the labels come from, and what is left out."""
    from core.aggregate import Period
    from core.ca_names import CANames
    from core.db import safe_url
    from core.report import (
        bugzilla_list_url,
        build_report,
        render_chart,
        render_csv,
        render_html,
        render_markdown,
    )

    with reported_errors():
        ctx = context(invocation)
        settings = ctx.settings
        period = Period.parse(start, end)
        ca_names = CANames.load(settings.ca_names_file)
        with StatusLine("reading the store") as status:
            with ctx.reading() as session:
                if session is None:
                    raise fail(f"the store ({safe_url(settings.database_url)}) holds no incidents yet: run "
                               "`incidents sync` first")
                briefing = build_report(
                    session=session, taxonomy=ctx.taxonomy, period=period,
                    active_version=ctx.registry.active_version(),
                    excluded_resolutions=settings.briefing_excluded_resolutions, ca_names=ca_names,
                    progress=status)
            charts: dict[str, bytes] = {}
            if out is not None:
                status("drawing the chart")
                charts = {"png": render_chart(briefing.current, "png"),
                          "svg": render_chart(briefing.current, "svg")}
        name = f"briefing_{period.slug}"
        if output is ReportFormat.CSV:
            text = render_csv(briefing)
        elif output is ReportFormat.HTML:
            text = render_html(briefing, list_url=lambda ids: bugzilla_list_url(ids, settings.bugzilla_url),
                               bugzilla_url=settings.bugzilla_url,
                               chart_src=f"{name}.svg" if out is not None else None)
        else:
            text = render_markdown(briefing, bugzilla_url=settings.bugzilla_url,
                                   chart=f"{name}.png" if out is not None else None)
        if out is None:
            typer.echo(text, nl=False)
            return
        folder = out.expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        contents = {folder / f"{name}.{output.value}": text.encode("utf-8"),
                    folder / f"{name}.png": charts["png"], folder / f"{name}.svg": charts["svg"]}
        _write_all(contents)
        written = list(contents)
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(briefing.chart_title)


def _write_all(contents: dict[Path, bytes]) -> None:
    """Write the files all or none: each aside first, then each renamed into place, so a write
    that fails (a full disk) leaves neither a part of the report nor a mix with an earlier one."""
    from core.files import aside_of

    staged: list[Path] = []
    try:
        for path, data in contents.items():
            staged.append(aside_of(path))
            staged[-1].write_bytes(data)
        for aside, path in zip(staged, contents, strict=True):
            os.replace(aside, path)
    finally:
        for aside in staged:
            aside.unlink(missing_ok=True)
