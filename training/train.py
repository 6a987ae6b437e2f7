"""Training a new model version: evaluate on time, fit on everything, write artefact and card."""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from sklearn.base import clone
from tqdm.auto import tqdm

from classifier import IncidentTypeClassifier, InvalidPeriod, NotEnoughData, Taxonomy, file_sha256
from core.config import Settings
from core.moments import as_utc, calendar_moment
from core.registry import ModelRegistry

from .dataset import Dataset
from .evaluate import evaluate, evaluate_years, year_rows

_LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib", "skops")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def parse_day(value: str, name: str = "date") -> datetime:
    """``YYYY-MM-DD`` (its first instant) or an ISO time on a calendar day, as an aware UTC
    datetime; InvalidPeriod names the field (``core.moments``: no week dates)."""
    try:
        moment = calendar_moment(value)
    except ValueError as exc:
        raise InvalidPeriod(f"{name}: {value!r} is not a date like 2023-01-01", field=name) from exc
    return as_utc(moment)


def default_model(settings: Settings, taxonomy: Taxonomy) -> IncidentTypeClassifier:
    """The shipped model, with the taxonomy's cues, exclusions and pools."""
    return IncidentTypeClassifier(
        cues=dict(taxonomy.cues), excludes={t: list(o) for t, o in taxonomy.excludes.items()},
        pools=taxonomy.pools, random_state=settings.random_state, n_jobs=settings.n_jobs)


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """The card's metrics: headline figures of each contender, full per-label figures of the model."""
    out: dict[str, Any] = {k: report[k] for k in ("cutoff", "end", "train_size", "test_size")
                           + (("blocks",) if "blocks" in report else ())}
    out["contenders"] = {
        name: {
            "category_micro_f1": r["categories"]["micro_f1"],
            "category_macro_f1": r["categories"]["macro_f1"],
            "tag_micro_f1": r["tags"]["micro_f1"],
            "tag_macro_f1": r["tags"]["macro_f1"],
            "brier": r["brier"],
            "ece": r["calibration"]["ece"],
            **({"review": r["review"]} if "review" in r else {}),
        }
        for name, r in report["contenders"].items()
    }
    if "model_against" in report:
        out["model_against"] = report["model_against"]
    model = report["contenders"]["model"]
    out["model_per_category"] = model["categories"]["per_label"]
    out["model_per_tag"] = model["tags"]["per_label"]
    return out


def train_version(dataset: Dataset, *, settings: Settings, taxonomy: Taxonomy,
                  registry: ModelRegistry, promote_first: bool = True,
                  model: IncidentTypeClassifier | None = None,
                  report: dict[str, Any] | None = None,
                  year_cutoffs: Sequence[datetime] = (),
                  progress: Callable[[str], None] | None = None,
                  by: str | None = None) -> tuple[str, dict[str, Any]]:
    """Evaluate on the time split, fit on every labelled incident and write a new version.

    The first version of a registry becomes active (``by``, who trained it, in the history);
    later ones wait for a promotion. ``model``
    is the recipe (the shipped one by default); a caller that has already evaluated it passes
    its ``report`` (in ``evaluate``'s shape), and the time split is not run again. With
    ``year_cutoffs`` the card also holds the multi-year table (train before each cutoff, test on
    the year after, baselines in the same run) as ``metrics_by_year``. ``progress`` is told
    each step (then no bar of its own is drawn); without it a tqdm bar shows them on a terminal.
    """
    if len(dataset) == 0:
        raise NotEnoughData("the store holds no labelled incidents; run `incidents sync` first")
    model = clone(model) if model is not None else default_model(settings, taxonomy)
    steps = 5 + len(year_cutoffs)
    with tqdm(total=steps, desc="train", unit="step",
              disable=True if progress is not None else None) as bar:
        done = [0]  # steps done (a disabled bar does not count them)

        def say(message: str) -> None:
            bar.set_postfix_str(message)
            if progress is not None:
                progress(f"{message} (step {min(done[0] + 1, steps)} of {steps})")

        def step(n: int) -> None:
            done[0] += n
            bar.update(n)

        if report is None:
            say(f"time-based evaluation at {settings.eval_cutoff}")
            report = evaluate(dataset, cutoff=parse_day(settings.eval_cutoff, "eval_cutoff"),
                              end=None, taxonomy=taxonomy, model=model,
                              progress=lambda name: say(f"evaluating {name}"))
        step(4)
        years = []
        for cutoff in year_cutoffs:
            years += evaluate_years(dataset, cutoffs=[cutoff], taxonomy=taxonomy, model=model,
                                    progress=lambda name: say(f"evaluating {name}"),
                                    done=[report])
            step(1)
        say(f"fitting on {len(dataset)} incidents")
        model.fit(dataset.X, dataset.y)
        step(1)
    card = {
        "created_at": datetime.now(UTC).isoformat(),
        "model": type(model).__name__,
        "params": model.get_params(),
        "libraries": library_versions(),
        "taxonomy_sha256": file_sha256(settings.taxonomy_file),
        "training_data": {
            "sha256": dataset.fingerprint(),
            "size": len(dataset),
            "first_filed": str(dataset.created.min()),
            "last_filed": str(dataset.created.max()),
            # When its labels were read: what is stored later is new to this version.
            **({"labels_as_of": dataset.as_of.isoformat()} if dataset.as_of is not None else {}),
            "tag_counts": dataset.tag_counts(),
        },
        "corrections": dataset.corrections,
        "labels": [str(c) for c in model.classes_],
        "thresholds": {str(c): round(float(t), 4) for c, t in zip(model.classes_, model.thresholds_, strict=True)},
        # The review bar as the confidences /classify shows are read against it; the bar on the
        # raw product of the tags' probabilities is review_threshold_ (see calibrate_confidence).
        "review_threshold": round(float(model.shown_confidence(model.review_threshold_)), 4),
        "confidence_scaling": {"slope": round(model.confidence_scaling_[0], 4),
                               "intercept": round(model.confidence_scaling_[1], 4)},
        # What each learned tag's log-odds gain from the newest labels' mix (recent_prior_years):
        # above 0, the tag has been more common lately than over the whole training data.
        "prior_shift": {str(c): round(float(v), 4) for c, v in
                        zip(model.classes_[:len(model.prior_shift_)], model.prior_shift_, strict=True)},
        # Each pool learned (see IncidentTypeClassifier.pools): its tags and its threshold.
        "pools": {name: {"tags": [str(model.classes_[j]) for j in columns], "threshold": round(float(t), 4),
                         "prior_shift": round(float(shift), 4)}
                  for (name, columns), t, shift in zip(model.pools_.items(), model.pool_thresholds_,
                                                       model.pool_prior_shift_, strict=True)},
        "metrics": summarise(report),
    }
    if year_cutoffs:
        card["metrics_by_year"] = year_rows(years)
    version = registry.create(model, card)
    if promote_first and registry.active_version() is None:
        registry.promote(version, reason="first version", by=by)
    return version, registry.card(version)
