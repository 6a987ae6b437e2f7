"""IncidentTypeClassifier keeps scikit-learn's developer contract.

scikit-learn's own checks run where they can. Most of them fit on numeric arrays with one label a
sample, while this estimator reads a DataFrame of incident text and learns several tags an
incident, so they are listed as expected failures, each with its reason; the plain tests below
check the same promises (fit returns self, leaves its parameters alone, is idempotent, predicts
the same whatever the order or the batch, pickles) on incident data.
"""

from __future__ import annotations

import copy
import pickle
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from classifier import (
    IncidentTypeClassifier,
    KeywordTagger,
    MostFrequentTag,
    NotEnoughData,
    TfidfLogisticBaseline,
)

#: Cheap settings: the contract does not depend on them, and each fit costs a few seconds.
QUICK = {"n_folds": 2, "calibration_folds": 2, "char_ngrams": False}

_TEXT = "takes a DataFrame of incident text, not a numeric array"
_TAGS = "y is one iterable of tag names an incident, not one label an incident"
_INDICATOR = "y is iterables of tag names, not a 0/1 indicator matrix (and X is text)"
_SPARSE = "takes a DataFrame of text: sparse X is refused as not a DataFrame, not as sparse"

EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_array_api_input": "array API dispatch works on numeric arrays; X is a DataFrame of text",
    "check_classifier_data_not_an_array": _TEXT,
    "check_classifiers_classes": _TAGS,
    "check_classifiers_multilabel_output_format_decision_function": _INDICATOR,
    "check_classifiers_multilabel_output_format_predict": _INDICATOR,
    "check_classifiers_multilabel_output_format_predict_proba": _INDICATOR,
    "check_classifiers_multilabel_representation_invariance": _INDICATOR,
    "check_classifiers_one_label": _TAGS,
    "check_classifiers_regression_target": _TEXT,
    "check_classifiers_train": _TAGS,
    "check_complex_data": _TEXT,
    "check_dict_unchanged": _TEXT,
    "check_dont_overwrite_parameters": _TEXT,
    "check_dtype_object": _TEXT,
    "check_estimator_sparse_array": _SPARSE,
    "check_estimator_sparse_matrix": _SPARSE,
    "check_estimator_sparse_tag": _SPARSE,
    "check_estimators_dtypes": _TEXT,
    "check_estimators_empty_data_messages": _TEXT,
    "check_estimators_fit_returns_self": _TEXT,
    "check_estimators_overwrite_params": _TEXT,
    "check_estimators_pickle": _TEXT,
    "check_f_contiguous_array_estimator": _TEXT,
    "check_fit1d": _TEXT,
    "check_fit2d_1feature": _TEXT,
    "check_fit2d_1sample": _TEXT,
    "check_fit2d_predict1d": _TEXT,
    "check_fit_check_is_fitted": _TEXT,
    "check_fit_idempotent": _TEXT,
    "check_fit_score_takes_y": _TEXT,
    "check_methods_sample_order_invariance": _TEXT,
    "check_methods_subset_invariance": _TEXT,
    "check_n_features_in": _TEXT,
    "check_n_features_in_after_fitting": _TEXT,
    "check_pipeline_consistency": _TEXT,
    "check_positive_only_tag_during_fit": _TEXT,
    "check_readonly_memmap_input": _TEXT,
    "check_requires_y_none": _TEXT,
    "check_supervised_y_no_nan": _TEXT,
}


