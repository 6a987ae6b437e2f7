"""`incidents models list | show | promote | rollback | prune | decisions`."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli._shared import cli_user
from core.db import session_scope, upgrade
from core.registry import ModelRegistry
from core.tables import ModelDecisionRow

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def add_versions(models_dir: Path, *versions: str) -> None:
    """Copies of v1 under other version names (the artefact and its sha256 stay valid)."""
    for version in versions:
        shutil.copytree(models_dir / "v1", models_dir / version)
        card_path = models_dir / version / "card.json"
        card = json.loads(card_path.read_text(encoding="utf-8"))
        card_path.write_text(json.dumps({**card, "version": version}), encoding="utf-8")


def active(models_dir: Path) -> str:
    return (models_dir / "ACTIVE").read_text(encoding="utf-8").strip()


def test_list_models(incidents, models_dir: Path) -> None:
    add_versions(models_dir, "v2", "v10")
    lines = incidents.ok("models", "list").stdout.splitlines()
    assert [line[:8] for line in lines] == ["* v1    ", "  v2    ", "  v10   "]
    card = ModelRegistry(models_dir).card("v1")
    assert card["created_at"][:19] in lines[0]
    assert "48 incidents" in lines[0]
    f1 = card["metrics"]["contenders"]["model"]["category_micro_f1"]
    assert f"micro-F1 {f1:.3f}" in lines[0]


def test_list_models_with_a_damaged_card(incidents, models_dir: Path) -> None:
    """`list` is what one diagnoses a damaged version with: it lists it as damaged, and the
    others as ever; a card whose fields are not what they should be is listed with what it has."""
    add_versions(models_dir, "v2", "v3")
    (models_dir / "v2" / "card.json").write_text("garbage", encoding="utf-8")
    card = json.loads((models_dir / "v3" / "card.json").read_text(encoding="utf-8"))
    (models_dir / "v3" / "card.json").write_text(
        json.dumps({**card, "metrics": None, "created_at": 5, "training_data": []}), encoding="utf-8")
    lines = incidents.ok("models", "list").stdout.splitlines()
    assert [line[:8] for line in lines] == ["* v1    ", "  v2    ", "  v3    "]
    assert "damaged: v2/card.json is not a readable card (" in lines[1]
    assert lines[0].index("48 incidents") < 40  # the damage, at the end, does not push rows right
    assert "? incidents" in lines[2] and "micro-F1 -" in lines[2]
    incidents.fails("models", "show", "v2", says=("v2/card.json is not a readable card",))
    incidents.fails("models", "promote", "v2", says=("v2/card.json is not a readable card",))
    assert active(models_dir) == "v1"


@pytest.mark.parametrize(("active_file", "says"), [
    (b"v99\n", "note: ACTIVE names 'v99', which is not a version here, so none is marked active"),
    (b"\xff\xfe", "does not name a version (not text); none is marked active"),
])
def test_list_models_with_a_wrong_active_file(incidents, models_dir: Path, active_file: bytes,
                                               says: str) -> None:
    """ACTIVE naming no version, or not text: the versions are listed, none marked, and a note
    says why (the first was silent, the second failed the whole list)."""
    add_versions(models_dir, "v2")
    (models_dir / "ACTIVE").write_bytes(active_file)
    listed = incidents.ok("models", "list")
    assert [line[:8] for line in listed.stdout.splitlines()] == ["  v1    ", "  v2    "]
    assert says in listed.stderr and len(listed.stderr.splitlines()) == 1


def test_promote_model_empty_name(incidents, models_dir: Path) -> None:
    incidents.fails("models", "promote", "", says=("no model version ''",))
    assert active(models_dir) == "v1"


def test_list_models_none(incidents, settings) -> None:
    Path(settings.models_dir).mkdir(parents=True, exist_ok=True)
    result = incidents.ok("models", "list")
    assert result.stdout.strip() == (f"no model versions in {settings.models_dir}; "
                                     "run `incidents train`")
    # A folder that does not exist is most often a setting that is not the service's.
    shutil.rmtree(settings.models_dir)
    result = incidents.ok("models", "list")
    assert result.stdout.strip() == (f"no model versions in {settings.models_dir} (no such folder: "
                                     "is INCIDENTS_MODELS_DIR the service's?); run `incidents train`")


def test_show_model(incidents, models_dir: Path) -> None:
    result = incidents.ok("models", "show", "v1")
    assert json.loads(result.stdout) == ModelRegistry(models_dir).card("v1")


@pytest.mark.parametrize("version", ["v9", "latest", "../v1"])
def test_show_model_unknown(incidents, models_dir: Path, version: str) -> None:
    incidents.fails("models", "show", version, says=(f"no model version {version!r}",))


def test_promote_model(incidents, models_dir: Path) -> None:
    add_versions(models_dir, "v2")
    result = incidents.ok("models", "promote", "v2")
    assert result.stdout.strip() == "active version: v2 (was v1)"
    assert active(models_dir) == "v2"
    assert ModelRegistry(models_dir).history()[-1]["active"] == "v2"
    assert ModelRegistry(models_dir).history()[-1]["by"] == cli_user()
    assert cli_user().endswith("(cli)")
    assert incidents.ok("models", "list").stdout.splitlines()[1].startswith("* v2")


def test_promote_in_a_folder_it_cannot_write(incidents, models_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A models folder the user may not write to (root may, so the refusal is made up here): the
    folder is named, not the file written aside ("[Errno 13] Permission denied: '.../.ACTIVE.x'")."""
    import core.registry

    add_versions(models_dir, "v2")

    def refused(path: Path, _text: str) -> None:
        raise PermissionError(13, "Permission denied", str(path.parent / f".{path.name}.1f2e"))

    monkeypatch.setattr(core.registry, "_write_atomic", refused)
    result = incidents.fails("models", "promote", "v2",
                             says=(f"cannot write in {models_dir}: Permission denied",))
    assert "Errno" not in result.stderr and active(models_dir) == "v1"


