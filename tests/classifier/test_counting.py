"""FastTfidf: a fitted TfidfVectorizer's matrix, entry for entry, on any text."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from classifier import _counting
from classifier._counting import FastTfidf
from classifier._model import _TOKEN_PATTERN
from tests.classifier.test_properties import PROPERTY, _character

TRAIN = [
    "Nimbus Trust: OCSP responder returned 'unknown' for 12 certificates",
    "Late revocation of   OV certificates\twith wrong organizationName",
    "CRL not updated; CRL expired (again) — aaaa aaaa aa a",
    "S/MIME certificates issued with Ümlaut and café in the subject",
    "Policy failure: CPS section 4.9.1 not followed; ov-misissuance and OV again",
    "\u202eאבג دلیل\u200f mixed direction text, and a\u00a0non-breaking space",
]
TEXTS = [*TRAIN, "", " ", "a", "ab", "OCSP OCSP ocsp", "aaaaaa aaaaaa", "x\u2028y\u0085z  \n  w",
         "CRL CRL CRL expired expired", "café CAFÉ cafe", "wholly unseen vocabulary words"]

CONFIGS = {
    "summary words": {"sublinear_tf": True, "ngram_range": (1, 2), "token_pattern": _TOKEN_PATTERN},
    "description words": {"sublinear_tf": True, "ngram_range": (1, 2), "min_df": 2,
                          "max_features": 50, "token_pattern": _TOKEN_PATTERN},
    "summary chars": {"sublinear_tf": True, "analyzer": "char_wb", "ngram_range": (2, 5),
                      "min_df": 2},
    "default": {},
    "trigrams only": {"ngram_range": (3, 3)},
    "bigrams to 4": {"ngram_range": (2, 4), "norm": "l1"},
    "chars 1-3, no idf": {"analyzer": "char_wb", "ngram_range": (1, 3), "use_idf": False},
    "cased, accents stripped, no norm": {"lowercase": False, "strip_accents": "unicode",
                                         "norm": None},
    "plain tf": {"sublinear_tf": False, "ngram_range": (1, 2)},
}


def fitted(config: dict, texts: list[str] = TRAIN) -> TfidfVectorizer:
    return TfidfVectorizer(**config).fit(texts)


def assert_same(ours, theirs) -> None:
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert ours.has_sorted_indices
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_array_equal(ours.data, theirs.data)


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_same_matrix_as_scikit_learn(config: dict) -> None:
    vectorizer = fitted(config)
    fast = FastTfidf.of(vectorizer)
    assert fast is not None
    assert_same(fast.transform(TEXTS), vectorizer.transform(TEXTS))
    assert_same(fast.transform(TEXTS[:1]), vectorizer.transform(TEXTS[:1]))
    assert fast.transform([]).shape == (0, len(vectorizer.vocabulary_))


@PROPERTY
@given(texts=st.lists(st.text(_character, max_size=200), min_size=1, max_size=5))
def test_same_matrix_on_any_text(texts: list[str]) -> None:
    for name in ("summary words", "summary chars"):
        vectorizer = fitted(CONFIGS[name])
        fast = FastTfidf.of(vectorizer)
        assert fast is not None
        assert_same(fast.transform(texts), vectorizer.transform(texts))


def test_word_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A char_wb vectorizer keeps the n-grams of at most WORD_CACHE words, and its matrix does
    not depend on what the cache holds."""
    monkeypatch.setattr(_counting, "WORD_CACHE", 3)
    vectorizer = fitted(CONFIGS["summary chars"])
    fast = FastTfidf.of(vectorizer)
    assert fast is not None
    for _ in range(2):
        assert_same(fast.transform(TEXTS), vectorizer.transform(TEXTS))
        assert 0 < len(fast._words) <= 3


@pytest.mark.parametrize("config", [
    {"analyzer": "char"}, {"analyzer": lambda text: text.split()}, {"stop_words": "english"},
    {"binary": True}, {"tokenizer": str.split, "token_pattern": None}, {"input": "filename"},
], ids=["char", "callable analyzer", "stop words", "binary", "tokenizer", "files"])
def test_other_vectorizers_keep_their_own_transform(config: dict) -> None:
    vectorizer = TfidfVectorizer(**config)
    if config.get("input") != "filename":
        vectorizer.fit(TRAIN)
    assert FastTfidf.of(vectorizer) is None


def test_not_fitted_or_not_a_vectorizer() -> None:
    assert FastTfidf.of(TfidfVectorizer()) is None
    assert FastTfidf.of(object()) is None


def test_a_document_that_is_not_text_is_refused_as_scikit_learn_refuses_it() -> None:
    vectorizer = fitted(CONFIGS["default"])
    fast = FastTfidf.of(vectorizer)
    assert fast is not None
    with pytest.raises(ValueError, match="np.nan is an invalid document") as theirs:
        vectorizer.transform(["ok", np.nan])
    with pytest.raises(ValueError) as ours:
        fast.transform(["ok", np.nan])
    assert str(ours.value) == str(theirs.value)


@pytest.mark.snapshot
def test_same_matrix_on_the_snapshot(real_snapshot) -> None:
    """The model's three TF-IDF blocks, fitted on the real summaries and comments 0."""
    bugs = json.loads((real_snapshot / "bugs.json").read_text(encoding="utf-8"))["bugs"]
    summaries = [bug.get("summary") or "" for bug in bugs]
    comments_file = real_snapshot / "comments.json"
    comments = (json.loads(comments_file.read_text(encoding="utf-8"))["bugs"]
                if comments_file.is_file() else {})
    descriptions = [c.get("text") or "" for bug in comments.values() for c in bug["comments"]
                    if c.get("count") == 0] or summaries
    for name, texts in (("summary words", summaries), ("summary chars", summaries),
                        ("description words", descriptions)):
        config = {**CONFIGS[name], "max_features": 50_000} if name == "description words" \
            else CONFIGS[name]
        vectorizer = fitted(config, texts)
        fast = FastTfidf.of(vectorizer)
        assert fast is not None
        assert_same(fast.transform(texts), vectorizer.transform(texts))
