"""Benchmarks that replay the project's history on the real Bugzilla snapshot (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from core.bugzilla import BUGS_FILE
from core.config import Settings, get_settings
from core.db import dispose_engines


def run_in_workdir(name: str, n_jobs: int, body: Callable[[Settings, Path], int]) -> int:
    """Run ``body(settings, workdir)`` in a temporary folder, or skip when there is no snapshot."""
    base = get_settings().model_copy(update={"n_jobs": n_jobs})
    if not (base.snapshot_dir / BUGS_FILE).is_file():
        print(f"skipped: no snapshot at {base.snapshot_dir} (set INCIDENTS_SNAPSHOT_DIR)", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix=f"incidents-{name}-") as tmp:
        try:
            return body(base, Path(tmp))
        finally:
            dispose_engines()


def stop(process: subprocess.Popen) -> None:
    """Stop a server the benchmark started: SIGTERM, then SIGKILL if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)
