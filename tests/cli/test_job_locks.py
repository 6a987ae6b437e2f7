"""`incidents retrain | sync | relabel` run once, whoever else runs one (another CLI, a worker)."""

from __future__ import annotations

import pytest

from core.config import Settings
from core.db import upgrade
from core.jobs import JobLock
from tests.fixtures import run


@pytest.mark.parametrize(("command", "kind", "what"), [
    (["retrain"], "retrain", "a retraining"), (["sync"], "sync", "a sync from Bugzilla"),
    (["relabel"], "relabel", "a relabelling")])
def test_job_command_while_one_runs(settings: Settings, command: list[str], kind: str,
                                    what: str) -> None:
    upgrade(settings.database_url)
    with JobLock(settings.database_url, kind, holder="alice via the API, pid 42 on web1",
                 job_id="0f" * 16):
        result = run(*command)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(
        f"error: {what} is already running (job {'0f' * 16}), started by alice via the API, "
        "pid 42 on web1 since ")
    assert result.stdout == ""
