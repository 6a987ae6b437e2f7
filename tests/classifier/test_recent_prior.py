"""The recent tag mix as the model's prior (``recent_prior_years``)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from classifier import FEATURE_COLUMNS, FILED_COLUMN, IncidentTypeClassifier
from classifier._model import _ages


def dated(X: pd.DataFrame, start: str = "2016-01-01", freq: str = "60D") -> pd.DataFrame:
    return X.assign(**{FILED_COLUMN: pd.date_range(start, periods=len(X), freq=freq, tz="UTC")})


def test_shift_follows_the_recent_shares() -> None:
    # Ten incidents a year over ten years; tag 0 only in the last two, tag 1 only before.
    ages = np.repeat(np.arange(10)[::-1], 10).astype(float) + 0.5
    Y = np.zeros((100, 3), dtype=int)
    Y[ages < 2, 0] = 1
    Y[(ages >= 2) & (np.arange(100) % 2 == 0), 1] = 1
    Y[::4, 2] = 1  # the same share throughout
    model = IncidentTypeClassifier(recent_prior_years=2.0, recent_prior_shift=1.0,
                                   recent_prior_strength=0.0)
    shift = model._recent_prior_shift(ages, Y)
    share = Y.mean(axis=0)
    # Unsmoothed and at full weight it is the log-odds of the recent share (here 1.0 and 0.0,
    # clipped) minus those of the overall one.
    assert shift[0] > 5 and shift[1] < -5
    assert shift[2] == pytest.approx(0.0, abs=1e-9)
    # Smoothing toward the overall share and a partial weight both pull it toward 0.
    smoothed = IncidentTypeClassifier(recent_prior_years=2.0, recent_prior_shift=1.0,
                                      recent_prior_strength=30.0)._recent_prior_shift(ages, Y)
    recent_share = (20 + 30 * share[0]) / 50
    assert smoothed[0] == pytest.approx(np.log(recent_share / (1 - recent_share))
                                        - np.log(share[0] / (1 - share[0])))
    half = IncidentTypeClassifier(recent_prior_years=2.0, recent_prior_shift=0.5,
                                  recent_prior_strength=30.0)._recent_prior_shift(ages, Y)
    assert half == pytest.approx(smoothed / 2)


def test_no_shift_without_filing_times_or_when_off(fixture_data) -> None:
    X, _ = fixture_data
    Y = np.eye(len(X), 3, dtype=int)
    assert _ages(X) is None
    assert not IncidentTypeClassifier()._recent_prior_shift(_ages(X), Y).any()
    assert not IncidentTypeClassifier(recent_prior_years=None)._recent_prior_shift(
        _ages(dated(X)), Y).any()
    assert not IncidentTypeClassifier(recent_prior_shift=0.0)._recent_prior_shift(
        _ages(dated(X)), Y).any()


def test_ages_count_an_undated_incident_as_the_oldest() -> None:
    X = pd.DataFrame({FILED_COLUMN: pd.to_datetime(["2020-01-01", None, "2022-01-01"], utc=True)})
    ages = _ages(X)
    assert ages is not None
    assert ages[2] == 0.0 and ages[0] == pytest.approx(2.0, abs=0.01) and ages[1] == ages[0]
    assert _ages(pd.DataFrame({FILED_COLUMN: pd.to_datetime([None, None], utc=True)})) is None


def test_fit_moves_probabilities_toward_the_recent_mix(fixture_data) -> None:
    X, y = fixture_data
    X = dated(X)
    shifted = IncidentTypeClassifier(recent_prior_strength=5.0).fit(X, y)
    plain = IncidentTypeClassifier(recent_prior_years=None).fit(X, y)
    assert shifted.prior_shift_.shape == (len(shifted.estimators_),)
    assert not plain.prior_shift_.any() and shifted.prior_shift_.any()
    # The same fitted models: every learned tag's probability moves by its shift in log-odds,
    # up for a tag more common lately, down for one less common.
    n = len(shifted.estimators_)
    p, q = shifted.predict_proba(X)[:, :n], plain.predict_proba(X)[:, :n]
    logit = lambda v: np.log(v / (1 - v))  # noqa: E731
    moved = np.clip(p, 1e-6, 1 - 1e-6), np.clip(q, 1e-6, 1 - 1e-6)
    np.testing.assert_allclose(logit(moved[0]) - logit(moved[1]),
                               np.broadcast_to(shifted.prior_shift_, p.shape), atol=1e-6)
    # An artefact written before the parameter has no shift and predicts unshifted.
    del shifted.prior_shift_, shifted.pool_prior_shift_
    np.testing.assert_allclose(shifted.predict_proba(X), plain.predict_proba(X))


def test_pools_shift_before_they_keep_their_tags_consistent(fixture_data) -> None:
    X, y = fixture_data
    X = dated(X, freq="30D")
    # Outages lately: the fixture's OCSP and CRL incidents (a pool of both) are made the newest.
    order = sorted(range(len(y)), key=lambda i: bool({"ocsp-failure", "crl-failure"} & set(y[i])))
    X = dated(X.iloc[order].reset_index(drop=True), freq="30D")
    y = [y[i] for i in order]
    model = IncidentTypeClassifier(pools={"Outages": ["ocsp-failure", "crl-failure"]},
                                   recent_prior_strength=5.0).fit(X, y)
    assert list(model.pools_) == ["Outages"] and model.pool_prior_shift_.shape == (1,)
    assert model.pool_prior_shift_[0] > 0
    proba = model.predict_proba(X)
    members = np.asarray(model.pools_["Outages"])
    # Recompute the pool's shifted probability, as predict_proba does before pooling.
    Xt = model._features(X.loc[:, list(FEATURE_COLUMNS)])
    pool = model.pool_estimators_[0].predict_proba(Xt)[:, 1]
    shifted_pool = 1 / (1 + np.exp(-(np.log(pool / (1 - pool)) + model.pool_prior_shift_[0])))
    on = shifted_pool >= model.pool_thresholds_[0]
    assert on.any()
    # Where the shifted pool passes, its likeliest tag is given; no tag is above the pool.
    assert (proba[on][:, members] >= model.thresholds_[members]).any(axis=1).all()
    assert (proba[:, members] <= np.maximum(shifted_pool, model.thresholds_[members].max())[:, None] + 1e-9).all()


def test_artefact_without_pool_shifts_shifts_its_tags_only(fixture_data) -> None:
    # Written after tags had a shift and before pools had one: its pools are not moved.
    X, y = fixture_data
    X = dated(X, freq="30D")
    model = IncidentTypeClassifier(pools={"Outages": ["ocsp-failure", "crl-failure"]},
                                   recent_prior_strength=5.0).fit(X, y)
    assert model.pool_prior_shift_.any()
    older = copy.deepcopy(model)
    del older.pool_prior_shift_
    older.__dict__.pop("_derived_cache", None)
    np.testing.assert_array_equal(older._prior_shift(),
                                  np.concatenate([model.prior_shift_, np.zeros(1)]))
    assert older.predict_proba(X).shape == model.predict_proba(X).shape
