"""POST /incidents/sync (maintainers): bring the store up to date with Bugzilla."""

from __future__ import annotations

import threading

from fastapi import APIRouter, HTTPException

from classifier import BugzillaUnavailable
from core.bugzilla import sync_from_bugzilla

from ..auth import AUTH_ERRORS, MaintainerDep
from ..deps import SettingsDep, StoreDep, TaxonomyDep
from ..schemas import Message, SyncReportPublic

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
        store.migrate()
        report = sync_from_bugzilla(settings=settings, taxonomy=taxonomy)
    except BugzillaUnavailable as exc:
        raise HTTPException(502, str(exc)) from None
    finally:
        SYNCING.release()
    return SyncReportPublic.model_validate(report.as_dict())
