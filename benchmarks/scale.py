"""Batch and scale: `incidents classify`, `relabel` and `train` run as subprocesses on stores and
files made by resampling the snapshot, with their wall time and peak memory.

A resampled store of ``size`` incidents holds the snapshot's bugs in turn, bug ``i`` with the id
``RESAMPLED_FIRST_ID + i`` and everything else (text, times, whiteboard tags) of its original, so
the model sees the snapshot's texts and training finds the snapshot's labels and time split.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from core.bugzilla import BUGS_FILE, COMMENTS_FILE, BugRecord
from core.bugzilla.records import comment_zero
from core.config import PROJECT_ROOT
from core.db import dispose_engines, session_scope, upgrade
from core.store import upsert_bugs

RESAMPLED_FIRST_ID = 10_000_000
UPSERT_CHUNK = 5_000  # incidents a transaction while a store is filled


def incidents_command(*args: str) -> list[str]:
    """The ``incidents`` CLI of this interpreter's environment, with ``args``."""
    script = Path(sys.executable).with_name("incidents")
    head = [str(script)] if script.is_file() else [sys.executable, "-m", "cli"]
    return [*head, *args]


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- measuring a command ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Measured:
    """One finished command: wall time, its own peak resident memory, how it ended."""

    seconds: float
    peak_rss_mb: float
    exit_code: int
    timed_out: bool


# Linux carries a process's peak memory over fork and exec into its child's ``ru_maxrss``, so a
# command started from this (large) process would report at least this process's size. Each
# command is therefore started by this small launcher, which runs it with the time limit, waits
# for it and writes what it ended with and its peak (KiB) as JSON to the file it is given.
_LAUNCHER = """
import json, resource, subprocess, sys
report, timeout, command = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
try:
    code, timed_out = subprocess.run(command, timeout=timeout).returncode, False
except subprocess.TimeoutExpired:
    code, timed_out = -9, True
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(report, "w") as out:
    json.dump({"exit_code": code, "timed_out": timed_out, "peak_kib": peak}, out)
"""


def run_measured(command: Sequence[str], *, env: Mapping[str, str], timeout: float,
                 stdout: Path, log: Path) -> Measured:
    """Run ``command`` to its end (stopped after ``timeout`` seconds) and measure it: wall time,
    and its own peak resident memory (``ru_maxrss``, through ``_LAUNCHER``)."""
    report = log.with_suffix(".rusage.json")
    with open(stdout, "wb") as out, open(log, "wb") as err:
        tick = time.perf_counter()
        subprocess.run([sys.executable, "-c", _LAUNCHER, str(report), str(timeout), *command],
                       cwd=PROJECT_ROOT, env=dict(env), stdout=out, stderr=err, check=False)
        seconds = time.perf_counter() - tick
    ended = json.loads(report.read_text(encoding="utf-8"))
    return Measured(seconds=seconds, peak_rss_mb=ended["peak_kib"] / 1024, exit_code=ended["exit_code"],
                    timed_out=ended["timed_out"])


def checked(what: str, measured: Measured, log: Path) -> Measured:
    """``measured``, or an error with the log's end when the command failed for another reason
    than its time running out."""
    if measured.exit_code != 0 and not measured.timed_out:
        raise RuntimeError(f"{what} exited with code {measured.exit_code}; its log ({log}):\n{tail(log)}")
    return measured


# -- resampled stores and files ------------------------------------------------------------------
def resampled(records: Sequence[BugRecord], size: int) -> Iterator[BugRecord]:
    """``size`` records cycling through ``records``, each with a new unique id."""
    for i in range(size):
        yield dataclasses.replace(records[i % len(records)], id=RESAMPLED_FIRST_ID + i)


def fill_store(url: str, records: Iterator[BugRecord]) -> int:
    """Migrate the store at ``url`` and upsert ``records`` into it, a transaction a chunk."""
    upgrade(url)
    count = 0
    while chunk := list(islice(records, UPSERT_CHUNK)):
        with session_scope(url) as session:
            upsert_bugs(session=session, records=chunk)
        count += len(chunk)
    dispose_engines()  # the store is the subprocesses' from now on
    return count


def write_bugs_files(bugs: Sequence[Mapping[str, Any]], comments: Mapping[int, Sequence[Mapping[str, Any]]],
                     size: int, folder: Path) -> tuple[Path, Path]:
    """A Bugzilla bugs file and comments file of ``size`` resampled bugs, for `incidents classify`.

    Only comment 0 is written: it is all the model reads of the comments.
    """
    bugs_path, comments_path = folder / f"bugs-{size}.json", folder / f"comments-{size}.json"
    by_id: dict[str, Any] = {}
    out = []
    for i in range(size):
        bug = bugs[i % len(bugs)]
        bug_id = RESAMPLED_FIRST_ID + i
        out.append({**bug, "id": bug_id})
        by_id[str(bug_id)] = {"comments": [{"count": 0, "text": comment_zero(comments.get(bug["id"]))}]}
    bugs_path.write_text(json.dumps({"bugs": out}), encoding="utf-8")
    comments_path.write_text(json.dumps({"bugs": by_id}), encoding="utf-8")
    return bugs_path, comments_path


