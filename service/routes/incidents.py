"""The /incidents routes: reading a stored incident, and syncing the store with Bugzilla.

GET /incidents/{id} (readers): the incident, its Bugzilla tags, predictions and corrections.
POST /incidents/sync (maintainers): bring the store up to date with Bugzilla.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from classifier import BugzillaUnavailable
from core.bugzilla import sync_from_bugzilla
from core.corrections import corrections_of
from core.labels import incident_labels
from core.store import get_incident

from ..auth import AUTH_ERRORS, READERS, MaintainerDep
from ..config import MAX_BUG_ID
from ..deps import ActiveVersionDep, SessionDep, SettingsDep, StoreDep, TaxonomyDep
from ..schemas import (
    CorrectionPublic,
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
            "last_change_time", "resolved_at", "synced_at", "last_event_time")},
        bugzilla_tags=[t.tag for t in row.tags if t.kind == "type"],
        whiteboard_tags=[TagPublic(tag=t.tag, kind=t.kind) for t in row.tags],
        predictions=[PredictionPublic(model_version=p.model_version, tags=p.tags,
                                      categories=taxonomy.categories_of(p.tags), scores=p.scores,
                                      needs_review=p.needs_review, confidence=p.confidence,
                                      created_at=p.created_at) for p in row.predictions],
        corrections=[CorrectionPublic(tags=list(c.tags), created_at=c.created_at,
                                      author=c.author, note=c.note)
                     for c in corrections_of(session=session, incident_id=bug_id)],
        label=LabelPublic(source=label.source.value, tags=list(label.tags),
                          categories=taxonomy.categories_of(label.tags),
                          model_version=label.model_version) if label is not None else
        LabelPublic(source="none", tags=[], categories=[]),
    )
