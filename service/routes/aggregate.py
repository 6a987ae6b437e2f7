"""GET /aggregate: the briefing table of a window, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from core.aggregate import Briefing, WindowRule, briefing
from core.labels import LabelSource

from ..auth import READERS
from ..deps import ActiveVersionDep, SessionDep, SettingsDep, TaxonomyDep
from ..errors import invalid
from ..schemas import BriefingPublic, CategoryRowPublic, WindowRulePublic

router = APIRouter(prefix="/aggregate", tags=["aggregate"], dependencies=[READERS])

_BOUND_HELP = ("A day (`2023-01-01`, UTC) or a time (`2023-01-01T12:00:00Z`). A day as `end` "
               "includes the whole day.")


def window_bound(value: str, name: str, *, end: bool) -> datetime:
    """A window bound from a query parameter, as an aware UTC datetime."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    try:
        if day is not None:
            return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid(("query", name), f"{value!r} is not a date like 2023-01-01 or a time like "
                                       "2023-01-01T12:00:00Z", "datetime_parsing",
                      value) from None


def _public(table: Briefing) -> BriefingPublic:
    return BriefingPublic(
        start=table.start, end=table.end, model_version=table.model_version, total=table.total,
        category_entries=table.category_entries, uncategorised=table.uncategorised,
        rows=[CategoryRowPublic(category=r.category, incidents=r.incidents, cas=list(r.cas),
                                sources=r.sources) for r in table.rows],
        rules=[WindowRulePublic(rule=rule.value, description=rule.description,
                                incidents=table.rules[rule.value]) for rule in WindowRule],
        sources=table.sources, undated=table.undated, excluded=table.excluded)


def _csv(table: Briefing) -> str:
    sources = [s.value for s in LabelSource if s is not LabelSource.NONE]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["category", "incidents", *(f"from_{s}" for s in sources), "cas"])
    for row in table.rows:
        writer.writerow([row.category, row.incidents, *(row.sources[s] for s in sources),
                         "; ".join(row.cas)])
    writer.writerow(["All incidents (distinct)", table.total,
                     *(table.sources[s] for s in sources), ""])
    return out.getvalue()


@router.get("", response_model=BriefingPublic, responses={
    200: {"content": {"text/csv": {"example": "category,incidents,from_correction,from_bugzilla,"
                                              "from_model,cas\nCA Misissuance,2,0,1,1,"
                                              "digicert; sectigo\n"}}}})
def aggregate_incidents(
    start: Annotated[str, Query(max_length=40, description=_BOUND_HELP,
                                examples=["2023-01-01"])],
    end: Annotated[str, Query(max_length=40, description=_BOUND_HELP, examples=["2023-06-30"])],
    session: SessionDep, taxonomy: TaxonomyDep, active_version: ActiveVersionDep,
    settings: SettingsDep,
    output: Annotated[Literal["json", "csv"], Query(alias="format",
                                                    description="`csv` for the table only.")]
    = "json",
) -> BriefingPublic | Response:
    """How many incidents were open at some time in the window, per briefing category.

    An incident counts when it was filed on or before `end` and not resolved before `start`;
    when its resolution time is unknown (every bug of the 2026 snapshot), only when it was filed
    inside the window. Its label is its correction if any, else its Bugzilla type tags, else
    the active model's stored prediction (else the latest prediction). The answer says how many
    incidents each window rule and each label source accounts for. Categories follow the
    taxonomy file's order; an incident counts in every category of its tags. Bugs resolved as
    DUPLICATE or INVALID are not incidents of their own and are left out (`excluded` says how
    many; `INCIDENTS_BRIEFING_EXCLUDED_RESOLUTIONS` changes the list).
    """
    lower = window_bound(start, "start", end=False)
    upper = window_bound(end, "end", end=True)
    if lower > upper:
        raise invalid(("query", "start"), f"start {start} is after end {end}", "value_error",
                      start)
    table = briefing(session=session, taxonomy=taxonomy, start=lower, end=upper,
                     active_version=active_version,
                     excluded_resolutions=settings.briefing_excluded_resolutions)
    if output == "csv":
        name = f"briefing_{lower:%Y-%m-%d}_{upper:%Y-%m-%d}.csv"
        return Response(_csv(table), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return _public(table)
