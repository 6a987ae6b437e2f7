"""The /jobs routes: how a long job started over HTTP (retrain, sync) goes.

GET /jobs/{id} (readers): its state (queued, running, succeeded, failed), progress and result.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from core.jobs import get_job

from ..auth import READERS
from ..deps import SettingsDep, StoreDep
from ..schemas import JobPublic, Message

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobPublic, responses={404: {"model": Message}},
            dependencies=[READERS])
def read_job(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$",
                                         description="The id a 202 answer gave.")],
             settings: SettingsDep, store: StoreDep) -> JobPublic:
    """A job's state, what it is doing (`progress`), and once it ended its `result` (the
    retraining decision, the sync report) or its `error`, with the status it stands for. Any
    worker answers: the job is in the store. A job whose process died reads as failed."""
    store.migrate()
    job = get_job(url=settings.database_url, job_id=job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return JobPublic.model_validate(asdict(job))
