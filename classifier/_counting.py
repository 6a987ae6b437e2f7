"""A fitted ``TfidfVectorizer``'s ``transform``, the same matrix with less Python per token.

scikit-learn's vectorizers make every n-gram of a document in a Python loop and look each one up
in the vocabulary (``CountVectorizer._count_vocab``): 44 % of ``incidents relabel``'s time. This
counts the document's n-grams first (``collections.Counter``, in C) and looks up each distinct one
once; a ``char_wb`` vectorizer's n-grams are a function of the word alone, so they are looked up
once a distinct word and kept (up to ``WORD_CACHE`` words). Counting, then weighting (sublinear
tf, idf, norm) follow scikit-learn's own steps, so the matrix is the same entry for entry
(``tests/classifier/test_counting.py`` compares them, on the snapshot too).

:meth:`FastTfidf.of` returns None for any vectorizer it does not reproduce (another analyzer, a
callable, stop words, binary counts, input read from files): those keep their own ``transform``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import chain

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l1, inplace_csr_row_normalize_l2

#: Distinct words whose char_wb n-grams a FastTfidf keeps looked up (then it starts again).
WORD_CACHE = 200_000

_WHITE_SPACES = re.compile(r"\s\s+")  # as scikit-learn's char_wb analyzer


def _word_ngrams(tokens: list[str], min_n: int, max_n: int) -> Iterable[str]:
    """The word n-grams scikit-learn's ``_word_ngrams`` makes, in another order."""
    parts: list[Iterable[str]] = [tokens] if min_n == 1 else []
    for n in range(max(min_n, 2), min(max_n, len(tokens)) + 1):
        parts.append(map(" ".join, zip(*(tokens[i:] for i in range(n)), strict=False)))
    return chain.from_iterable(parts)


def _char_wb_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """The char_wb n-grams of one word, as scikit-learn's ``_char_wb_ngrams`` makes them."""
    w = f" {word} "
    grams: list[str] = []
    for n in range(min_n, max_n + 1):
        if n >= len(w):  # a word no longer than n counts once, and no longer n-grams follow
            grams.append(w)
            break
        grams.extend(w[i:i + n] for i in range(len(w) - n + 1))
    return grams


class FastTfidf:
    """``vectorizer.transform`` for a fitted word or char_wb ``TfidfVectorizer``."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.min_n, self.max_n = vectorizer.ngram_range
        self.char_wb = vectorizer.analyzer == "char_wb"
        self.preprocess: Callable[[str], str] = vectorizer.build_preprocessor()
        self.tokenize: Callable[[str], list[str]] = vectorizer.build_tokenizer()
        self.dtype = vectorizer.dtype
        self.sublinear_tf = vectorizer.sublinear_tf
        self.idf: np.ndarray | None = vectorizer.idf_ if vectorizer.use_idf else None
        self.norm = vectorizer.norm
        self._words: dict[str, list[int]] = {}

    @classmethod
    def of(cls, vectorizer: object) -> FastTfidf | None:
        """A FastTfidf for ``vectorizer``, or None when it would not give the same matrix."""
        if not (isinstance(vectorizer, TfidfVectorizer) and hasattr(vectorizer, "vocabulary_")
                and vectorizer.analyzer in ("word", "char_wb") and vectorizer.input == "content"
                and vectorizer.stop_words is None and not vectorizer.binary
                and vectorizer.tokenizer is None):
            return None
        if vectorizer.use_idf and not hasattr(vectorizer, "idf_"):
            return None
        return cls(vectorizer)

    def _counts(self, doc: str) -> dict[int, int]:
        """How many times each vocabulary entry occurs in ``doc``, by its column."""
        text = self.preprocess(doc)
        if not self.char_wb:
            vocabulary = self.vocabulary
            return {j: times for gram, times in
                    Counter(_word_ngrams(self.tokenize(text), self.min_n, self.max_n)).items()
                    if (j := vocabulary.get(gram)) is not None}
        counts: dict[int, int] = {}
        for word, times in Counter(_WHITE_SPACES.sub(" ", text).split()).items():
            hits = self._words.get(word)
            if hits is None:
                hits = [j for g in _char_wb_ngrams(word, self.min_n, self.max_n)
                        if (j := self.vocabulary.get(g)) is not None]
                if len(self._words) >= WORD_CACHE:
                    self._words = {}
                self._words[word] = hits
            for j in hits:
                counts[j] = counts.get(j, 0) + times
        return counts

    def transform(self, docs: Iterable[object]) -> sparse.csr_matrix:
        indices: list[int] = []
        values: list[int] = []
        indptr = [0]
        for doc in docs:
            if not isinstance(doc, str):
                # NaN and the like: scikit-learn's own message
                raise ValueError("np.nan is an invalid document, expected byte or unicode string.")
            counts = self._counts(doc)
            indices.extend(counts.keys())
            values.extend(counts.values())
            indptr.append(len(indices))
        X = sparse.csr_matrix((np.asarray(values, dtype=self.dtype),
                               np.asarray(indices, dtype=np.int32),
                               np.asarray(indptr, dtype=np.int32)),
                              shape=(len(indptr) - 1, len(self.vocabulary)))
        X.sort_indices()
        # TfidfTransformer.transform's steps, in its order
        if self.sublinear_tf:
            np.log(X.data, X.data)
            X.data += 1.0
        if self.idf is not None:
            X.data *= self.idf[X.indices]
        if self.norm == "l2":  # what normalize() calls, without its per-call validation
            inplace_csr_row_normalize_l2(X)
        elif self.norm == "l1":
            inplace_csr_row_normalize_l1(X)
        elif self.norm is not None:
            X = normalize(X, norm=self.norm, copy=False)
        return X
