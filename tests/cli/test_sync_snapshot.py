"""`incidents sync --snapshot`: upsert by bug id, idempotent, all or nothing, on both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import Settings, get_settings
from core.db import session_scope
from core.store import get_incident
from tests.fixtures import SQLITE_ONLY, make_bugs, write_snapshot


def test_sync_snapshot_twice_changes_nothing(incidents, settings: Settings, snapshot_dir: Path,
                                             store_rows) -> None:
    first = incidents.ok("sync", "--snapshot", snapshot_dir)
    assert first.stdout.strip() == (f"synced 48 bugs from {snapshot_dir}: "
                                    "48 new, 0 updated, 0 unchanged")
    before = store_rows()
    assert len(before["incidents"]) == 48
    second = incidents.ok("sync", "--snapshot", snapshot_dir)
    assert "0 new, 0 updated, 48 unchanged" in second.stdout
    assert store_rows() == before


def test_sync_snapshot_changed_whiteboard_updates_tags(incidents, settings: Settings,
                                                      tmp_path: Path, store_rows) -> None:
    bugs, comments = make_bugs()
    incidents.ok("sync", "--snapshot", write_snapshot(tmp_path / "one", bugs, comments))
    before = store_rows()
    bugs["bugs"][0]["whiteboard"] = "[ca-compliance] [crl-failure] [Brand-New]"
    bugs["bugs"][5]["whiteboard"] = "[ca-compliance] [delayed-revocation-ca]"
    result = incidents.ok("sync", "--snapshot", write_snapshot(tmp_path / "two", bugs, comments))
    assert "0 new, 2 updated, 46 unchanged" in result.stdout
    with session_scope(settings.database_url) as session:
        first = get_incident(session=session, bug_id=1500001)
        assert first.whiteboard == "[ca-compliance] [crl-failure] [Brand-New]"
        assert [(t.tag, t.kind) for t in first.tags] == [
            ("brand-new", "unknown"), ("ca-compliance", "meta"), ("crl-failure", "type")]
        sixth = get_incident(session=session, bug_id=1500006)
        assert [(t.tag, t.kind) for t in sixth.tags] == [
            ("ca-compliance", "meta"), ("ca-revocation-delay", "type")]
    after = store_rows()
    for table in ("incidents", "tags"):
        changed = {row[0] for row in set(after[table]) ^ set(before[table])}
        assert changed == {1500001, 1500006}


def test_sync_snapshot_new_bug(incidents, settings: Settings, tmp_path: Path) -> None:
    bugs, comments = make_bugs()
    incidents.ok("sync", "--snapshot", write_snapshot(tmp_path / "one", bugs, comments))
    bugs["bugs"].append({**bugs["bugs"][0], "id": 1_600_000})
    result = incidents.ok("sync", "--snapshot", write_snapshot(tmp_path / "two", bugs, comments))
    assert "synced 49 bugs" in result.stdout
    assert "1 new, 0 updated, 48 unchanged" in result.stdout


def test_sync_bad_snapshot_loads_nothing(incidents, store: str, bad_snapshot, store_rows) -> None:
    """The store already holds the fixture bugs; a bad snapshot changes none of them."""
    folder, path, problem = bad_snapshot
    before = store_rows()
    assert len(before["incidents"]) == 48
    result = incidents.fails("sync", "--snapshot", folder, says=(str(path), problem))
    assert result.stdout == ""
    assert store_rows() == before


@SQLITE_ONLY
def test_sync_bad_snapshot_empty_store(incidents, bad_snapshot, store_rows) -> None:
    folder, path, problem = bad_snapshot
    empty = {"incidents": [], "tags": []}
    assert store_rows() == empty
    incidents.fails("sync", "--snapshot", folder, says=(str(path), problem))
    assert store_rows() == empty


@SQLITE_ONLY
def test_sync_snapshot_missing_folder(incidents, tmp_path: Path) -> None:
    incidents.fails("sync", "--snapshot", tmp_path / "absent",
                    says=(str(tmp_path / "absent"), "no such snapshot folder"))


@SQLITE_ONLY
def test_sync_snapshot_malformed_taxonomy(incidents, snapshot_dir: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, store_rows) -> None:
    taxonomy = tmp_path / "taxonomy.toml"
    taxonomy.write_text('[categories]\norder = ["A"]\n[tags]\nx = "A"\n', encoding="utf-8")
    monkeypatch.setenv("INCIDENTS_TAXONOMY_FILE", str(taxonomy))
    get_settings.cache_clear()
    incidents.fails("sync", "--snapshot", snapshot_dir, says=(str(taxonomy), "[tags]"))
    assert store_rows() == {"incidents": [], "tags": []}


@pytest.mark.snapshot
@SQLITE_ONLY
def test_sync_real_snapshot(incidents, real_snapshot: Path, store_rows) -> None:
    expected = len(json.loads((real_snapshot / "bugs.json").read_text(encoding="utf-8"))["bugs"])
    assert expected == 1158
    first = incidents.ok("sync", "--snapshot", real_snapshot)
    assert "synced 1158 bugs" in first.stdout
    assert "1158 new, 0 updated, 0 unchanged" in first.stdout
    before = store_rows()
    second = incidents.ok("sync", "--snapshot", real_snapshot)
    assert "0 new, 0 updated, 1158 unchanged" in second.stdout
    assert store_rows() == before
