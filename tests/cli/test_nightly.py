"""`incidents nightly` (one timestamped line a step, the run id) and `incidents models live [VERSION]`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from core.config import Settings, get_settings
from core.db import session_scope
from core.tables import NightlyRunRow
from tests.fixtures import STAMPED, Incidents, add_live_scores, make_bugs, write_snapshot


@pytest.fixture
def from_snapshot(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("INCIDENTS_NIGHTLY_SOURCE", "snapshot")
    get_settings.cache_clear()
    return get_settings()


def _steps(stdout: str) -> list[str]:
    """The run's lines without the UTC time each starts with (checked here)."""
    lines = stdout.splitlines()
    assert all(STAMPED.match(line) for line in lines), lines
    return [line[21:] for line in lines]


def _runs(settings: Settings) -> list[NightlyRunRow]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(NightlyRunRow).order_by(NightlyRunRow.id)))


def test_nightly_prints_a_line_a_step(incidents: Incidents, from_snapshot: Settings, store: str,
                                      models_dir: Path) -> None:
    lines = _steps(incidents.ok("nightly").stdout)
    (run,) = _runs(from_snapshot)
    assert lines[0] == f"nightly run {run.id}: sync from snapshot, retrain when due, relabel"
    assert lines[1].startswith("sync: synced 48 bugs from ") and lines[1].endswith(
        "0 new, 0 updated, 48 unchanged")
    assert lines[2] == ("retrain: not retrained: 0 labelled incidents are new to v1 (fewer than 30) "
                        "and its live record does not alarm")
    assert lines[3] == (f"relabel: relabelled 48 of 48 incidents with v1: 48 changed labels "
                        f"(relabel run {run.relabel_run_id})")
    assert lines[4:] == [f"nightly run {run.id} finished"]
    assert run.status == "finished"


def test_nightly_on_a_fresh_store(incidents: Incidents, from_snapshot: Settings) -> None:
    """A writing command: a store never migrated is migrated; with no model, one is trained."""
    lines = _steps(incidents.ok("nightly").stdout)
    assert lines[1].endswith("48 new, 0 updated, 0 unchanged")
    assert lines[2].startswith("retrain: retrained, no model is active; decision 1, promoted v1 (was none)")
    assert lines[3].startswith("relabel: relabelled 48 of 48 incidents with v1")
    assert (from_snapshot.models_dir / "ACTIVE").read_text().strip() == "v1"


def test_nightly_failing_retrain_exits_1(incidents: Incidents, from_snapshot: Settings) -> None:
    """No model and no labelled incident: the retraining fails, and that is recorded."""
    bugs, comments = make_bugs()
    for bug in bugs["bugs"]:
        bug["whiteboard"] = "[ca-compliance]"
    write_snapshot(from_snapshot.snapshot_dir, bugs, comments)
    result = incidents.fails("nightly", says=("fewer than 2 labelled incidents",))
    assert len(result.stderr.strip().splitlines()) == 1
    (run,) = _runs(from_snapshot)
    assert (run.status, run.failed_step, run.new_labels) == ("failed", "retrain", 0)
    assert run.error is not None and run.error in result.stderr
    assert _steps(result.stdout)[-1] == f"nightly run {run.id} failed at retrain"


def test_nightly_failing_sync_exits_1(incidents: Incidents, settings: Settings, store: str,
                                      models_dir: Path) -> None:
    result = incidents.fails("nightly", says=("127.0.0.1:9",))
    assert len(result.stderr.strip().splitlines()) == 1
    (run,) = _runs(settings)
    assert run.status == "failed" and run.failed_step == "sync" and run.error in result.stderr
    assert _steps(result.stdout) == [
        f"nightly run {run.id}: sync from bugzilla, retrain when due, relabel",
        f"nightly run {run.id} failed at sync"]


