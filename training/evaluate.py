"""Time-based evaluation: the model and three baselines on the same split, the same figures."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from classifier import (
    IncidentTypeClassifier,
    KeywordTagger,
    MostFrequentTag,
    NotEnoughData,
    Taxonomy,
    TfidfLogisticBaseline,
)

from .dataset import Dataset
from .metrics import brier, calibration, confusions, difference_interval, label_scores


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


def predictions(est: Any, test: Dataset) -> tuple[np.ndarray, list[tuple[str, ...]], np.ndarray | None]:
    """A fitted contender's probabilities on ``test`` (computed once), the tags it gives each
    incident, and which it sends to review (None for estimators that do not decide on review:
    those without ``decide_proba``)."""
    proba, decisions = _decided(est, test.X)
    if decisions is not None:
        return (proba, [d.tags for d in decisions],
                np.array([d.needs_review for d in decisions], dtype=bool))
    return proba, [tuple(est.classes_[row]) for row in est.decide_indicators(proba)], None


def _decided(est: Any, X: pd.DataFrame) -> tuple[np.ndarray, list[Any] | None]:
    """A fitted contender's probabilities of ``X`` and its decisions (None for one that does not
    decide on review): through ``decide_with_proba`` where it has it, which also sees what the
    frame's text says against the probabilities (a report contradicting it)."""
    if hasattr(est, "decide_with_proba"):
        return est.decide_with_proba(X)
    proba = est.predict_proba(X)
    return proba, est.decide_proba(proba) if hasattr(est, "decide_proba") else None


def score_estimator(est: Any, test: Dataset, taxonomy: Taxonomy) -> dict[str, Any]:
    """Score a fitted contender on ``test``, computing its probabilities once.

    Review figures are given for estimators that decide on review (``decide_proba``).
    """
    proba, tags, review = predictions(est, test)
    return score_predictions(test, tags, proba, list(est.classes_), taxonomy, review)


def block_starts(n: int, size: int, blocks: int) -> list[int]:
    """Where each of ``blocks`` consecutive blocks of the newest ``size`` of ``n`` incidents
    starts (positions, oldest first); fewer blocks when ``size`` is smaller than ``blocks``."""
    count = max(1, min(blocks, size))
    return [n - size + int(part[0]) for part in np.array_split(np.arange(size), count)]


def score_prequential(recipe: Any, dataset: Dataset, size: int, blocks: int, taxonomy: Taxonomy,
                      progress: Callable[[str], None] = lambda _: None,
                      fit_on: Dataset | None = None) -> dict[str, Any]:
    """Score ``recipe`` on the newest ``size`` incidents of ``dataset`` (oldest first) as it
    would have lived them: the window is cut into ``blocks`` consecutive blocks by filing time,
    and each block is predicted by the recipe fitted on every incident filed before it. The
    first block's fit learns only what precedes the window; each later one has also learned the
    window's earlier blocks, which is what a model that keeps learning the new mix gains.

    ``fit_on`` (the same store's incidents with other labels, oldest first, such as the labels
    an older model learned) gives the fits their incidents and tags instead: each fit learns
    those of its incidents that come before the block (by filing time, then bug id), and the
    window is still scored against ``dataset``'s tags.

    The same figures as :func:`score_estimator`, with ``blocks`` (the fits), ``train_size``
    (the incidents the first fit learned from) and ``predicted`` (the tags given, in order).
    NotEnoughData when a fit cannot be made.
    """
    n = len(dataset)
    starts = block_starts(n, size, blocks)
    positions = np.arange(n)
    learn = dataset if fit_on is None else fit_on
    classes: list[str] = []
    parts: list[tuple[list[str], np.ndarray, list[tuple[str, ...]], list[bool]]] = []
    for number, (begin, end) in enumerate(zip(starts, [*starts[1:], n], strict=True), 1):
        older = (dataset.subset(positions < begin) if fit_on is None
                 else learn.subset(_before(learn, dataset.created[begin], int(dataset.ids[begin]))))
        progress(f"block {number} of {len(starts)}: fitting on the {len(older)} incidents before it")
        fitted = clone(recipe).fit(older.X, older.y)
        block = dataset.subset((positions >= begin) & (positions < end))
        proba, decisions = _decided(fitted, block.X)
        assert decisions is not None  # noqa: S101 - a recipe of the product decides on review
        own = [str(c) for c in fitted.classes_]
        classes += [c for c in own if c not in classes]
        parts.append((own, proba, [d.tags for d in decisions], [d.needs_review for d in decisions]))
    # A tag a later fit learned (it reached its minimum support in the window) scores 0 before.
    proba = np.zeros((size, len(classes)))
    tags: list[tuple[str, ...]] = []
    review: list[bool] = []
    row = 0
    for own, block_proba, block_tags, block_review in parts:
        proba[row:row + len(block_tags), [classes.index(c) for c in own]] = block_proba
        row += len(block_tags)
        tags += block_tags
        review += block_review
    window = dataset.subset(positions >= n - size)
    scores = score_predictions(window, tags, proba, classes, taxonomy, np.array(review, dtype=bool))
    first = starts[0] if fit_on is None else int(_before(learn, dataset.created[starts[0]],
                                                         int(dataset.ids[starts[0]])).sum())
    return {**scores, "blocks": len(starts), "train_size": first, "predicted": tags}


