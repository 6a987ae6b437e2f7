"""The /incidents routes: reading stored incidents, and syncing the store with Bugzilla.

GET /incidents?ids= (readers): a list of stored incidents, as JSON or an HTML page (where the
briefing's counts link to).
GET /incidents/{id} (readers): the incident, its Bugzilla tags, predictions and corrections.
POST /incidents/sync (maintainers): bring the store up to date with Bugzilla.
"""

from __future__ import annotations

import threading
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import HTMLResponse, Response

from classifier import BugzillaUnavailable
from core.bugzilla import sync_from_bugzilla
from core.ca_names import shown_ca_names
from core.corrections import corrections_of
from core.labels import Label, LabelSource, incident_labels
from core.report import render_page
from core.store import get_incident, iter_incidents

from ..auth import AUTH_ERRORS, READERS, MaintainerDep
from ..config import MAX_BUG_ID
from ..deps import ActiveVersionDep, CANamesDep, SessionDep, SettingsDep, StoreDep, TaxonomyDep
from ..errors import invalid
from ..schemas import (
    CorrectionPublic,
    IncidentListItemPublic,
    IncidentListPublic,
    IncidentPublic,
    LabelPublic,
    Message,
    PredictionPublic,
    SyncReportPublic,
    TagPublic,
)

router = APIRouter(prefix="/incidents", tags=["incidents"])

#: One sync at a time in this process (two would fetch and write the same bugs).
SYNCING = threading.Lock()


@router.post("/sync", response_model=SyncReportPublic, responses={
    **AUTH_ERRORS,
    409: {"model": Message, "description": "A sync is running."},
    502: {"model": Message, "description": "Bugzilla kept failing; what came before is kept."}})
def sync_incidents(maintainer: MaintainerDep, settings: SettingsDep, taxonomy: TaxonomyDep,
                   store: StoreDep) -> SyncReportPublic:
    """Run `incidents sync` from the service: the bugs changed in Bugzilla (INCIDENTS_BUGZILLA_URL)
    since the last complete sync, every bug the first time. Answers how many were new, updated
    and unchanged."""
    # A sync route runs in the threadpool: the HTTP calls do not block the event loop.
    if not SYNCING.acquire(blocking=False):
        raise HTTPException(409, "a sync from Bugzilla is already running")
    try:
        # The sync commits each page in a transaction of its own (what came before a failing
        # page is kept), not through the request's session. It needs the store migrated: done
        # when the token check queried the store, so this is then a no-op.
        store.migrate()
        report = sync_from_bugzilla(settings=settings, taxonomy=taxonomy)
    except BugzillaUnavailable as exc:
        raise HTTPException(502, str(exc)) from None
    finally:
        SYNCING.release()
    return SyncReportPublic.model_validate(report.as_dict())


#: Most ids one list takes.
MAX_LISTED = 1000


def _ids(value: str) -> list[int]:
    """Comma-separated bug ids, in the order given, each once; 422 naming ``ids`` otherwise."""
    ids: list[int] = []
    for part in value.split(","):
        text = part.strip()
        if not text.isdecimal() or not 0 < int(text) <= MAX_BUG_ID:
            raise invalid(("query", "ids"), f"{text!r} is not a bug id: expected bug ids separated "
                                            "by commas, such as 1800405,1826235", "value_error", value)
        if int(text) not in ids:
            ids.append(int(text))
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
                  active_version: ActiveVersionDep) -> IncidentPublic:
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
                                      needs_review=p.needs_review, confidence=p.confidence,
                                      created_at=p.created_at) for p in row.predictions],
        corrections=[CorrectionPublic(tags=list(c.tags), created_at=c.created_at,
                                      author=c.author, note=c.note)
                     for c in corrections_of(session=session, incident_id=bug_id)],
        label=_label(label, taxonomy),
    )
