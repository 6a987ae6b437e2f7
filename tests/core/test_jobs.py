"""The store's job locks: a retrain, sync or relabel runs once, whichever process starts it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from classifier import JobRunning
from core.config import PROJECT_ROOT
from core.db import upgrade
from core.jobs import JobLock, create_job, get_job, new_job_id, update_job


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


def test_job_lock_of_a_killed_holder_lapses(url: str) -> None:
    """A holder killed with SIGKILL releases nothing; its claim lapses after its ttl."""
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
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 5
    while True:
        try:
            JobLock(url, "retrain", holder="bob").acquire(heartbeat=False).release()
            break
        except JobRunning:
            assert time.monotonic() < deadline, "a dead holder's claim did not lapse"
            time.sleep(0.1)


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