def test_models_history(incidents, models_dir: Path) -> None:
    """Who made which version active, when and why, newest first (it took reading the file)."""
    add_versions(models_dir, "v2")
    incidents.ok("models", "promote", "v2")
    incidents.ok("models", "rollback")
    lines = incidents.ok("models", "history").stdout.splitlines()
    assert lines[0].split() == ["time", "kind", "active", "was", "by", "why"]
    rows = [line.split(maxsplit=5) for line in lines[1:]]
    assert [row[1:4] for row in rows] == [["rollback", "v1", "v2"], ["promote", "v2", "v1"],
                                         ["promote", "v1", "-"]]
    assert rows[0][5].endswith("rollback from v2") and cli_user() in lines[1]
    limited = incidents.ok("models", "history", "--limit", "1").stdout.splitlines()
    assert len(limited) == 3 and limited[-1] == "(1 of 3; --limit shows more)"
    recorded = [json.loads(line) for line in incidents.ok("models", "history", "--json").stdout.splitlines()]
    assert recorded == ModelRegistry(models_dir).history()[::-1]


def test_models_history_none(incidents, settings) -> None:
    assert incidents.ok("models", "history").stdout.startswith("no promotion or rollback recorded")


def test_promote_model_unknown(incidents, models_dir: Path) -> None:
    result = incidents.fails("models", "promote", "v7", says=("no model version 'v7'",))
    assert result.exit_code == 1
    assert active(models_dir) == "v1"


def test_promote_model_already_active(incidents, models_dir: Path) -> None:
    history = (models_dir / "history.jsonl").read_text(encoding="utf-8")
    result = incidents.fails("models", "promote", "v1", says=("v1 is already the active version",))
    assert result.exit_code == 1
    assert (models_dir / "history.jsonl").read_text(encoding="utf-8") == history


@pytest.mark.parametrize("spoil", ["flip-byte", "remove-sha256"])
def test_promote_model_tampered(incidents, models_dir: Path, spoil: str) -> None:
    add_versions(models_dir, "v2")
    artefact = models_dir / "v2" / "model.skops"
    if spoil == "flip-byte":
        data = bytearray(artefact.read_bytes())
        data[-10] ^= 0xFF
        artefact.write_bytes(bytes(data))
    else:
        (models_dir / "v2" / "model.skops.sha256").unlink()
    history = (models_dir / "history.jsonl").read_text(encoding="utf-8")
    incidents.fails("models", "promote", "v2", says=(str(artefact), "sha256"))
    assert active(models_dir) == "v1"
    assert (models_dir / "history.jsonl").read_text(encoding="utf-8") == history


