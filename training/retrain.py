"""Gated retraining: a challenger replaces the active model only when it is not worse.

The comparison set is the newest ``retrain_holdout_fraction`` of labelled incidents by filing
time, narrowed to those filed after the active model's training data when there are any (see
``holdout_split``). The challenger's recipe is fitted on the older rest and scored on it; the
active artefact, the thing that is serving, is scored on the same incidents as it is. When the
challenger passes (or ``force``), it is fitted on every labelled incident and that fit becomes
the new active version; otherwise that fit is kept as a candidate version.
Every decision is recorded in ``model_decisions`` with both sets of figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from classifier import IncidentTypeClassifier, NotEnoughData, Taxonomy
from core.config import Settings
from core.db import session_scope
from core.registry import ModelRegistry
from core.tables import ModelDecisionRow, utcnow

from .dataset import Dataset, load_dataset
from .evaluate import score_estimator
from .train import default_model, train_version

_HEADLINE = ("category_micro_f1", "category_macro_f1")


@dataclass(frozen=True)
class RetrainDecision:
    """What a retraining did and why; ``id`` is its row in ``model_decisions``."""

    id: int
    challenger: str
    active_before: str | None
    active_after: str | None
    promoted: bool
    forced: bool
    tolerance: float
    reason: str
    challenger_metrics: dict[str, Any]
    active_metrics: dict[str, Any] | None
    requested_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def holdout_split(dataset: Dataset, fraction: float,
                  active_last_filed: np.datetime64 | None = None) -> tuple[Dataset, Dataset]:
    """The incidents the challenger learns from, and the newer ones both models are judged on.

    The comparison set is the newest ``fraction`` (at least one incident, and one left to learn
    from), narrowed to the incidents filed after the active model's last training incident when
    there are any: those neither model has seen, so the active model is not judged on its own
    training data. When the active model has seen them all, the whole newest ``fraction`` is
    used, which flatters the active model (the gate then errs towards keeping it).
    """
    n = len(dataset)
    n_test = min(max(1, math.ceil(n * fraction)), n - 1)
    mask = np.zeros(n, dtype=bool)
    mask[n - n_test:] = True  # the dataset is oldest first
    if active_last_filed is not None:
        unseen = dataset.created > active_last_filed
        if unseen[mask].any() and not unseen.all():
            mask = unseen if unseen.sum() <= n_test else mask & unseen
    return dataset.subset(~mask), dataset.subset(mask)


def _last_filed(card: dict[str, Any]) -> np.datetime64 | None:
    try:
        return np.datetime64(card["training_data"]["last_filed"], "s")
    except (KeyError, TypeError, ValueError):
        return None


def headline(scores: dict[str, Any], test: Dataset) -> dict[str, Any]:
    """The figures a decision records of one contender."""
    first = pd.Timestamp(test.created.min()).tz_localize(UTC).isoformat() if len(test) else None
    return {
        "category_micro_f1": scores["categories"]["micro_f1"],
        "category_macro_f1": scores["categories"]["macro_f1"],
        "tag_micro_f1": scores["tags"]["micro_f1"],
        "tag_macro_f1": scores["tags"]["macro_f1"],
        "brier": scores["brier"],
        "holdout_size": len(test),
        "holdout_from": first,
    }


def gate(challenger: dict[str, Any], active: dict[str, Any], tolerance: float) -> tuple[bool, str]:
    """Whether the challenger is not worse than the active model on each headline figure."""
    worse = [f"{name.replace('_', ' ')} {challenger[name]:.4f} < {active[name]:.4f} - {tolerance:g}"
             for name in _HEADLINE if challenger[name] < active[name] - tolerance - 1e-12]
    if worse:
        return False, "challenger is worse: " + "; ".join(worse)
    return True, ("challenger is not worse: " + ", ".join(
        f"{name.replace('_', ' ')} {challenger[name]:.4f} vs {active[name]:.4f}" for name in _HEADLINE)
        + f" (tolerance {tolerance:g})")


def retrain(*, settings: Settings, taxonomy: Taxonomy, registry: ModelRegistry, force: bool = False,
            requested_by: str | None = None, model: IncidentTypeClassifier | None = None,
            progress: Callable[[str], None] | None = None) -> RetrainDecision:
    """Train a challenger on everything the store holds and promote it only if it is not worse.

    ``model`` is the challenger's recipe (the shipped one by default). With ``force`` the
    challenger is promoted whatever its figures, and the decision says so.
    """
    note = progress or (lambda _: None)
    recipe = model if model is not None else default_model(settings, taxonomy)
    tolerance = settings.retrain_tolerance
    with session_scope(settings.database_url) as session:
        dataset = load_dataset(session=session)
    if len(dataset) < 2:
        raise NotEnoughData("the store holds fewer than 2 labelled incidents; run `incidents sync` first")
    active_before = registry.active_version()
    active_model = registry.load(active_before) if active_before else None
    train, test = holdout_split(dataset, settings.retrain_holdout_fraction,
                                _last_filed(active_model.card) if active_model else None)

    note(f"fitting the challenger on {len(train)} older incidents")
    challenger_scores = score_estimator(clone(recipe).fit(train.X, train.y), test, taxonomy)
    challenger_metrics = headline(challenger_scores, test)
    contenders = {"model": challenger_scores}
    active_metrics: dict[str, Any] | None = None
    if active_before is None or active_model is None:
        promote, reason = True, "no model was active"
    else:
        note(f"scoring the active {active_before} on the newest {len(test)} incidents")
        contenders[f"active {active_before}"] = score_estimator(active_model.model, test, taxonomy)
        active_metrics = headline(contenders[f"active {active_before}"], test)
        promote, reason = gate(challenger_metrics, active_metrics, tolerance)
        if force and not promote:
            reason = f"forced although {reason}"
        elif force:
            reason = f"forced; {reason}"
    report = {"cutoff": challenger_metrics["holdout_from"], "end": None, "train_size": len(train),
              "test_size": len(test), "contenders": contenders}

    note(f"fitting the challenger on all {len(dataset)} incidents")
    version, _ = train_version(dataset, settings=settings, taxonomy=taxonomy, registry=registry,
                               promote_first=False, model=recipe, report=report)
    promoted = promote or force
    if promoted:
        registry.promote(version, reason=f"retrain: {reason}")
    with session_scope(settings.database_url) as session:
        row = ModelDecisionRow(created_at=utcnow(), challenger=version, active_before=active_before,
                               promoted=promoted, forced=force, tolerance=tolerance, reason=reason,
                               challenger_metrics=challenger_metrics, active_metrics=active_metrics,
                               requested_by=requested_by)
        session.add(row)
        session.flush()
        decision_id = row.id
    return RetrainDecision(decision_id, version, active_before, registry.active_version(), promoted,
                           force, tolerance, reason, challenger_metrics, active_metrics, requested_by)