# Strict: a check that starts to pass must leave this list, so it never hides a working check.
@parametrize_with_checks([IncidentTypeClassifier()],
                         expected_failed_checks=lambda _: EXPECTED_FAILED_CHECKS, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def micro_f1(truth, predicted) -> float:
    """Micro F1 counted by hand: every (incident, tag) pair of either side once."""
    tp = sum(len(set(t) & set(p)) for t, p in zip(truth, predicted, strict=True))
    fp = sum(len(set(p) - set(t)) for t, p in zip(truth, predicted, strict=True))
    fn = sum(len(set(t) - set(p)) for t, p in zip(truth, predicted, strict=True))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


@pytest.fixture(scope="module")
def fitted(fixture_data) -> tuple[IncidentTypeClassifier, pd.DataFrame, list[tuple[str, ...]]]:
    X, y = fixture_data
    model = IncidentTypeClassifier(**QUICK)
    params = copy.deepcopy(model.get_params())
    public = {k: v for k, v in vars(model).items() if not k.startswith("_")}
    assert model.fit(X, y) is model
    # fit leaves its parameters as given and sets no public attribute but fitted ones (a_).
    assert model.get_params() == params
    assert {k: v for k, v in vars(model).items() if not k.startswith("_") and not k.endswith("_")
            } == public
    return model, X, y


# -- parameters ------------------------------------------------------------------------------
def test_clone_estimator_unfitted_copy(fitted) -> None:
    model, X, _ = fitted
    copy_ = clone(model)
    assert copy_.get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        check_is_fitted(copy_)
    with pytest.raises(NotFittedError):
        copy_.predict(X)


def test_get_set_params_estimator() -> None:
    model = IncidentTypeClassifier(cues={"ocsp-failure": r"\bocsp\b"}, n_jobs=2)
    params = model.get_params(deep=False)
    assert set(params) == set(IncidentTypeClassifier._parameter_constraints)
    assert params["cues"] == {"ocsp-failure": r"\bocsp\b"} and params["n_jobs"] == 2
    assert model.set_params(C=0.5, fallback_ratio=None) is model
    assert model.get_params() == {**params, "C": 0.5, "fallback_ratio": None}


@pytest.mark.parametrize(("name", "value"), [
    ("C", 0.0),
    ("C", "10"),
    ("min_support", 0),
    ("min_support", 2.5),
    ("n_folds", 1),
    ("calibration_folds", 1),
    ("fallback_ratio", -0.1),
    ("threshold_shrinkage", 1.5),
    ("review_precision", -0.1),
    ("cues", ["ocsp-failure"]),
    ("cue_score", 2.0),
    ("excludes", "smime-misissuance"),
    ("char_ngrams", "yes"),
    ("reporter", "no"),
    ("n_jobs", 0),
    ("n_jobs", 1.5),
    ("random_state", -1),
    ("random_state", "seed"),
])
def test_fit_estimator_bad_parameter(fixture_data, name: str, value: object) -> None:
    X, y = fixture_data
    model = IncidentTypeClassifier().set_params(**{name: value})
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter") as caught:
        model.fit(X, y)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


def test_fit_estimator_good_edge_parameters(fixture_data) -> None:
    X, y = fixture_data
    # The ends of the ranges and numpy numbers are parameters, not errors: fit gets past them
    # to the data, where min_support=100 leaves no tag.
    model = IncidentTypeClassifier(min_support=np.int64(100), threshold_shrinkage=1.0,
                                   review_precision=0.0, cue_score=1, fallback_ratio=0.0,
                                   n_jobs=-1, random_state=np.random.RandomState(0))
    with pytest.raises(NotEnoughData):
        model.fit(X, y)


# -- fitting ---------------------------------------------------------------------------------
def test_check_is_fitted_estimator(fitted) -> None:
    model, _, _ = fitted
    with pytest.raises(NotFittedError):
        check_is_fitted(IncidentTypeClassifier())
    check_is_fitted(model)
    check_is_fitted(model, ["classes_", "thresholds_", "review_threshold_", "oof_proba_",
                            "features_", "estimators_", "cue_tags_", "n_features_in_"])


def test_fit_estimator_not_enough_data_is_value_error(fixture_data) -> None:
    X, y = fixture_data
    model = IncidentTypeClassifier(min_support=100)
    with pytest.raises(NotEnoughData) as caught:
        model.fit(X, y)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


@pytest.mark.parametrize("bad_y", [
    lambda y: [t[0] for t in y],                # bare tag names: strings are iterables of letters
    lambda y: [None, *y[1:]],                   # not an iterable of tags
    lambda y: np.eye(len(y), 4, dtype=int),     # an indicator matrix: its columns have no names
])
def test_fit_estimator_y_not_tag_lists(fixture_data, bad_y) -> None:
    X, y = fixture_data
    with pytest.raises(ValueError, match=r"y\[0\]"):
        IncidentTypeClassifier().fit(X, bad_y(y))


def test_fit_estimator_failure_leaves_unfitted(fixture_data) -> None:
    """A fit that fails after the tags are known (a bad cue pattern, while fitting features)."""
    X, y = fixture_data
    model = IncidentTypeClassifier(cues={"ocsp-failure": "("}, **QUICK)
    with pytest.raises(re.error):
        model.fit(X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    assert not [k for k in vars(model) if k.endswith("_") and not k.startswith("_")]


def test_fit_estimator_failure_keeps_previous_fit(fitted) -> None:
    model, X, y = fitted
    model = copy.deepcopy(model)
    before = dict(vars(model))
    proba = model.predict_proba(X)
    for params, error in (({"cues": {"ocsp-failure": "("}}, re.error),
                          ({"min_support": 100}, NotEnoughData)):
        with pytest.raises(error):
            model.set_params(**params).fit(X, y)
        fitted_now = {k: v for k, v in vars(model).items() if k.endswith("_")}
        assert fitted_now.keys() == {k for k in before if k.endswith("_")}
        assert all(v is before[k] for k, v in fitted_now.items())
    np.testing.assert_array_equal(model.predict_proba(X), proba)


def test_fit_estimator_idempotent(fitted) -> None:
    model, X, y = fitted
    again = copy.deepcopy(model).fit(X, y)  # a second fit of the same estimator
    np.testing.assert_array_equal(again.classes_, model.classes_)
    np.testing.assert_array_equal(again.thresholds_, model.thresholds_)
    assert again.review_threshold_ == model.review_threshold_
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))


