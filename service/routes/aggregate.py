"""GET /aggregate: the briefing table of a period, as JSON or CSV; GET /aggregate/chart.png and
/aggregate/chart.svg: its bar chart."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from core.aggregate import Briefing, WindowRule, briefing
from core.labels import LabelSource
from core.report import CHART_MEDIA_TYPES, ChartFormat, csv_text, render_chart

from ..auth import READERS
from ..deps import ActiveVersionDep, BriefingSlotDep, CANamesDep, PeriodDep, SessionDep, SettingsDep, TaxonomyDep
from ..schemas import BriefingPublic, CategoryRowPublic, WindowRulePublic

router = APIRouter(prefix="/aggregate", tags=["aggregate"], dependencies=[READERS])


def _public(table: Briefing) -> BriefingPublic:
    return BriefingPublic(
        start=table.start, end=table.end, model_version=table.model_version,
        model_versions=table.model_versions, total=table.total,
        category_entries=table.category_entries, uncategorised=table.uncategorised,
        rows=[CategoryRowPublic(category=r.category, incidents=r.incidents, cas=list(r.cas),
                                sources=r.sources, incident_ids=list(r.incident_ids),
                                ca_counts=r.ca_counts) for r in table.rows],
        rules=[WindowRulePublic(rule=rule.value, description=rule.description,
                                incidents=table.rules[rule.value]) for rule in WindowRule],
        sources=table.sources, undated=table.undated, filed_when_received=table.filed_when_received,
        excluded=table.excluded, excluded_ids={r: list(ids) for r, ids in table.excluded_ids.items()},
        uncategorised_ids=list(table.uncategorised_ids), ca_counts=table.ca_counts)


def count_open(_slot: BriefingSlotDep, period: PeriodDep, session: SessionDep, taxonomy: TaxonomyDep,
               active_version: ActiveVersionDep, settings: SettingsDep, ca_names: CANamesDep) -> Briefing:
    """The briefing of the request's period (a dependency of every route that shows it),
    counted in one of the worker's briefing slots."""
    return briefing(session=session, taxonomy=taxonomy, start=period.start, end=period.end,
                    active_version=active_version,
                    excluded_resolutions=settings.briefing_excluded_resolutions, ca_names=ca_names)


OpenDep = Annotated[Briefing, Depends(count_open)]


def _csv(table: Briefing) -> str:
    sources = [s.value for s in LabelSource if s is not LabelSource.NONE]
    return csv_text([
        ["category", "incidents", *(f"from_{s}" for s in sources), "cas"],
        *([row.category, row.incidents, *(row.sources[s] for s in sources), "; ".join(row.cas)]
          for row in table.rows),
        ["All incidents (distinct)", table.total, *(table.sources[s] for s in sources), ""]])


@router.get("", response_model=BriefingPublic, responses={
    200: {"content": {"text/csv": {"example": "category,incidents,from_correction,from_bugzilla,"
                                              "from_model,cas\nCA Misissuance,2,0,1,1,"
                                              "DigiCert; Sectigo\n"}}}})
def aggregate_incidents(
    table: OpenDep,
    output: Annotated[Literal["json", "csv"], Query(alias="format",
                                                    description="`csv` for the table only.")]
    = "json",
) -> BriefingPublic | Response:
    """How many incidents were open at some time in the period, per briefing category.

    An incident counts when it was filed on or before `end` and not resolved before `start`. Its
    resolution time is Bugzilla's `cf_last_resolved` when known; else, for a closed bug, the time
    of its last public comment (Bugzilla closes a bug with a comment); with neither, it counts
    only when filed inside the period. A bug stored without a filing time counts from when the
    store received it (`filed_when_received`). Its label is its correction if any, else its
    Bugzilla type tags, else the active model's stored prediction (else the latest prediction).
    The answer says how many incidents each window rule and each label source accounts for, and
    each row's bug ids and CAs (merged across aliases and renames by the CA names file).
    Categories follow the taxonomy file's order; an incident counts in every category of its
    tags. Bugs resolved as DUPLICATE or INVALID are not incidents of their own and are left out
    (`excluded` says how many; `INCIDENTS_BRIEFING_EXCLUDED_RESOLUTIONS` changes the list).
    """
    if output == "csv":
        # Not the report's name (briefing_...csv): that CSV has the previous period, the
        # uncategorised and excluded bugs and the ids too; this one is the table alone.
        name = f"briefing-table_{table.period.slug}.csv"
        return Response(_csv(table), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return _public(table)


def _chart(table: Briefing, fmt: ChartFormat) -> Response:
    return Response(render_chart(table, fmt), media_type=CHART_MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'inline; filename="briefing_{table.period.slug}.{fmt}"'})


_CHART_HELP = ("The briefing's bar chart of the period (same `start` and `end` as `/aggregate`): one "
               "bar a category with its count, titled \"Chart based on N open incidents between "
               "<Month D, YYYY>, and <Month D, YYYY>\".")


@router.get("/chart.png", response_class=Response, description=_CHART_HELP,
            responses={200: {"content": {"image/png": {}}, "description": "The chart as PNG."}})
def aggregate_chart_png(table: OpenDep) -> Response:
    return _chart(table, "png")


@router.get("/chart.svg", response_class=Response, description=_CHART_HELP,
            responses={200: {"content": {"image/svg+xml": {}}, "description": "The chart as SVG."}})
def aggregate_chart_svg(table: OpenDep) -> Response:
    return _chart(table, "svg")
