"""IncidentTypeClassifier: a real scikit-learn estimator with thresholds and a review flag."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from classifier import Decision, Incident, IncidentTypeClassifier, incidents_frame
from classifier._model import _apart

FIXTURE_TAGS = ["crl-failure", "ev-misissuance", "leaf-revocation-delay", "ocsp-failure"]
RARE_TAG = "audit-delay"  # given to 4 incidents, under the default min_support of 5


@pytest.fixture(scope="module")
def fitted(fixture_data) -> tuple[IncidentTypeClassifier, pd.DataFrame, list[tuple[str, ...]]]:
    """One fit on the fixture data (plus a rare tag), shared by the module's tests."""
    X, y = fixture_data
    y = [tags + (RARE_TAG,) if i % 12 == 0 else tags for i, tags in enumerate(y)]
    model = IncidentTypeClassifier(random_state=0)
    assert model.fit(X, y) is model
    return model, X, y


@pytest.fixture(scope="module")
def unlike() -> pd.DataFrame:
    """An incident whose words the model never saw."""
    return incidents_frame([Incident(summary="Zeta Signing: quux blorp frobnicate",
                                     description="Lorem ipsum dolor sit amet.")])


def test_fit_model_learns_supported_tags(fitted) -> None:
    model, _, _ = fitted
    assert list(model.classes_) == FIXTURE_TAGS
    assert RARE_TAG not in model.classes_
    assert model.n_features_in_ == 4


def test_fit_model_thresholds_shape_and_range(fitted) -> None:
    model, _, _ = fitted
    assert model.thresholds_.shape == (len(model.classes_),)
    # Learned thresholds lie in [0.05, 0.95] and are pulled halfway to 0.5.
    assert np.all((model.thresholds_ >= 0.275) & (model.thresholds_ <= 0.725))
    assert 0.0 <= model.review_threshold_ <= 1.0
    assert model.oof_proba_.shape == (48, len(model.classes_))


def test_predict_proba_model_range(fitted) -> None:
    model, X, _ = fitted
    proba = model.predict_proba(X)
    assert proba.shape == (48, 4)
    assert np.all((proba >= 0.0) & (proba <= 1.0))


def test_predict_model_fixture_tags(fitted) -> None:
    model, X, y = fitted
    indicator = model.predict(X)
    assert indicator.shape == (48, 4)
    assert set(np.unique(indicator)) <= {0, 1}
    tags = model.predict_tags(X)
    assert all(set(t) <= set(FIXTURE_TAGS) for t in tags)
    hits = sum(set(t) & set(truth) != set() for t, truth in zip(tags, y, strict=True))
    assert hits >= 45


def test_decide_model_fields(fitted) -> None:
    model, X, _ = fitted
    decisions = model.decide(X.iloc[:5])
    assert len(decisions) == 5
    for decision in decisions:
        assert isinstance(decision, Decision)
        assert list(decision.scores) == FIXTURE_TAGS
        assert all(0.0 <= s <= 1.0 for s in decision.scores.values())
        assert 0.0 <= decision.confidence <= 1.0
        assert set(decision.tags) <= set(FIXTURE_TAGS)


def test_decide_model_clear_incident(fitted) -> None:
    model, _, _ = fitted
    X = incidents_frame([Incident(summary="Acme Trust: OCSP responder returned unknown",
                                  description="Our OCSP responder answered with malformed "
                                              "responses.")])
    (decision,) = model.decide(X)
    assert decision.tags == ("ocsp-failure",)
    assert decision.confidence > 0


def test_decide_model_no_tag_needs_review(fitted, unlike) -> None:
    model, _, _ = fitted
    # fallback_ratio only acts when deciding, so a copy without it shows the bare thresholds
    # (and without min_known_share, which would say its words are unknown first).
    strict = copy.deepcopy(model).set_params(fallback_ratio=None, min_known_share=None)
    (decision,) = strict.decide(unlike)
    assert decision.tags == ()
    assert decision.needs_review is True
    assert decision.confidence == 0.0
    proba = strict.predict_proba(unlike)[0]
    closest = strict.classes_[np.argmax(proba / strict.thresholds_)]
    assert decision.review_reason is not None
    assert decision.review_reason.startswith("no type came near its threshold")
    assert f"the closest, {closest}:" in decision.review_reason


def test_decide_model_fallback_tag_needs_review(fitted, unlike) -> None:
    model, _, _ = fitted
    model = copy.deepcopy(model).set_params(min_known_share=None)  # the fallback alone
    proba = model.predict_proba(unlike)[0]
    assert np.all(proba < model.thresholds_)
    (decision,) = model.decide(unlike)
    best = model.classes_[np.argmax(proba / model.thresholds_)]
    assert decision.tags == (best,)
    assert decision.needs_review is True
    assert decision.confidence == 0.0
    j = list(model.classes_).index(best)
    assert decision.review_reason == (
        f"no type reached its threshold; {best} is the closest guess "
        f"({proba[j]:.2f}, threshold {model.thresholds_[j]:.2f})")


