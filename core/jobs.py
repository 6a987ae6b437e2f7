"""Long jobs (retrain, sync, relabel): a lock in the store so each runs once, and their records.

The lock is a row of ``job_locks`` per kind, claimed by an INSERT that only one claimant can win
(the kind is the primary key) on SQLite and PostgreSQL alike, whichever process claims it: the
CLI, the nightly run, or any worker of the service. Its holder moves ``expires_at`` forward every
``ttl / 3`` seconds from a thread of its own; a holder killed without releasing it (SIGKILL, a
power cut) stops doing so, and once ``expires_at`` has passed the next claimant takes it over.
A claimant in the same pid namespace of the same running kernel (``host_key``) need not wait:
when the holder's process is gone, it takes the claim over at once.

A job started over HTTP also has a row in ``jobs`` (queued, running, succeeded or failed, its
progress and its result), so the request answers at once and any worker can say how it goes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from classifier import JobRunning

from .db import session_scope
from .tables import JobLockRow, JobRow, utcnow

logger = logging.getLogger("core.jobs")

#: Seconds a claim lasts without a heartbeat: how long a holder killed on another machine
#: blocks its kind.
DEFAULT_TTL = 60.0

#: Name prefix of the thread that keeps a held lock alive (one a lock: ``job-lock-<kind>``).
HEARTBEAT_THREAD_PREFIX = "job-lock-"

#: The kinds of job that take the lock, and how a message names one.
KINDS = {"retrain": "a retraining", "sync": "a sync from Bugzilla", "relabel": "a relabelling",
         "nightly": "a nightly run"}

STATES = ("queued", "running", "succeeded", "failed")
#: The states of a job that has not ended.
UNFINISHED = STATES[:2]


def _host_key() -> str | None:
    """This machine's running kernel and pid namespace, in which a pid names one process; None
    where that cannot be known (no ``/proc``): claims then only lapse."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{socket.gethostname()}/{boot}/{namespace}"


HOST_KEY = _host_key()


def process_gone(pid: int) -> bool:
    """Whether no process ``pid`` runs here (a zombie, killed and not yet reaped, is gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: it exists
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _holder_gone(row: JobLockRow) -> bool:
    """Whether the claim's process is known to be gone: it ran here, and runs no more."""
    return (row.pid is not None and HOST_KEY is not None and row.host_key == HOST_KEY
            and row.pid != os.getpid() and process_gone(row.pid))


def describe_holder(name: str | None, via: str) -> str:
    """Who claims, in words: ``alice via the API, pid 1234 on host``."""
    return f"{name or 'someone'} via {via}, pid {os.getpid()} on {socket.gethostname()}"


class JobLock:
    """The store's lock on one kind of job, held from :meth:`acquire` to :meth:`release`.

    Parameters
    ----------
    url : the store's database URL.
    kind : one of ``KINDS``.
    holder : who claims it, in words (``describe_holder``); a refused claimant is told.
    job_id : the claimant's row in ``jobs``, when it has one (a refused claimant is told).
    ttl : seconds the claim lasts without a heartbeat.
    """

    def __init__(self, url: str, kind: str, *, holder: str, job_id: str | None = None,
                 ttl: float = DEFAULT_TTL) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        self.url, self.kind, self.holder, self.job_id, self.ttl = url, kind, holder, job_id, ttl
        self.owner = uuid.uuid4().hex
        self._stop = threading.Event()
        self._beating: threading.Thread | None = None

    def acquire(self, *, heartbeat: bool = True) -> JobLock:
        """Claim the lock, or raise JobRunning naming who holds it. ``heartbeat`` False: no
        thread keeps the claim alive (it lapses after ``ttl``; tests of a dead holder)."""
        try:
            self._claim()
        except IntegrityError:
            if not self._take_over_dead_holder():
                raise self._refusal() from None
            try:
                self._claim()
            except IntegrityError:  # another claimant took it over first
                raise self._refusal() from None
        if heartbeat:
            self._stop.clear()
            self._beating = threading.Thread(target=self._beat, daemon=True,
                                             name=f"{HEARTBEAT_THREAD_PREFIX}{self.kind}")
            self._beating.start()
        return self

    def _claim(self) -> None:
        now = utcnow()
        with session_scope(self.url) as session:
            # A claim whose holder stopped beating is taken over: deleted, then claimed anew
            # below, where the primary key lets one claimant's insert win.
            lapsed = session.execute(
                delete(JobLockRow).where(JobLockRow.kind == self.kind, JobLockRow.expires_at < now)
                .returning(JobLockRow.job_id)).first()
            if lapsed is not None:
                _record_orphan(session, lapsed.job_id)
            session.add(JobLockRow(kind=self.kind, owner=self.owner, holder=self.holder,
                                   job_id=self.job_id, acquired_at=now,
                                   expires_at=now + timedelta(seconds=self.ttl),
                                   pid=os.getpid(), host_key=HOST_KEY))

    def _take_over_dead_holder(self) -> bool:
        """Delete the claim when its process is known to be gone; whether it was."""
        with session_scope(self.url) as session:
            row = session.get(JobLockRow, self.kind)
            if row is None:
                return True  # released meanwhile
            if not _holder_gone(row):
                return False
            logger.warning("%s was claimed by %s, whose process is gone: taking it over",
                           KINDS[self.kind], row.holder)
            _record_orphan(session, row.job_id)
            session.execute(delete(JobLockRow).where(JobLockRow.kind == self.kind,
                                                     JobLockRow.owner == row.owner))
            return True

    def _refusal(self) -> JobRunning:
        with session_scope(self.url) as session:
            row = session.get(JobLockRow, self.kind)
            holder, job_id, since = ((row.holder, row.job_id, row.acquired_at) if row is not None
                                     else ("another process", None, None))
        started = f" since {since:%Y-%m-%d %H:%M:%S} UTC" if since is not None else ""
        job = f" (job {job_id})" if job_id else ""
        return JobRunning(f"{KINDS[self.kind]} is already running{job}, started by {holder}"
                          f"{started}; try again when it is done", holder=holder, job_id=job_id)

    def heartbeat(self) -> bool:
        """Move the claim's expiry forward; False when it is no longer ours (it lapsed and was
        taken over)."""
        with session_scope(self.url) as session:
            moved = session.execute(
                update(JobLockRow)
                .where(JobLockRow.kind == self.kind, JobLockRow.owner == self.owner)
                .values(expires_at=utcnow() + timedelta(seconds=self.ttl)))
            return bool(moved.rowcount)  # type: ignore[attr-defined]

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                if not self.heartbeat():
                    return
            except Exception:  # noqa: BLE001 - the store may be down a moment; try again
                continue

    def release(self) -> None:
        """Give the lock up (only our own claim: one taken over is left alone)."""
        self._stop.set()
        if self._beating is not None:
            self._beating.join()
            self._beating = None
        with session_scope(self.url) as session:
            session.execute(delete(JobLockRow).where(JobLockRow.kind == self.kind,
                                                     JobLockRow.owner == self.owner))

    def __enter__(self) -> JobLock:
        return self.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.release()


