"""Gated retraining: a worse challenger stays a candidate, --force promotes, decisions are kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from classifier import Taxonomy
from core.config import Settings
from core.db import session_scope
from core.registry import ModelRegistry
from core.tables import ModelDecisionRow
from tests.fixtures import SWAPPED, run
from training.dataset import load_dataset
from training.retrain import holdout_split, retrain


def _spoil_older_labels(settings: Settings, correct: Callable[..., int]) -> None:
    """Correct the incidents the challenger learns from to wrong tags (the holdout stays true)."""
    with session_scope(settings.database_url) as session:
        older, _ = holdout_split(load_dataset(session=session), settings.retrain_holdout_fraction)
    for bug_id, tags in zip(older.ids, older.y, strict=True):
        correct(int(bug_id), [SWAPPED[t] for t in tags])


def _decisions(settings: Settings) -> list[ModelDecisionRow]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(ModelDecisionRow).order_by(ModelDecisionRow.id)))


def test_retrain_worse_challenger_not_promoted(settings: Settings, store: str, models_dir: Path,
                                               taxonomy: Taxonomy, correct: Callable[..., int]) -> None:
    _spoil_older_labels(settings, correct)
    registry = ModelRegistry(models_dir)
    decision = retrain(settings=settings, taxonomy=taxonomy, registry=registry, requested_by="alice")
    assert not decision.promoted and not decision.forced
    assert registry.active_version() == "v1" == decision.active_before == decision.active_after
    assert decision.challenger == "v2" and "v2" in registry.versions()
    assert decision.reason.startswith("challenger is worse")
    assert registry.card("v2")["corrections"]["count"] > 0
    (row,) = _decisions(settings)
    assert row.promoted is False and row.challenger == "v2" and row.active_before == "v1"
    assert row.requested_by == "alice" and row.tolerance == settings.retrain_tolerance
    for metrics in (row.challenger_metrics, row.active_metrics):
        assert {"category_micro_f1", "category_macro_f1", "holdout_size"} <= set(metrics)
    assert row.challenger_metrics["category_micro_f1"] < row.active_metrics["category_micro_f1"]
    assert row.challenger_metrics["holdout_size"] == row.active_metrics["holdout_size"]


def test_retrain_force_promotes_worse_challenger(settings: Settings, store: str, models_dir: Path,
                                                 correct: Callable[..., int]) -> None:
    _spoil_older_labels(settings, correct)
    result = run("retrain", "--force", "--requested-by", "bob")
    assert result.exit_code == 0, result.output
    assert "FORCED: promoted v2 (was v1)" in result.stdout
    assert ModelRegistry(models_dir).active_version() == "v2"
    (row,) = _decisions(settings)
    assert row.promoted and row.forced and row.reason.startswith("forced although challenger is worse")


def test_retrain_equal_challenger_promoted(settings: Settings, store: str, models_dir: Path,
                                           taxonomy: Taxonomy) -> None:
    # Same data, same recipe: the challenger is as good as the active model (within tolerance).
    registry = ModelRegistry(models_dir)
    decision = retrain(settings=settings, taxonomy=taxonomy, registry=registry)
    assert decision.promoted and not decision.forced
    assert registry.active_version() == decision.challenger == "v2"
    assert _decisions(settings)[0].promoted


def test_holdout_split_judges_on_what_the_active_model_has_not_seen(settings: Settings, store: str) -> None:
    with session_scope(store) as session:
        dataset = load_dataset(session=session)
    older, newest = holdout_split(dataset, 0.2)
    assert len(newest) == 10 and older.created.max() <= newest.created.min()
    # An active model trained up to the 45th incident: only the 3 after it are compared on.
    _, unseen = holdout_split(dataset, 0.2, dataset.created[44])
    assert list(unseen.ids) == list(dataset.ids[45:])
    # An active model that saw everything: the whole newest share (conservative).
    _, seen = holdout_split(dataset, 0.2, dataset.created[-1])
    assert list(seen.ids) == list(newest.ids)