def _env(url: str, models_dir: Path, n_jobs: int) -> dict[str, str]:
    return {**os.environ, "INCIDENTS_DATABASE_URL": url, "INCIDENTS_MODELS_DIR": str(models_dir),
            "INCIDENTS_N_JOBS": str(n_jobs)}


def _figures(what: str, size: int, measured: Measured, **extra: Any) -> dict[str, Any]:
    return {"command": what, "incidents": size, "seconds": round(measured.seconds, 2),
            "incidents_per_s": None if measured.timed_out else round(size / measured.seconds, 1),
            "peak_rss_mb": round(measured.peak_rss_mb, 1), "timed_out": measured.timed_out, **extra}


# -- the sections ---------------------------------------------------------------------------------
def batch_and_scale(*, records: Sequence[BugRecord], bugs: Sequence[Mapping[str, Any]],
                    comments: Mapping[int, Sequence[Mapping[str, Any]]], sizes: Sequence[int],
                    snapshot_dir: Path, models_dir: Path, workdir: Path, n_jobs: int,
                    timeout: float) -> Iterator[dict[str, Any]]:
    """`incidents relabel` on a fresh SQLite store, and `incidents classify` on a bugs file, of
    the snapshot (size 0 stands for it: its own ids) and of each resampled size."""
    for size in sizes:
        folder = workdir / f"scale-{size}"
        folder.mkdir()
        url = f"sqlite:///{folder / 'store.db'}"
        tick = time.perf_counter()
        count = fill_store(url, iter(records) if size == 0 else resampled(records, size))
        built = time.perf_counter() - tick
        env = _env(url, models_dir, n_jobs)
        log = folder / "relabel.log"
        relabelled = checked("incidents relabel", run_measured(
            incidents_command("relabel"), env=env, timeout=timeout, stdout=folder / "relabel.out", log=log), log)
        yield _figures("relabel", count, relabelled, store="SQLite", store_built_s=round(built, 1),
                       resampled=size != 0)

        if size == 0:
            bugs_path, comments_path = snapshot_dir / BUGS_FILE, snapshot_dir / COMMENTS_FILE
        else:
            bugs_path, comments_path = write_bugs_files(bugs, comments, size, folder)
        out, log = folder / "classify.jsonl", folder / "classify.log"
        classified = checked("incidents classify", run_measured(
            incidents_command("classify", str(bugs_path), "--comments", str(comments_path)),
            env=env, timeout=timeout, stdout=out, log=log), log)
        with open(out, "rb") as printed:
            lines = sum(1 for _ in printed)
        if not classified.timed_out and lines != count:
            raise RuntimeError(f"incidents classify printed {lines} lines for {count} bugs")
        yield _figures("classify FILE", count, classified, store="none (a bugs file)", resampled=size != 0,
                       file_mb=round((bugs_path.stat().st_size + comments_path.stat().st_size) / 2**20, 1))
        shutil.rmtree(folder)  # 200,000 incidents take a few GB


def training(*, records: Sequence[BugRecord], sizes: Sequence[int], workdir: Path, n_jobs: int,
             timeout: float) -> Iterator[dict[str, Any]]:
    """`incidents train --no-years` on fresh SQLite stores of ``sizes`` labelled incidents
    resampled from the snapshot's labelled bugs, each into its own models folder."""
    labelled = [r for r in records if r.tags.types]
    for size in sizes:
        folder = workdir / f"train-{size}"
        folder.mkdir()
        url = f"sqlite:///{folder / 'store.db'}"
        tick = time.perf_counter()
        fill_store(url, resampled(labelled, size))
        built = time.perf_counter() - tick
        yield train_measured(url, folder, size, n_jobs=n_jobs, timeout=timeout, store_built_s=round(built, 1))
        shutil.rmtree(folder)


def train_measured(url: str, folder: Path, size: int, *, n_jobs: int, timeout: float,
                   **extra: Any) -> dict[str, Any]:
    """`incidents train --no-years` on the store at ``url`` into ``folder / "models"``."""
    log = folder / "train.log"
    measured = checked("incidents train", run_measured(
        incidents_command("train", "--no-years"), env=_env(url, folder / "models", n_jobs),
        timeout=timeout, stdout=folder / "train.out", log=log), log)
    return _figures("train --no-years", size, measured, store="SQLite", **extra)
