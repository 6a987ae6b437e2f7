"""`incidents sync` against the stand-in: summary, one-line failures, --auto, the API key."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli import app
from core.config import Settings, get_settings
from core.db import session_scope
from core.tables import IncidentRow
from tests.fixtures import API_KEY
from tests.standin import BugzillaStandIn

runner = CliRunner()


def count_incidents(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return session.scalar(select(func.count()).select_from(IncidentRow)) or 0


def test_sync_command_from_bugzilla(sync_settings: Settings, standin: BugzillaStandIn):
    first = runner.invoke(app, ["sync"])
    again = runner.invoke(app, ["sync"])

    assert first.exit_code == 0, first.output
    assert (f"synced 48 bugs (all) from {standin.url}: 48 new, 0 updated, 0 unchanged"
            in first.stdout)
    assert again.exit_code == 0, again.output
    assert "(changed since " in again.stdout and "0 new, 0 updated" in again.stdout
    assert count_incidents(sync_settings) == 48


def test_sync_command_persistent_failure_exits_with_one_line(sync_settings: Settings,
                                                             standin: BugzillaStandIn):
    standin.fail("bugs@30", "500", times=None)

    failed = runner.invoke(app, ["sync"])

    assert failed.exit_code == 1
    assert failed.stdout == ""
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: GET /rest/bug (offset 30)")
    assert "Stopped with 30 bugs stored" in lines[0]
    assert "Traceback" not in failed.output
    assert count_incidents(sync_settings) == 30

    standin.heal()
    rerun = runner.invoke(app, ["sync"])

    assert rerun.exit_code == 0, rerun.output
    assert "18 new, 0 updated, 30 unchanged" in rerun.stdout
    assert count_incidents(sync_settings) == 48


def test_sync_command_keeps_api_key_out_of_output_and_logs(
        sync_settings: Settings, standin: BugzillaStandIn, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("INCIDENTS_BUGZILLA_API_KEY", API_KEY)
    get_settings.cache_clear()
    standin.api_key = API_KEY
    standin.fail("comment@1500009", "429", times=1, retry_after="0")

    ok = runner.invoke(app, ["sync"])
    standin.api_key = "a-rotated-key"
    refused = runner.invoke(app, ["sync"])

    assert ok.exit_code == 0, ok.output
    assert all(r.headers.get("X-BUGZILLA-API-KEY") == API_KEY for r in standin.requests)
    assert refused.exit_code == 1 and "refused with HTTP 401" in refused.stderr
    for result in (ok, refused):
        assert API_KEY not in result.output
    assert "retry 1 of 2" in caplog.text
    assert API_KEY not in caplog.text


def test_sync_auto_loads_snapshot_when_present(sync_settings: Settings,
                                               standin: BugzillaStandIn):
    result = runner.invoke(app, ["sync", "--auto"])

    assert result.exit_code == 0, result.output
    assert f"from {sync_settings.snapshot_dir}" in result.stdout
    assert standin.requests == []


def test_sync_auto_falls_back_to_bugzilla(sync_settings: Settings, standin: BugzillaStandIn,
                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("INCIDENTS_SNAPSHOT_DIR", str(tmp_path / "no-snapshot"))
    get_settings.cache_clear()

    result = runner.invoke(app, ["sync", "--auto"])

    assert result.exit_code == 0, result.output
    assert f"from {standin.url}: 48 new" in result.stdout


def test_sync_snapshot_and_auto_exclude_each_other(sync_settings: Settings, snapshot_dir: Path):
    result = runner.invoke(app, ["sync", "--auto", "--snapshot", str(snapshot_dir)])

    assert result.exit_code == 1
    assert "exclude each other" in result.stderr
