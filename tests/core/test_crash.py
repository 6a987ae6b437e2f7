"""Jobs killed with SIGKILL mid-way leave the store and the models folder whole; a re-run finishes.

Each job runs as a real `incidents` subprocess with ``INCIDENTS_PAUSE_AT`` naming a point of it
(``core.pause``): the test waits for the process to say it is there and kills it with SIGKILL,
then checks what is on disk and in the store, and runs the job again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.config import PROJECT_ROOT, Settings
from core.db import session_scope
from core.jobs import process_gone
from core.pause import PAUSE_AT
from core.registry import ARTEFACT, CARD, ModelRegistry
from core.tables import CorrectionRow, IncidentRow, JobLockRow, ModelDecisionRow, PredictionRow, utcnow
from tests.fixtures import Incidents, count_rows, second_version

#: Bugs of the fixture snapshot (tests.fixtures.make_bugs numbers them from 1_500_001).
BUGS = [1_500_001, 1_500_002, 1_500_003]


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` now."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def kill_at(point: str, *args: object, env: dict[str, str] | None = None,
            within: float = 240) -> list[int]:
    """Run `incidents *args` until it pauses at ``point``, then SIGKILL it (fail if it never
    does); return the pids of the child processes it had then."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", *map(str, args)], cwd=PROJECT_ROOT,
        env=os.environ | {PAUSE_AT: point, **(env or {})}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(within, process.kill)
    watchdog.start()
    said: list[str] = []
    orphans: list[int] = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            said.append(line)
            if line.strip() == f"paused at {point}":
                orphans = children(process.pid)
                os.kill(process.pid, signal.SIGKILL)
                break
    finally:
        watchdog.cancel()
        process.wait()
        if process.stderr is not None:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL, "".join(said)
    return orphans


def held_locks(settings: Settings) -> list[str]:
    """The kinds of job whose lock a killed process left behind, still unexpired: the re-run
    that follows takes it over because the process is gone, without waiting for it to lapse."""
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(JobLockRow.kind).where(JobLockRow.expires_at > utcnow())))


def assert_consistent(settings: Settings) -> None:
    """Every version folder is whole and loads, ACTIVE names one of them, the history reads, and
    the store holds no prediction twice (a bug and version) nor the same correction twice."""
    registry = ModelRegistry(settings.models_dir)
    root = Path(settings.models_dir)
    folders = sorted(p.name for p in root.iterdir() if p.name.startswith("v")) if root.is_dir() else []
    assert folders == registry.versions(), folders
    for version in folders:
        assert {p.name for p in (root / version).iterdir()} >= {ARTEFACT, CARD}
        registry.load(version)  # the artefact matches its card's sha256
    active = registry.active_version()
    assert active is None or active in folders, active
    assert all(entry["active"] in folders for entry in registry.history())
    with session_scope(settings.database_url) as session:
        twice = session.execute(
            select(PredictionRow.incident_id, PredictionRow.model_version)
            .group_by(PredictionRow.incident_id, PredictionRow.model_version)
            .having(func.count() > 1)).all()
        assert twice == []
        corrections = [(c.incident_id, tuple(c.tags), c.note, c.author)
                       for c in session.scalars(select(CorrectionRow))]
        assert len(corrections) == len(set(corrections)), corrections


def test_sync_killed_before_commit_stores_nothing_then_rerun_syncs(
        settings: Settings, snapshot_dir: Path, incidents: Incidents) -> None:
    kill_at("sync:before-commit", "sync", "--snapshot", snapshot_dir)
    assert count_rows(settings, IncidentRow) == 0
    assert_consistent(settings)
    assert "48 new" in incidents.ok("sync", "--snapshot", snapshot_dir).stdout
    assert count_rows(settings, IncidentRow) == 48


def test_bugzilla_sync_killed_after_a_page_keeps_it_and_rerun_finishes(
        sync_settings: Settings, incidents: Incidents) -> None:
    kill_at("sync:page-committed", "sync")
    assert count_rows(sync_settings, IncidentRow) == 10  # the first page of 10, committed
    assert_consistent(sync_settings)
    assert held_locks(sync_settings) == ["sync"]
    incidents.ok("sync")
    assert count_rows(sync_settings, IncidentRow) == 48
    assert_consistent(sync_settings)


