"""GET /report: the briefing of a period as an HTML page (or Markdown, or CSV), as `incidents report` writes it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from core.report import build_report, incident_list_url, render_csv, render_html, render_markdown

from ..auth import READERS
from ..deps import ActiveVersionDep, BriefingSlotDep, CANamesDep, PeriodDep, SessionDep, SettingsDep, TaxonomyDep

router = APIRouter(prefix="/report", tags=["report"], dependencies=[READERS])


@router.get("", response_class=HTMLResponse, responses={
    200: {"content": {"text/html": {}, "text/markdown": {}, "text/csv": {}},
          "description": "The briefing: an HTML page by default."}})
def read_report(request: Request, _slot: BriefingSlotDep, period: PeriodDep, session: SessionDep,
                taxonomy: TaxonomyDep,
                active_version: ActiveVersionDep, settings: SettingsDep, ca_names: CANamesDep,
                output: Annotated[Literal["html", "md", "csv"], Query(
                    alias="format", description="`html` (a page), `md` (Markdown) or `csv`.")] = "html",
                ) -> Response:
    """The briefing of the incidents open at some time between `start` and `end`: the table of
    counts per category with the total of distinct incidents, the previous period (as many
    calendar months before for whole months, else the same length before), the date the data
    is from, the chart, each category's CAs and bugs, where the labels come from (and how many
    predictions wait for review), and the incidents left out. In the page every count links to
    the list of its incidents (`GET /incidents?ids=...`)."""
    report = build_report(session=session, taxonomy=taxonomy, period=period,
                          active_version=active_version,
                          excluded_resolutions=settings.briefing_excluded_resolutions,
                          ca_names=ca_names)
    name = f"briefing_{period.slug}"
    if output == "csv":
        return Response(render_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    root = request.scope.get("root_path", "")
    query = urlencode({"start": request.query_params["start"], "end": request.query_params["end"]})
    if output == "md":
        # The chart by its whole address: Markdown is pasted into a briefing document, where a
        # path of this server's leads nowhere. INCIDENTS_PUBLIC_URL when set: the request's own
        # address comes from its Host header, which any client writes.
        base = (settings.public_url or str(request.base_url)).rstrip("/")
        chart = f"{base}/aggregate/chart.png?{query}"
        return Response(render_markdown(report, bugzilla_url=settings.bugzilla_url, chart=chart),
                        media_type="text/markdown; charset=utf-8")

    def list_url(ids: Sequence[int]) -> str | None:
        return incident_list_url(ids, f"{root}/incidents")

    return HTMLResponse(render_html(report, list_url=list_url, bugzilla_url=settings.bugzilla_url,
                                    chart_src=f"{root}/aggregate/chart.svg?{query}"))
