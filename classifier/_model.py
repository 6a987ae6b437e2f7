"""The incident type estimator: text features, calibrated per-tag models, learned thresholds."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import sparse
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, _fit_context, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import KFold
from sklearn.preprocessing import MultiLabelBinarizer, OneHotEncoder
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import ThreadpoolController

from ._ccadb_report import LEVEL_TAGS, stated_level_tags, without_certificate_types, without_template
from ._counting import FastTfidf
from ._exceptions import NotEnoughData
from ._incident import FEATURE_COLUMNS, FILED_COLUMN

# Word features are the ones an explanation can show a person; char n-grams are not.
_WORD_BLOCKS = ("summary_words", "description_words", "summary_cues")
#: A word for ``min_known_share``: two or more letters of any script (digits, serial numbers and
#: fingerprints are not words a text is known by).
_LETTERS = re.compile(r"[^\W\d_]{2,}")
_TOKEN_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z0-9/_-]+\b"
#: ``confidence_scaling_`` that leaves the confidence as it is.
_NO_SCALING = (1.0, 0.0)
#: Out-of-fold incidents wholly right, and not, that ``calibrate_confidence`` needs of each.
_MIN_SCALING_OUTCOMES = 10


def check_frame(X: pd.DataFrame) -> pd.DataFrame:
    """Check that ``X`` is the feature frame of :func:`incidents_frame`, and fill its gaps."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a pandas DataFrame with columns {FEATURE_COLUMNS}")
    missing = [c for c in FEATURE_COLUMNS if c not in X.columns]
    if missing:
        raise ValueError(f"X lacks the columns {missing}")
    # Built from lists: what .loc[:, FEATURE_COLUMNS].fillna("").astype(str) gives, at half
    # the cost for the one-incident frames of /classify.
    return pd.DataFrame({c: ["" if v is None or v != v else str(v) for v in X[c].tolist()]
                         for c in FEATURE_COLUMNS}, index=X.index)


def check_tag_lists(y: Sequence[Iterable[str]], n_rows: int) -> list[list[str]]:
    """Check that ``y`` holds one iterable of tag names for each of the ``n_rows`` incidents.

    Returns
    -------
    list of list of str
        The tags of each incident.

    Raises
    ------
    ValueError
        ``y`` is not that long, an element is a bare string or not iterable, or a tag is not a
        string. A string is an iterable of characters, so ``"ocsp-failure"`` would silently
        become the tags "o", "c", ... instead of ``("ocsp-failure",)``; and an indicator matrix
        (what ``predict`` answers) would become the tags 0 and 1, as its columns have no names.
    """
    if len(y) != n_rows:
        raise ValueError(f"X has {n_rows} rows but y has {len(y)}")
    tags = []
    for i, t in enumerate(y):
        row = None if isinstance(t, str | bytes) or not isinstance(t, Iterable) else list(t)
        if row is None or not all(isinstance(tag, str) for tag in row):
            raise ValueError(f"y[{i}] is {t!r}; y must hold one iterable of tag names an incident, "
                             "such as ('ocsp-failure',)")
        tags.append(row)
    return tags


class CueFlags(TransformerMixin, BaseEstimator):
    """One 0/1 feature a cue: does the text match the cue's pattern (case-insensitive)?

    Cues are what a careful triager looks for first ("S/MIME", "OCSP", "CPS"); they come from the
    taxonomy file, so they are data that maintainers own, not code.

    Parameters
    ----------
    cues : dict of str to str
        Name of each cue (a tag) and its regular expression.
    """

    def __init__(self, cues: dict[str, str] | None = None) -> None:
        self.cues = cues

    def fit(self, X, y=None) -> CueFlags:
        cues = self.cues or {}
        self.names_ = list(cues)
        for name in self.names_:
            re.compile(cues[name])  # a bad pattern fails at fit, not at the first request
        return self

    def transform(self, X) -> sparse.csr_matrix:
        check_is_fitted(self, "names_")
        texts = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else pd.Series(X)
        return self.flags(texts.astype(str).tolist())

    def flags(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """:meth:`transform` of a list of texts (no frame, no output wrapping)."""
        cues = self.cues or {}
        patterns = [re.compile(cues[n], re.IGNORECASE) for n in self.names_]
        flags = [[1.0 if p.search(text) else 0.0 for p in patterns] for text in texts]
        return sparse.csr_matrix(np.array(flags, dtype=float).reshape(len(texts), len(self.names_)))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "names_")
        return np.array(self.names_, dtype=object)


def _block_of(transformer, columns) -> tuple[Callable[[Any], Any], Any]:
    """How :meth:`IncidentTypeClassifier._features` computes one fitted block: a function of
    the block's column (a list of texts for one column named by a string) and that column."""
    fast = FastTfidf.of(transformer) if isinstance(columns, str) else None
    if fast is not None:
        return fast.transform, columns
    if isinstance(transformer, CueFlags) and len(columns) == 1:
        return transformer.flags, columns[0]
    return transformer.transform, columns