def _before(dataset: Dataset, created: np.datetime64, bug_id: int) -> np.ndarray:
    """Which of ``dataset``'s incidents come before one filed at ``created`` with ``bug_id``
    (the order of a dataset: filing time, then bug id)."""
    return (dataset.created < created) | ((dataset.created == created) & (dataset.ids < bug_id))


def evaluate(dataset: Dataset, *, cutoff: datetime, end: datetime | None, taxonomy: Taxonomy,
             model: IncidentTypeClassifier,
             progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Train every contender on incidents filed before ``cutoff``; score them on the ones after."""
    train, test = dataset.split(cutoff, end)
    if len(train) == 0 or len(test) == 0:
        raise NotEnoughData(f"the split at {cutoff:%Y-%m-%d} leaves {len(train)} training and "
                            f"{len(test)} test incidents; both need some")
    report: dict[str, Any] = {
        "cutoff": cutoff.isoformat(), "end": end.isoformat() if end else None,
        "train_size": len(train), "test_size": len(test),
        "label_level_note": "macro F1 averages the labels present in the test set",
        "contenders": {},
    }
    given: dict[str, list[list[str]]] = {}
    for contender in contenders(model):
        progress(contender.name)
        est = contender.estimator.fit(train.X, train.y)
        proba, tags, review = predictions(est, test)
        report["contenders"][contender.name] = score_predictions(
            test, tags, proba, list(est.classes_), taxonomy, review)
        given[contender.name] = [taxonomy.categories_of(t) for t in tags]
    # The model's lead over each baseline, and how sure it is (95 % paired bootstrap interval).
    truth = [taxonomy.categories_of(t) for t in test.y]
    report["model_against"] = {
        name: difference_interval(truth, given["model"], cats, list(taxonomy.categories))
        for name, cats in given.items() if name != "model"}
    return report


# -- rendering ---------------------------------------------------------------------------------
def format_lead(d: dict[str, float]) -> str:
    """A difference and its interval, as ``+0.109 [+0.052, +0.168]``."""
    return f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"


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
    if report.get("model_against"):
        lines.append("")
        lines.append("The model minus each baseline (category F1; in brackets the 95 % paired "
                     "bootstrap interval over the test incidents):")
        for name, against in report["model_against"].items():
            lines.append(f"  against {name + ':':<20} micro {format_lead(against['micro_f1'])}   "
                         f"macro {format_lead(against['macro_f1'])}")
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
        def note(name: str, year: datetime = cutoff) -> None:
            progress(f"{year:%Y}: {name}")

        try:
            reports.append(evaluate(dataset, cutoff=cutoff, end=year_after(cutoff),
                                    taxonomy=taxonomy, model=model, progress=note))
        except NotEnoughData as exc:
            reports.append({**skipped, "skipped": f"{len(train)} training incidents: {exc}"})
    return reports


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
                # The model's lead over this baseline, with its interval (reports since it existed).
                **({"model_lead": r["model_against"][name]}
                   if name in r.get("model_against", {}) else {}),
            }
        rows.append(row)
    return rows


def render_years(rows: Sequence[dict[str, Any]]) -> str:
    """The multi-year table (from :func:`year_rows`): each cutoff, each contender."""
    lines = ["Briefing categories, train before each cutoff and test on the year after:", ""]
    head = (f"{'test year':<11}{'n':>5}  {'contender':<20}{'micro-F1':>9}{'macro-F1':>9}"
            f"{'to review':>10}{'auto P':>8}  model's micro-F1 lead [95 % interval]")
    lines += [head, "-" * len(head)]
    for r in rows:
        year = r["cutoff"][:4]
        if "skipped" in r:
            lines.append(f"{year:<11}  skipped: {r['skipped']}")
            continue
        for name, c in r["contenders"].items():
            tail = (f"{c['review_share']:>10.1%}{c['auto_precision']:>8.3f}" if "review_share" in c
                    else f"{'-':>10}{'-':>8}")
            lead = f"  {format_lead(c['model_lead']['micro_f1'])}" if "model_lead" in c else ""
            lines.append(f"{year:<11}{r['test_size']:>5}  {name:<20}"
                         f"{c['category_micro_f1']:>9.3f}{c['category_macro_f1']:>9.3f}{tail}{lead}")
    return "\n".join(lines)