def test_known_shares_count_the_letters_of_learned_words(fitted, unlike) -> None:
    """The share of the letters of summary and comment 0 in words of the fitted vocabulary:
    digits (serials, fingerprints) are no words, any script's letters are."""
    model, X, _ = fitted
    known = model._known_words()
    assert {"ocsp", "crl"} <= known
    frame = incidents_frame([
        Incident(summary="OCSP CRL"),                                   # every word learned
        Incident(summary="OCSP 1234 0x5f3b2a9c", description="CRL"),    # digits are no words
        Incident(summary="OCSP quux"),                                  # 4 of 8 letters
        Incident(summary="OCSP 証明書"),                                 # 4 of 7: CJK counts too
        Incident(summary="1234"),                                       # no word at all
    ])
    assert model.known_shares(frame) == pytest.approx([1.0, 1.0, 0.5, 4 / 7, 0.0])
    assert model.known_shares(unlike) == pytest.approx([0.0])


def test_decide_text_the_model_cannot_read_goes_to_review_without_a_guess(fitted, unlike) -> None:
    """A text of words it never learned (junk, another language) was given the fallback's
    guess; now no type is guessed and the reason says why."""
    model, _, _ = fitted
    (decision,) = model.decide(unlike)
    assert (decision.tags, decision.needs_review, decision.confidence) == ((), True, 0.0)
    assert decision.review_reason == (
        "only 0% of its words are words the model learned (the bar is 50%): another language, "
        "or something it has not seen; no type is guessed")
    (old,) = copy.deepcopy(model).set_params(min_known_share=None).decide(unlike)
    assert len(old.tags) == 1  # the fallback's guess, which the rule takes away


def test_decide_few_known_words_keeps_the_tags_they_give_but_sends_to_review(fitted) -> None:
    """"zzqx: crl" gave a CRL failure, sure and unreviewed, from its one known word: the tags
    the known words give are kept, and a person looks."""
    model, X, _ = fitted
    # A training incident's text with more letters of words it never saw than of its own: the
    # features (unknown words add nothing) are the training incident's.
    frame = incidents_frame([Incident(
        summary=X["summary"][0],
        description=f"{X['description'][0]} {'Lorem ipsum dolor sit amet consectetur elit ' * 8}")])
    assert model.known_shares(frame)[0] < 0.5
    (lax,) = copy.deepcopy(model).set_params(min_known_share=None).decide(frame)
    (decision,) = model.decide(frame)
    assert lax.tags and not lax.needs_review
    assert decision.tags == lax.tags and decision.needs_review
    assert decision.review_reason is not None and decision.review_reason.startswith("only ")
    assert decision.review_reason.endswith(" from the words it knows")
    assert all(f"{tag} (" in decision.review_reason for tag in decision.tags)
    # A model written before the rule existed (no attribute) decides as it did.
    old = copy.deepcopy(model)
    del old.min_known_share
    assert old.decide(frame) == [lax]


@pytest.mark.parametrize(("proba", "least_sure"), [
    ([0.55, 0.95, 0.05, 0.02], "gives {0} at 0.55"),        # a doubtful yes
    ([0.95, 0.90, 0.30, 0.02], "does not give {2} at 0.30"),  # a doubtful no
])
def test_decide_proba_review_reason_names_the_least_sure_answer(fitted, proba, least_sure) -> None:
    model, _, _ = fitted
    strict = copy.deepcopy(model)
    strict.thresholds_ = np.array([0.5, 0.5, 0.5, 0.5])
    strict.review_threshold_ = 0.99  # every decision is below the bar
    (decision,) = strict.decide_proba(np.array([proba]))
    assert decision.needs_review is True
    assert decision.review_reason is not None
    assert decision.review_reason.startswith(
        f"confidence {decision.confidence:.2f} is below the review bar 0.99; least sure: ")
    assert least_sure.format(*model.classes_) in decision.review_reason
    strict.review_threshold_ = 0.0  # the same answers, sure enough: no reason
    (sure,) = strict.decide_proba(np.array([proba]))
    assert (sure.needs_review, sure.review_reason) == (False, None)


