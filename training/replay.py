"""The deployment replay: the product lives through past quarters as it would in service.

The reference evaluation of the model *and* of the loop that keeps it current. In a scratch
store and models folder, the incidents filed before ``start`` are known with their tags and
the first model is trained on them. Then, quarter by quarter:

1. the quarter's incidents are filed, without tags, and the active model classifies them (its
   predictions are stored, as ``POST /classify`` would store them);
2. their tags become known, as a sync would bring them;
3. the product's own loop runs with its own rules: it retrains when the nightly run would
   (:func:`training.nightly.retrain_due`: enough labelled incidents new to the active model, or
   a live-record alarm), through the gate (:func:`training.retrain.retrain`).

Each quarter is scored where Mozilla typed the bug, at the level of the briefing categories,
for three contenders in the same run: the product as it lives (retrained by its loop), the
product frozen at the start, and a strong baseline (:class:`classifier.WordCharTfidfBaseline`,
fitted on briefing categories) refitted each quarter on every label known so far. Figures:
micro- and macro-F1, the share sent to review and the precision of the labels not sent
(the product's), the briefing-table error: the sum over categories of
``|predicted count - true count|`` over the period's incidents, and how honest the tag
probabilities of the product and of the frozen model were (expected calibration error and Brier
score over every scored incident and every tag the answering model has), and how honest their
confidences were (the same over every scored incident given one: was each of its answers right?).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classifier import (
    IncidentTypeClassifier,
    NotEnoughData,
    Taxonomy,
    WhiteboardTags,
    WordCharTfidfBaseline,
    incidents_frame,
)
from core.bugzilla import BugRecord
from core.classification import classify
from core.config import Settings
from core.db import dispose_engines, session_scope, upgrade
from core.registry import LoadedModel, ModelRegistry
from core.store import save_predictions, upsert_bugs

from .dataset import load_dataset
from .evaluate import format_lead
from .metrics import brier_of_pairs, calibration_of_pairs, difference_interval, label_scores
from .nightly import retrain_due
from .retrain import retrain

#: The contenders of a replay, in the order they are reported.
CONTENDERS = ("product", "frozen", "baseline")
#: The settings that decide when the replay retrains and what the gate keeps, in its report.
_GATE_SETTINGS = ("retrain_tolerance", "retrain_holdout_fraction", "retrain_min_holdout",
                  "retrain_gate_blocks", "retrain_gate_confidence", "nightly_min_new_labels")


def default_start(records: Sequence[BugRecord]) -> datetime:
    """January 1st two years before the newest incident's year: a replay of its last three years."""
    filed = [r.creation_time for r in records if r.creation_time is not None]
    if not filed:
        raise NotEnoughData("no incident with a filing time to replay; run `incidents sync` first")
    return datetime(max(filed).year - 2, 1, 1, tzinfo=UTC)


