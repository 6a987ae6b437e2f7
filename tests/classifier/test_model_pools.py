"""Pools: sibling tags of one briefing row learned together as well as apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifier import IncidentTypeClassifier, Taxonomy, load_artefact, save_artefact
from classifier._model import _pooled, _tag_proba

OUTAGES = {"Outages": ["crl-failure", "ocsp-failure"]}


@pytest.fixture(scope="module")
def pooled(fixture_data) -> IncidentTypeClassifier:
    X, y = fixture_data
    return IncidentTypeClassifier(pools=OUTAGES).fit(X, y)


def _pool_proba(model: IncidentTypeClassifier, X) -> np.ndarray:
    return _tag_proba(model.pool_estimators_, model.features_.transform(X), None)


def test_taxonomy_pools_are_rows_of_several_tags(taxonomy: Taxonomy) -> None:
    assert taxonomy.pools == {"Audit Delays and Findings": ["audit-delay", "audit-finding"]}
    two = Taxonomy.from_dict({"categories": {"order": ["A"]},
                              "tags": {"x": {"categories": ["A"]}, "y": {"categories": ["A"]},
                                       "z": {"categories": []}}})
    assert two.pools == {"A": ["x", "y"]}


def test_fit_pooled_model_learns_the_pool_apart_from_the_tags(pooled: IncidentTypeClassifier) -> None:
    column = {t: j for j, t in enumerate(pooled.classes_)}
    assert pooled.pools_ == {"Outages": [column["crl-failure"], column["ocsp-failure"]]}
    assert len(pooled.pool_estimators_) == 1 and pooled.pool_thresholds_.shape == (1,)
    assert "Outages" not in pooled.classes_
    assert len(pooled.estimators_) == len(pooled.oof_proba_[0]) == len(pooled.classes_)


def test_predict_pooled_tags_consistent_with_their_pool(pooled: IncidentTypeClassifier, fixture_data) -> None:
    X, _ = fixture_data
    proba = pooled.predict_proba(X)
    assert proba.shape == (len(X), len(pooled.classes_))
    pool = _pool_proba(pooled, X)[:, 0]
    members = pooled.pools_["Outages"]
    assert np.all(proba[:, members] <= pool[:, None] + 1e-12)
    passes = pool >= pooled.pool_thresholds_[0]
    assert passes.any() and (~passes).any()
    given = pooled.predict(X)[:, members].astype(bool)
    assert np.all(given[passes].any(axis=1))


def test_predict_pooled_model_leaves_other_tags_alone(pooled: IncidentTypeClassifier, fixture_data) -> None:
    X, y = fixture_data
    plain = IncidentTypeClassifier().fit(X, y)
    assert list(plain.classes_) == list(pooled.classes_)
    others = [j for j in range(len(plain.classes_)) if j not in pooled.pools_["Outages"]]
    np.testing.assert_allclose(pooled.predict_proba(X)[:, others], plain.predict_proba(X)[:, others],
                               rtol=0, atol=1e-12)
    np.testing.assert_array_equal(pooled.thresholds_, plain.thresholds_)


def test_pooled_probabilities_rule() -> None:
    proba = np.array([[0.30, 0.20, 0.9], [0.70, 0.10, 0.9], [0.10, 0.35, 0.9]])
    pool = np.array([[0.80], [0.40], [0.20]])
    out = _pooled(proba, pool, np.array([0.5, 0.4, 0.5]), np.array([0.5]), [[0, 1]])
    # Row 0: the pool passes, so its likeliest tag against its threshold (0.30/0.5 > 0.20/0.4)
    # takes the pool's probability. Row 1: the pool fails, and caps its tags. Row 2: capped too.
    np.testing.assert_allclose(out, [[0.80, 0.20, 0.9], [0.40, 0.10, 0.9], [0.10, 0.20, 0.9]])
    np.testing.assert_array_equal(proba[0], [0.30, 0.20, 0.9])  # the input is left as it was


def test_fit_pool_adding_nothing_is_not_learned(fixture_data) -> None:
    X, y = fixture_data
    model = IncidentTypeClassifier(pools={"Audit": ["audit-delay", "crl-failure"],
                                          "Nothing": ["audit-delay", "audit-finding"]}).fit(X, y)
    assert model.pools_ == {} and model.pool_estimators_ == []
    np.testing.assert_allclose(model.predict_proba(X), IncidentTypeClassifier().fit(X, y).predict_proba(X),
                               rtol=0, atol=1e-12)


def test_artefact_round_trip_pooled_model(pooled: IncidentTypeClassifier, fixture_data, tmp_path: Path) -> None:
    X, _ = fixture_data
    path = tmp_path / "model.skops"
    digest = save_artefact(pooled, path)
    loaded = load_artefact(path, digest)
    assert loaded.pools_ == pooled.pools_
    np.testing.assert_array_equal(loaded.predict_proba(X), pooled.predict_proba(X))