def test_rollback_models_walks_back(incidents, models_dir: Path) -> None:
    add_versions(models_dir, "v2", "v3")
    incidents.ok("models", "promote", "v2")
    incidents.ok("models", "promote", "v3")
    first = incidents.ok("models", "rollback")
    assert first.stdout.strip() == "active version: v2 (rolled back from v3)"
    assert active(models_dir) == "v2"
    second = incidents.ok("models", "rollback")
    assert second.stdout.strip() == "active version: v1 (rolled back from v2)"
    assert [e["by"] for e in ModelRegistry(models_dir).history()[-2:]] == [cli_user()] * 2
    assert active(models_dir) == "v1"
    incidents.fails("models", "rollback", says=("v1 has no earlier active version",))
    assert active(models_dir) == "v1"


def test_rollback_models_none(incidents, settings) -> None:
    incidents.fails("models", "rollback", says=("no version is active: there is nothing to roll back",))


def test_list_models_shows_n(incidents, models_dir: Path) -> None:
    line = incidents.ok("models", "list").stdout.splitlines()[0]
    metrics = ModelRegistry(models_dir).card("v1")["metrics"]
    model = metrics["contenders"]["model"]
    assert (f"micro-F1 {model['category_micro_f1']:.3f}  macro-F1 {model['category_macro_f1']:.3f}  "
            f"(n={metrics['test_size']})") in line
    assert metrics["test_size"] == 19
    assert line.endswith("held out from 2021-06-01")


def _decision(settings, **fields) -> None:
    """Record a retraining decision as `retrain` would (the store migrated first)."""
    upgrade(settings.database_url)
    figures = {"category_micro_f1": 0.5, "category_macro_f1": 0.4, "holdout_size": 30,
               "holdout_from": "2022-01-01T00:00:00+00:00", "holdout_to": "2022-12-01T00:00:00+00:00",
               "holdout_unseen": True}
    values = {"created_at": datetime.now(UTC) + timedelta(seconds=1), "challenger": "v2",
              "active_before": "v1", "promoted": False, "forced": False, "tolerance": 0.01,
              "reason": "challenger is worse: ...", "challenger_metrics": figures,
              "active_metrics": {**figures, "category_micro_f1": 0.6}, "requested_by": "alice",
              **fields}
    with session_scope(settings.database_url) as session:
        session.add(ModelDecisionRow(**values))


def test_list_models_with_recorded_decision(incidents, settings, models_dir: Path) -> None:
    add_versions(models_dir, "v2", "v3")
    _decision(settings)  # v2: kept
    _decision(settings, challenger="v3", promoted=True, forced=True, reason="forced; ...",
              challenger_metrics={"holdout_size": 0}, active_metrics=None)
    lines = incidents.ok("models", "list").stdout.splitlines()
    assert lines[0].endswith("held out from 2021-06-01")
    assert lines[1].endswith("held out from 2021-06-01; retrain #1: kept")
    assert lines[2].endswith("held out from 2021-06-01; retrain #2: promoted, not compared (forced)")


def test_list_models_ignores_decision_older_than_the_version(incidents, settings,
                                                             models_dir: Path) -> None:
    add_versions(models_dir, "v2")
    _decision(settings, created_at=datetime(2020, 1, 1, tzinfo=UTC))  # about an earlier "v2"
    assert "retrain" not in incidents.ok("models", "list").stdout


def test_decisions_none(incidents, settings) -> None:
    result = incidents.ok("models", "decisions")
    assert result.stdout.strip() == ("no retraining decisions recorded; `incidents retrain` "
                                     "records one each time")
    assert json.loads(incidents.ok("models", "decisions", "--json").stdout) == {"data": [],
                                                                                "count": 0}