def quarters(start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
    """The calendar quarters from the one holding ``start`` to the one holding ``end``."""
    out: list[tuple[str, datetime, datetime]] = []
    year, q = start.year, (start.month - 1) // 3
    while True:
        begin = datetime(year, 1 + 3 * q, 1, tzinfo=UTC)
        if begin > end:
            return out
        stop = datetime(year + (q == 3), 1 + 3 * ((q + 1) % 4), 1, tzinfo=UTC)
        out.append((f"{year}Q{q + 1}", begin, stop))
        year, q = (year + 1, 0) if q == 3 else (year, q + 1)


@dataclass
class Answers:
    """What one contender said of a period's incidents, and the truth."""

    truth: list[tuple[str, ...]] = field(default_factory=list)  # categories
    given: list[tuple[str, ...]] = field(default_factory=list)  # categories
    review: list[bool] = field(default_factory=list)
    # One (probability, outcome) pair an incident and a tag of the model that answered it.
    probability: list[float] = field(default_factory=list)
    outcome: list[int] = field(default_factory=list)
    # One (confidence, outcome) pair an incident given a confidence (above 0): whether every
    # yes and no of the model that answered it was right.
    confidence: list[float] = field(default_factory=list)
    wholly_right: list[int] = field(default_factory=list)

    def extend(self, other: Answers) -> None:
        self.truth += other.truth
        self.given += other.given
        self.review += other.review
        self.probability += other.probability
        self.outcome += other.outcome
        self.confidence += other.confidence
        self.wholly_right += other.wholly_right

    def add_scores(self, scores: Sequence[dict[str, float]], tags: Sequence[Sequence[str]]) -> None:
        """The pairs of each incident's tag probabilities (``scores``) and its true ``tags``."""
        for given, true in zip(scores, tags, strict=True):
            for tag, p in given.items():
                self.probability.append(p)
                self.outcome.append(int(tag in true))

    def add_confidences(self, results: Sequence[Any], tags: Sequence[Sequence[str]]) -> None:
        """The pairs of each classification's confidence and whether its tags are the true
        ``tags`` among those the model has (its scores' keys); none for a confidence of 0."""
        for result, true in zip(results, tags, strict=True):
            if result.confidence > 0:
                self.confidence.append(result.confidence)
                self.wholly_right.append(int(set(result.tags) == set(true) & set(result.scores)))


def figures(answers: Answers, categories: Sequence[str], *, reviews: bool) -> dict[str, Any]:
    """The replay's figures of one contender over one period."""
    scores = label_scores(answers.truth, answers.given, categories)
    true_counts = Counter(c for cats in answers.truth for c in cats)
    given_counts = Counter(c for cats in answers.given for c in cats)
    out: dict[str, Any] = {
        "n": len(answers.truth),
        "micro_f1": scores["micro_f1"],
        "macro_f1": scores["macro_f1"],
        "table_error": sum(abs(given_counts[c] - true_counts[c]) for c in categories),
        # Each briefing row's precision, recall, F1, true count (support) and given count.
        "per_category": scores["per_label"],
    }
    if reviews:
        kept = [i for i, r in enumerate(answers.review) if not r]
        auto = label_scores([answers.truth[i] for i in kept], [answers.given[i] for i in kept],
                            categories)
        out["review_share"] = round(1 - len(kept) / len(answers.review), 4) if answers.review else 0.0
        out["auto_precision"] = auto["micro"]["precision"]
    if answers.probability:
        out["tag_ece"] = calibration_of_pairs(answers.probability, answers.outcome)["ece"]
        out["tag_brier"] = brier_of_pairs(answers.probability, answers.outcome)
    if answers.confidence:
        out["confidence_ece"] = calibration_of_pairs(answers.confidence, answers.wholly_right)["ece"]
        out["confidence_brier"] = brier_of_pairs(answers.confidence, answers.wholly_right)
        out["given_confidence"] = len(answers.confidence)
        out["mean_confidence"] = round(sum(answers.confidence) / len(answers.confidence), 4)
        out["wholly_right"] = round(sum(answers.wholly_right) / len(answers.wholly_right), 4)
    return out


def against_others(answers: dict[str, Answers], categories: Sequence[str]) -> dict[str, Any]:
    """The product's F1 minus the frozen model's and the baseline's over one period, each with
    its 95 % paired bootstrap interval over the period's incidents (an interval holding 0 is a
    difference these incidents cannot tell from chance)."""
    product = answers["product"]
    return {other: difference_interval(product.truth, product.given, answers[other].given, categories)
            for other in CONTENDERS if other != "product"}


def _stripped(record: BugRecord) -> BugRecord:
    """The record as it is when filed: no whiteboard, no tags yet."""
    return dataclasses.replace(record, whiteboard="", tags=WhiteboardTags())


def _product_answers(loaded: LoadedModel, records: Sequence[BugRecord], taxonomy: Taxonomy,
                     scored: Sequence[int]) -> tuple[Answers, list[Any]]:
    """What a model says of ``records``, as the replay scores it (the ``scored`` ones), and
    its classifications of all of them."""
    results = classify(loaded, [r.incident() for r in records], taxonomy)
    answers = Answers([tuple(taxonomy.categories_of(records[i].tags.types)) for i in scored],
                      [tuple(results[i].categories) for i in scored],
                      [results[i].needs_review for i in scored])
    true_tags = [records[i].tags.types for i in scored]
    answers.add_scores([results[i].scores for i in scored], true_tags)
    answers.add_confidences([results[i] for i in scored], true_tags)
    return answers, results


@dataclass(frozen=True)
class _Scratch:
    """Where a replay lives: its store and models folder (``settings``), the product's rules and
    recipe, and the model frozen at the start."""

    settings: Settings
    registry: ModelRegistry
    taxonomy: Taxonomy
    recipe: IncidentTypeClassifier | None
    frozen: LoadedModel


def replay(records: Sequence[BugRecord], *, settings: Settings, taxonomy: Taxonomy,
           start: datetime, workdir: Path, end: datetime | None = None,
           recipe: IncidentTypeClassifier | None = None,
           progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Replay ``records`` (bugs with their final tags) from ``start`` in a scratch store in
    ``workdir``; the report holds every quarter's figures, each year's and the whole period's.

    ``settings`` gives the product's rules (gate tolerance, holdout, ...); its store and models
    folder are replaced by ones in ``workdir``. ``recipe`` is the product's model (the shipped
    one by default).
    """
    note = progress or (lambda _: None)
    dated = sorted((r for r in records if r.creation_time is not None),
                   key=lambda r: (r.creation_time, r.id))
    if not dated:
        raise NotEnoughData("no incident with a filing time to replay")
    last = dated[-1].creation_time
    assert last is not None
    stop = end or last
    workdir.mkdir(parents=True, exist_ok=True)
    local = settings.model_copy(update={"database_url": f"sqlite:///{workdir / 'replay.db'}",
                                        "models_dir": workdir / "models"})
    upgrade(local.database_url)
    clock = time.perf_counter()
    try:
        before = [r for r in dated if r.creation_time is not None and r.creation_time < start]
        scratch = _first_model(local, taxonomy, recipe, before, note, start)
        rows: list[dict[str, Any]] = []
        per_year: dict[str, dict[str, Answers]] = {}
        overall = {name: Answers() for name in CONTENDERS}
        for name, begin, finish in quarters(start, stop):
            filed = [r for r in dated if r.creation_time is not None
                     and begin <= r.creation_time < finish and (end is None or r.creation_time <= end)]
            if not filed:
                continue
            quarter, row = _live_through(scratch, name, filed)
            for contender, answers in quarter.items():
                per_year.setdefault(name[:4], {c: Answers() for c in CONTENDERS})[contender].extend(answers)
                overall[contender].extend(answers)
            rows.append(row)
            note(f"{name}: {row['product']['n']} scored, product micro "
                 f"{row['product']['micro_f1']:.3f}, {row['decision']}")
    finally:
        dispose_engines()
    categories = list(taxonomy.categories)
    return {
        "start": start.isoformat(), "end": stop.isoformat(),
        "first_model": {"version": scratch.frozen.version,
                        "trained_on": scratch.frozen.card["training_data"]["size"]},
        "settings": {name: getattr(local, name) for name in _GATE_SETTINGS},
        "quarters": rows,
        "years": [{"period": year, **_figures_of(answers, categories)}
                  for year, answers in sorted(per_year.items())],
        "overall": _figures_of(overall, categories),
        # The product's lead over the others, with how sure it is: per year, then overall.
        "against": {**{year: against_others(answers, categories)
                       for year, answers in sorted(per_year.items())},
                    "overall": against_others(overall, categories)},
        "seconds": round(time.perf_counter() - clock, 1),
    }


def _figures_of(answers: dict[str, Answers], categories: Sequence[str]) -> dict[str, Any]:
    """:func:`figures` of each contender (review figures for all but the baseline)."""
    return {c: figures(a, categories, reviews=c != "baseline") for c, a in answers.items()}


def _first_model(local: Settings, taxonomy: Taxonomy, recipe: IncidentTypeClassifier | None,
                 before: Sequence[BugRecord], note: Callable[[str], None], start: datetime) -> _Scratch:
    """Store the incidents filed ``before`` the replay with their tags and train the first model
    on them, through the product's own retraining (it becomes the active version)."""
    registry = ModelRegistry(local.models_dir)
    with session_scope(local.database_url) as session:
        upsert_bugs(session=session, records=before)
    note(f"training the first model on the {len(before)} incidents filed before {start:%Y-%m-%d}")
    first = retrain(settings=local, taxonomy=taxonomy, registry=registry, model=recipe,
                    requested_by="replay")
    return _Scratch(local, registry, taxonomy, recipe, registry.load(first.challenger))


def _live_through(scratch: _Scratch, name: str, filed: Sequence[BugRecord]
                  ) -> tuple[dict[str, Answers], dict[str, Any]]:
    """One quarter: its incidents are filed untagged and answered by each contender, then their
    tags become known and the product's loop runs. What each contender said of the typed ones,
    and the quarter's row of the report."""
    tick = time.perf_counter()
    local, taxonomy = scratch.settings, scratch.taxonomy
    with session_scope(local.database_url) as session:
        upsert_bugs(session=session, records=[_stripped(r) for r in filed])
    live = scratch.registry.load()
    scored = [i for i, r in enumerate(filed) if r.tags.types]
    product, results = _product_answers(live, filed, taxonomy, scored)
    with session_scope(local.database_url) as session:
        save_predictions(session=session, predictions=[
            result.prediction(record.id) for record, result in zip(filed, results, strict=True)])
    frozen, _ = _product_answers(scratch.frozen, filed, taxonomy, scored)
    quarter = {"product": product, "frozen": frozen,
               "baseline": _baseline_answers(local, taxonomy, filed, scored, product.truth)}
    # The quarter's tags become known, as the sync brings them; then the product's loop.
    with session_scope(local.database_url) as session:
        upsert_bugs(session=session, records=filed)
    outcome, reason = _loop(scratch)
    return quarter, {
        "period": name, "active": live.version,
        **_figures_of(quarter, list(taxonomy.categories)),
        "decision": outcome,
        "reason": reason,
        "seconds": round(time.perf_counter() - tick, 1),
    }


def _baseline_answers(local: Settings, taxonomy: Taxonomy, filed: Sequence[BugRecord],
                      scored: Sequence[int], truth: Sequence[tuple[str, ...]]) -> Answers:
    """The strong baseline fitted on every label the store knows, answering the quarter."""
    with session_scope(local.database_url) as session:
        known = load_dataset(session=session)
    baseline = WordCharTfidfBaseline().fit(known.X, [tuple(taxonomy.categories_of(t)) for t in known.y])
    frame = incidents_frame([r.incident() for r in filed])
    given = [tuple(str(c) for c in baseline.classes_[row])
             for row in baseline.decide_indicators(baseline.predict_proba(frame))]
    return Answers(list(truth), [given[i] for i in scored], [False] * len(scored))


def _loop(scratch: _Scratch) -> tuple[str, str]:
    """The nightly run's retraining rule, then the gate when it is due: what was decided, and why."""
    local = scratch.settings
    due = retrain_due(settings=local, taxonomy=scratch.taxonomy, registry=scratch.registry,
                      recipe=scratch.recipe)
    if not due.due:
        return "not retrained", due.reason
    decision = retrain(settings=local, taxonomy=scratch.taxonomy, registry=scratch.registry,
                       model=scratch.recipe, requested_by="replay")
    outcome = ("nothing new to learn" if decision.challenger is None else
               ("promoted " if decision.promoted else "kept ") + decision.challenger)
    return outcome, f"{due.reason}: {decision.reason}"


def render(report: dict[str, Any]) -> str:
    """The replay's report as a table for a terminal."""
    head = (f"{'period':<8} {'n':>4}  {'product micro/macro':>19} {'review':>6} {'auto P':>6} "
            f"{'err':>4} {'ECE':>5}  {'frozen micro/macro':>18} {'err':>4} {'ECE':>5}  "
            f"{'baseline micro/macro':>20} {'err':>4}  decision")
    lines = [f"Deployment replay from {report['start'][:10]} (first model trained on "
             f"{report['first_model']['trained_on']} incidents; briefing categories; ECE: expected "
             "calibration error of the tag probabilities)", "", head]

    def row(r: dict[str, Any], extra: str = "") -> str:
        p, f, b = r["product"], r["frozen"], r["baseline"]
        return (f"{r['period']:<8} {p['n']:>4}  {p['micro_f1']:>9.3f} / {p['macro_f1']:.3f} "
                f"{p['review_share']:>6.0%} {p['auto_precision']:>6.3f} {p['table_error']:>4} "
                f"{p.get('tag_ece', 0.0):>5.3f}  "
                f"{f['micro_f1']:>8.3f} / {f['macro_f1']:.3f} {f['table_error']:>4} "
                f"{f.get('tag_ece', 0.0):>5.3f}  "
                f"{b['micro_f1']:>10.3f} / {b['macro_f1']:.3f} {b['table_error']:>4}  {extra}")

    lines += [row(r, r["decision"]) for r in report["quarters"]]
    lines.append("")
    lines += [row(r) for r in report["years"]]
    lines.append(row({"period": "overall", **report["overall"]}))
    if "against" in report:
        lines += ["", "Product minus the others (F1; in brackets the 95 % paired bootstrap interval "
                  "over the period's incidents):",
                  f"{'period':<8}  {'against frozen: micro':<27} {'macro':<27}  "
                  f"{'against baseline: micro':<27} macro"]
        for period, against in report["against"].items():
            cells = [format_lead(against[other][key]) for other in ("frozen", "baseline")
                     for key in ("micro_f1", "macro_f1")]
            lines.append(f"{period:<8}  {cells[0]:<27} {cells[1]:<27}  {cells[2]:<27} {cells[3]}")
    periods = [*report["years"], {"period": "overall", **report["overall"]}]
    if any("confidence_ece" in r["product"] for r in periods):
        lines += ["", "Confidence of the incidents given one (above 0): its mean, the share whose "
                  "answers were all right, the expected calibration error:",
                  f"{'period':<8}  {'product: mean':>13} {'right':>6} {'ECE':>6}  "
                  f"{'frozen: mean':>12} {'right':>6} {'ECE':>6}"]
        for r in periods:
            p, f = r["product"], r["frozen"]
            lines.append(f"{r['period']:<8}  {p.get('mean_confidence', 0.0):>13.3f} "
                         f"{p.get('wholly_right', 0.0):>6.3f} {p.get('confidence_ece', 0.0):>6.3f}  "
                         f"{f.get('mean_confidence', 0.0):>12.3f} {f.get('wholly_right', 0.0):>6.3f} "
                         f"{f.get('confidence_ece', 0.0):>6.3f}")
    if "per_category" in report["overall"]["product"]:
        lines += ["", "Briefing rows over the whole replay (true and given counts, the product's "
                  "precision, recall and F1; the others' F1):",
                  f"{'row':<27} {'true':>4} {'given':>5}  {'P':>5} {'R':>5} {'F1':>5}  "
                  f"{'frozen':>6} {'baseline':>8}"]
        overall = report["overall"]
        for row_name, p in overall["product"]["per_category"].items():
            lines.append(
                f"{row_name:<27} {p['support']:>4} {p['predicted']:>5}  {p['precision']:>5.2f} "
                f"{p['recall']:>5.2f} {p['f1']:>5.2f}  "
                f"{overall['frozen']['per_category'][row_name]['f1']:>6.2f} "
                f"{overall['baseline']['per_category'][row_name]['f1']:>8.2f}")
    lines.append(f"\n{report['seconds']:.0f} s")
    return "\n".join(lines)
