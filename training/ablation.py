"""The ablation: the shipped model with one ingredient taken out at a time, on the same time splits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sklearn.base import clone

from classifier import IncidentTypeClassifier, Taxonomy

from .dataset import Dataset
from .evaluate import score_estimator, year_after


def ablations(model: IncidentTypeClassifier) -> dict[str, IncidentTypeClassifier]:
    """The shipped model with one ingredient taken out at a time."""
    variants: dict[str, dict[str, object]] = {
        "full model": {},
        "- cues (and cue-only tags)": {"cues": None, "excludes": None},
        "- tag exclusions": {"excludes": None},
        "- summary char n-grams": {"char_ngrams": False},
        ("- reporter kind" if model.reporter else "+ reporter kind"): {"reporter": not model.reporter},
        "- learned thresholds (all 0.5)": {"threshold_shrinkage": 1.0},
        "- unshrunk thresholds": {"threshold_shrinkage": 0.0},
        "- fallback tag": {"fallback_ratio": None},
        "- pools": {"pools": None},
        "- recent tag mix as prior": {"recent_prior_years": None},
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


def render_ablation(table: dict[str, list[dict]]) -> str:
    lines = ["Ablation (briefing categories; micro/macro F1, share sent to review, auto precision):",
             ""]
    for name, rows in table.items():
        cells = "  ".join(f"{r['cutoff'][:4]}: {r['category_micro_f1']:.3f}/{r['category_macro_f1']:.3f}"
                          f" {r['review_share']:.0%} {r['auto_precision']:.2f}" for r in rows)
        lines.append(f"  {name:<32}{cells}")
    return "\n".join(lines)
