"""The figures of a multi-label prediction: per-label precision, recall and F1, Brier score, calibration.

Indicator matrices come from ``MultiLabelBinarizer`` and precision, recall and support from
``precision_recall_fscore_support``. Three things stay numpy, each to keep the figures exactly
as they were (every figure is rounded to 4 decimals, so a last-bit difference can move one):

* F1 is the harmonic mean of sklearn's precision and recall, ``2pr / (p + r)``; sklearn's own
  ``2tp / (2tp + fp + fn)`` is the same number but can differ in the last bit, which moves a
  rounding tie (tp 1, fp 19, fn 43: 0.0313 here, 0.0312 from sklearn's F1).
* The Brier score is ``mean((p - y) ** 2)`` over every (incident, tag) pair; ``brier_score_loss``
  on those pairs computes it through ``1 - p`` and also moves a rare tie ([0.75, 0.2] for a
  true first tag: 0.0513 here, 0.0512 from sklearn).
* The reliability bins: ``calibration_curve`` drops empty bins, gives no counts, puts a
  probability on an inner edge (0.1, 0.5, ...) in the lower bin where these bins put it in the
  upper one, and sums by ``bincount`` rather than ``mean``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer


def _prf(p: float, r: float) -> dict[str, float]:
    """Precision, recall and their harmonic mean F1, rounded."""
    p, r = float(p), float(r)
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def _indicators(truth: Sequence[Sequence[str]], classes: Sequence[str]) -> np.ndarray:
    """1.0 where an incident carries a tag of ``classes``, one row an incident, one column a class.

    Tags outside ``classes`` are left out; a class given twice gets two (equal) columns.
    """
    unique = list(dict.fromkeys(classes))
    known = set(unique)
    Y = MultiLabelBinarizer(classes=unique).fit_transform([[t for t in ts if t in known] for ts in truth])
    column = {c: i for i, c in enumerate(unique)}
    return np.asarray(Y, dtype=float)[:, [column[c] for c in classes]]


def _precision_recall_support(Y_true: np.ndarray, Y_pred: np.ndarray,
                              average: str | None) -> tuple[Any, Any, Any]:
    """sklearn's precision, recall and support of every column of two indicator matrices."""
    n = Y_true.shape[1]
    if not Y_true.shape[0] or not n:  # sklearn refuses empty input: nothing to score
        zeros = np.zeros(n)
        return (0.0, 0.0, None) if average else (zeros, zeros, zeros.astype(int))
    if n == 1:  # one column reads as a binary target: score its class 1
        Y_true, Y_pred, columns = Y_true[:, 0], Y_pred[:, 0], [1]
    else:
        columns = list(range(n))
    p, r, _, support = precision_recall_fscore_support(Y_true, Y_pred, labels=columns,
                                                       average=average, zero_division=0)
    return p, r, support


def label_scores(truth: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                 labels: Sequence[str]) -> dict[str, Any]:
    """Per-label precision, recall, F1 and support; micro F1; macro F1 over labels with support."""
    if len(truth) != len(pred):
        raise ValueError(f"{len(truth)} true and {len(pred)} predicted label sets")
    Y_true, Y_pred = _indicators(truth, labels), _indicators(pred, labels)
    precision, recall, support = _precision_recall_support(Y_true, Y_pred, None)
    predicted = Y_pred.sum(axis=0)
    per: dict[str, dict[str, float]] = {
        label: {**_prf(precision[i], recall[i]), "support": int(support[i]),
                "predicted": int(predicted[i])}
        for i, label in enumerate(labels)
    }
    micro = _prf(*_precision_recall_support(Y_true, Y_pred, "micro")[:2])
    supported = [v["f1"] for v in per.values() if v["support"]]
    return {
        "per_label": per,
        "micro": micro,
        "micro_f1": micro["f1"],
        "macro_f1": round(float(np.mean(supported)), 4) if supported else 0.0,
        "macro_over": sum(1 for v in per.values() if v["support"]),
    }


