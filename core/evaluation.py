"""Time-based evaluation: the model and three baselines on the same split, the same figures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sklearn.base import clone

from classifier import (
    IncidentTypeClassifier,
    KeywordTagger,
    MostFrequentTag,
    Taxonomy,
    TfidfLogisticBaseline,
)

from .dataset import Dataset


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


@dataclass(frozen=True)
class Contender:
    name: str
    estimator: Any


def contenders(model: IncidentTypeClassifier) -> list[Contender]:
    """The shipped model and the three baselines, unfitted."""
    return [
        Contender("model", clone(model)),
        Contender("tfidf+logreg", TfidfLogisticBaseline()),
        Contender("keyword-rules", KeywordTagger()),
        Contender("most-frequent-tag", MostFrequentTag()),
    ]


def score_predictions(test: Dataset, tags: list[tuple[str, ...]], proba: np.ndarray,
                      classes: Sequence[str], taxonomy: Taxonomy,
                      review: np.ndarray | None = None) -> dict[str, Any]:
    """Every figure of the report for one contender's predictions on ``test``."""
    true_cats = [taxonomy.categories_of(t) for t in test.y]
    pred_cats = [taxonomy.categories_of(t) for t in tags]
    all_tags = sorted({t for ts in test.y for t in ts} | set(classes))
    out: dict[str, Any] = {
        "tags": label_scores(test.y, tags, all_tags),
        "categories": label_scores(true_cats, pred_cats, list(taxonomy.categories)),
        "confusions": confusions(true_cats, pred_cats),
        "brier": brier(test.y, proba, classes),
        "calibration": calibration(test.y, proba, classes),
    }
    if review is not None:
        auto = ~review
        auto_scores = label_scores([c for c, a in zip(true_cats, auto, strict=True) if a],
                                   [c for c, a in zip(pred_cats, auto, strict=True) if a],
                                   list(taxonomy.categories))
        out["review"] = {
            "sent_to_review": int(review.sum()),
            "review_share": round(float(review.mean()), 4) if len(review) else 0.0,
            "coverage": round(float(auto.mean()), 4) if len(review) else 0.0,
            "auto_precision": auto_scores["micro"]["precision"],
            "auto_recall": auto_scores["micro"]["recall"],
        }
    return out


def score_estimator(est: Any, test: Dataset, taxonomy: Taxonomy) -> dict[str, Any]:
    """Score a fitted contender on ``test``, computing its probabilities once.

    Review figures are given for estimators that decide on review (``decide_proba``).
    """
    proba = est.predict_proba(test.X)
    review = None
    if hasattr(est, "decide_proba"):
        decisions = est.decide_proba(proba)
        tags = [d.tags for d in decisions]
        review = np.array([d.needs_review for d in decisions], dtype=bool)
    else:
        tags = [tuple(est.classes_[row]) for row in est.decide_indicators(proba)]
    return score_predictions(test, tags, proba, list(est.classes_), taxonomy, review)