def test_review_reason_tells_a_score_from_its_bar(fitted) -> None:
    """"confidence 0.45 is below the review bar 0.45" (0.4475 and 0.4525) read as a
    contradiction: as many decimals as tell the two apart."""
    model, _, _ = fitted
    strict = copy.deepcopy(model)
    strict.thresholds_ = np.array([0.4, 0.5, 0.5, 0.5])
    strict.review_threshold_ = 0.4525
    (decision,) = strict.decide_proba(np.array([[0.4475 / 0.98 ** 3, 0.02, 0.02, 0.02]]))
    assert decision.review_reason == (
        f"confidence 0.448 is below the review bar 0.453; least sure: it gives "
        f"{strict.classes_[0]} at 0.48 (threshold 0.40)")
    assert _apart(0.31, 0.44) == ("0.31", "0.44") and _apart(0.44751, 0.44749) == ("0.448", "0.447")
    # A shown confidence near 1 is compressed: a flagged one can be within 0.0001 of its bar.
    assert _apart(0.914681, 0.914719) == ("0.91468", "0.91472")


def test_explain_model_words_from_text(fitted) -> None:
    model, X, _ = fitted
    tags = model.predict_tags(X.iloc[:8])
    explained = model.explain(X.iloc[:8], tags, top=4)
    assert len(explained) == 8
    for (_, row), wanted, why in zip(X.iloc[:8].iterrows(), tags, explained, strict=True):
        assert set(why) == set(wanted)
        text = f"{row['summary']} {row['description']}".lower()
        for tag, words in why.items():
            assert 0 < len(words) <= 4, tag
            weights = [w for _, w in words]
            assert all(w > 0 for w in weights)
            assert weights == sorted(weights, reverse=True)
            for term, _ in words:
                assert all(word in text for word in term.split()), (term, text)


def test_explain_model_tag_not_learned(fitted) -> None:
    model, X, _ = fitted
    assert model.explain(X.iloc[:1], [[RARE_TAG, "no-such-tag"]]) == [{}]


def test_predict_model_ignores_extra_columns(fitted) -> None:
    model, X, _ = fitted
    with_answer = X.iloc[:6].assign(whiteboard="[ca-compliance] [smime-misissuance]")
    np.testing.assert_array_equal(model.predict_proba(with_answer), model.predict_proba(X.iloc[:6]))


@pytest.mark.parametrize("method", ["predict_proba", "predict", "predict_tags", "decide"])
def test_predict_model_not_fitted(fixture_data, method: str) -> None:
    X, _ = fixture_data
    with pytest.raises(NotFittedError):
        getattr(IncidentTypeClassifier(), method)(X)


def test_explain_model_not_fitted(fixture_data) -> None:
    X, y = fixture_data
    with pytest.raises(NotFittedError):
        IncidentTypeClassifier().explain(X.iloc[:1], y[:1])


def test_clone_model(fitted) -> None:
    model, X, _ = fitted
    copy_ = clone(model)
    assert copy_ is not model
    assert copy_.get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        copy_.predict_proba(X)


def test_get_params_model_round_trip() -> None:
    model = IncidentTypeClassifier(C=2.5, min_support=3, fallback_ratio=None, char_ngrams=False,
                                   random_state=11)
    params = model.get_params()
    assert params["C"] == 2.5 and params["fallback_ratio"] is None and params["random_state"] == 11
    assert IncidentTypeClassifier(**params).get_params() == params
    assert clone(model).get_params() == params
    assert model.set_params(C=1.0) is model
    assert model.get_params() == {**params, "C": 1.0}


def test_fit_model_rejects_list(fixture_data) -> None:
    X, y = fixture_data
    with pytest.raises(TypeError, match="DataFrame"):
        IncidentTypeClassifier().fit(X.to_numpy().tolist(), y)


def test_fit_model_rejects_missing_column(fixture_data) -> None:
    X, y = fixture_data
    with pytest.raises(ValueError, match="description"):
        IncidentTypeClassifier().fit(X.drop(columns=["description"]), y)


def test_fit_model_rejects_length_mismatch(fixture_data) -> None:
    X, y = fixture_data
    with pytest.raises(ValueError, match="48 rows but y has 47"):
        IncidentTypeClassifier().fit(X, y[:-1])


def test_fit_model_no_supported_tag(fixture_data) -> None:
    X, y = fixture_data
    with pytest.raises(ValueError, match="no tag has 100 or more"):
        IncidentTypeClassifier(min_support=100).fit(X, y)


def test_decide_proba_confidence_is_chance_all_answers_right(fitted) -> None:
    model, _, _ = fitted
    proba = np.array([[0.9, 0.8, 0.1, 0.05]])  # two yeses, two nos
    (decision,) = model.decide_proba(proba)
    assert decision.tags == tuple(model.classes_[:2])
    assert decision.confidence == pytest.approx(0.9 * 0.8 * 0.9 * 0.95, abs=1e-4)
    # Doubt about a no lowers it as much as doubt about a yes.
    (doubtful,) = model.decide_proba(np.array([[0.9, 0.8, 0.25, 0.05]]))
    assert doubtful.tags == decision.tags
    assert doubtful.confidence == pytest.approx(0.9 * 0.8 * 0.75 * 0.95, abs=1e-4)
    assert doubtful.needs_review == (doubtful.confidence < model.review_threshold_)


