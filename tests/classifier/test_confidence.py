"""The confidence an incident is shown with: scaled to how often such answers are right."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from classifier import IncidentTypeClassifier, incidents_frame
from classifier._model import _NO_SCALING, _confidence_scaling, _logit

#: Scaling that raises every confidence, as the snapshot's out-of-fold fits do.
RAISING = (1.6, 1.2)


@pytest.fixture(scope="module")
def fitted(fixture_data) -> IncidentTypeClassifier:
    X, y = fixture_data
    return IncidentTypeClassifier(random_state=0).fit(X, y)


def _underconfident(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Confidences whose answers are right more often than they say (as sqrt(c) of the time)."""
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.05, 0.95, n)
    return confidence, rng.uniform(size=n) < np.sqrt(confidence)


def test_scaling_fitted_on_underconfident_answers_raises_them() -> None:
    confidence, right = _underconfident(2000)
    slope, intercept = _confidence_scaling(confidence, right)
    assert slope > 0
    shown = 1 / (1 + np.exp(-(slope * _logit(confidence) + intercept)))
    # Closer to how often they were right, in every fifth of the confidences.
    for lo in np.arange(0.05, 0.95, 0.18):
        inside = (confidence >= lo) & (confidence < lo + 0.18)
        observed = right[inside].mean()
        assert abs(shown[inside].mean() - observed) < abs(confidence[inside].mean() - observed)


def test_a_scaling_flatter_than_the_identity_fits_the_mean_alone() -> None:
    """On a hundred training incidents Platt's slope was 0.03: every incident shown about 0.3.
    Under 1 the slope stays 1, and the mean confidence shown is the share wholly right."""
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.05, 0.95, 400)
    right = rng.uniform(size=400) < 0.6  # the confidence tells nothing
    slope, intercept = _confidence_scaling(confidence, right)
    assert slope == 1.0
    shown = 1 / (1 + np.exp(-(_logit(confidence) + intercept)))
    assert shown.mean() == pytest.approx(right.mean(), abs=1e-6)
    assert np.all(np.diff(shown[np.argsort(confidence)]) > 0)  # the order kept


def test_scaling_leaves_out_confidence_zero() -> None:
    confidence, right = _underconfident(400)
    # Incidents no type reached the threshold of (confidence 0), all wrong: not in the fit.
    with_zeros = (np.concatenate([confidence, np.zeros(300)]),
                  np.concatenate([right, np.zeros(300, dtype=bool)]))
    assert _confidence_scaling(*with_zeros) == _confidence_scaling(confidence, right)


@pytest.mark.parametrize("case", ["few wrong", "few right", "falling"])
def test_no_scaling_without_enough_of_each_outcome_or_when_it_would_reorder(case: str) -> None:
    confidence = np.linspace(0.1, 0.9, 200)
    right = {"few wrong": np.arange(200) >= 9,            # 9 wrong: too few to fit on
             "few right": np.arange(200) < 9,
             "falling": confidence < 0.5}[case]           # surer, more often wrong
    assert _confidence_scaling(confidence, right) == _NO_SCALING


def test_shown_confidence_keeps_zero_and_the_order(fitted: IncidentTypeClassifier) -> None:
    model = copy.deepcopy(fitted)
    model.confidence_scaling_ = RAISING
    raw = np.array([0.0, 0.05, 0.3, 0.3001, 0.7, 1.0])
    shown = model.shown_confidence(raw)
    assert shown[0] == 0.0
    assert np.all(np.diff(shown) > 0) and np.all(shown[2:5] > raw[2:5])  # 0.05 is lowered
    model.confidence_scaling_ = _NO_SCALING
    assert np.array_equal(model.shown_confidence(raw), raw)