def confusions(truth: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
               top: int = 8) -> list[dict[str, Any]]:
    """The commonest (missed, given instead) pairs: a label missed while another was wrongly given."""
    pairs: Counter[tuple[str, str]] = Counter()
    for t, p in zip(truth, pred, strict=True):
        missed = set(t) - set(p)
        wrong = set(p) - set(t) or {"(nothing)"}
        for m in missed:
            for w in wrong:
                pairs[(m, w)] += 1
    # Ties by name: set order changes from run to run, and a card must not.
    ranked = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [{"true": a, "predicted": b, "count": n} for (a, b), n in ranked]


def brier(truth: Sequence[Sequence[str]], proba: np.ndarray, classes: Sequence[str]) -> float:
    """Mean squared error of the tag probabilities, over incidents and the model's tags.

    The multi-label Brier score: the mean of ``brier_score_loss`` over the tags, computed
    directly (see the module's docstring).
    """
    return brier_of_pairs(np.asarray(proba, dtype=float).ravel(), _indicators(truth, classes).ravel())


def brier_of_pairs(p: ArrayLike, Y: ArrayLike) -> float:
    """:func:`brier` of (probability, 0/1 outcome) pairs already flattened (see
    :func:`calibration_of_pairs`)."""
    p, Y = np.asarray(p, dtype=float), np.asarray(Y, dtype=float)
    return round(float(np.mean((p - Y) ** 2)), 4) if Y.size else 0.0


def calibration(truth: Sequence[Sequence[str]], proba: np.ndarray, classes: Sequence[str],
                bins: int = 10) -> dict[str, Any]:
    """Reliability of the tag probabilities: per probability bin, how often the tag was true.

    Over every (incident, tag) pair. ``ece`` is the expected calibration error: the bins' gaps
    between mean probability and observed frequency, weighted by how many pairs each holds.
    Bin ``k`` holds the probabilities in ``[k / bins, (k + 1) / bins)``, the last one 1.0 too;
    empty bins are left out.
    """
    return calibration_of_pairs(np.asarray(proba, dtype=float).ravel(),
                                _indicators(truth, classes).ravel(), bins)


def calibration_of_pairs(p: ArrayLike, Y: ArrayLike, bins: int = 10) -> dict[str, Any]:
    """:func:`calibration` of (probability, 0/1 outcome) pairs already flattened, such as the
    deployment replay's, whose quarters are answered by models of different tags."""
    p = np.asarray(p, dtype=float)
    Y = np.asarray(Y, dtype=float)
    if not p.size:
        return {"ece": 0.0, "bins": []}
    which = np.minimum((p * bins).astype(int), bins - 1)
    out, ece = [], 0.0
    for k in range(bins):
        inside = which == k
        n = int(inside.sum())
        if not n:
            continue
        predicted, observed = float(p[inside].mean()), float(Y[inside].mean())
        ece += n / p.size * abs(predicted - observed)
        out.append({"from": k / bins, "to": (k + 1) / bins, "count": n,
                    "mean_predicted": round(predicted, 4), "observed": round(observed, 4)})
    return {"ece": round(ece, 4), "bins": out}


def _f1_of_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Micro and macro F1 of per-resample, per-label counts (one row a resample); macro over the
    labels with support in that resample, 0 where a resample has none."""
    with np.errstate(divide="ignore", invalid="ignore"):
        total = 2 * tp.sum(axis=1) + fp.sum(axis=1) + fn.sum(axis=1)
        micro = np.where(total > 0, 2 * tp.sum(axis=1) / total, 0.0)
        per = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    supported = (tp + fn) > 0
    count = supported.sum(axis=1)
    macro = np.where(count > 0, (per * supported).sum(axis=1) / np.maximum(count, 1), 0.0)
    return micro, macro


def _resampled_f1(truth: Sequence[Sequence[str]], answers: Sequence[Sequence[Sequence[str]]],
                  labels: Sequence[str], resamples: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Micro and macro F1 of each of ``answers`` in the same paired bootstrap resamples of the
    incidents (each drawn with replacement, one draw for all answers): one array a resample.
    ``resamples=0`` gives the incidents as they are (one row, each incident once)."""
    Y = _indicators(truth, labels)
    if resamples:
        weights = np.random.default_rng(seed).multinomial(len(Y), np.full(len(Y), 1 / len(Y)),
                                                          size=resamples).astype(float)
    else:
        weights = np.ones((1, len(Y)))
    out = []
    for given in answers:
        P = _indicators(given, labels)
        out.append(_f1_of_counts(weights @ (Y * P), weights @ ((1 - Y) * P),
                                 weights @ (Y * (1 - P))))
    return out


