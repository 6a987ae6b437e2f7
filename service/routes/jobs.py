"""The /jobs routes: how a long job started over HTTP (retrain, sync) goes.

GET /jobs/{id} (readers): its state (queued, running, succeeded, failed), progress and result.
GET /jobs (readers): the jobs, newest first (to find one whose id was not kept).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from core.jobs import get_job, list_jobs

from ..auth import READERS
from ..config import MAX_OFFSET
from ..deps import SettingsDep, StoreDep
from ..schemas import JobPublic, JobsPublic, Message

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


@router.get("", response_model=JobsPublic, dependencies=[READERS])
def read_jobs(settings: SettingsDep, store: StoreDep,
              kind: Annotated[Literal["retrain", "sync"] | None,
                              Query(description="Only jobs of this kind.")] = None,
              limit: Annotated[int, Query(ge=1, le=1000, description="Jobs a page.")] = 20,
              offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Jobs skipped.")] = 0,
              ) -> JobsPublic:
    """The jobs started over HTTP, newest first, each as `GET /jobs/{id}` answers it (a job
    whose process died reads as failed): to find a retraining or a sync whose id was not kept,
    or what the last one decided."""
    store.migrate()
    jobs, count = list_jobs(url=settings.database_url, kind=kind, limit=limit, offset=offset)
    return JobsPublic(data=[JobPublic.model_validate(asdict(job)) for job in jobs], count=count)