def build_features(*, char_ngrams: bool = True, reporter: bool = True,
                   cues: dict[str, str] | None = None) -> ColumnTransformer:
    """The text features of an incident (unfitted)."""
    blocks: list[tuple] = [
        ("summary_words", TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2),
                                          token_pattern=_TOKEN_PATTERN), "summary"),
        ("description_words", TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2,
                                              max_features=50_000, token_pattern=_TOKEN_PATTERN),
         "description"),
    ]
    if char_ngrams:
        blocks.append(("summary_chars", TfidfVectorizer(sublinear_tf=True, analyzer="char_wb",
                                                        ngram_range=(2, 5), min_df=2), "summary"))
    if reporter:
        blocks.append(("reporter", OneHotEncoder(handle_unknown="ignore"), ["reporter"]))
    if cues:
        blocks.append(("summary_cues", CueFlags(dict(cues)), ["summary"]))
    return ColumnTransformer(blocks, sparse_threshold=1.0)


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The process's BLAS and OpenMP libraries, looked up once: a lookup costs about 3 ms, and a
    fit limits them once a tag and fold (scikit-learn, imported above, has loaded liblinear's)."""
    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager[Any]:
    """A context in which BLAS runs on the calling thread alone, for liblinear's fits.

    liblinear's solver calls BLAS level-1 routines (dot, axpy) over the whole weight vector,
    and OpenBLAS threads them; its threads wait for a core by spinning, so with another
    process fitting at the same time (a nightly run beside a retrain job, two test workers),
    each fit took 14 times as long on two cores (163 s against 11 s; 10 s each on one BLAS
    thread). The fits' parallelism is over tags (``n_jobs``), not inside one. The limit is the
    process's (OpenBLAS has no per-thread one): during a fit, the service's other threads run
    their BLAS calls on one thread too, which classifying (sparse products) does not miss.
    """
    return _thread_pools().limit(limits=1, user_api="blas")


def _fit_one(base, Xt, y, weight=None):
    with one_blas_thread():
        if weight is None:
            return clone(base).fit(Xt, y)
        return clone(base).fit(Xt, y, sample_weight=weight)


@dataclass(frozen=True)
class _Stacked:
    """Every tag's calibrated logistic regressions as arrays, so that one sparse product answers
    them all: the same numbers as ``CalibratedClassifierCV.predict_proba`` tag by tag (mean over
    the calibration folds of ``expit(-(a * (x . w + c) + b))``) without scikit-learn's per-call
    input checks, which cost a single incident ~30 ms over 15 tags x 3 folds."""

    coef: np.ndarray       # (n_features, n_models)
    intercept: np.ndarray  # (n_models,)
    a: np.ndarray          # sigmoid calibration of each model
    b: np.ndarray
    starts: np.ndarray     # first model of each tag
    counts: np.ndarray     # models of each tag

    @classmethod
    def of(cls, estimators: Sequence[CalibratedClassifierCV]) -> _Stacked | None:
        """The arrays, or None when an estimator is not a sigmoid-calibrated binary linear model."""
        coef, intercept, a, b, counts = [], [], [], [], []
        for est in estimators:
            if getattr(est, "method", None) != "sigmoid" or len(est.classes_) != 2:
                return None
            for cal in est.calibrated_classifiers_:
                lr = cal.estimator
                if len(cal.calibrators) != 1 or getattr(lr, "coef_", np.empty((0, 0))).shape[0] != 1:
                    return None
                coef.append(lr.coef_[0])
                intercept.append(lr.intercept_[0])
                a.append(cal.calibrators[0].a_)
                b.append(cal.calibrators[0].b_)
            counts.append(len(est.calibrated_classifiers_))
        counts_ = np.array(counts)
        return cls(np.column_stack(coef), np.array(intercept), np.array(a), np.array(b),
                   np.concatenate([[0], np.cumsum(counts_)[:-1]]), counts_)

    def proba(self, Xt) -> np.ndarray:
        scores = np.asarray(Xt @ self.coef) + self.intercept
        calibrated = expit(-(self.a * scores + self.b))
        return np.add.reduceat(calibrated, self.starts, axis=1) / self.counts


def _tag_proba(estimators: Sequence[CalibratedClassifierCV], Xt, stacked: _Stacked | None
               ) -> np.ndarray:
    """Each tag's calibrated probability from the features: by the stacked arrays when there are
    some, else by scikit-learn tag by tag (the same numbers, slower)."""
    if stacked is not None:
        return stacked.proba(Xt)
    return np.column_stack([e.predict_proba(Xt)[:, 1] for e in estimators])


@dataclass(frozen=True)
class Decision:
    """What the model decides for one incident."""

    tags: tuple[str, ...]
    scores: dict[str, float]
    needs_review: bool
    confidence: float
    #: Why a person should look, in a sentence (None when the model is sure enough).
    review_reason: str | None = None


#: The explanation's term for what the report's affected-certificate-types field gave a level.
REPORT_TERM = "[the report's affected certificate types]"


@dataclass(frozen=True)
class _ReportLevels:
    """Tag probabilities after the report's certificate types settled the levels, with, per
    incident, why the report and the text disagree (None when they do not) and what the report
    raised each level tag by, in log-odds."""

    proba: np.ndarray
    conflicts: list[str | None]
    pushes: list[dict[str, float]]


def _cue_words(pattern: str, summary: str) -> str | None:
    """The words of ``summary`` a cue matched, whole ("delayed", not the cue's "delay")."""
    hit = re.search(pattern, summary, re.IGNORECASE)
    if hit is None:
        return None
    start, end = hit.span()
    while start > 0 and summary[start - 1].isalnum():
        start -= 1
    while end < len(summary) and summary[end].isalnum():
        end += 1
    return summary[start:end].lower()


class TagPredictorMixin:
    """The multi-label side of an estimator fitted on one iterable of tag names an incident.

    ``fit(X, y)`` and ``score(X, y)`` take the same ``y`` (one iterable of tag names an
    incident). ``predict`` answers as scikit-learn's multi-label classifiers do: an indicator
    matrix over ``classes_``, the shape ``MultiLabelBinarizer(classes=classes_).transform(y)``
    gives; ``predict_tags`` answers in ``y``'s own form (a tuple of tag names an incident).
    """

    classes_: np.ndarray

    if TYPE_CHECKING:  # each estimator defines its own; declared for the methods built on it
        def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()  # type: ignore[misc]  # from BaseEstimator, later in the MRO
        tags.classifier_tags.multi_label = True
        # y is never one label an incident: each incident has an iterable of tags.
        tags.target_tags.single_output = False
        tags.input_tags.string = True
        # check_frame reads missing text as empty text.
        tags.input_tags.allow_nan = True
        return tags

    def thresholds(self) -> np.ndarray:
        return np.full(len(self.classes_), 0.5)

    def decide_indicators(self, proba: np.ndarray) -> np.ndarray:
        """The tags given (a boolean matrix over ``classes_``) from ``predict_proba``'s answer,
        so a caller that already holds the probabilities does not compute them again."""
        return proba >= self.thresholds()

    def predict(self, X) -> np.ndarray:
        """The tags given to each incident, as a 0/1 matrix over ``classes_``.

        Returns
        -------
        ndarray of int of shape (n_incidents, n_classes)
            1 where the incident is given the tag of that column; :meth:`predict_tags` gives
            the same answer as tag names.
        """
        return self.decide_indicators(self.predict_proba(X)).astype(int)

    def predict_tags(self, X) -> list[tuple[str, ...]]:
        """The tags given to each incident, in the form of ``fit``'s ``y``."""
        return [tuple(self.classes_[row.astype(bool)]) for row in self.predict(X)]

    def score(self, X, y: Sequence[Iterable[str]], sample_weight=None) -> float:
        """Micro-averaged F1 of the predicted tags against ``y``, the same ``y`` as ``fit``'s.

        Every (incident, tag) pair counts once, over the tags of ``classes_`` and the tags of
        ``y`` together: a tag of ``y`` the estimator never learned is a miss, not left out. It
        is the "tag micro-F1" of the evaluation report (unrounded).
        ``ClassifierMixin.score`` (subset accuracy) does not take ``y`` in this form.

        Parameters
        ----------
        X : pandas.DataFrame
            The incidents, as for ``predict``.
        y : sequence of iterables of str
            The true tags of each incident.
        sample_weight : array-like of shape (n_incidents,), default=None
            Weight of each incident.

        Returns
        -------
        float
            Micro F1 in [0, 1]; 0.0 when neither ``y`` nor the predictions hold any tag.
        """
        predicted = self.predict_tags(X)
        truth = check_tag_lists(y, len(predicted))
        labels = list(dict.fromkeys([*self.classes_, *(t for ts in truth for t in ts)]))
        if not labels:
            return 0.0  # no tag anywhere: sklearn's F1 takes no matrix without columns
        mlb = MultiLabelBinarizer(classes=labels).fit([])
        return float(f1_score(mlb.transform(truth), mlb.transform(predicted), average="micro",
                              sample_weight=sample_weight, zero_division=0.0))


class IncidentTypeClassifier(TagPredictorMixin, ClassifierMixin, BaseEstimator):
    """Multi-label incident type classifier.

    One calibrated logistic regression a tag over TF-IDF features of the summary and comment 0,
    character n-grams of the summary and cue flags (see ``cues``). Per-tag decision thresholds and
    the confidence below which an incident goes to human review are learned on out-of-fold
    predictions over contiguous periods of time, so they are set on data the model did not see.
    Each period is predicted by a model fitted on the others, later ones included: forward
    chaining (fitting on the past only) was measured and was no better (see docs/model.md).

    Parameters
    ----------
    C : float, default=10.0
        Inverse regularisation of each tag's logistic regression.
    min_support : int, default=5
        Tags with fewer positive training incidents are not learned.
    n_folds : int, default=5
        Contiguous folds (unshuffled) for the out-of-fold probabilities behind the thresholds.
        ``X`` must be in time order (oldest first) for each fold to be a period of time.
    calibration_folds : int, default=3
        Folds of each tag's sigmoid calibration.
    fallback_ratio : float or None, default=0.5
        When no tag passes its threshold, the tag with the highest score/threshold ratio is still
        proposed if that ratio is at least this (and the incident goes to review).
    threshold_shrinkage : float, default=0.5
        How far each learned threshold is pulled toward 0.5: thresholds fitted on a few
        out-of-fold positives are noisy, and tag frequencies drift from one year to the next.
    review_precision : float, default=0.9
        Out-of-fold tag precision wanted among incidents not sent to review.
    cues : dict of str to str or None, default=None
        Tag → regular expression of what the summary of such an incident says (from the
        taxonomy file). Each cue is a 0/1 feature of every tag's model; a cue's tag with fewer
        than ``min_support`` training incidents is given by its cue alone (``cue_score`` when it
        matches), so a type the training data has not seen yet (S/MIME before September 2023)
        can still be found.
    cue_score : float, default=0.8
        Score of a cue-only tag when its cue matches the summary (0.02 otherwise).
    review_cue_only : bool, default=True
        An incident given a cue-only tag goes to review, saying so: no labelled incident
        measures how often its cue is right. On the snapshot, a tag's cue before the tag had 5
        labelled incidents was right for 8 of its 28 matches in 2019 (audit findings: 2 of 16)
        and for 7 of 8 in 2022-2023 (S/MIME). A person's answers are the labels that let
        the tag be learned. A cue-only tag's fixed score then counts for nothing in the
        confidence, which is that of the learned answers, as the review bar and
        ``confidence_scaling_`` were fitted. False: such a tag is decided like any other and
        its score is in the confidence (what a model written before it does).
    excludes : dict of str to list of str or None, default=None
        Tag → tags it rules out when given (an S/MIME misissuance is not a TLS one).
    char_ngrams : bool, default=True
        Character 2-5-grams of the summary.
    reporter : bool, default=False
        One-hot kind of reporter (the CA itself, Mozilla, webmail, another party). Off by
        default: on time-based evaluation it costs 0.01-0.04 F1 at every cutoff (the mix of who
        reports drifts more than the incident types do).
    n_jobs : int, default=1
        Parallel tag fits (joblib: -1 for every CPU; 0 is refused).
    random_state : int, RandomState instance or None, default=0
        Seed of each tag's logistic regression (as scikit-learn's ``random_state``).
    recency_half_life : float or None, default=None
        Weigh each training incident by ``0.5 ** (age / recency_half_life)``, its age in years
        before the newest training incident (from the frame's ``filed`` column; an incident
        without one weighs as the oldest). None: every incident weighs the same.
    recent_prior_years : float or None, default=2.0
        Move each tag's probability toward the tag mix of the training incidents filed in the
        last this many years (before the newest; from the frame's ``filed`` column): its
        log-odds gain ``recent_prior_shift`` times the log-odds of the tag's recent share minus
        those of its share among all of them (Saerens et al. 2002's prior correction, with the
        new prior read off the newest labels, not estimated from unlabelled incidents). The
        calibrated probabilities otherwise carry the whole history's mix, and the mix moves from
        one year to the next. The review threshold is learned on probabilities shifted the same
        way. None, or a frame without filing times: no shift.
    recent_prior_shift : float, default=0.5
        How much of the recent mix to take (0: none; 1: the whole correction).
    recent_prior_strength : float, default=30.0
        The recent share is smoothed toward the overall one by this many incidents' worth, so a
        tag seen a few times lately does not swing.
    report_evidence : bool, default=True
        When comment 0 is an incident report that states the affected certificate types (the
        CCADB template's field since March 2025), they settle the level of a misissuance the
        model sees: an unstated type's tag scores at most 0.02, and a stated one scores what
        the model gives the likeliest level (at least the tag's threshold) when the model
        gives the incident a DV, OV, EV or S/MIME misissuance tag by its threshold. A
        report of a late revocation or an outage states its certificates' types too: they do
        not make it a misissuance (see :func:`classifier.level_evidence`), and the field is
        taken out of comment 0 before its words become features.
    strip_template : bool, default=True
        When comment 0 is a report in the CCADB template of October 2023 or of March 2025 (v2
        or v3), its headings and field names are taken out before its words become features,
        and the fields' values stay (see :func:`classifier.without_template`): they are the
        same in every such report, and older incidents used those words in free text.
    min_known_share : float or None, default=0.5
        An incident whose text is mostly words the model never learned (another language,
        junk, a kind of incident it has not seen) goes to review, saying so, and gets no
        fallback guess: its answer would rest on the few words it knows ("zzqx: crl" gave a
        CRL failure at 0.96, unreviewed). The share is of the letters of the summary and comment
        0 (as the features read them) in words of the fitted vocabulary; digits are left out.
        On the snapshot, models fitted on 643 or more incidents found no later incident below
        0.57. None: no such rule (what a model written before it does).
    calibrate_confidence : bool, default=True
        Make the confidence an incident is given say how often such answers are right. The
        product of the tags' probabilities (see ``review_threshold_``) ranks incidents well but
        is far too low: out of time on the snapshot, incidents given 0.61-0.65 on average were
        wholly right (every yes and no) 84-98 % of the time. A logistic fit of "wholly right"
        on the log-odds of that product over the out-of-fold predictions maps it (Platt
        scaling; ``confidence_scaling_``). The map is increasing, so which incidents go to
        review does not change, only the figure shown. False: the product itself (what a model
        written before it shows).
    pools : dict of str to list of str or None, default=None
        Name → tags that count together (the taxonomy's briefing rows of several tags, such as
        audit-delay and audit-finding). Each pool whose tags have ``min_support`` incidents
        together, more than any one of them, gets a model of its own, fitted on their union:
        sibling tags too rare to learn well alone pool their evidence. It keeps the tags
        consistent with it: no tag of a pool scores above the pool's probability, and when the
        pool passes its threshold its likeliest tag (against its threshold) scores at least
        the pool's probability and its own threshold. Pools are never tags of their own.

    Attributes
    ----------
    classes_ : ndarray of str
        The tags it gives: the learned ones, then the cue-only ones (``cue_tags_``).
    thresholds_ : ndarray of float
        Decision threshold of each tag of ``classes_``.
    review_threshold_ : float
        Incidents whose confidence is below this go to review: a bar on the product of the tags'
        probabilities, before ``confidence_scaling_`` (:meth:`shown_confidence` gives it as
        an incident's confidence is shown).
    confidence_scaling_ : tuple of (float, float)
        Slope and intercept of the map from the log-odds of that product to those of the
        confidence shown (1 and 0: none; see ``calibrate_confidence``).
    oof_proba_ : ndarray of shape (n_incidents, n_learned_tags)
        Out-of-fold probabilities of the learned tags, on which the thresholds were set.
    prior_shift_ : ndarray of shape (n_learned_tags,)
        The log-odds added to each learned tag's probability (see ``recent_prior_years``).
    pool_prior_shift_ : ndarray of shape (n_pools,)
        The same for each pool of ``pools_``, from the share of the union of its tags; both are
        added before the pools keep their tags consistent with them.
    features_ : ColumnTransformer
        The fitted feature extractor.
    estimators_ : list of CalibratedClassifierCV
        One a learned tag.
    cue_tags_ : list of str
        Tags of ``cues`` with too few training incidents, given by their cue alone.
    pools_ : dict of str to list of int
        The pools learned, with the columns of ``classes_`` of their tags.
    pool_estimators_ : list of CalibratedClassifierCV
        One a pool of ``pools_``.
    pool_thresholds_ : ndarray of float
        Decision threshold of each pool of ``pools_``.
    n_features_in_ : int
        Columns of ``X`` read (:data:`FEATURE_COLUMNS`).

    Notes
    -----
    ``fit`` and ``score`` take the same ``y``; ``predict`` answers with an indicator matrix over
    ``classes_`` and ``predict_tags`` with tag names (see :class:`TagPredictorMixin`). ``score``
    is micro F1. Every fitted attribute is set at the end of a successful ``fit``, so a failed fit
    leaves the estimator as it was.

    Examples
    --------
    >>> from classifier import IncidentTypeClassifier, incidents_frame, Incident
    >>> X = incidents_frame([Incident(summary="Foo CA: OCSP responder down")] * 10)
    >>> y = [["ocsp-failure"]] * 5 + [["crl-failure"]] * 5
    """

    _parameter_constraints: dict = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "min_support": [Interval(Integral, 1, None, closed="left")],
        "n_folds": [Interval(Integral, 2, None, closed="left")],
        "calibration_folds": [Interval(Integral, 2, None, closed="left")],
        "fallback_ratio": [Interval(Real, 0, None, closed="left"), None],
        "threshold_shrinkage": [Interval(Real, 0, 1, closed="both")],
        "review_precision": [Interval(Real, 0, 1, closed="both")],
        "cues": [dict, None],
        "cue_score": [Interval(Real, 0, 1, closed="both")],
        "review_cue_only": ["boolean"],
        "excludes": [dict, None],
        "char_ngrams": ["boolean"],
        "reporter": ["boolean"],
        # joblib's meaning: 1, 2, ... workers, or -1, -2, ... for all CPUs but |n_jobs| - 1.
        "n_jobs": [Interval(Integral, None, -1, closed="right"), Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "recency_half_life": [Interval(Real, 0, None, closed="neither"), None],
        "report_evidence": ["boolean"],
        "strip_template": ["boolean"],
        "pools": [dict, None],
        "recent_prior_years": [Interval(Real, 0, None, closed="neither"), None],
        "recent_prior_shift": [Interval(Real, 0, None, closed="left")],
        "recent_prior_strength": [Interval(Real, 0, None, closed="left")],
        "min_known_share": [Interval(Real, 0, 1, closed="both"), None],
        "calibrate_confidence": ["boolean"],
    }

    def __init__(self, C: float = 10.0, min_support: int = 5, n_folds: int = 5,
                 calibration_folds: int = 3, fallback_ratio: float | None = 0.5,
                 threshold_shrinkage: float = 0.5, review_precision: float = 0.9,
                 cues: dict[str, str] | None = None, cue_score: float = 0.8,
                 excludes: dict[str, list[str]] | None = None, char_ngrams: bool = True,
                 reporter: bool = False, n_jobs: int = 1,
                 random_state: int | np.random.RandomState | None = 0,
                 recency_half_life: float | None = None, report_evidence: bool = True,
                 pools: dict[str, list[str]] | None = None, strip_template: bool = True,
                 recent_prior_years: float | None = 2.0, recent_prior_shift: float = 0.5,
                 recent_prior_strength: float = 30.0,
                 min_known_share: float | None = 0.5, calibrate_confidence: bool = True,
                 review_cue_only: bool = True) -> None:
        self.C = C
        self.min_support = min_support
        self.n_folds = n_folds
        self.calibration_folds = calibration_folds
        self.fallback_ratio = fallback_ratio
        self.threshold_shrinkage = threshold_shrinkage
        self.review_precision = review_precision
        self.cues = cues
        self.cue_score = cue_score
        self.excludes = excludes
        self.char_ngrams = char_ngrams
        self.reporter = reporter
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.recency_half_life = recency_half_life
        self.report_evidence = report_evidence
        self.pools = pools
        self.strip_template = strip_template
        self.recent_prior_years = recent_prior_years
        self.recent_prior_shift = recent_prior_shift
        self.recent_prior_strength = recent_prior_strength
        self.min_known_share = min_known_share
        self.calibrate_confidence = calibrate_confidence
        self.review_cue_only = review_cue_only

    # -- fitting -----------------------------------------------------------------------------
    def _base(self) -> CalibratedClassifierCV:
        lr = LogisticRegression(C=self.C, class_weight="balanced", solver="liblinear",
                                max_iter=2000, random_state=self.random_state)
        return CalibratedClassifierCV(lr, method="sigmoid", cv=self.calibration_folds)

    def _fit_tags(self, X: pd.DataFrame, Y: np.ndarray, weight: np.ndarray | None):
        features = build_features(char_ngrams=self.char_ngrams, reporter=self.reporter,
                                  cues=self.cues)
        Xt = features.fit_transform(X)
        base = self._base()
        estimators = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_one)(base, Xt, Y[:, j], weight) for j in range(Y.shape[1]))
        return features, estimators

    def _for_words(self, X: pd.DataFrame) -> pd.DataFrame:
        """The checked frame as the features read it: with ``report_evidence``, comment 0
        without its affected-certificate-types field, which the evidence reads instead (its
        "DV and OV" is in an outage's report as much as in a misissuance's); with
        ``strip_template``, without a v2 or v3 report's headings and field names."""
        # Artefacts written before a parameter existed did not strip what it strips.
        steps = [step for step, on in ((without_certificate_types, getattr(self, "report_evidence", False)),
                                       (without_template, getattr(self, "strip_template", False))) if on]
        if not steps:
            return X
        descriptions = X["description"].tolist()
        stripped = descriptions
        for step in steps:
            stripped = [step(d) for d in stripped]
        if all(a is b for a, b in zip(stripped, descriptions, strict=True)):
            return X
        return X.assign(description=stripped)

    def _recency_weights(self, ages: np.ndarray | None) -> np.ndarray | None:
        """Each incident's weight under ``recency_half_life`` (None when it is off)."""
        if self.recency_half_life is None or ages is None:
            return None
        return np.power(0.5, ages / self.recency_half_life)

    def _recent_prior_shift(self, ages: np.ndarray | None, Y: np.ndarray) -> np.ndarray:
        """The log-odds added to each tag's probability of ``Y``'s columns: ``recent_prior_shift``
        times the log-odds of its share among the incidents of the last ``recent_prior_years``
        (smoothed toward its overall share by ``recent_prior_strength`` incidents) minus those of
        its overall share. Zeros when it is off or the frame has no filing times."""
        shift = np.zeros(Y.shape[1])
        if self.recent_prior_years is None or ages is None or not self.recent_prior_shift:
            return shift
        recent = ages <= self.recent_prior_years
        weight = recent.sum() + self.recent_prior_strength
        if not weight:
            return shift
        share = Y.mean(axis=0)
        recent_share = (Y[recent].sum(axis=0) + self.recent_prior_strength * share) / weight
        return self.recent_prior_shift * (_logit(recent_share) - _logit(share))

    def _derived(self, name: str, source: object, build):
        """``build(source)``, kept until ``source`` (a fitted attribute) is replaced by a refit.

        What predictions derive from the fitted models for speed lives here and is not saved.
        """
        cache = self.__dict__.setdefault("_derived_cache", {})
        held = cache.get(name)
        if held is None or held[0] is not source:
            held = (source, build(source))
            cache[name] = held
        return held[1]

    def _stacked(self) -> _Stacked | None:
        """The fitted tags' models, then the pools', as arrays (see :class:`_Stacked`)."""
        return self._derived("stacked", self.estimators_,
                             lambda tags: _Stacked.of([*tags, *self._pool_estimators()]))

    def _prior_shift(self) -> np.ndarray:
        """The fitted tags' shifts (see ``recent_prior_years``), then the pools', as one array;
        empty for artefacts written before the parameter existed, which have none, and the pools'
        0 for those written before pools had their own shift."""
        def build(tags):
            if tags is None:
                return np.zeros(0)
            pools = getattr(self, "pool_prior_shift_", np.zeros(len(self._pool_estimators())))
            return np.concatenate([tags, pools])
        return self._derived("prior_shift", getattr(self, "prior_shift_", None), build)

    def _pool_estimators(self) -> list:
        # Artefacts written before pools existed have none.
        return list(getattr(self, "pool_estimators_", []))

    def _vocabulary(self) -> tuple[np.ndarray, np.ndarray]:
        """Every feature's name, and whether it is a word a person can read (not a char n-gram)."""
        def build(features):
            names = features.get_feature_names_out()
            return names, np.array([n.split("__", 1)[0] in _WORD_BLOCKS for n in names], dtype=bool)
        return self._derived("vocabulary", self.features_, build)

    def _known_words(self) -> frozenset[str]:
        """The words (runs of two or more letters, lower case) of the word blocks' vocabularies."""
        def build(features):
            vocabulary: set[str] = set()
            for name in ("summary_words", "description_words"):
                block = features.named_transformers_.get(name)
                for term in getattr(block, "vocabulary_", {}):
                    if " " not in term:  # unigrams: a bigram's words are unigrams too
                        vocabulary.update(_LETTERS.findall(term.lower()))
            return frozenset(vocabulary)
        return self._derived("known_words", self.features_, build)

    def known_shares(self, X: pd.DataFrame) -> np.ndarray:
        """For each incident of ``X``, the share of the letters of its summary and comment 0 (as
        the features read them) in words the model learned (see ``min_known_share``); 0 for a
        text without a word."""
        check_is_fitted(self, "features_")
        return self._known_shares(self._for_words(check_frame(X)))

    def _known_shares(self, words: pd.DataFrame) -> np.ndarray:
        """:meth:`known_shares` of a frame as the features read it (:meth:`_for_words`)."""
        known = self._known_words()
        shares = []
        for summary, description in zip(words["summary"], words["description"], strict=True):
            found = _LETTERS.findall(f"{summary} {description}".lower())
            letters = sum(map(len, found))
            shares.append(sum(len(w) for w in found if w in known) / letters if letters else 0.0)
        return np.array(shares, dtype=float)

    def _unfamiliar(self, words: pd.DataFrame) -> list[float | None]:
        """For each incident of ``words`` (a frame as the features read it), its known share
        when it is below ``min_known_share`` (it then goes to review), else None."""
        bar = getattr(self, "min_known_share", None)  # artefacts written before it: no rule
        if bar is None:
            return [None] * len(words)
        return [float(share) if share < bar else None for share in self._known_shares(words)]

    def _features(self, X: pd.DataFrame):
        """``features_.transform(X)`` of the checked frame ``X`` (:meth:`_features_of` of it as
        the features read it)."""
        return self._features_of(self._for_words(X))

    def _features_of(self, X: pd.DataFrame):
        """``features_.transform`` of a frame already as the features read it
        (:meth:`_for_words`), the same matrix without ColumnTransformer's per-call
        machinery (a joblib dispatch and output checks: ~2 ms, most of a single incident's cost).

        Each block's transformer is called on its columns and the blocks are stacked, as
        ColumnTransformer does for all-sparse blocks; any other layout goes through it. A TF-IDF
        block counts its n-grams with :class:`FastTfidf` (the same matrix, less Python a token).
        """
        def build(features):
            blocks = [(transformer, columns) for _, transformer, columns in features.transformers_
                      if not (isinstance(transformer, str) and transformer == "drop")]
            if not features.sparse_output_ or any(
                    isinstance(t, str) or not len(np.atleast_1d(columns)) for t, columns in blocks):
                return None
            return [_block_of(t, columns) for t, columns in blocks]
        blocks = self._derived("feature_blocks", self.features_, build)
        if blocks is None:
            return self.features_.transform(X)
        texts: dict[str, list[str]] = {}
        def column(columns):
            if not isinstance(columns, str):
                return X[columns]
            if columns not in texts:
                texts[columns] = X[columns].tolist()
            return texts[columns]
        return sparse.hstack([transform(column(columns)) for transform, columns in blocks],
                             format="csr")

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # a copy: object.__getstate__ gives __dict__ itself
        state.pop("_derived_cache", None)
        return state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: pd.DataFrame, y: Sequence[Iterable[str]]) -> IncidentTypeClassifier:
        """Learn the tags of ``y`` from ``X``.

        Parameters
        ----------
        X : pandas.DataFrame
            The incidents (:func:`incidents_frame`), oldest first.
        y : sequence of iterables of str
            The tags of each incident, such as ``[("ocsp-failure",), (), ...]``.

        Returns
        -------
        IncidentTypeClassifier
            ``self``, fitted.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            A parameter is out of its range (a ``ValueError``).
        ValueError
            ``X`` lacks a column or ``y`` is not one iterable of tags for each row of ``X``.
        NotEnoughData
            No tag has ``min_support`` incidents (a ``ValueError``).
        """
        ages = _ages(X) if isinstance(X, pd.DataFrame) else None
        weight = self._recency_weights(ages)
        X = self._for_words(check_frame(X))
        mlb = MultiLabelBinarizer()
        Y = mlb.fit_transform(check_tag_lists(y, len(X)))
        keep = Y.sum(axis=0) >= self.min_support
        if not keep.any():
            raise NotEnoughData(f"no tag has {self.min_support} or more positive incidents")
        learned_tags = mlb.classes_[keep]
        # Tags with a cue but too few training incidents to learn: given by their cue alone.
        cue_tags = [t for t in (self.cues or {}) if t not in set(learned_tags)]
        pools, pooled = self._pools(mlb.classes_, Y, [*learned_tags, *cue_tags])
        Y = np.hstack([Y[:, keep], pooled])
        n_tags = len(learned_tags)
        oof = self._out_of_fold(X, Y, weight)
        learned = np.array([_best_threshold(Y[:, j], oof[:, j]) for j in range(Y.shape[1])])
        s = self.threshold_shrinkage
        all_thresholds = (1.0 - s) * learned + s * 0.5
        thresholds, pool_thresholds = all_thresholds[:n_tags], all_thresholds[n_tags:]
        # The review threshold is learned on what predictions will be: pooled (the pools'
        # cue-only tags have no out-of-fold probabilities, and are left out there).
        # Both shifted toward the recent mix first, as predictions will be.
        prior_shift = self._recent_prior_shift(ages, Y)
        oof_shifted = _shifted(oof, prior_shift)
        oof_tags = _pooled(oof_shifted[:, :n_tags], oof_shifted[:, n_tags:], thresholds,
                           pool_thresholds, [[j for j in m if j < n_tags] for m in pools.values()])
        oof_decided, _, oof_confidence, _ = self._decide_arrays(oof_tags, thresholds, learned_tags)
        review_threshold = self._learn_review_threshold(Y[:, :n_tags], oof_decided, oof_confidence)
        scaling = (_confidence_scaling(oof_confidence, (oof_decided == Y[:, :n_tags].astype(bool)).all(axis=1))
                   if self.calibrate_confidence else _NO_SCALING)
        features, estimators = self._fit_tags(X, Y, weight)
        # Set together only now, so a fit that fails on the way leaves the estimator as it was.
        self.classes_ = np.array([*learned_tags, *cue_tags], dtype=object).astype(str)
        self.thresholds_ = np.concatenate([thresholds, np.full(len(cue_tags), 0.5)])
        self.review_threshold_ = review_threshold
        self.confidence_scaling_ = scaling
        self.oof_proba_ = oof[:, :n_tags]
        self.prior_shift_, self.pool_prior_shift_ = prior_shift[:n_tags], prior_shift[n_tags:]
        self.features_, self.estimators_ = features, estimators[:n_tags]
        self.cue_tags_ = cue_tags
        self.pools_, self.pool_estimators_, self.pool_thresholds_ = pools, estimators[n_tags:], pool_thresholds
        self.n_features_in_ = len(FEATURE_COLUMNS)
        return self

    def _pools(self, tags: np.ndarray, Y: np.ndarray, classes: list[str]) -> tuple[dict[str, list[int]], np.ndarray]:
        """The pools worth a model (see ``pools``), with the columns of ``classes`` of their tags,
        and their labels (the union of their tags' columns of ``Y``, over ``tags``)."""
        column = {t: j for j, t in enumerate(tags)}
        index = {t: j for j, t in enumerate(classes)}
        learned: dict[str, list[int]] = {}
        labels = []
        for name, members in (self.pools or {}).items():
            cols = [column[t] for t in dict.fromkeys(members) if t in column]
            given = [index[t] for t in dict.fromkeys(members) if t in index]
            if not cols or not given:
                continue
            union = Y[:, cols].max(axis=1)
            support = int(union.sum())
            if support >= self.min_support and support > int(Y[:, cols].sum(axis=0).max()):
                learned[str(name)] = given
                labels.append(union)
        return learned, np.column_stack(labels) if labels else np.zeros((len(Y), 0), dtype=Y.dtype)

    def _out_of_fold(self, X: pd.DataFrame, Y: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
        oof = np.full(Y.shape, np.nan)
        for train, test in KFold(n_splits=self.n_folds).split(X):
            Yt = Y[train]
            ok = (Yt.sum(axis=0) >= self.calibration_folds) & (Yt.sum(axis=0) <= len(train) - self.calibration_folds)
            features, estimators = self._fit_tags(X.iloc[train], Yt[:, ok],
                                                  None if weight is None else weight[train])
            oof[np.ix_(test, np.flatnonzero(ok))] = _tag_proba(
                estimators, features.transform(X.iloc[test]), _Stacked.of(estimators))
        # A tag too rare in some fold's training part gets its prior there.
        prior = Y.mean(axis=0)
        return np.where(np.isnan(oof), prior, oof)

    def _learn_review_threshold(self, Y: np.ndarray, decided: np.ndarray, confidence: np.ndarray) -> float:
        """The lowest confidence of the largest most-confident share of the out-of-fold
        incidents whose tag precision meets ``review_precision`` (1 when none does)."""
        order = np.argsort(-confidence)
        tp = (decided & Y.astype(bool)).sum(axis=1)[order].cumsum()
        predicted = decided.sum(axis=1)[order].cumsum()
        precision = np.divide(tp, predicted, out=np.zeros(len(tp)), where=predicted > 0)
        ok = np.flatnonzero(precision >= self.review_precision)
        if not len(ok):
            return 1.0
        # Accept the largest top-confidence share whose running precision still meets the target.
        return float(confidence[order][ok[-1]])

    # -- predicting --------------------------------------------------------------------------
    def thresholds(self) -> np.ndarray:
        check_is_fitted(self, "thresholds_")
        return self.thresholds_

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of each tag of :attr:`classes_`, one row an incident."""
        check_is_fitted(self, "estimators_")
        X = check_frame(X)
        return self._proba_of(X, self._features(X))

    def _proba_of(self, X: pd.DataFrame, Xt) -> np.ndarray:
        """:meth:`predict_proba` from the checked frame and its features."""
        return self._scored(X, Xt).proba

    def _unsettled_proba(self, X: pd.DataFrame, Xt) -> np.ndarray:
        """:meth:`_proba_of` before the report's certificate types settle the levels."""
        n_tags = len(self.estimators_)
        proba = _tag_proba([*self.estimators_, *self._pool_estimators()], Xt, self._stacked())
        proba = _shifted(proba, self._prior_shift())
        proba, pool_proba = proba[:, :n_tags], proba[:, n_tags:]
        if self.cue_tags_:
            cues = self.cues or {}
            patterns = [re.compile(cues[t], re.IGNORECASE) for t in self.cue_tags_]
            cued = np.array([[self.cue_score if p.search(text) else 0.02 for p in patterns]
                             for text in X["summary"]])
            proba = np.hstack([proba, cued.reshape(len(X), len(self.cue_tags_))])
        if pool_proba.shape[1]:
            proba = _pooled(proba, pool_proba, self.thresholds_, self.pool_thresholds_,
                            list(self.pools_.values()))
        return proba

    def _settled_by_report(self, X: pd.DataFrame, proba: np.ndarray) -> _ReportLevels:
        """``proba`` with the validation-level tags settled where comment 0 states the affected
        certificate types.

        The field says which certificates an incident touched, not that they were misissued: a
        late revocation, a CRL outage or an audit finding states "DV and OV" too. So a stated
        type only *chooses* the level of a misissuance the model already sees (a level tag at
        or above its threshold), an unstated level is ruled out, and no incident is made a
        misissuance by the field alone. A chosen level scores what the model gives the
        likeliest level (at least its own threshold), so the confidence stays the model's: the
        report says which level, not whether the incident is a misissuance.

        When the levels the model gives by itself are none of the stated ones (the summary
        says OV, the field EV), the report still chooses, but the incident goes to review: the
        text and the report disagree (``conflicts``). What the report raised is also kept apart
        (``pushes``), so that an explanation can say the report, not the words, gave the tag.
        Artefacts written before ``report_evidence`` existed do not use the evidence.
        """
        conflicts: list[str | None] = [None] * len(proba)
        pushes: list[dict[str, float]] = [{} for _ in range(len(proba))]
        columns = {tag: j for j, tag in enumerate(self.classes_) if tag in LEVEL_TAGS}
        if not columns or not getattr(self, "report_evidence", False):
            return _ReportLevels(proba, conflicts, pushes)
        levels = np.array(list(columns.values()))
        thresholds = self.thresholds_[:proba.shape[1]]
        out = proba
        for i, text in enumerate(X["description"]):
            stated = stated_level_tags(text)
            if stated is None:
                continue
            if out is proba:
                out = proba.copy()
            # The levels the model alone gives (each passes its threshold). The fallback's pick
            # is not one: it is a guess sent to review, and a stated type would make it a decision.
            own = [tag for tag, j in columns.items() if proba[i, j] >= thresholds[j]]
            likeliest = proba[i, levels].max()
            for tag, j in columns.items():
                if tag not in stated:
                    out[i, j] = min(out[i, j], 0.02)
                elif own:
                    out[i, j] = max(out[i, j], likeliest, thresholds[j])
                    push = float(_logit(np.array([out[i, j]]))[0] - _logit(np.array([proba[i, j]]))[0])
                    if push > 0.005:
                        pushes[i][tag] = round(push, 4)
            if own and not set(own) & stated:
                read = max(own, key=lambda t: proba[i, columns[t]])
                conflicts[i] = (f"the report's affected certificate types give "
                                f"{', '.join(sorted(stated & set(columns))) or 'no level'}, but the text "
                                f"reads as {read} ({proba[i, columns[read]]:.2f}, threshold "
                                f"{thresholds[columns[read]]:.2f})")
        return _ReportLevels(out, conflicts, pushes)

    def _decide_arrays(self, proba: np.ndarray, thresholds: np.ndarray | None = None,
                       classes: np.ndarray | None = None):
        """Decided tags, whether the fallback chose them, a confidence, and the chance each
        tag's yes or no is right (1 for a no an exclusion says), from probabilities.

        ``thresholds`` and ``classes`` are the fitted ones unless given (``fit`` gives the ones
        it has not set yet).
        """
        predicting = classes is None  # fit gives its classes: none of them cue-only
        thresholds = self.thresholds_ if thresholds is None else thresholds
        classes = self.classes_ if classes is None else classes
        decided = proba >= thresholds
        fallback = np.zeros(len(proba), dtype=bool)
        if self.fallback_ratio is not None:
            ratio = proba / thresholds
            none = ~decided.any(axis=1)
            best = ratio.argmax(axis=1)
            use = none & (ratio[np.arange(len(proba)), best] >= self.fallback_ratio)
            decided[np.flatnonzero(use), best[use]] = True
            fallback = use
        index = {t: j for j, t in enumerate(classes[:proba.shape[1]])}
        excluded = np.zeros_like(decided)
        for tag, ruled_out in (self.excludes or {}).items():
            if tag in index:
                given = decided[:, index[tag]]
                for other in ruled_out:
                    if other in index:
                        excluded[given, index[other]] = True
        decided &= ~excluded
        # Confidence: the chance that every yes and every no it says is right, taking the tags'
        # calibrated probabilities as independent. A no that an exclusion says (an S/MIME
        # misissuance is not an OV one) is the taxonomy's, not a score's, and costs nothing.
        sure = np.where(decided, proba, np.where(excluded, 1.0, 1.0 - proba))
        if predicting:
            # A cue-only tag's yes or no is no measured answer (its fixed score): a yes sends the
            # incident to review, and the confidence is that of the learned answers, as the
            # review bar and the scaling were fitted.
            sure[:, self._reviewed_cue_columns()] = 1.0
        confidence = sure.prod(axis=1)
        confidence = np.where(fallback | ~decided.any(axis=1), 0.0, confidence)
        return decided, fallback, confidence, sure

    def decide_indicators(self, proba: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "thresholds_")
        return self._decide_arrays(proba)[0]

    def decide(self, X: pd.DataFrame) -> list[Decision]:
        """Tags, scores and the review flag of each incident of ``X``."""
        return self.decide_with_proba(X)[1]

    def decide_with_proba(self, X: pd.DataFrame) -> tuple[np.ndarray, list[Decision]]:
        """:meth:`predict_proba` and :meth:`decide` of ``X``, computing the features once."""
        check_is_fitted(self, "estimators_")
        X = check_frame(X)
        words = self._for_words(X)  # once: the features and the known words read it alike
        levels = self._scored(X, self._features_of(words))
        return levels.proba, self.decide_proba(levels.proba, conflicts=levels.conflicts,
                                               unfamiliar=self._unfamiliar(words))

    def _scored(self, X: pd.DataFrame, Xt) -> _ReportLevels:
        """The probabilities of the checked frame ``X`` with features ``Xt``, with what the
        report's certificate types did to them."""
        return self._settled_by_report(X, self._unsettled_proba(X, Xt))

    def decide_proba(self, proba: np.ndarray, conflicts: Sequence[str | None] | None = None,
                     unfamiliar: Sequence[float | None] | None = None) -> list[Decision]:
        """:meth:`decide` from probabilities already computed by :meth:`predict_proba`.

        ``conflicts``: for each incident, why its report disagrees with its text (it then goes
        to review for that reason), or None. ``unfamiliar``: for each incident, its share of
        known words when that is below ``min_known_share`` (it then goes to review, without a
        fallback guess), or None. :meth:`decide` computes both from the frame.
        """
        check_is_fitted(self, "thresholds_")
        decided, fallback, confidence, sure = self._decide_arrays(proba)
        shown = self.shown_confidence(confidence)
        conflicts = conflicts if conflicts is not None else [None] * len(proba)
        unfamiliar = unfamiliar if unfamiliar is not None else [None] * len(proba)
        # Plain str and float, not numpy scalars: a Decision is pickled, stored and sent as JSON.
        classes = [str(t) for t in self.classes_]
        cue_only = self._reviewed_cue_columns()
        review_bar = float(self.shown_confidence(self.review_threshold_))
        out = []
        for row, p, values, s, c, said, f, conflict, known in zip(
                decided, proba.tolist(), proba, sure, confidence, shown, fallback, conflicts,
                unfamiliar, strict=True):
            if known is not None and f:
                row = np.zeros_like(row)  # no guess from a text the model cannot read
            # No tag passed its threshold: a person decides, even when the learned review
            # threshold is 0 (every out-of-fold incident met the precision target).
            review = bool(f or not row.any() or c < self.review_threshold_ or conflict
                          or known is not None)
            reason = None
            if review:
                reason = conflict or (self._unfamiliar_reason(known, values, row)
                                      if known is not None else
                                      self._review_reason(values, row, bool(f), float(said),
                                                          review_bar, s))
            cued = [t for t, on in zip(classes[cue_only], row[cue_only], strict=True) if on]
            if cued:
                review = True
                reason = "; ".join(filter(None, [reason, self._cue_only_reason(cued)]))
            out.append(Decision(
                tags=tuple(t for t, on in zip(classes, row, strict=True) if on),
                scores={t: round(v, 4) for t, v in zip(classes, p, strict=True)},
                needs_review=review,
                confidence=round(float(said), 4),
                review_reason=reason,
            ))
        return out

    def _reviewed_cue_columns(self) -> slice:
        """The columns of the cue-only tags (after the learned ones) when they send an incident
        to review (``review_cue_only``; none for a model written before it)."""
        if getattr(self, "review_cue_only", False):
            return slice(len(self.estimators_), None)
        return slice(0, 0)

    def shown_confidence(self, confidence: float | np.ndarray) -> np.ndarray:
        """The confidence an incident is shown with (see ``calibrate_confidence``) from the
        product of its tags' probabilities; 0 (no type reached its threshold) stays 0. Also
        gives ``review_threshold_`` as shown beside it."""
        slope, intercept = getattr(self, "confidence_scaling_", _NO_SCALING)
        raw = np.asarray(confidence, dtype=float)
        if (slope, intercept) == _NO_SCALING:
            return raw
        return np.where(raw > 0, expit(slope * _logit(raw) + intercept), 0.0)

    def _cue_only_reason(self, tags: list[str]) -> str:
        """Why an incident given tags by their cues alone goes to review."""
        return (f"{', '.join(tags)} {'is' if len(tags) == 1 else 'are'} given by the summary's "
                f"words alone (the taxonomy's cue): fewer than {self.min_support} labelled "
                f"incidents to learn {'it' if len(tags) == 1 else 'them'} from")

    def _unfamiliar_reason(self, known: float, proba: np.ndarray, decided: np.ndarray) -> str:
        """Why an incident whose text the model mostly does not know goes to review."""
        said = (f"only {known:.0%} of its words are words the model learned (the bar is "
                f"{self.min_known_share:.0%}): another language, or something it has not seen")
        given = [f"{self.classes_[j]} ({proba[j]:.2f})" for j in np.flatnonzero(decided)]
        if given:
            return f"{said}; it gives {', '.join(given)} from the words it knows"
        return f"{said}; no type is guessed"

    def _review_reason(self, proba: np.ndarray, decided: np.ndarray, fallback: bool,
                       confidence: float, shown_bar: float, sure: np.ndarray) -> str:
        """Why one incident goes to review, in the terms a triager checks: the guess and how
        far it is from its threshold, or the answer the low confidence comes from (its shown
        ``confidence`` against the review bar as shown, ``shown_bar``)."""
        thresholds = self.thresholds_
        if fallback or not decided.any():
            j = int((proba / thresholds).argmax())  # the fallback's own pick
            tag, p, t = self.classes_[j], proba[j], thresholds[j]
            score, bar = _apart(p, t)
            if fallback:
                return (f"no type reached its threshold; {tag} is the closest guess "
                        f"({score}, threshold {bar})")
            return f"no type came near its threshold (the closest, {tag}: {score}, threshold {bar})"
        j = int(sure.argmin())
        tag, p, t = self.classes_[j], proba[j], thresholds[j]
        answer = "gives" if decided[j] else "does not give"
        said, review_bar = _apart(confidence, shown_bar)
        score, bar = _apart(p, t)
        # Shown confidences near 1 can be one figure to six decimals, the bar included.
        below = "is below" if said != review_bar else "is just below"
        return (f"confidence {said} {below} the review bar {review_bar}; least sure: it "
                f"{answer} {tag} at {score} (threshold {bar})")

    def explain(self, X: pd.DataFrame, tags: Sequence[Iterable[str]], top: int = 5
                ) -> list[dict[str, list[tuple[str, float]]]]:
        """For each incident and each of its ``tags``, the words of its text that pushed most.

        A word's push is its TF-IDF weight times the tag's coefficient, averaged over the
        calibration folds; only words that raise the tag's score are shown. A matched cue shows
        as the words of the summary that matched it.
        """
        check_is_fitted(self, "estimators_")
        X = check_frame(X)
        Xt = self._features(X)
        return self._explain_of(X, Xt, tags, top, self._scored(X, Xt).pushes)

    def decide_and_explain(self, X: pd.DataFrame, top: int = 5
                           ) -> tuple[list[Decision], list[dict[str, list[tuple[str, float]]]]]:
        """:meth:`decide`, and :meth:`explain` of the tags decided, computing the features once."""
        check_is_fitted(self, "estimators_")
        X = check_frame(X)
        words = self._for_words(X)  # once: the features and the known words read it alike
        Xt = self._features_of(words)
        levels = self._scored(X, Xt)
        decisions = self.decide_proba(levels.proba, conflicts=levels.conflicts,
                                      unfamiliar=self._unfamiliar(words))
        return decisions, self._explain_of(X, Xt, [d.tags for d in decisions], top, levels.pushes)

    def _explain_of(self, X: pd.DataFrame, Xt, tags: Sequence[Iterable[str]], top: int,
                    pushes: Sequence[dict[str, float]] | None = None
                    ) -> list[dict[str, list[tuple[str, float]]]]:
        Xt = sparse.csr_matrix(Xt)
        names, word = self._vocabulary()
        index = {t: j for j, t in enumerate(self.classes_)}
        summaries = X["summary"].tolist()
        out = []
        for i, wanted in enumerate(tags):
            # Row i's stored entries, in their order (what ``Xt.getrow(i)`` copies, slower).
            lo, hi = Xt.indptr[i], Xt.indptr[i + 1]
            row_indices, row_data = Xt.indices[lo:hi], Xt.data[lo:hi]
            explained: dict[str, list[tuple[str, float]]] = {}
            summary = summaries[i]
            for tag in wanted:
                if tag in self.cue_tags_:
                    words = _cue_words((self.cues or {})[tag], summary)
                    explained[tag] = [(words, self.cue_score)] if words else []
                    continue
                if tag not in index:
                    continue
                coef = self._coef(index[tag])
                readable = word[row_indices]
                cols = row_indices[readable]
                push = row_data[readable] * coef[cols]
                best: dict[str, float] = {}
                for k in np.argsort(-push, kind="stable"):
                    col, value = cols[k], push[k]
                    if value <= 0 or len(best) >= top:
                        break
                    block, phrase = names[col].split("__", 1)
                    if block == "summary_cues":
                        phrase = _cue_words((self.cues or {})[phrase], summary) or phrase
                    if all(w in ENGLISH_STOP_WORDS for w in phrase.split()):
                        continue  # "an", "for the": true pushes, but they tell a person nothing
                    best[phrase] = max(best.get(phrase, 0.0), round(float(value), 4))
                explained[tag] = list(best.items())
            # What the report's certificate types raised a tag by (in log-odds, as the words).
            for tag, push in (pushes[i] if pushes is not None else {}).items():
                if tag in explained:
                    explained[tag].insert(0, (REPORT_TERM, push))
            out.append(explained)
        return out

    def _coef(self, j: int) -> np.ndarray:
        """Tag ``j``'s coefficients, averaged over its calibration folds."""
        def build(estimators):
            return [np.mean([c.estimator.coef_.ravel() for c in e.calibrated_classifiers_], axis=0)
                    for e in estimators]
        return self._derived("coef", self.estimators_, build)[j]


def _pooled(proba: np.ndarray, pool_proba: np.ndarray, thresholds: np.ndarray,
            pool_thresholds: np.ndarray, members: Sequence[Sequence[int]]) -> np.ndarray:
    """Tag probabilities kept consistent with their pools' (see ``IncidentTypeClassifier.pools``):
    no tag above its pool, and the likeliest tag of a pool that passes its threshold at least
    at the pool's probability and its own threshold."""
    out = proba.copy()
    for k, cols in enumerate(members):
        if not cols:
            continue
        cols_ = np.asarray(cols)
        pool = pool_proba[:, k]
        tags = np.minimum(out[:, cols_], pool[:, None])
        on = np.flatnonzero(pool >= pool_thresholds[k])
        best = (tags[on] / thresholds[cols_]).argmax(axis=1)
        tags[on, best] = np.maximum(tags[on, best], np.maximum(pool[on], thresholds[cols_][best]))
        out[:, cols_] = tags
    return out


def _apart(value: float, bar: float) -> tuple[str, str]:
    """``value`` and ``bar`` with two decimals, or as many more (up to six) as tell them apart:
    "confidence 0.45 is below the review bar 0.45" read as a contradiction (0.4475, 0.4525).
    A shown confidence near 1 is compressed (see ``calibrate_confidence``): 0.91468 and 0.91472."""
    for digits in (2, 3, 4, 5):
        if f"{value:.{digits}f}" != f"{bar:.{digits}f}":
            return f"{value:.{digits}f}", f"{bar:.{digits}f}"
    return f"{value:.6f}", f"{bar:.6f}"


def _confidence_scaling(confidence: np.ndarray, right: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of a logistic fit of ``right`` (each out-of-fold incident's answers
    all right) on the log-odds of its ``confidence``, over those given one (above 0).

    A slope under 1 would squeeze the confidences together (on a hundred training incidents,
    0.03: every incident shown about 0.3): the slope is then 1 and the intercept alone is
    fitted, so that the mean confidence shown is the share wholly right. No scaling when either
    outcome has fewer than ``_MIN_SCALING_OUTCOMES`` incidents."""
    given = confidence > 0
    outcome = right[given].astype(int)
    if min(outcome.sum(), len(outcome) - outcome.sum()) < _MIN_SCALING_OUTCOMES:
        return _NO_SCALING
    x = _logit(confidence[given])
    fit = LogisticRegression(C=np.inf).fit(x.reshape(-1, 1), outcome)
    slope, intercept = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    if slope >= 1.0:
        return slope, intercept
    # The mean of expit(x + b) rises with b from 0 to 1: one root, between the bounds.
    return 1.0, float(brentq(lambda b: expit(x + b).sum() - outcome.sum(), -30.0, 30.0))


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(p, 1e-6, 1 - 1e-6))


def _shifted(proba: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Probabilities (one column a tag) with each column's log-odds moved by ``shift``: its odds
    multiplied by ``exp(shift)``, which keeps 0 and 1 where they are."""
    if not shift.any():
        return proba
    scaled = proba * np.exp(shift)
    return scaled / (scaled + (1.0 - proba))


def _ages(X: pd.DataFrame) -> np.ndarray | None:
    """Each incident's age in years before the newest one, from the frame's ``filed`` column
    (an incident without one is as old as the oldest); None when the frame has no filing times."""
    if FILED_COLUMN not in X.columns:
        return None
    filed = pd.to_datetime(X[FILED_COLUMN], utc=True)
    if filed.isna().all():
        return None
    age = (filed.max() - filed).dt.total_seconds().to_numpy() / (365.25 * 86400)
    return np.where(np.isnan(age), np.nanmax(age), age)


def _best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold that maximises F1 of one tag on held-out scores (0.5 when nothing helps)."""
    if y.sum() == 0:
        return 0.5
    candidates = np.unique(np.clip(p, 0.05, 0.95))
    best_f1, best_t = -1.0, 0.5
    for t in candidates:
        pred = p >= t
        tp = float((pred & (y == 1)).sum())
        f1 = 2 * tp / (pred.sum() + y.sum()) if pred.sum() + y.sum() else 0.0
        if f1 > best_f1 + 1e-12:
            best_f1, best_t = f1, float(t)
    return best_t