def worse_in_resamples(truth: Sequence[Sequence[str]], first: Sequence[Sequence[str]],
                       second: Sequence[Sequence[str]], labels: Sequence[str], *,
                       resamples: int = 1000, seed: int = 0) -> dict[str, float]:
    """How sure it is that ``first`` is worse than ``second`` on these incidents: the share of
    paired bootstrap resamples of the incidents (each drawn with replacement, the same draw for
    both) in which ``first``'s micro-F1 (and, apart, its macro-F1) is lower than ``second``'s.

    Keys ``micro_f1`` and ``macro_f1``; F1 as :func:`label_scores` computes it (macro over the
    labels a resample supports). Nothing to resample gives 0.0.
    """
    return lower_and_higher_in_resamples(truth, first, second, labels, resamples=resamples,
                                         seed=seed)[0]


def lower_and_higher_in_resamples(truth: Sequence[Sequence[str]], first: Sequence[Sequence[str]],
                                  second: Sequence[Sequence[str]], labels: Sequence[str], *,
                                  resamples: int = 1000, seed: int = 0
                                  ) -> tuple[dict[str, float], dict[str, float]]:
    """:func:`worse_in_resamples`, and from the same resamples the share in which ``first`` is
    higher: the rest are resamples in which the two are the same."""
    if not len(truth):
        zero = {"micro_f1": 0.0, "macro_f1": 0.0}
        return zero, dict(zero)
    (micro_a, macro_a), (micro_b, macro_b) = _resampled_f1(truth, [first, second], labels,
                                                           resamples, seed)

    def share(below: np.ndarray, above: np.ndarray) -> float:
        return round(float(np.mean(below < above - 1e-12)), 4)

    return ({"micro_f1": share(micro_a, micro_b), "macro_f1": share(macro_a, macro_b)},
            {"micro_f1": share(micro_b, micro_a), "macro_f1": share(macro_b, macro_a)})


def difference_interval(truth: Sequence[Sequence[str]], first: Sequence[Sequence[str]],
                        second: Sequence[Sequence[str]], labels: Sequence[str], *,
                        level: float = 0.95, resamples: int = 1000,
                        seed: int = 0) -> dict[str, dict[str, float]]:
    """How far ``first`` is above ``second`` on these incidents, and how sure that is.

    For micro- and (apart) macro-F1: ``difference``, ``first``'s F1 minus ``second``'s on the
    incidents as they are, and ``low`` and ``high``, the percentile interval of that difference
    over paired bootstrap resamples of the incidents holding ``level`` of them. An interval
    that holds 0 is a difference these incidents cannot tell from chance. Nothing to resample
    gives zeros.
    """
    if not 0 < level < 1:
        raise ValueError(f"level: {level} is not between 0 and 1")
    if not len(truth):
        zero = {"difference": 0.0, "low": 0.0, "high": 0.0}
        return {"micro_f1": dict(zero), "macro_f1": dict(zero)}
    (seen_a, seen_b), (boot_a, boot_b) = (
        _resampled_f1(truth, [first, second], labels, n, seed) for n in (0, resamples))
    tail = (1 - level) / 2 * 100
    out = {}
    for k, key in enumerate(("micro_f1", "macro_f1")):
        low, high = np.percentile(boot_a[k] - boot_b[k], [tail, 100 - tail])
        out[key] = {"difference": round(float(seen_a[k][0] - seen_b[k][0]), 4),
                    "low": round(float(low), 4), "high": round(float(high), 4)}
    return out