def test_relabel_killed_after_a_chunk_resumes(settings: Settings, store: str, models_dir: Path,
                                             incidents: Incidents,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCIDENTS_RELABEL_CHUNK_SIZE", "10")
    kill_at("relabel:chunk-committed", "relabel")
    assert count_rows(settings, PredictionRow) == 10
    assert_consistent(settings)
    assert held_locks(settings) == ["relabel"]
    out = incidents.ok("relabel").stdout
    assert "relabelled 48 of 48 incidents with v1 (resumed)" in out, out
    assert count_rows(settings, PredictionRow) == 48
    assert_consistent(settings)


def test_relabel_in_child_processes_killed_leaves_no_worker_and_resumes(
        settings: Settings, store: str, models_dir: Path, incidents: Incidents,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed with two classifying processes, its workers end too (none waits for ever on a
    queue no one writes to), and the re-run goes on where it stopped."""
    monkeypatch.setenv("INCIDENTS_RELABEL_CHUNK_SIZE", "10")
    workers = kill_at("relabel:chunk-committed", "relabel", env={"INCIDENTS_N_JOBS": "2"})
    assert workers, "the relabel had no child process when killed"
    deadline = time.monotonic() + 20
    while not all(process_gone(pid) for pid in workers):
        assert time.monotonic() < deadline, f"workers still running: {workers}"
        time.sleep(0.2)
    assert count_rows(settings, PredictionRow) == 10
    assert held_locks(settings) == ["relabel"]
    out = incidents.ok("relabel").stdout
    assert "relabelled 48 of 48 incidents with v1 (resumed)" in out, out
    assert_consistent(settings)


@pytest.mark.parametrize("point, stored", [("corrections:before-commit", 0),
                                           ("corrections:committed", 3)])
def test_corrections_import_killed_then_rerun_stores_each_once(
        settings: Settings, store: str, models_dir: Path, incidents: Incidents, tmp_path: Path,
        point: str, stored: int) -> None:
    path = tmp_path / "corrections.jsonl"
    path.write_text("".join(json.dumps({"bug_id": bug, "tags": ["crl-failure"], "note": "seen"}) + "\n"
                            for bug in BUGS), encoding="utf-8")
    kill_at(point, "corrections", "import", path, "--author", "alice")
    assert count_rows(settings, CorrectionRow) == stored
    out = incidents.ok("corrections", "import", path, "--author", "alice").stdout
    assert f"stored {3 - stored} corrections" in out, out
    assert count_rows(settings, CorrectionRow) == 3
    assert_consistent(settings)


@pytest.mark.parametrize("point, written", [("registry:staged", ["v1"]),
                                            ("retrain:trained", ["v1", "v2"])])
def test_retrain_killed_then_rerun_decides(settings: Settings, store: str, models_dir: Path,
                                           incidents: Incidents, something_new: int, point: str,
                                           written: list[str]) -> None:
    """Killed while writing its version, none appears; killed after, the version is a candidate
    with no decision recorded; either way the re-run trains and records one."""
    kill_at(point, "retrain")
    assert ModelRegistry(models_dir).versions() == written
    assert ModelRegistry(models_dir).active_version() == "v1"
    assert count_rows(settings, ModelDecisionRow) == 0
    assert_consistent(settings)
    assert held_locks(settings) == ["retrain"]
    challenger = f"v{len(written) + 1}"
    assert f"{challenger} stays a candidate" in incidents.ok("retrain").stdout
    assert ModelRegistry(models_dir).versions() == [*written, challenger]
    assert count_rows(settings, ModelDecisionRow) == 1
    assert_consistent(settings)


@pytest.mark.parametrize("point, active", [("registry:before-active", "v1"),
                                           ("registry:before-history", "v2")])
def test_promotion_killed_then_rerun_promotes(settings: Settings, store: str, models_dir: Path,
                                              incidents: Incidents, point: str, active: str) -> None:
    second_version(models_dir)
    kill_at(point, "models", "promote", "v2")
    registry = ModelRegistry(models_dir)
    assert registry.active_version() == active
    assert registry.load().version == active
    assert_consistent(settings)
    incidents.ok("models", "promote", "v2")
    assert registry.active_version() == "v2"
    assert registry.history()[-1]["active"] == "v2"
    assert registry.rollback_target() == "v1"
    assert_consistent(settings)