def test_predict_proba_fast_path_equals_scikit_learn(fitted) -> None:
    """The stacked arrays give scikit-learn's own calibrated probabilities, incident by incident."""
    model, X, _ = fitted
    reference = np.column_stack([e.predict_proba(model.features_.transform(X))[:, 1]
                                 for e in model.estimators_])
    np.testing.assert_allclose(model.predict_proba(X), reference, rtol=0, atol=1e-12)
    one = model.predict_proba(X.iloc[[7]])
    np.testing.assert_allclose(one, reference[[7]], rtol=0, atol=1e-12)


@pytest.mark.parametrize("rows", [slice(7, 8), slice(0, 5), slice(None)])
def test_features_fast_path_equals_column_transformer(fitted, rows: slice) -> None:
    """The blocks stacked by hand are ColumnTransformer's own matrix, entry for entry."""
    model, X, _ = fitted
    ours, theirs = model._features(X.iloc[rows]), model.features_.transform(X.iloc[rows])
    assert ours.format == "csr" and ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert (ours != theirs).nnz == 0


def test_features_other_layouts_go_through_column_transformer(fitted) -> None:
    model, X, _ = fitted
    odd = clone(model)
    odd.__dict__.update({k: v for k, v in vars(model).items() if k.endswith("_")})
    odd.features_ = copy.deepcopy(model.features_)
    odd.features_.sparse_output_ = False  # as if its blocks had been dense
    calls: list[int] = []
    real = odd.features_.transform
    odd.features_.transform = lambda frame: calls.append(len(frame)) or real(frame)
    odd._features(X.iloc[:3])
    assert calls == [3]


def test_predict_proba_refit_replaces_the_stacked_arrays(fixture_data) -> None:
    X, y = fixture_data
    model = IncidentTypeClassifier(random_state=0).fit(X, y)
    first = model.predict_proba(X)
    flipped = [("ocsp-failure",) if "crl-failure" in t else t for t in y]
    model.fit(X, flipped)
    assert "crl-failure" not in model.classes_
    reference = np.column_stack([e.predict_proba(model.features_.transform(X))[:, 1]
                                 for e in model.estimators_])
    np.testing.assert_allclose(model.predict_proba(X), reference, rtol=0, atol=1e-12)
    assert model.predict_proba(X).shape[1] == first.shape[1] - 1


def test_decide_and_explain_equals_decide_then_explain(fitted) -> None:
    model, X, _ = fitted
    decisions, reasons = model.decide_and_explain(X, top=3)
    assert decisions == model.decide(X)
    assert reasons == model.explain(X, [d.tags for d in decisions], top=3)
    assert any(reasons)


def test_stacked_arrays_only_for_sigmoid_calibrated_linear_models(fitted) -> None:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression

    from classifier._model import _Stacked, _tag_proba

    model, X, y = fitted
    Xt = model.features_.transform(X)
    target = np.array(["ocsp-failure" in t for t in y])
    isotonic = CalibratedClassifierCV(LogisticRegression(), method="isotonic", cv=3).fit(Xt, target)
    assert _Stacked.of([isotonic]) is None
    # Without arrays the probabilities come from scikit-learn, tag by tag.
    np.testing.assert_array_equal(_tag_proba([isotonic], Xt, None)[:, 0],
                                  isotonic.predict_proba(Xt)[:, 1])
    assert _Stacked.of(model.estimators_) is not None


def test_score_model_same_y_as_fit(fitted) -> None:
    """score takes fit's y; the rare tag it did not learn counts as missed, not as left out."""
    model, X, y = fitted
    predicted = model.predict_tags(X)
    tp = sum(len(set(t) & set(p)) for t, p in zip(y, predicted, strict=True))
    wrong = sum(len(set(t) ^ set(p)) for t, p in zip(y, predicted, strict=True))
    assert model.score(X, y) == pytest.approx(2 * tp / (2 * tp + wrong), abs=1e-12)
    assert model.score(X, y) < model.score(X, [tuple(t for t in tags if t != RARE_TAG) for tags in y])


def test_predict_model_indicator_of_predict_tags(fitted) -> None:
    model, X, _ = fitted
    tags = model.predict_tags(X)
    np.testing.assert_array_equal(model.predict(X),
                                  [[int(c in t) for c in model.classes_] for t in tags])