def test_decisions_newest_first(incidents, settings) -> None:
    _decision(settings, requested_by=None)
    _decision(settings, challenger="v3", promoted=True, reason="challenger is not worse: ...")
    _decision(settings, challenger="v4", active_before="v3", promoted=True, forced=True,
              reason="forced although too few labelled incidents to compare (48 < 60: ...)",
              challenger_metrics={"holdout_size": 0}, active_metrics=None)
    lines = incidents.ok("models", "decisions").stdout.splitlines()
    assert lines[0].split() == ["id", "time", "challenger", "before", "after", "decision", "forced",
                                "holdout", "requested", "by", "reason"]
    rows = [line.split() for line in lines[1:]]
    assert [r[0] for r in rows] == ["3", "2", "1"]
    assert rows[0][2:9] == ["v4", "v3", "v4", "promoted", "forced", "0", "alice"]
    assert " ".join(rows[0][9:]) == "forced although too few labelled incidents to compare (48 < 60: ...)"
    assert rows[1][2:9] == ["v3", "v1", "v3", "promoted", "-", "30", "alice"]
    assert rows[2][2:9] == ["v2", "v1", "v1", "kept", "-", "30", "-"]

    limited = incidents.ok("models", "decisions", "--limit", "1").stdout.splitlines()
    assert [line.split()[0] for line in limited[1:-1]] == ["3"]
    assert limited[-1] == "(1 of 3; --limit shows more)"

    body = json.loads(incidents.ok("models", "decisions", "--json", "--limit", "2").stdout)
    assert body["count"] == 3 and [d["id"] for d in body["data"]] == [3, 2]
    newest = body["data"][0]
    assert (newest["challenger"], newest["active_before"], newest["active_after"]) == ("v4", "v3", "v4")
    assert newest["promoted"] is True and newest["forced"] is True and newest["holdout_size"] == 0
    assert newest["active_metrics"] is None
    assert datetime.fromisoformat(newest["created_at"]).tzinfo is not None


def test_decisions_limit_at_least_one(incidents, settings) -> None:
    assert incidents("models", "decisions", "--limit", "0").exit_code == 2


def _prune_setup(models_dir: Path, incidents) -> None:
    """v1 to v6; v1 (first), v3 and v4 were made active in turn: rollback can return to v3, v1."""
    add_versions(models_dir, "v2", "v3", "v4", "v5", "v6")
    incidents.ok("models", "promote", "v3")
    incidents.ok("models", "promote", "v4")


def test_prune_dry_run_deletes_nothing(incidents, models_dir: Path) -> None:
    _prune_setup(models_dir, incidents)
    before = sorted(p.name for p in models_dir.iterdir())
    registry = ModelRegistry(models_dir)
    sizes = {v: registry.size(v) for v in ("v2", "v5")}
    assert all(size > 0 for size in sizes.values())
    lines = incidents.ok("models", "prune", "--keep", "1", "--dry-run").stdout.splitlines()
    assert lines[:2] == [f"would remove v2 ({sizes['v2']:,} bytes)",
                         f"would remove v5 ({sizes['v5']:,} bytes)"]
    assert lines[2].startswith(f"would free {sizes['v2'] + sizes['v5']:,} bytes (")
    assert lines[2].endswith("in 2 versions; kept v1, v3, v4, v6 (active: v4)")
    assert sorted(p.name for p in models_dir.iterdir()) == before


def test_prune_keeps_active_rollback_targets_and_newest(incidents, models_dir: Path) -> None:
    _prune_setup(models_dir, incidents)
    registry = ModelRegistry(models_dir)
    freed = registry.size("v2") + registry.size("v5")
    lines = incidents.ok("models", "prune", "--keep", "1").stdout.splitlines()
    assert [line.split(" (")[0] for line in lines[:2]] == ["removed v2", "removed v5"]
    assert lines[2].startswith(f"freed {freed:,} bytes (")
    assert lines[2].endswith("in 2 versions; kept v1, v3, v4, v6 (active: v4)")
    assert registry.versions() == ["v1", "v3", "v4", "v6"]
    assert sorted(p.name for p in models_dir.iterdir() if p.name.startswith(".")) == []
    assert active(models_dir) == "v4"
    # Nothing left to remove; rollbacks still walk back through what was active.
    again = incidents.ok("models", "prune", "--keep", "1").stdout.splitlines()
    assert again == ["freed 0 bytes (0.0 MiB) in 0 versions; kept v1, v3, v4, v6 (active: v4)"]
    assert incidents.ok("models", "rollback").stdout.strip() == "active version: v3 (rolled back from v4)"
    assert incidents.ok("models", "rollback").stdout.strip() == "active version: v1 (rolled back from v3)"


def test_prune_keep_newest(incidents, models_dir: Path) -> None:
    _prune_setup(models_dir, incidents)
    incidents.ok("models", "prune", "--keep", "3")
    assert ModelRegistry(models_dir).versions() == ["v1", "v3", "v4", "v5", "v6"]


def test_prune_keep_at_least_one(incidents, models_dir: Path) -> None:
    result = incidents("models", "prune", "--keep", "0")
    assert result.exit_code == 2
    assert incidents("models", "prune").exit_code == 2  # --keep is required
    assert ModelRegistry(models_dir).versions() == ["v1"]