@dataclass(frozen=True)
class Job:
    """A job started over HTTP, as ``GET /jobs/{id}`` shows it."""

    id: str
    kind: str
    state: str
    requested_by: str | None
    created_at: Any
    started_at: Any
    finished_at: Any
    progress: str | None
    result: dict[str, Any] | None
    error: str | None
    status_code: int | None

    @classmethod
    def of(cls, row: JobRow) -> Job:
        return cls(row.id, row.kind, row.state, row.requested_by, row.created_at, row.started_at,
                   row.finished_at, row.progress, row.result, row.error, row.status_code)


def new_job_id() -> str:
    return uuid.uuid4().hex


def create_job(*, url: str, job_id: str, kind: str, requested_by: str | None) -> None:
    """Record a queued job of ``kind``."""
    with session_scope(url) as session:
        session.add(JobRow(id=job_id, kind=kind, state="queued", requested_by=requested_by,
                           created_at=utcnow()))


def update_job(*, url: str, job_id: str, **fields: Any) -> None:
    """Set fields of a job (state, progress, result, error, status_code, started_at, ...)."""
    with session_scope(url) as session:
        session.execute(update(JobRow).where(JobRow.id == job_id).values(**fields))


def get_job(*, url: str, job_id: str) -> Job | None:
    """The job, or None. One that has not ended while no live lock names it any more (the
    process running it died) reads as failed."""
    with session_scope(url) as session:
        # The lock first: a job records its end before giving its lock up, so when the lock is
        # gone the row read next holds the end of a job that ended.
        held = _held(session, [job_id])
        row = session.scalar(select(JobRow).where(JobRow.id == job_id))
        return None if row is None else _as_seen(Job.of(row), held)


def list_jobs(*, url: str, kind: str | None = None, limit: int = 20,
              offset: int = 0) -> tuple[list[Job], int]:
    """Jobs newest first (of ``kind`` when given), each as :func:`get_job` reads it, and how
    many there are in all."""
    with session_scope(url) as session:
        query = select(JobRow) if kind is None else select(JobRow).where(JobRow.kind == kind)
        held = _held(session, None)  # before the rows, as get_job reads them
        rows = session.scalars(query.order_by(JobRow.created_at.desc(), JobRow.id)
                               .limit(limit).offset(offset)).all()
        count = session.scalar(select(func.count()).select_from(query.subquery()))
        return [_as_seen(Job.of(row), held) for row in rows], int(count or 0)


def _held(session: Session, job_ids: list[str] | None) -> set[str]:
    """The jobs (of ``job_ids``, or all) whose lock is held by a live process now."""
    query = select(JobLockRow).where(JobLockRow.expires_at >= utcnow(),
                                     JobLockRow.job_id.is_not(None))
    if job_ids is not None:
        query = query.where(JobLockRow.job_id.in_(job_ids))
    return {lock.job_id for lock in session.scalars(query)
            if lock.job_id is not None and not _holder_gone(lock)}


def held_alive(session: Session, kind: str) -> bool:
    """Whether a live process holds the lock of ``kind`` now."""
    lock = session.get(JobLockRow, kind)
    return lock is not None and lock.expires_at >= utcnow() and not _holder_gone(lock)


#: What a job whose process died before it ended reads as, and is recorded as once its lock is
#: taken over.
ORPHANED: dict[str, Any] = {"state": "failed", "status_code": 500,
                            "error": "the process running it stopped before it ended"}


def _as_seen(job: Job, held: set[str]) -> Job:
    """A job that has not ended while no live lock names it any more (the process running it
    died) reads as failed."""
    if job.state in UNFINISHED and job.id not in held:
        return replace(job, **ORPHANED)
    return job


def _record_orphan(session: Session, job_id: str | None) -> None:
    """Record as failed the job of a claim being taken over, when it had not ended: its process
    died (or stopped beating) with it, so the row would otherwise stay ``running`` for ever."""
    if job_id is not None:
        session.execute(update(JobRow)
                        .where(JobRow.id == job_id, JobRow.state.in_(UNFINISHED))
                        .values(finished_at=utcnow(), **ORPHANED))
