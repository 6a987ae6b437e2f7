"""The /incidents routes: reading stored incidents, and syncing the store with Bugzilla.

GET /incidents?ids= (readers): a list of stored incidents, as JSON or an HTML page (where the
briefing's counts link to).
GET /incidents/{id} (readers): the incident, its Bugzilla tags, predictions and corrections.
POST /incidents/sync (maintainers): start bringing the store up to date with Bugzilla; answers
202 with the job (GET /jobs/{id}).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import HTMLResponse, Response

from classifier import BugzillaUnavailable
from core.bugzilla import sync_from_bugzilla
from core.ca_names import shown_ca_names
from core.corrections import corrections_of
from core.labels import Label, LabelSource, incident_labels
from core.report import MAX_LISTED, render_page
from core.store import MAX_BUG_ID, get_incident, iter_incidents

from ..auth import AUTH_ERRORS, READERS, MaintainerDep
from ..deps import ActiveVersionDep, CANamesDep, SessionDep, SettingsDep, StoreDep, TaxonomyDep
from ..errors import invalid
from ..jobs import started
from ..schemas import (
    CorrectionPublic,
    IncidentListItemPublic,
    IncidentListPublic,
    IncidentPublic,
    JobPublic,
    LabelPublic,
    Message,
    PredictionPublic,
    SyncReportPublic,
    TagPublic,
    bug_id_of,
)

router = APIRouter(prefix="/incidents", tags=["incidents"])

@router.post("/sync", status_code=202, response_model=JobPublic, responses={
    **AUTH_ERRORS,
    409: {"model": Message, "description": "A sync is running (the message names its job and "
                                           "who started it)."}})
def sync_incidents(maintainer: MaintainerDep, settings: SettingsDep, taxonomy: TaxonomyDep,
                   store: StoreDep, response: Response) -> JobPublic:
    """Start `incidents sync` from the service and answer at once (202) with its job: the bugs
    changed in Bugzilla (INCIDENTS_BUGZILLA_URL) since the last complete sync, every bug the
    first time. `GET /jobs/{id}` says how it goes and, once it succeeded, holds how many were
    new, updated and unchanged in `result`; when Bugzilla kept failing the job fails with
    status_code 502 (what came before is kept). One sync runs at a time, whoever started it."""
    # The sync commits each page in a transaction of its own (what came before a failing page
    # is kept). It needs the store migrated: done when the token check queried the store.
    store.migrate()

    def work(progress: Callable[[str], None]) -> dict[str, Any]:
        done = [0]

        def page(count: int) -> None:
            done[0] += count
            progress(f"{done[0]} bugs fetched and stored")

        report = sync_from_bugzilla(settings=settings, taxonomy=taxonomy, progress=page)
        return SyncReportPublic.model_validate(report.as_dict()).model_dump(mode="json")

    return started(response, url=settings.database_url, kind="sync",
                   requested_by=maintainer.name, work=work, failures={BugzillaUnavailable: 502})


def _ids(value: str) -> list[int]:
    """Comma-separated bug ids, in the order given, each once; 422 naming ``ids`` otherwise."""
    ids: list[int] = []
    for part in value.split(","):
        bug_id = bug_id_of(part)
        if bug_id is None:
            raise invalid(("query", "ids"), f"{part.strip()[:40]!r} is not a bug id: expected bug ids "
                                            "separated by commas, such as 1800405,1826235", "value_error", value)
        if bug_id not in ids:
            ids.append(bug_id)
    if len(ids) > MAX_LISTED:
        raise invalid(("query", "ids"), f"{len(ids)} ids: at most {MAX_LISTED} a list", "value_error")
    return ids


def _label(label: Label | None, taxonomy) -> LabelPublic:
    label = label or Label(LabelSource.NONE)
    return LabelPublic(source=label.source.value, tags=list(label.tags),
                       categories=taxonomy.categories_of(label.tags), model_version=label.model_version)


@router.get("", response_model=IncidentListPublic, dependencies=[READERS], responses={
    200: {"content": {"text/html": {}}, "description": "The incidents, as JSON or an HTML page."}})
def list_incidents(
    ids: Annotated[str, Query(max_length=20_000, description="Bug ids separated by commas.",
                              examples=["1800405,1826235"])],
    session: SessionDep, taxonomy: TaxonomyDep, active_version: ActiveVersionDep,
    settings: SettingsDep, ca_names: CANamesDep,
    output: Annotated[Literal["json", "html"], Query(
        alias="format", description="`html` for a page (where the briefing's counts link).")] = "json",
) -> IncidentListPublic | Response:
    """The stored incidents among `ids`, in the order asked: summary, CA, status, the times the
    briefing places them by, and the label it counts them with. Ids the store does not hold are
    listed in `missing`."""
    wanted = _ids(ids)
    rows = {row.id: row for row in iter_incidents(session=session, ids=wanted)}
    labels = incident_labels(session=session, incident_ids=list(rows), active_version=active_version)
    shown = shown_ca_names(session=session, ca_names=ca_names, stored={row.ca_name for row in rows.values()})
    data = [IncidentListItemPublic(
        id=row.id, summary=row.summary, ca=shown[row.ca_name], status=row.status,
        resolution=row.resolution, creation_time=row.creation_time, resolved_at=row.resolved_at,
        last_comment_time=row.last_comment_time, label=_label(labels.get(row.id), taxonomy))
        for row in (rows[i] for i in wanted if i in rows)]
    answer = IncidentListPublic(data=data, count=len(data), missing=[i for i in wanted if i not in rows])
    if output == "html":
        return HTMLResponse(render_page("incidents.html", listing=answer, bugzilla_url=settings.bugzilla_url))
    return answer


@router.get("/{bug_id}", response_model=IncidentPublic, responses={404: {"model": Message}},
            dependencies=[READERS])
def read_incident(bug_id: Annotated[int, Path(gt=0, le=MAX_BUG_ID, description="Bug id.")],
                  session: SessionDep, taxonomy: TaxonomyDep,
                  active_version: ActiveVersionDep, ca_names: CANamesDep) -> IncidentPublic:
    """The stored incident with its whiteboard tags, every prediction (with the model version
    that made it), its corrections, and the label the briefing table counts it with."""
    row = get_incident(session=session, bug_id=bug_id)
    if row is None:
        raise HTTPException(404, f"bug {bug_id} is not in the store; classify it with an id "
                                 "or run `incidents sync`")
    label = incident_labels(session=session, incident_ids=[bug_id],
                            active_version=active_version).get(bug_id)
    return IncidentPublic(
        **{name: getattr(row, name) for name in (
            "id", "summary", "description", "creator", "creator_domain", "ca_name", "product",
            "component", "status", "resolution", "whiteboard", "creation_time",
            "last_change_time", "resolved_at", "synced_at", "last_event_time", "last_comment_time")},
        bugzilla_tags=[t.tag for t in row.tags if t.kind == "type"],
        whiteboard_tags=[TagPublic(tag=t.tag, kind=t.kind) for t in row.tags],
        predictions=[PredictionPublic(model_version=p.model_version, tags=p.tags,
                                      categories=taxonomy.categories_of(p.tags), scores=p.scores,
                                      needs_review=p.needs_review, review_reason=p.review_reason,
                                      confidence=p.confidence, created_at=p.created_at) for p in row.predictions],
        corrections=[CorrectionPublic(tags=list(c.tags), created_at=c.created_at,
                                      author=c.author, note=c.note)
                     for c in corrections_of(session=session, incident_id=bug_id)],
        ca=shown_ca_names(session=session, ca_names=ca_names, stored=[row.ca_name])[row.ca_name],
        label=_label(label, taxonomy),
    )