def test_decide_shows_the_scaled_confidence_and_sends_the_same_incidents_to_review(
        fixture_data, fitted: IncidentTypeClassifier) -> None:
    X, _ = fixture_data
    plain = copy.deepcopy(fitted)
    plain.confidence_scaling_ = _NO_SCALING
    scaled = copy.deepcopy(fitted)
    scaled.confidence_scaling_ = RAISING
    # A bar inside the confidences, so that some incidents fall under it.
    raw = [d.confidence for d in plain.decide(X)]
    given = sorted(c for c in raw if c > 0)
    for model in (plain, scaled):
        model.review_threshold_ = given[len(given) // 2]
    before, after = plain.decide(X), scaled.decide(X)
    assert [d.needs_review for d in after] == [d.needs_review for d in before]
    assert [d.tags for d in after] == [d.tags for d in before]
    assert any(d.needs_review for d in before) and not all(d.needs_review for d in before)
    for b, a in zip(before, after, strict=True):
        assert a.confidence == pytest.approx(float(scaled.shown_confidence(b.confidence)), abs=2e-4)
    # The review reason reads the shown confidence against the bar as shown.
    bar = float(scaled.shown_confidence(scaled.review_threshold_))
    flagged = [d for d in after if d.review_reason and d.review_reason.startswith("confidence ")]
    assert flagged
    for d in flagged:
        said, shown_bar = d.review_reason.split(";")[0].removeprefix("confidence ").split(
            " is below the review bar ")
        assert float(said) == pytest.approx(d.confidence, abs=5e-3)
        assert float(shown_bar) == pytest.approx(bar, abs=5e-3)
        assert float(said) < float(shown_bar)


def test_a_reason_never_reads_as_a_contradiction_near_1(fitted: IncidentTypeClassifier) -> None:
    """A raw bar of 1 (no share of the out-of-fold answers met the precision wanted) and a
    confidence a hair below it are one figure to six decimals once shown."""
    model = copy.deepcopy(fitted)
    model.confidence_scaling_ = RAISING
    model.review_threshold_ = 1.0
    model.thresholds_ = np.full(len(model.classes_), 0.5)
    proba = np.full((1, len(model.classes_)), 1e-9)
    proba[0, 0] = 1 - 1e-9
    (decision,) = model.decide_proba(proba)
    assert decision.needs_review and decision.review_reason is not None
    said, bar = decision.review_reason.split(";")[0].removeprefix("confidence ").split(
        " is just below the review bar ")
    assert said == bar


def test_a_model_written_before_the_scaling_shows_the_raw_product(fixture_data, fitted) -> None:
    X, _ = fixture_data
    old = copy.deepcopy(fitted)
    old.confidence_scaling_ = RAISING
    raw = copy.deepcopy(old)
    raw.confidence_scaling_ = _NO_SCALING
    del old.confidence_scaling_
    assert old.decide(X) == raw.decide(X)


def test_calibrate_confidence_off_fits_no_scaling(fixture_data) -> None:
    X, y = fixture_data
    model = IncidentTypeClassifier(random_state=0, calibrate_confidence=False).fit(X, y)
    assert model.confidence_scaling_ == _NO_SCALING


@pytest.mark.snapshot
def test_confidence_says_how_often_later_answers_were_right(fitted_before_2022) -> None:
    """Fitted before 2022, on the 2022-2023 incidents given a confidence: the product of the
    tags' probabilities said about 0.5 where about four in five were wholly right; the shown
    confidence is nearer that, and sends the same incidents to review."""
    from training.metrics import brier_of_pairs, calibration_of_pairs

    model, test = fitted_before_2022.model, fitted_before_2022.later
    assert model.confidence_scaling_ != _NO_SCALING
    raw_model = copy.deepcopy(model)
    raw_model.confidence_scaling_ = _NO_SCALING
    X = incidents_frame(r.incident() for r in test)
    shown, raw = model.decide(X), raw_model.decide(X)
    assert [d.needs_review for d in shown] == [d.needs_review for d in raw]
    classes = set(model.classes_)
    given = [i for i, d in enumerate(shown) if d.confidence > 0]
    assert len(given) > 150
    right = [int(set(shown[i].tags) == set(test[i].tags.types) & classes) for i in given]
    def errors(decisions) -> tuple[float, float]:
        pairs = ([decisions[i].confidence for i in given], right)
        return calibration_of_pairs(*pairs)["ece"], brier_of_pairs(*pairs)

    (ece_shown, brier_shown), (ece_raw, brier_raw) = errors(shown), errors(raw)
    assert ece_shown < ece_raw - 0.05
    assert brier_shown < brier_raw