def test_nightly_runs_lists_the_runs(incidents: Incidents, from_snapshot: Settings) -> None:
    """`nightly-runs`: newest first, a failed run with its step and error, a finished one with
    its sync counts, decision and relabel; --json as recorded; --limit says what it left out."""
    assert incidents.ok("nightly-runs").stdout == (
        "no nightly run recorded; `incidents nightly` records one each time\n")
    incidents.ok("nightly")  # a fresh store: trains v1 (decision 1)
    shutil.rmtree(from_snapshot.models_dir / "v1")  # ACTIVE names a version gone: the next fails
    incidents("nightly")
    first, second = _runs(from_snapshot)
    assert (second.status, second.failed_step) == ("failed", "retrain"), second.error
    header, newest, oldest = incidents.ok("nightly-runs").stdout.splitlines()
    assert header.split()[:4] == ["id", "started", "status", "source"]
    assert newest.split()[0] == str(second.id) and f"failed at {second.failed_step}" in newest
    assert oldest.split()[0] == str(first.id) and "finished" in oldest
    assert "decision 1" in oldest and "no model is active" in oldest
    assert oldest.split()[4:6] == ["48", "0"]  # new, updated
    rows = [json.loads(line) for line in incidents.ok("nightly-runs", "--json").stdout.splitlines()]
    assert [r["id"] for r in rows] == [second.id, first.id]
    assert rows[1]["retrain_decision_id"] == 1 and rows[1]["sync_counts"]["new"] == 48
    assert rows[0]["error"] == second.error and rows[0]["started_at"].startswith("20")
    limited = incidents.ok("nightly-runs", "--limit", "1").stdout.splitlines()
    assert len(limited) == 3 and limited[-1] == "(1 of 2; --limit shows more)"


# -- models live --------------------------------------------------------------------------------


ROWS = [(["ocsp-failure"], ["ocsp-failure"], False), (["crl-failure"], ["ocsp-failure"], True)]


def test_models_live(incidents: Incidents, settings: Settings, store: str, models_dir: Path) -> None:
    add_live_scores(store, "v1", ROWS)
    lines = incidents.ok("models", "live").stdout.splitlines()
    assert lines[0] == ("v1: live record over its last 2 scored incidents (window 100, 2 scored in all; "
                        "2025-03-01 to 2025-03-01)")
    assert lines[1].startswith("  category micro-F1 0.500 (held-out 0.") and lines[1].endswith(
        "precision 0.500, recall 0.500; tag micro-F1 0.500")
    assert lines[2] == "  not sent to review: 1 incidents, category precision 1.000"
    assert lines[3].startswith("  no alarm (needs 20 scored incidents")
    table = [line.split() for line in lines[5:]]
    assert table[0] == ["label", "precision", "recall", "true", "predicted"]
    assert ["category", "OCSP", "Failures", "1.000", "0.500", "2", "1"] in table
    assert ["tag", "crl-failure", "0.000", "0.000", "0", "1"] in table
    as_json = json.loads(incidents.ok("models", "live", "v1", "--json").stdout)
    assert as_json["scored"] == 2 and as_json["category_micro_f1"] == 0.5 and as_json["alarm"] is None
    assert as_json["categories"]["OCSP Failures"] == {"precision": 1.0, "recall": 0.5, "support": 2,
                                                      "predicted": 1, "correct": 1}


def test_models_live_alarm(incidents: Incidents, settings: Settings, store: str, models_dir: Path) -> None:
    add_live_scores(store, "v1", [(["crl-failure"], ["ocsp-failure"], False)] * 20)
    out = incidents.ok("models", "live").stdout
    assert "  alarm: v1's live category micro-F1 0.000 over its last 20 scored incidents is below" in out


def test_models_live_nothing_scored(incidents: Incidents, settings: Settings, models_dir: Path) -> None:
    """Reads the store without migrating it: one never migrated has nothing scored."""
    assert incidents.ok("models", "live").stdout.strip().startswith("v1: no scored incidents yet")
    if settings.database_url.startswith("sqlite"):
        assert not Path(settings.database_url.split("///", 1)[1]).exists()


def test_models_live_unknown_version(incidents: Incidents, settings: Settings, models_dir: Path) -> None:
    incidents.fails("models", "live", "v9", says=("no model version 'v9'",))


def test_models_live_without_model(incidents: Incidents, settings: Settings, models_dir: Path) -> None:
    """With versions but none active, name one; with none at all, train one."""
    (models_dir / "ACTIVE").unlink()
    incidents.fails("models", "live", says=("no active model in", "; name a version"))
    shutil.rmtree(models_dir)
    incidents.fails("models", "live", says=("no model versions in",
                                            "; train one with `incidents train`"))
