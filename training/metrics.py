"""The figures of a multi-label prediction: per-label precision, recall and F1, Brier score, calibration."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def label_scores(truth: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                 labels: Sequence[str]) -> dict[str, Any]:
    """Per-label precision, recall, F1 and support; micro F1; macro F1 over labels with support."""
    per: dict[str, dict[str, float]] = {}
    TP = FP = FN = 0
    for label in labels:
        tp = sum(label in t and label in p for t, p in zip(truth, pred, strict=True))
        fp = sum(label not in t and label in p for t, p in zip(truth, pred, strict=True))
        fn = sum(label in t and label not in p for t, p in zip(truth, pred, strict=True))
        per[label] = {**_prf(tp, fp, fn), "support": tp + fn, "predicted": tp + fp}
        TP, FP, FN = TP + tp, FP + fp, FN + fn
    supported = [v["f1"] for v in per.values() if v["support"]]
    return {
        "per_label": per,
        "micro": _prf(TP, FP, FN),
        "micro_f1": _prf(TP, FP, FN)["f1"],
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
    return [{"true": a, "predicted": b, "count": n} for (a, b), n in pairs.most_common(top)]


def _indicators(truth: Sequence[Sequence[str]], classes: Sequence[str]) -> np.ndarray:
    """1.0 where an incident carries a tag of ``classes``, one row an incident."""
    return np.array([[c in t for c in classes] for t in truth], dtype=float)


def brier(truth: Sequence[Sequence[str]], proba: np.ndarray, classes: Sequence[str]) -> float:
    """Mean squared error of the tag probabilities, over incidents and the model's tags."""
    Y = _indicators(truth, classes)
    return round(float(np.mean((proba - Y) ** 2)), 4) if Y.size else 0.0


def calibration(truth: Sequence[Sequence[str]], proba: np.ndarray, classes: Sequence[str],
                bins: int = 10) -> dict[str, Any]:
    """Reliability of the tag probabilities: per probability bin, how often the tag was true.

    Over every (incident, tag) pair. ``ece`` is the expected calibration error: the bins' gaps
    between mean probability and observed frequency, weighted by how many pairs each holds.
    """
    Y = _indicators(truth, classes).ravel()
    p = np.asarray(proba, dtype=float).ravel()
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
