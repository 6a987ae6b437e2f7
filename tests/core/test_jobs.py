"""The store's job locks: a retrain, sync or relabel runs once, whichever process starts it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import update

from classifier import JobRunning
from core.config import PROJECT_ROOT
from core.db import session_scope, upgrade
from core.jobs import JobLock, create_job, get_job, list_jobs, new_job_id, process_gone, update_job
from core.tables import JobLockRow, JobRow


@pytest.fixture
def url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def test_job_lock_refuses_a_second_claim(url: str) -> None:
    with JobLock(url, "retrain", holder="alice via the API, pid 1 on a", job_id="j1"):
        with pytest.raises(JobRunning, match=r"^a retraining is already running \(job j1\), started "
                                             r"by alice via the API, pid 1 on a since ") as refused:
            JobLock(url, "retrain", holder="bob").acquire()
        assert (refused.value.holder, refused.value.job_id) == ("alice via the API, pid 1 on a", "j1")
        with JobLock(url, "sync", holder="bob"):  # another kind is free
            pass
    with JobLock(url, "retrain", holder="bob"):  # released
        pass


def test_job_lock_one_of_many_racing_claims_wins(url: str) -> None:
    claims = [JobLock(url, "relabel", holder=f"worker {i}") for i in range(6)]
    start = threading.Barrier(len(claims))
    won: list[JobLock] = []
    refused: list[str] = []

    def claim(lock: JobLock) -> None:
        start.wait()
        try:
            won.append(lock.acquire(heartbeat=False))
        except JobRunning as exc:
            refused.append(exc.holder)

    threads = [threading.Thread(target=claim, args=(lock,)) for lock in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and len(refused) == len(claims) - 1
    assert set(refused) == {won[0].holder}
    won[0].release()


def test_job_lock_heartbeat_keeps_it(url: str) -> None:
    with JobLock(url, "sync", holder="alice", ttl=0.6):
        time.sleep(1.5)  # well past its ttl: the heartbeat moved it forward
        with pytest.raises(JobRunning):
            JobLock(url, "sync", holder="bob").acquire()


def test_job_lock_of_a_killed_holder_is_taken_over(url: str) -> None:
    """A holder killed with SIGKILL releases nothing; on its machine, the next claimant sees
    its process gone and takes the claim over at once, without waiting for it to lapse."""
    script = ("import sys, time\nfrom core.jobs import JobLock\n"
              "JobLock(sys.argv[1], 'retrain', holder='doomed', ttl=1.0).acquire()\n"
              "print('claimed', flush=True)\ntime.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", script, url], cwd=PROJECT_ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "claimed\n"
        time.sleep(1.2)  # past its ttl: it is alive and beating
        with pytest.raises(JobRunning, match="started by doomed"):
            JobLock(url, "retrain", holder="bob").acquire()
        os.kill(holder.pid, signal.SIGKILL)
        for _ in range(100):  # killed, not yet reaped: a zombie is gone too
            if process_gone(holder.pid):
                break
            time.sleep(0.01)
        JobLock(url, "retrain", holder="bob", ttl=60).acquire(heartbeat=False).release()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]


def _claimed_elsewhere(url: str, kind: str, *, host_key: str | None, pid: int,
                       ttl: float) -> None:
    """A claim as a process on another machine (or one where pids cannot be checked) makes."""
    JobLock(url, kind, holder="far", ttl=ttl).acquire(heartbeat=False)
    with session_scope(url) as session:
        session.execute(update(JobLockRow).where(JobLockRow.kind == kind)
                        .values(host_key=host_key, pid=pid))


@pytest.mark.parametrize("host_key", ["other-host/boot/1", None])
def test_job_lock_of_a_holder_elsewhere_lapses(url: str, host_key: str | None) -> None:
    """Whether a process on another machine lives cannot be known here: its claim blocks until
    it lapses, even when its pid names no process here."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(gone.stdout)
    assert process_gone(pid)
    _claimed_elsewhere(url, "sync", host_key=host_key, pid=pid, ttl=1.0)
    with pytest.raises(JobRunning, match="started by far"):
        JobLock(url, "sync", holder="bob").acquire()
    deadline = time.monotonic() + 5
    while True:
        try:
            JobLock(url, "sync", holder="bob").acquire(heartbeat=False).release()
            break
        except JobRunning:
            assert time.monotonic() < deadline, "a claim from elsewhere did not lapse"
            time.sleep(0.1)


def test_process_gone() -> None:
    assert not process_gone(os.getpid())
    assert not process_gone(1)  # init: running, maybe another user's
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_gone(child.pid)