def evaluate(dataset: Dataset, *, cutoff: datetime, end: datetime | None, taxonomy: Taxonomy,
             model: IncidentTypeClassifier,
             progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Train every contender on incidents filed before ``cutoff``; score them on the ones after."""
    train, test = dataset.split(cutoff, end)
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"the split at {cutoff:%Y-%m-%d} leaves {len(train)} training and "
                         f"{len(test)} test incidents; both need some")
    report: dict[str, Any] = {
        "cutoff": cutoff.isoformat(), "end": end.isoformat() if end else None,
        "train_size": len(train), "test_size": len(test),
        "label_level_note": "macro F1 averages the labels present in the test set",
        "contenders": {},
    }
    for contender in contenders(model):
        progress(contender.name)
        est = contender.estimator.fit(train.X, train.y)
        report["contenders"][contender.name] = score_estimator(est, test, taxonomy)
    return report


# -- rendering ---------------------------------------------------------------------------------
def render(report: dict[str, Any]) -> str:
    """The report as plain text for a terminal."""
    lines: list[str] = []
    end = (report["end"] or "")[:10] or "the newest bug"
    lines.append(f"Time-based evaluation: trained on {report['train_size']} incidents filed before "
                 f"{report['cutoff'][:10]}, tested on {report['test_size']} filed from then to {end}.")
    lines.append(f"({report['label_level_note']})")
    lines.append("")
    head = (f"{'contender':<20}{'cat micro-F1':>13}{'cat macro-F1':>13}{'tag micro-F1':>13}"
            f"{'tag macro-F1':>13}{'Brier':>8}{'ECE':>8}")
    lines.append(head)
    lines.append("-" * len(head))
    for name, r in report["contenders"].items():
        lines.append(f"{name:<20}{r['categories']['micro_f1']:>13.3f}{r['categories']['macro_f1']:>13.3f}"
                     f"{r['tags']['micro_f1']:>13.3f}{r['tags']['macro_f1']:>13.3f}{r['brier']:>8.3f}"
                     f"{r['calibration']['ece']:>8.3f}")
    model = report["contenders"]["model"]
    if "review" in model:
        rv = model["review"]
        lines.append("")
        lines.append(f"Review: {rv['sent_to_review']} of {report['test_size']} incidents sent to a "
                     f"human ({rv['review_share']:.1%}); on the {rv['coverage']:.1%} not sent, "
                     f"category precision {rv['auto_precision']:.3f}, recall {rv['auto_recall']:.3f}.")
    for level in ("categories", "tags"):
        lines.append("")
        lines.append(f"Per {level[:-1] if level == 'tags' else 'category'} (model | tfidf+logreg F1):")
        base = report["contenders"].get("tfidf+logreg", model)
        lines.append(f"  {'label':<28}{'support':>8}{'pred':>6}{'P':>7}{'R':>7}{'F1':>7}{'base F1':>9}")
        for label, s in model[level]["per_label"].items():
            if not s["support"] and not s["predicted"]:
                continue
            b = base[level]["per_label"].get(label, {"f1": 0.0})
            lines.append(f"  {label:<28}{s['support']:>8}{s['predicted']:>6}{s['precision']:>7.2f}"
                         f"{s['recall']:>7.2f}{s['f1']:>7.2f}{b['f1']:>9.2f}")
    lines.append("")
    lines.append("Calibration of the model's tag probabilities (every incident x tag; a calibrated "
                 "model's observed rate matches its mean probability):")
    lines.append(f"  {'probability':<14}{'pairs':>7}{'mean p':>9}{'observed':>10}")
    for b in model["calibration"]["bins"]:
        lines.append(f"  {b['from']:.1f} - {b['to']:.1f}    {b['count']:>7}{b['mean_predicted']:>9.3f}"
                     f"{b['observed']:>10.3f}")
    lines.append("")
    lines.append("Commonest confusions of the model (a category missed, and what it gave instead):")
    for c in model["confusions"]:
        lines.append(f"  {c['count']:>3} x {c['true']} -> {c['predicted']}")
    return "\n".join(lines)


# -- several years, and what each ingredient adds ------------------------------------------------
def year_after(cutoff: datetime) -> datetime:
    return cutoff.replace(year=cutoff.year + 1)


def evaluate_years(dataset: Dataset, *, cutoffs: Sequence[datetime], taxonomy: Taxonomy,
                   model: IncidentTypeClassifier,
                   progress: Callable[[str], None] = lambda _: None,
                   done: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """One report a cutoff: train before it, test on the year that follows.

    A cutoff that leaves no training or no test incidents, or too few to fit a contender (no tag
    with ``min_support`` incidents before it), is reported as skipped, with the reason. A report
    of ``done`` (the same recipe, evaluated by :func:`evaluate`) on the same split is used again
    instead of fitting every contender twice: same cutoff and sizes is the same split, since
    the year's test incidents are those of the open-ended one when nothing was filed later.
    """
    reports = []
    for cutoff in cutoffs:
        train, test = dataset.split(cutoff, year_after(cutoff))
        skipped = {"cutoff": cutoff.isoformat(), "end": year_after(cutoff).isoformat()}
        same = [r for r in done if (r["cutoff"], r["train_size"], r["test_size"])
                == (cutoff.isoformat(), len(train), len(test))]
        if same:
            reports.append({**same[0], "end": skipped["end"]})
            continue
        if len(train) == 0 or len(test) == 0:
            reports.append({**skipped,
                            "skipped": f"{len(train)} training and {len(test)} test incidents"})
            continue
        try:
            reports.append(evaluate(dataset, cutoff=cutoff, end=year_after(cutoff),
                                    taxonomy=taxonomy, model=model,
                                    progress=lambda n, c=cutoff: progress(f"{c:%Y}: {n}")))
        except ValueError as exc:
            reports.append({**skipped, "skipped": f"{len(train)} training incidents: {exc}"})
    return reports


def ablations(model: IncidentTypeClassifier) -> dict[str, IncidentTypeClassifier]:
    """The shipped model with one ingredient taken out at a time."""
    variants = {
        "full model": {},
        "- cues (and cue-only tags)": {"cues": None, "excludes": None},
        "- tag exclusions": {"excludes": None},
        "- summary char n-grams": {"char_ngrams": False},
        ("- reporter kind" if model.reporter else "+ reporter kind"): {"reporter": not model.reporter},
        "- learned thresholds (all 0.5)": {"threshold_shrinkage": 1.0},
        "- unshrunk thresholds": {"threshold_shrinkage": 0.0},
        "- fallback tag": {"fallback_ratio": None},
    }
    return {name: clone(model).set_params(**params) for name, params in variants.items()}


def run_ablation(dataset: Dataset, *, cutoffs: Sequence[datetime], taxonomy: Taxonomy,
                 model: IncidentTypeClassifier, n_jobs: int = 1,
                 progress: Callable[[str], None] = lambda _: None) -> dict[str, list[dict]]:
    """Category micro/macro F1 and review figures of each variant at each cutoff."""
    from joblib import Parallel, delayed

    jobs = []
    for name, variant in ablations(model).items():
        for cutoff in cutoffs:
            train, test = dataset.split(cutoff, year_after(cutoff))
            if len(train) and len(test):
                jobs.append((name, cutoff, variant, train, test))
    progress(f"{len(jobs)} fits")
    results = Parallel(n_jobs=n_jobs)(
        delayed(_score_variant)(variant, train, test, taxonomy)
        for _, _, variant, train, test in jobs)
    out: dict[str, list[dict]] = {}
    for (name, cutoff, *_), figures in zip(jobs, results, strict=True):
        out.setdefault(name, []).append({"cutoff": cutoff.isoformat(), **figures})
    return out


def _score_variant(variant, train: Dataset, test: Dataset, taxonomy: Taxonomy) -> dict:
    scored = score_estimator(clone(variant).fit(train.X, train.y), test, taxonomy)
    return {"category_micro_f1": scored["categories"]["micro_f1"],
            "category_macro_f1": scored["categories"]["macro_f1"],
            "review_share": scored["review"]["review_share"],
            "auto_precision": scored["review"]["auto_precision"]}


def year_rows(reports: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The headline figures of :func:`evaluate_years`'s reports: what the table and a card show."""
    rows = []
    for r in reports:
        row: dict[str, Any] = {"cutoff": r["cutoff"], "end": r["end"]}
        if "skipped" in r:
            rows.append({**row, "skipped": r["skipped"]})
            continue
        row.update(train_size=r["train_size"], test_size=r["test_size"], contenders={})
        for name, c in r["contenders"].items():
            row["contenders"][name] = {
                "category_micro_f1": c["categories"]["micro_f1"],
                "category_macro_f1": c["categories"]["macro_f1"],
                **({"review_share": c["review"]["review_share"],
                    "auto_precision": c["review"]["auto_precision"]} if "review" in c else {}),
            }
        rows.append(row)
    return rows


def render_years(rows: Sequence[dict[str, Any]]) -> str:
    """The multi-year table (from :func:`year_rows`): each cutoff, each contender."""
    lines = ["Briefing categories, train before each cutoff and test on the year after:", ""]
    head = (f"{'test year':<11}{'n':>5}  {'contender':<20}{'micro-F1':>9}{'macro-F1':>9}"
            f"{'to review':>10}{'auto P':>8}")
    lines += [head, "-" * len(head)]
    for r in rows:
        year = r["cutoff"][:4]
        if "skipped" in r:
            lines.append(f"{year:<11}  skipped: {r['skipped']}")
            continue
        for name, c in r["contenders"].items():
            tail = (f"{c['review_share']:>10.1%}{c['auto_precision']:>8.3f}" if "review_share" in c
                    else f"{'-':>10}{'-':>8}")
            lines.append(f"{year:<11}{r['test_size']:>5}  {name:<20}"
                         f"{c['category_micro_f1']:>9.3f}{c['category_macro_f1']:>9.3f}{tail}")
    return "\n".join(lines)


def render_ablation(table: dict[str, list[dict]]) -> str:
    lines = ["Ablation (briefing categories; micro/macro F1, share sent to review, auto precision):",
             ""]
    for name, rows in table.items():
        cells = "  ".join(f"{r['cutoff'][:4]}: {r['category_micro_f1']:.3f}/{r['category_macro_f1']:.3f}"
                          f" {r['review_share']:.0%} {r['auto_precision']:.2f}" for r in rows)
        lines.append(f"  {name:<32}{cells}")
    return "\n".join(lines)


# -- label audit -------------------------------------------------------------------------------
def audit_labels(dataset: Dataset, *, model: IncidentTypeClassifier, top: int = 20
                 ) -> list[dict[str, Any]]:
    """Training incidents whose tags the model most disagrees with, out of fold.

    Each incident's disagreement is the largest of: one minus the out-of-fold probability of a
    tag it carries, and the probability of a tag it lacks that passes that tag's threshold (the
    self-confidence ranking of confident learning). Nothing is dropped: a maintainer decides.
    """
    est = clone(model).fit(dataset.X, dataset.y)
    learned = list(est.classes_[:est.oof_proba_.shape[1]])
    proba = est.oof_proba_
    thresholds = est.thresholds_[:len(learned)]
    rows = []
    for i, tags in enumerate(dataset.y):
        doubted = [(t, 1.0 - proba[i, learned.index(t)]) for t in tags if t in learned]
        missing = [(t, proba[i, j]) for j, t in enumerate(learned)
                   if t not in tags and proba[i, j] >= thresholds[j]]
        worst = max(doubted + missing, key=lambda tv: tv[1], default=(None, 0.0))
        rows.append((worst[1], i, doubted, missing))
    rows.sort(key=lambda r: -r[0])
    out = []
    for score, i, doubted, missing in rows[:top]:
        suggested = [t for t, _ in missing]
        why = est.explain(dataset.X.iloc[[i]], [suggested])[0] if suggested else {}
        out.append({
            "id": int(dataset.ids[i]),
            "summary": dataset.X["summary"].iloc[i],
            "tags": list(dataset.y[i]),
            "disagreement": round(float(score), 3),
            "doubted": {t: round(float(1 - v), 3) for t, v in doubted if v >= 0.5},
            "suggested": {t: round(float(v), 3) for t, v in missing},
            "because": {t: [w for w, _ in words] for t, words in why.items()},
        })
    return out


def proposed_correction(row: dict[str, Any]) -> dict[str, Any]:
    """An audit row as a line `incidents corrections import` takes: the tags without those the
    model doubts, with those it suggests, and why in the note. A proposal for a maintainer to
    keep, edit or delete, never applied by itself."""
    tags = sorted((set(row["tags"]) - set(row["doubted"])) | set(row["suggested"]))
    why = [f"doubts {t} (p={p:.2f})" for t, p in row["doubted"].items()]
    why += [f"suggests {t} (p={p:.2f}" + (f": {', '.join(row['because'].get(t, []))})"
                                          if row["because"].get(t) else ")")
            for t, p in row["suggested"].items()]
    return {"bug_id": row["id"], "tags": tags,
            "note": f"audit-labels, was {', '.join(row['tags'])}: " + "; ".join(why)}
