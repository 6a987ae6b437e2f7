"""`incidents train`: a new version with artefact, sha256 and card; the first one becomes active."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from classifier import Taxonomy, file_sha256
from cli._shared import cli_user
from core.config import Settings
from core.registry import ModelRegistry
from tests.fixtures import SQLITE_ONLY, STAMPED, make_bugs, write_snapshot

FIXTURE_TAGS = {"crl-failure", "ev-misissuance", "leaf-revocation-delay", "ocsp-failure"}
CONTENDERS = {"model", "tfidf+logreg", "keyword-rules", "most-frequent-tag"}


@SQLITE_ONLY
def test_train_first_version(incidents, store: str, settings: Settings,
                             trained_models: Path) -> None:
    result = incidents.ok("train", "--if-no-active")
    folder = settings.models_dir / "v1"
    assert "wrote v1 (48 incidents, " in result.stdout
    # It said "16 tags" beside the taxonomy's 17, and not which one is never given or why.
    taxonomy = Taxonomy.load()
    never = [t for t in taxonomy.type_tags if t not in taxonomy.cues and t not in FIXTURE_TAGS]
    assert never and f"; never given, seen fewer than 5 times and no cue: {', '.join(never)}) in " \
        in result.stdout
    assert "active version: v1" in result.stdout
    assert sorted(p.name for p in settings.models_dir.iterdir()) == ["ACTIVE", "history.jsonl",
                                                                     "v1"]
    # Who trained it, as promote and rollback record who asked (it was null).
    (entry,) = ModelRegistry(settings.models_dir).history()
    assert (entry["active"], entry["by"]) == ("v1", cli_user())
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "model.skops",
                                                        "model.skops.sha256"]
    sha = file_sha256(folder / "model.skops")
    assert (folder / "model.skops.sha256").read_text(encoding="utf-8").split() == [sha,
                                                                                   "model.skops"]

    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    assert card["version"] == "v1"
    assert card["artefact_sha256"] == sha
    assert datetime.fromisoformat(card["created_at"]).utcoffset().total_seconds() == 0
    assert {"python", "scikit-learn", "numpy", "scipy", "pandas", "joblib", "skops"} <= set(
        card["libraries"])
    assert card["libraries"]["scikit-learn"] != "not installed"
    data = card["training_data"]
    assert re.fullmatch(r"[0-9a-f]{64}", data["sha256"])
    assert data["size"] == 48
    # The same 48 bugs give the same data hash (the session's model was trained apart).
    reference = ModelRegistry(trained_models).card("v1")
    assert data["sha256"] == reference["training_data"]["sha256"]
    assert FIXTURE_TAGS <= set(card["labels"])
    assert list(card["thresholds"]) == card["labels"]
    assert all(0.0 < t < 1.0 for t in card["thresholds"].values())
    # The recent tag mix's shift of each learned tag (the cue-only tags have none), as the
    # saved model applies it.
    model = ModelRegistry(folder.parent).load("v1").model
    assert card["prior_shift"] == {t: round(float(v), 4) for t, v in
                                   zip(model.classes_[:len(model.estimators_)], model.prior_shift_, strict=True)}
    assert any(card["prior_shift"].values())
    # The taxonomy's one pool (audit-delay, audit-finding) has no incident in the fixture bugs.
    assert card["params"]["pools"] == {"Audit Delays and Findings": ["audit-delay", "audit-finding"]}
    assert card["pools"] == {}
    metrics = card["metrics"]
    assert (metrics["train_size"], metrics["test_size"]) == (29, 19)
    assert set(metrics["contenders"]) == CONTENDERS
    for figures in metrics["contenders"].values():
        for name in ("category_micro_f1", "category_macro_f1", "tag_micro_f1", "tag_macro_f1",
                     "brier", "ece"):
            assert 0.0 <= figures[name] <= 1.0

    # The multi-year table, baselines included, as `incidents evaluate` prints it.
    by_year = {r["cutoff"][:4]: r for r in card["metrics_by_year"]}
    assert list(by_year) == ["2021", "2022", "2023"]
    for year in ("2021", "2022"):
        assert by_year[year]["test_size"] == 12
        assert set(by_year[year]["contenders"]) == CONTENDERS
        model = by_year[year]["contenders"]["model"]
        assert 0.0 <= model["category_micro_f1"] <= 1.0
        assert 0.0 <= model["review_share"] <= 1.0 and 0.0 <= model["auto_precision"] <= 1.0
        assert "review_share" not in by_year[year]["contenders"]["tfidf+logreg"]
    assert by_year["2023"]["skipped"] == "48 training and 0 test incidents"
    assert "Briefing categories, train before each cutoff" in result.stdout
    assert "2023         skipped: 48 training and 0 test incidents" in result.stdout

    loaded = ModelRegistry(settings.models_dir).load()
    assert loaded.version == "v1"
    assert list(loaded.model.classes_) == card["labels"]


@SQLITE_ONLY
def test_train_second_version_not_active(incidents, store: str, models_dir: Path) -> None:
    result = incidents.ok("train")
    assert "wrote v2 (48 incidents" in result.stdout
    assert "active version: v1" in result.stdout
    registry = ModelRegistry(models_dir)
    assert registry.versions() == ["v1", "v2"]
    assert registry.active_version() == "v1"
    assert registry.card("v2")["version"] == "v2"


@SQLITE_ONLY
def test_train_no_years(incidents, store: str, settings: Settings) -> None:
    result = incidents.ok("train", "--no-years")
    assert "Briefing categories" not in result.stdout
    # Off a terminal (cron, CI) each step is a timestamped line on stderr, from the first one:
    # a run of many minutes had said nothing until it ended.
    steps = result.stderr.splitlines()
    assert all(STAMPED.match(line) for line in steps), steps
    assert steps[0].endswith(" loading labelled incidents from the store")
    assert any(line.endswith(" evaluating model (step 1 of 5)") for line in steps), steps
    assert len(steps) == len({line[21:] for line in steps})  # a step is said once
    card = ModelRegistry(settings.models_dir).card("v1")
    assert "metrics_by_year" not in card
    assert set(card["metrics"]["contenders"]) == CONTENDERS


@SQLITE_ONLY
def test_train_if_no_active_skips(incidents, store: str, models_dir: Path) -> None:
    result = incidents.ok("train", "--if-no-active")
    assert result.stdout.strip() == f"v1 is active in {models_dir}; not training"
    assert ModelRegistry(models_dir).versions() == ["v1"]


def test_train_empty_store(incidents, settings: Settings) -> None:
    incidents.fails("train", says=("no labelled incidents", "incidents sync"))
    assert ModelRegistry(settings.models_dir).versions() == []


@SQLITE_ONLY
def test_train_store_without_type_tags(incidents, settings: Settings, tmp_path: Path) -> None:
    bugs, comments = make_bugs()
    for bug in bugs["bugs"]:
        bug["whiteboard"] = "[ca-compliance] [uncategorized] [brand-new-tag]"
    incidents.ok("sync", "--snapshot", write_snapshot(tmp_path / "s", bugs, comments))
    incidents.fails("train", says=("no labelled incidents",))
    assert ModelRegistry(settings.models_dir).versions() == []


@SQLITE_ONLY
def test_train_no_test_data(incidents, settings: Settings, tmp_path: Path) -> None:
    """Every labelled bug is older than the evaluation cutoff: no version without metrics."""
    bugs, comments = make_bugs(n_per_tag=1)
    incidents.ok("sync", "--snapshot", write_snapshot(tmp_path / "s", bugs, comments))
    incidents.fails("train", says=("2021-06-01", "4 training and 0 test"))
    assert ModelRegistry(settings.models_dir).versions() == []