# -- predicting and scoring ------------------------------------------------------------------
def test_predict_estimator_indicator_of_predict_tags(fitted) -> None:
    """predict is predict_tags (fit's y form) binarised over classes_, as scikit-learn's
    multi-label classifiers answer."""
    model, X, _ = fitted
    indicator = model.predict(X)
    tags = model.predict_tags(X)
    assert all(isinstance(t, tuple) for t in tags)
    mlb = MultiLabelBinarizer(classes=list(model.classes_)).fit([])
    np.testing.assert_array_equal(indicator, mlb.transform(tags))


def test_predict_estimator_order_and_batch_invariant(fitted) -> None:
    model, X, _ = fitted
    proba = model.predict_proba(X)
    order = np.random.RandomState(0).permutation(len(X))
    np.testing.assert_allclose(model.predict_proba(X.iloc[order]), proba[order], rtol=0, atol=1e-12)
    for i in range(0, len(X), 7):
        np.testing.assert_allclose(model.predict_proba(X.iloc[i:i + 7]), proba[i:i + 7],
                                   rtol=0, atol=1e-12)
    np.testing.assert_array_equal(model.predict(X.iloc[order]), model.predict(X)[order])


def test_predict_estimator_leaves_public_state(fitted) -> None:
    model, X, y = fitted
    before = {k: v for k, v in vars(model).items() if not k.startswith("_")}
    model.predict(X)
    model.predict_proba(X)
    model.score(X, y)
    after = {k: v for k, v in vars(model).items() if not k.startswith("_")}
    assert after.keys() == before.keys() and all(after[k] is v for k, v in before.items())


def test_pickle_estimator_round_trip(fitted) -> None:
    model, X, y = fitted
    model.predict_proba(X)  # the derived arrays exist, and are not what gets pickled
    loaded = pickle.loads(pickle.dumps(model))
    assert "_derived_cache" not in vars(loaded)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.score(X, y) == model.score(X, y)


def test_score_estimator_same_y_as_fit(fitted) -> None:
    model, X, y = fitted
    score = model.score(X, y)
    assert isinstance(score, float)
    assert score == pytest.approx(micro_f1(y, model.predict_tags(X)), abs=1e-12)
    assert 0.9 <= score <= 1.0


def test_score_estimator_unlearned_tag_is_a_miss(fitted) -> None:
    model, X, y = fitted
    with_unknown = [(*t, "never-learned") for t in y]
    predicted = model.predict_tags(X)
    assert model.score(X, with_unknown) == pytest.approx(micro_f1(with_unknown, predicted), abs=1e-12)
    assert model.score(X, with_unknown) < model.score(X, y)


def test_score_estimator_sample_weight(fitted) -> None:
    model, X, y = fitted
    weights = np.zeros(len(X))
    weights[:10] = 1.0
    assert model.score(X, y, sample_weight=weights) == pytest.approx(
        micro_f1(y[:10], model.predict_tags(X.iloc[:10])), abs=1e-12)


def test_score_estimator_bad_y(fitted) -> None:
    model, X, y = fitted
    with pytest.raises(ValueError, match="48 rows but y has 47"):
        model.score(X, y[:-1])
    with pytest.raises(ValueError, match=r"y\[0\]"):
        model.score(X, [t[0] for t in y])


def test_score_estimator_not_fitted(fixture_data) -> None:
    X, y = fixture_data
    with pytest.raises(NotFittedError):
        IncidentTypeClassifier().score(X, y)


@pytest.mark.parametrize("baseline", [MostFrequentTag, KeywordTagger, TfidfLogisticBaseline],
                         ids=lambda c: c.__name__)
def test_score_baseline_same_y_as_fit(fixture_data, baseline) -> None:
    X, y = fixture_data
    est = baseline().fit(X, y)
    assert est.score(X, y) == pytest.approx(micro_f1(y, est.predict_tags(X)), abs=1e-12)


def test_score_no_tag_anywhere(fixture_data) -> None:
    X, y = fixture_data
    est = KeywordTagger(rules={}).fit(X, y)
    assert est.score(X, [()] * len(X)) == 0.0
