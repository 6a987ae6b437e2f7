"""Long jobs run by the service: claimed in the store, run in a thread, recorded for any worker.

A route claims the store's lock of its kind (409 naming the running job when it is taken),
records a queued job and answers 202 with its id at once; a thread of the server process runs the
work, writes its progress and its end (result, or error and the status it stands for) to the
``jobs`` table, then gives the lock up. The job outlives the request; it does not outlive the
process (a job whose process died reads as failed: its lock is no longer held; the next claimant
of the lock writes it so).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from fastapi import HTTPException, Response

from classifier import IncidentError, JobRunning
from core.jobs import JobLock, create_job, describe_holder, get_job, new_job_id, update_job
from core.tables import utcnow

from .schemas import JobPublic

logger = logging.getLogger("service.jobs")

#: Name prefix of the thread that runs a job (``job-<kind>-<id>``).
JOB_THREAD_PREFIX = "job-"

#: What a job runs: given a progress callback, the result to record.
Work = Callable[[Callable[[str], None]], dict[str, Any]]


def start_job(*, url: str, kind: str, requested_by: str | None, work: Work,
              failures: Mapping[type[IncidentError], int]) -> str:
    """Claim ``kind``'s lock (JobRunning when it is taken), record a queued job, start ``work`` in
    a thread of this process; the job's id. ``failures`` maps the errors that end a job to the
    status they stand for (their message is the job's error); any other error is a 500 whose
    message stays in the service log."""
    job_id = new_job_id()
    lock = JobLock(url, kind, holder=describe_holder(requested_by, "the API"), job_id=job_id)
    lock.acquire()
    try:
        create_job(url=url, job_id=job_id, kind=kind, requested_by=requested_by)
        threading.Thread(target=_run, args=(url, job_id, lock, work, failures), daemon=True,
                         name=f"{JOB_THREAD_PREFIX}{kind}-{job_id[:8]}").start()
    except BaseException:
        lock.release()
        raise
    return job_id


def _run(url: str, job_id: str, lock: JobLock, work: Work,
         failures: Mapping[type[IncidentError], int]) -> None:
    def progress(step: str) -> None:
        update_job(url=url, job_id=job_id, progress=step[:2000])

    try:
        update_job(url=url, job_id=job_id, state="running", started_at=utcnow())
        result = work(progress)
    except Exception as exc:  # noqa: BLE001 - a job's end is recorded, whatever it is
        status = next((code for kind, code in failures.items() if isinstance(exc, kind)), None)
        if status is None:
            logger.exception("job %s failed", job_id)
        _finish(url, job_id, state="failed", status_code=status or 500,
                error=str(exc) if status else "an unexpected error; see the service log")
    else:
        _finish(url, job_id, state="succeeded", status_code=200, result=result)
    finally:
        lock.release()


def _finish(url: str, job_id: str, **fields: Any) -> None:
    try:
        update_job(url=url, job_id=job_id, finished_at=utcnow(), **fields)
    except Exception:  # noqa: BLE001 - the store went away: the job then reads as failed
        logger.exception("job %s: its end could not be recorded", job_id)


def started(response: Response, *, url: str, kind: str, requested_by: str | None, work: Work,
            failures: Mapping[type[IncidentError], int]) -> JobPublic:
    """``start_job`` for a route: the queued job, with its address in ``Location``; 409 naming
    the running job (and who started it) when one of ``kind`` runs already."""
    try:
        job_id = start_job(url=url, kind=kind, requested_by=requested_by, work=work,
                           failures=failures)
    except JobRunning as exc:
        raise HTTPException(409, str(exc)) from None
    response.headers["Location"] = f"/jobs/{job_id}"
    job = get_job(url=url, job_id=job_id)
    assert job is not None  # noqa: S101 - recorded just above, and jobs are never deleted
    return JobPublic.model_validate(asdict(job))
