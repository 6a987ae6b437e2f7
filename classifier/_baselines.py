"""Baselines every evaluation reports beside the model, so each figure is a comparison."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.utils.validation import check_is_fitted

from ._model import TagPredictorMixin, check_frame, one_blas_thread

#: What a careful reader would search for first: one pattern a tag, on summary and comment 0.
KEYWORD_RULES: dict[str, str] = {
    "ocsp-failure": r"\bocsp\b",
    "crl-failure": r"\bcrls?\b|revocation list",
    "leaf-revocation-delay": r"(delay\w*|late|fail\w*|not)\W+(to\W+)?revo|revocation\W+delay",
    "ca-revocation-delay": r"(intermediate|sub-?ca|ica)\b.*\b(not|late|delay\w*)\W+revok",
    "ca-misissuance": r"\b(intermediate|sub-?ca|subordinate ca|ica)\b",
    "ev-misissuance": r"\bev\b|extended validation",
    "ov-misissuance": r"\bov\b|organi[sz]ation validat",
    "dv-misissuance": r"\bdv\b|domain validat|dcv\b",
    "smime-misissuance": r"s/?mime|e-?mail certificate",
    "audit-delay": r"audit\w*\W+(\w+\W+)?(late|delay\w*|overdue)|(late|delayed|overdue)\W+audit",
    "audit-finding": r"audit\W+(\w+\W+)?(finding|qualif)",
    "audit-failure": r"(missing|no)\W+audit",
    "disclosure-failure": r"\b(ccadb|disclos\w*)\b",
    "policy-failure": r"\b(cp/cps|cps|certificate policy|policy)\b",
}


def _joined_text(X: pd.DataFrame) -> pd.Series:
    X = check_frame(X)
    return X["summary"] + "\n" + X["description"]


def _binarize(y: Sequence[Iterable[str]]) -> tuple[MultiLabelBinarizer, np.ndarray]:
    mlb = MultiLabelBinarizer()
    return mlb, mlb.fit_transform([list(t) for t in y])


def _balanced_one_vs_rest(C: float) -> OneVsRestClassifier:
    """One class-balanced logistic regression a label, as both TF-IDF baselines learn them."""
    return OneVsRestClassifier(LogisticRegression(C=C, class_weight="balanced", max_iter=2000,
                                                  solver="liblinear"))


def _fitted(pipeline: Pipeline, text: pd.Series, Y: np.ndarray) -> Pipeline:
    """``pipeline`` fitted on one BLAS thread (see :func:`one_blas_thread`)."""
    with one_blas_thread():
        return pipeline.fit(text, Y)


def _label_proba(pipeline, text: pd.Series, n_labels: int) -> np.ndarray:
    """The pipeline's probability of each label: one learned label makes OneVsRest binary, and
    it answers (no, yes) columns, of which the yes is kept."""
    proba = pipeline.predict_proba(text)
    return proba[:, 1:] if n_labels == 1 else proba


class MostFrequentTag(TagPredictorMixin, ClassifierMixin, BaseEstimator):
    """Gives every incident the tag most frequent in training, with training frequencies as scores."""

    def fit(self, X: pd.DataFrame, y: Sequence[Iterable[str]]) -> MostFrequentTag:
        mlb, Y = _binarize(y)
        self.classes_ = mlb.classes_
        self.prior_ = Y.mean(axis=0)
        return self

    def thresholds(self) -> np.ndarray:
        check_is_fitted(self, "prior_")
        top = self.prior_.max()
        return np.where(self.prior_ >= top, top, np.inf)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "prior_")
        return np.tile(self.prior_, (len(check_frame(X)), 1))


class KeywordTagger(TagPredictorMixin, ClassifierMixin, BaseEstimator):
    """Tags an incident with every tag whose keyword pattern its text matches.

    Scores are 1.0 on a match and 0.0 otherwise; tags never seen in training are never given.
    """

    def __init__(self, rules: dict[str, str] | None = None) -> None:
        self.rules = rules

    def fit(self, X: pd.DataFrame, y: Sequence[Iterable[str]]) -> KeywordTagger:
        mlb, _ = _binarize(y)
        rules = KEYWORD_RULES if self.rules is None else self.rules
        self.classes_ = np.array([t for t in mlb.classes_ if t in rules])
        # Pattern sources, not compiled patterns: skops cannot load an re.Pattern back.
        self.patterns_ = [rules[t] for t in self.classes_]
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "patterns_")
        text = _joined_text(X)
        patterns = [re.compile(p, re.IGNORECASE) for p in self.patterns_]
        return np.array([[1.0 if p.search(s) else 0.0 for p in patterns] for s in text]
                        ).reshape(len(text), len(patterns))


class TfidfLogisticBaseline(TagPredictorMixin, ClassifierMixin, BaseEstimator):
    """Plain TF-IDF of summary and comment 0, one balanced logistic regression a tag, cut at 0.5."""

    def __init__(self, C: float = 10.0, min_support: int = 5) -> None:
        self.C = C
        self.min_support = min_support

    def fit(self, X: pd.DataFrame, y: Sequence[Iterable[str]]) -> TfidfLogisticBaseline:
        mlb, Y = _binarize(y)
        keep = Y.sum(axis=0) >= self.min_support
        self.classes_ = mlb.classes_[keep]
        self.pipeline_ = _fitted(make_pipeline(
            TfidfVectorizer(sublinear_tf=True, min_df=2), _balanced_one_vs_rest(self.C),
        ), _joined_text(X), Y[:, keep])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        return _label_proba(self.pipeline_, _joined_text(X), len(self.classes_))


def _summary_thrice(X: pd.DataFrame) -> pd.Series:
    X = check_frame(X)
    return (X["summary"] + "\n") * 3 + X["description"]


class WordCharTfidfBaseline(TagPredictorMixin, ClassifierMixin, BaseEstimator):
    """The strong baseline of the deployment replay: word and character TF-IDF, one logistic
    regression a label, every label at ``threshold`` or more and always the most probable one.

    Word 1-2-grams and ``char_wb`` 2-5-grams over the summary written three times and comment 0
    (``min_df`` 2, sublinear tf); one ``LogisticRegression(C, class_weight="balanced")`` a label.
    It learns whatever labels ``y`` holds: the replay fits it on briefing categories directly.
    """

    def __init__(self, C: float = 10.0, threshold: float = 0.4) -> None:
        self.C = C
        self.threshold = threshold

    def fit(self, X: pd.DataFrame, y: Sequence[Iterable[str]]) -> WordCharTfidfBaseline:
        from sklearn.pipeline import make_union

        mlb, Y = _binarize(y)
        keep = (Y.sum(axis=0) > 0) & (Y.sum(axis=0) < len(Y))  # a label needs both answers
        self.classes_ = mlb.classes_[keep]
        self.pipeline_ = _fitted(make_pipeline(
            make_union(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                       TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2,
                                       sublinear_tf=True)),
            _balanced_one_vs_rest(self.C),
        ), _summary_thrice(X), Y[:, keep])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        return _label_proba(self.pipeline_, _summary_thrice(X), len(self.classes_))

    def thresholds(self) -> np.ndarray:
        return np.full(len(self.classes_), self.threshold)

    def decide_indicators(self, proba: np.ndarray) -> np.ndarray:
        given = proba >= self.thresholds()
        if proba.shape[1]:
            given[np.arange(len(proba)), proba.argmax(axis=1)] = True
        return given