def test_get_job_whose_process_died_reads_failed(url: str) -> None:
    job_id = new_job_id()
    lock = JobLock(url, "retrain", holder="alice", job_id=job_id).acquire(heartbeat=False)
    create_job(url=url, job_id=job_id, kind="retrain", requested_by="alice")
    update_job(url=url, job_id=job_id, state="running", progress="fitting")
    job = get_job(url=url, job_id=job_id)
    assert job is not None and (job.state, job.progress, job.error) == ("running", "fitting", None)
    lock.release()  # as when its process is gone and the claim lapsed
    job = get_job(url=url, job_id=job_id)
    assert job is not None and (job.state, job.status_code) == ("failed", 500)
    assert job.error == "the process running it stopped before it ended"
    assert get_job(url=url, job_id=new_job_id()) is None


def test_get_job_whose_process_was_killed_here_reads_failed_at_once(url: str) -> None:
    """A live claim whose process is gone from this machine does not keep its job running."""
    job_id = new_job_id()
    create_job(url=url, job_id=job_id, kind="relabel", requested_by="alice")
    update_job(url=url, job_id=job_id, state="running")
    JobLock(url, "relabel", holder="alice", job_id=job_id, ttl=60).acquire(heartbeat=False)
    assert get_job(url=url, job_id=job_id).state == "running"  # type: ignore[union-attr]
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with session_scope(url) as session:
        session.execute(update(JobLockRow).values(pid=child.pid))
    assert get_job(url=url, job_id=job_id).state == "failed"  # type: ignore[union-attr]


def _stored_job(url: str, job_id: str) -> JobRow:
    with session_scope(url) as session:
        row = session.get(JobRow, job_id)
        assert row is not None
        session.expunge(row)
        return row


@pytest.mark.parametrize("how", ["process gone", "claim lapsed"])
def test_job_of_a_lock_taken_over_is_recorded_failed(url: str, how: str) -> None:
    """The row of a job whose process died is written as failed when the next claimant takes
    its lock over, so the table itself stops saying ``running``; a job that had ended, or another
    kind's, is left as it is."""
    orphan, ended, other = new_job_id(), new_job_id(), new_job_id()
    for job_id, kind in ((orphan, "relabel"), (ended, "relabel"), (other, "sync")):
        create_job(url=url, job_id=job_id, kind=kind, requested_by="alice")
        update_job(url=url, job_id=job_id, state="running")
    update_job(url=url, job_id=ended, state="succeeded", status_code=200)
    JobLock(url, "sync", holder="alice", job_id=other, ttl=60).acquire(heartbeat=False)
    JobLock(url, "relabel", holder="alice", job_id=orphan,
            ttl=60 if how == "process gone" else 0.2).acquire(heartbeat=False)
    if how == "process gone":
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        with session_scope(url) as session:
            session.execute(update(JobLockRow).where(JobLockRow.kind == "relabel")
                            .values(pid=child.pid))
    else:
        time.sleep(0.4)
    assert _stored_job(url, orphan).state == "running"
    JobLock(url, "relabel", holder="bob").acquire(heartbeat=False).release()
    row = _stored_job(url, orphan)
    assert (row.state, row.status_code, row.error) == (
        "failed", 500, "the process running it stopped before it ended")
    assert row.finished_at is not None
    assert _stored_job(url, ended).state == "succeeded"
    assert _stored_job(url, other).state == "running"


def test_list_jobs_newest_first_each_as_get_job_reads_it(url: str) -> None:
    """The list: newest first, of one kind when asked, paged, with how many in all; a running
    job whose lock is gone reads failed there too, one whose lock is held reads running."""
    assert list_jobs(url=url) == ([], 0)
    ids = []
    for kind in ("sync", "retrain", "retrain"):
        ids.append(new_job_id())
        create_job(url=url, job_id=ids[-1], kind=kind, requested_by="alice")
        time.sleep(0.01)  # distinct creation times
    update_job(url=url, job_id=ids[0], state="succeeded", result={"new": 3}, status_code=200)
    update_job(url=url, job_id=ids[1], state="running")  # no lock names it: its process died
    update_job(url=url, job_id=ids[2], state="running")
    lock = JobLock(url, "retrain", holder="alice", job_id=ids[2]).acquire(heartbeat=False)
    try:
        jobs, count = list_jobs(url=url)
        assert count == 3 and [j.id for j in jobs] == ids[::-1]
        assert [j.state for j in jobs] == ["running", "failed", "succeeded"]
        assert jobs[1].error == "the process running it stopped before it ended"
        assert jobs == [get_job(url=url, job_id=job_id) for job_id in ids[::-1]]
        retrains, count = list_jobs(url=url, kind="retrain", limit=1, offset=1)
        assert count == 2 and [j.id for j in retrains] == [ids[1]]
    finally:
        lock.release()
