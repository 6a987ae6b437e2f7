"""The three baselines every evaluation reports beside the model."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from classifier import (
    Incident,
    KeywordTagger,
    MostFrequentTag,
    TfidfLogisticBaseline,
    incidents_frame,
)

FIXTURE_TAGS = ["crl-failure", "ev-misissuance", "leaf-revocation-delay", "ocsp-failure"]
BASELINES = [MostFrequentTag, KeywordTagger, TfidfLogisticBaseline]


def frame(*summaries: str):
    return incidents_frame([Incident(summary=s) for s in summaries])


@pytest.mark.parametrize("baseline", BASELINES, ids=lambda c: c.__name__)
def test_fit_baseline_shapes(fixture_data, baseline) -> None:
    X, y = fixture_data
    est = baseline()
    assert est.fit(X, y) is est
    assert list(est.classes_) == FIXTURE_TAGS
    proba = est.predict_proba(X)
    assert proba.shape == (48, 4)
    assert np.all((proba >= 0.0) & (proba <= 1.0))
    indicator = est.predict(X)
    assert indicator.shape == (48, 4)
    assert set(np.unique(indicator)) <= {0, 1}
    tags = est.predict_tags(X)
    assert len(tags) == 48
    assert all(set(t) <= set(FIXTURE_TAGS) for t in tags)


@pytest.mark.parametrize("baseline", BASELINES, ids=lambda c: c.__name__)
def test_predict_baseline_not_fitted(fixture_data, baseline) -> None:
    X, _ = fixture_data
    with pytest.raises(NotFittedError):
        baseline().predict_proba(X)


@pytest.mark.parametrize("baseline", BASELINES, ids=lambda c: c.__name__)
def test_clone_baseline(fixture_data, baseline) -> None:
    X, y = fixture_data
    est = baseline().fit(X, y)
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        copy.predict_proba(X)


def test_predict_most_frequent_tag_everywhere(fixture_data) -> None:
    X, y = fixture_data
    est = MostFrequentTag().fit(X, y)
    # leaf-revocation-delay: 12 bugs of its own and 3 EV bugs that carry it too.
    assert est.predict_tags(X.iloc[:5]) == [("leaf-revocation-delay",)] * 5
    np.testing.assert_allclose(est.predict_proba(X.iloc[:1])[0], [12 / 48, 12 / 48, 15 / 48,
                                                                   12 / 48])


@pytest.mark.parametrize(("summary", "tag"), [
    ("Acme: OCSP responder down", "ocsp-failure"),
    ("Acme: ocsp responses expired", "ocsp-failure"),
    ("Acme: Expired CRLs", "crl-failure"),
    ("Acme: certificate revocation list not updated", "crl-failure"),
    ("Acme: EV certificates with wrong jurisdiction", "ev-misissuance"),
    ("Acme: Extended Validation fields wrong", "ev-misissuance"),
    ("Acme: Failure to revoke within 5 days", "leaf-revocation-delay"),
    ("Acme: revocation delay for subscriber certificates", "leaf-revocation-delay"),
])
def test_predict_keyword_tagger_finds_keyword(fixture_data, summary: str, tag: str) -> None:
    X, y = fixture_data
    est = KeywordTagger().fit(X, y)
    assert est.predict_tags(frame(summary)) == [(tag,)]


def test_predict_keyword_tagger_no_keyword(fixture_data) -> None:
    X, y = fixture_data
    est = KeywordTagger().fit(X, y)
    assert est.predict_tags(frame("Acme: CAA records ignored")) == [()]
    np.testing.assert_array_equal(est.predict_proba(frame("Acme: OCSP and CRL down")),
                                  [[1.0, 0.0, 0.0, 1.0]])


def test_fit_keyword_tagger_only_trained_tags(fixture_data) -> None:
    """A tag absent from training is never given, even when its keyword is there."""
    X, y = fixture_data
    est = KeywordTagger().fit(X, [tuple(t for t in tags if t != "ocsp-failure") for tags in y])
    assert "ocsp-failure" not in est.classes_
    assert est.predict_tags(frame("Acme: OCSP responder down")) == [()]


def test_fit_keyword_tagger_own_rules(fixture_data) -> None:
    X, y = fixture_data
    est = KeywordTagger(rules={"crl-failure": r"\bnextupdate\b"}).fit(X, y)
    assert list(est.classes_) == ["crl-failure"]
    assert est.predict_tags(frame("Acme: CRL expired", "Acme: nextUpdate passed")) == [
        (), ("crl-failure",)]
    assert KeywordTagger(rules={}).fit(X, y).predict_proba(X).shape == (48, 0)


def test_fit_tfidf_baseline_min_support(fixture_data) -> None:
    X, y = fixture_data
    est = TfidfLogisticBaseline(min_support=13).fit(X, y)
    assert list(est.classes_) == ["leaf-revocation-delay"]
    assert est.predict_proba(X).shape == (48, 1)
    tags = est.predict_tags(X)
    assert set(tags) <= {(), ("leaf-revocation-delay",)}
    assert sum(t == ("leaf-revocation-delay",) for t in tags) >= 12


def test_predict_tfidf_baseline_learns_text(fixture_data) -> None:
    X, y = fixture_data
    est = TfidfLogisticBaseline().fit(X, y)
    assert est.predict_tags(frame("Acme: OCSP responder returned unknown for valid certificates")
                            ) == [("ocsp-failure",)]
