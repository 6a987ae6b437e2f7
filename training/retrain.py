"""Gated retraining: a challenger replaces the active model only when it is not worse.

The comparison window is the newest labelled incidents by filing time, never fewer than
``retrain_min_holdout`` (see ``holdout_window``): those filed after the active model's last
training incident (neither model has seen them) when there are at least that many (at most the
newest ``max(retrain_min_holdout, ceil(retrain_holdout_fraction * n))``), else the newest
``retrain_min_holdout``, always leaving at least ``retrain_min_holdout`` older ones to fit on.

The challenger's recipe is scored on the window as it would have lived it
(``training.evaluate.score_prequential``): the window is cut into ``retrain_gate_blocks``
consecutive blocks by filing time, each predicted by the recipe fitted on every incident filed
before it. The first block's fit learns only what precedes the window; the later ones have also
learned the window's earlier blocks, so a challenger that gains from the newest labels (a moved
mix) shows it, where a single fit on the older rest would learn the same incidents as the active
model and compare it with itself. The active artefact, the thing that is serving, is scored on
the same incidents. The challenger passes when its category micro- and macro-F1 are each at
least the active model's minus ``retrain_tolerance``, or when a lower figure is not a measured
one: lower in fewer than ``retrain_gate_confidence`` of paired bootstrap resamples of the window
(``metrics.worse_in_resamples``).

When the active model learned some of the window, its own answers there are its training
data's and would flatter it: its recipe (``recipe`` with the artefact's parameters) is scored
instead, prequentially on the same blocks, each fit on the labels it learned (the corrections
stored before its card was written). The same recipe on the same labels gives the challenger's
own scores. When the active model has the challenger's recipe and its card says it learned
exactly the store's labelled incidents and tags, there is nothing new to learn: the active model
is kept at once, nothing is fitted and no version is written (unless ``force``), and the decision
names no challenger.

When the store holds too few labelled incidents to compare (fewer than twice the minimum),
nothing is compared: an active model is kept unless ``force``, and with no active model the
challenger becomes the first version. When the challenger passes (or ``force``), it is fitted on
every labelled incident and that fit becomes the new active version; otherwise that fit is kept
as a candidate version; so is it when another version became active while it trained (the
promotion checks that the version it replaces is still the active one). Every decision is
recorded in ``model_decisions`` with both sets of figures and the window they are on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from classifier import ActiveChanged, IncidentTypeClassifier, NotEnoughData, Taxonomy
from core.config import Settings
from core.db import session_scope
from core.labels import corrections_against_bugzilla
from core.pause import pause_at
from core.registry import ModelRegistry
from core.tables import ModelDecisionRow, utcnow

from .dataset import Dataset, labels_as_of, load_dataset
from .evaluate import predictions, score_predictions, score_prequential
from .metrics import difference_interval, lower_and_higher_in_resamples
from .train import default_model, train_version

_HEADLINE = ("category_micro_f1", "category_macro_f1")
#: Paired bootstrap resamples of the window behind a decision (``metrics.worse_in_resamples``).
GATE_RESAMPLES = 1000


@dataclass(frozen=True, kw_only=True)
class RetrainDecision:
    """What a retraining did and why; ``id`` is its row in ``model_decisions``."""

    id: int
    challenger: str | None  # None: nothing new to learn, nothing was fitted
    active_before: str | None
    active_after: str | None
    promoted: bool
    forced: bool
    tolerance: float
    reason: str
    challenger_metrics: dict[str, Any]
    active_metrics: dict[str, Any] | None
    requested_by: str | None
    window: str = ""  # the incidents compared on, in words (their figures are in the metrics)
    #: The gate (or --force) said promote, but another version became active while this one
    #: trained: the challenger was compared with a version no longer in service, so it was not
    #: promoted (a caller such as the CLI fails on it).
    superseded: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HoldoutWindow:
    """The newest ``size`` labelled incidents, on which challenger and active model are compared.

    ``size`` is 0 when the store holds too few labelled incidents to compare (``labelled`` <
    ``needed``). ``unseen`` counts the labelled incidents filed after the active model's last
    training incident (0 without an active model).
    """

    size: int
    labelled: int
    needed: int
    minimum: int
    unseen: int
    active: str | None = None
    first: str | None = None
    last: str | None = None

    @property
    def compared(self) -> bool:
        return self.size > 0

    @property
    def all_unseen(self) -> bool:
        """Whether the active model has seen none of the window (False without an active model)."""
        return self.active is not None and 0 < self.size <= self.unseen

    def too_few(self) -> str:
        return (f"too few labelled incidents to compare ({self.labelled} < {self.needed}: "
                f"INCIDENTS_RETRAIN_MIN_HOLDOUT={self.minimum} to compare on, and as many older "
                f"ones to fit on)")

    def describe(self) -> str:
        """Which incidents the figures are on, in words."""
        if not self.compared:
            return f"none: {self.too_few()}"
        span = (f"the newest {self.size} labelled incidents, filed {(self.first or '')[:16]} to "
                f"{(self.last or '')[:16]}")
        if self.active is None:
            return span
        if self.all_unseen:
            return f"{span}, all filed after {self.active}'s last training incident (unseen by it)"
        if not self.unseen:
            return (f"{span}, none newer than {self.active}'s last training incident (it may "
                    f"have learned them all)")
        return (f"{span}; only the last {self.unseen} are newer than {self.active}'s last training "
                f"incident (fewer than {self.minimum}), it may have learned the other "
                f"{self.size - self.unseen}")


def holdout_window(dataset: Dataset, fraction: float,
                   active_last_filed: np.datetime64 | None = None, *, min_size: int = 1,
                   active: str | None = None) -> HoldoutWindow:
    """How many of the newest labelled incidents both models are judged on (the dataset is oldest
    first).

    Those filed after the active model's last training incident (``active_last_filed``; neither
    model has seen them) when there are at least ``min_size`` of them, at most the newest
    ``max(min_size, ceil(fraction * n))``; otherwise the newest ``min_size``, as few of which the
    active model has seen as the minimum allows (they flatter it: the gate then errs towards
    keeping it). Without an active model, the newest ``max(min_size, ceil(fraction * n))``. At least
    ``min_size`` older incidents are always left to fit the challenger on, so with fewer than
    ``2 * min_size`` labelled incidents nothing is compared (``size`` 0).
    """
    n = len(dataset)
    unseen = int((dataset.created > active_last_filed).sum()) if active_last_filed is not None else 0
    window = HoldoutWindow(size=0, labelled=n, needed=2 * min_size, minimum=min_size,
                           unseen=unseen, active=active)
    if n < 2 * min_size:
        return window
    share = max(min_size, math.ceil(n * fraction))
    if active_last_filed is None:
        size = share  # no active model: the first version's card is on the newest share
    elif unseen >= min_size:
        size = min(unseen, share)
    else:  # as few incidents the active model learned as the minimum allows
        size = min_size
    size = min(size, n - min_size)
    newest = dataset.created[n - size:]
    return replace(window, size=size, first=_iso(newest.min()), last=_iso(newest.max()))


def holdout_split(dataset: Dataset, fraction: float,
                  active_last_filed: np.datetime64 | None = None, *,
                  min_size: int = 1) -> tuple[Dataset, Dataset]:
    """The incidents the challenger learns from, and the newer ones both models are judged on.

    See ``holdout_window``; NotEnoughData when there are too few labelled incidents to compare.
    """
    window = holdout_window(dataset, fraction, active_last_filed, min_size=min_size)
    if not window.compared:
        raise NotEnoughData(window.too_few())
    return _split_newest(dataset, window.size)


def _iso(moment: Any) -> str:
    return pd.Timestamp(moment).tz_localize(UTC).isoformat()


def _recipe_of(fitted: Any, recipe: IncidentTypeClassifier) -> IncidentTypeClassifier:
    """The active model's recipe: ``recipe`` with the fitted artefact's own parameters where it
    has them (one written before a parameter existed keeps the recipe's), ``n_jobs`` aside."""
    params = {name: getattr(fitted, name) for name in recipe.get_params(deep=False)
              if name != "n_jobs" and hasattr(fitted, name)}
    return clone(recipe).set_params(**params)


def _same_recipe(one: IncidentTypeClassifier, other: IncidentTypeClassifier) -> bool:
    """Whether two recipes have the same parameters, ``n_jobs`` (how fast, not what) aside."""
    def params(model: IncidentTypeClassifier) -> dict[str, Any]:
        return {k: v for k, v in model.get_params(deep=False).items() if k != "n_jobs"}
    return params(one) == params(other)


def _nothing_new(active: Any, recipe: IncidentTypeClassifier, dataset: Dataset) -> bool:
    """Whether the active model has ``recipe`` and its card says it learned exactly ``dataset``
    (the store's labelled incidents and tags as they are): a challenger would be the same model."""
    learned = (active.card.get("training_data") or {}).get("sha256")
    return learned == dataset.fingerprint() and _same_recipe(_recipe_of(active.model, recipe), recipe)


def _active_recipe_scores(active: Any, recipe: IncidentTypeClassifier, dataset: Dataset,
                          size: int, settings: Settings, taxonomy: Taxonomy,
                          challenger_scores: dict[str, Any],
                          progress: Callable[[str], None]) -> dict[str, Any] | None:
    """The active model's recipe scored on the window as the challenger's is (prequentially),
    each fit on the labels the active model learned (:func:`_learned`). For a window the active model learned
    some of, where its own answers would be those of its training data.

    The challenger's own scores when the recipe and those labels are the challenger's (the same
    fits would follow). None when the recipe cannot be fitted so (the artefact is scored then).
    """
    own = _recipe_of(active.model, recipe)
    learned = _learned(active.card, settings)
    if _same_recipe(own, recipe) and learned.fingerprint() == dataset.fingerprint():
        progress("the challenger's recipe and labels: its figures")
        return challenger_scores  # the same fits would follow
    try:
        return score_prequential(own, dataset, size, settings.retrain_gate_blocks, taxonomy,
                                 progress=progress, fit_on=learned)
    except NotEnoughData:
        return None


def _learned(card: dict[str, Any], settings: Settings) -> Dataset:
    """The labelled incidents the model of ``card`` learned, as far as the store can tell: the
    corrections stored before its labels were read (``labels_as_of``), and the Bugzilla tags of
    the bugs first tagged by then (old bugs Mozilla tagged later are left out).

    A store loaded after the model was trained has every tag arriving after it; then the tags
    are taken as they are today. Of the two readings, the one whose size is nearer the card's
    training size is the store's history.
    """
    created = labels_as_of(card)
    with session_scope(settings.database_url) as session:
        today = load_dataset(session=session, corrections_as_of=created)
        if created is None:
            return today
        then = load_dataset(session=session, corrections_as_of=created, tags_as_of=created)
    try:
        size = int(card["training_data"]["size"])
    except (KeyError, TypeError, ValueError):
        return today
    return then if abs(len(then) - size) <= abs(len(today) - size) else today


def _last_filed(card: dict[str, Any]) -> np.datetime64 | None:
    try:
        return np.datetime64(card["training_data"]["last_filed"], "s")
    except (KeyError, TypeError, ValueError):
        return None


def headline(scores: dict[str, Any] | None, test: Dataset, unseen: bool = False) -> dict[str, Any]:
    """The figures a decision records of one contender, and the window they are on.

    ``scores`` None (nothing was compared) gives no figures and an empty window. ``unseen``: the
    active model has seen none of ``test``.
    """
    figures = {
        "category_micro_f1": scores["categories"]["micro_f1"] if scores else None,
        "category_macro_f1": scores["categories"]["macro_f1"] if scores else None,
        "tag_micro_f1": scores["tags"]["micro_f1"] if scores else None,
        "tag_macro_f1": scores["tags"]["macro_f1"] if scores else None,
        "brier": scores["brier"] if scores else None,
    }
    return {
        **figures,
        "holdout_size": len(test),
        "holdout_from": _iso(test.created.min()) if len(test) else None,
        "holdout_to": _iso(test.created.max()) if len(test) else None,
        "holdout_unseen": bool(unseen and len(test)),
    }


def gate(challenger: dict[str, Any], active: dict[str, Any], tolerance: float,
         worse_in: dict[str, float] | None = None, confidence: float = 0.0,
         better_in: dict[str, float] | None = None) -> tuple[bool, str]:
    """Whether the challenger is not worse than the active model on each headline figure.

    A figure below the active model's minus ``tolerance`` keeps the active model only when the
    challenger is lower in at least ``confidence`` of the paired resamples of the window
    (``worse_in``, the share per figure; without it, always). ``better_in`` (the share where it
    is higher) only completes the message: the rest are resamples where the two are the same,
    which a window where they differ on a few incidents has many of.
    """
    worse: list[str] = []
    unsure: list[str] = []
    for name in _HEADLINE:
        if challenger[name] >= active[name] - tolerance - 1e-12:
            continue
        text = f"{_said(name)} {challenger[name]:.4f} < {active[name]:.4f} - {tolerance:g}"
        share = None if worse_in is None else worse_in[name]
        if share is None:
            worse.append(text)
        elif share >= confidence:
            worse.append(f"{text}, lower in {share:.0%} of resamples of the window")
        else:
            higher = "" if better_in is None else (
                f", higher in {better_in[name]:.0%}, the same in "
                f"{max(0.0, 1 - share - better_in[name]):.0%}")
            unsure.append(f"{text} but lower in only {share:.0%} of resamples of the window "
                          f"(fewer than {confidence:.0%}{higher})")
    if worse:
        return False, "challenger is worse: " + "; ".join(worse)
    figures = ", ".join(f"{_said(name)} {challenger[name]:.4f} vs {active[name]:.4f}"
                        for name in _HEADLINE)
    if unsure:
        return True, ("challenger is not measured worse: " + "; ".join(unsure)
                      + f"; {figures} (tolerance {tolerance:g})")
    return True, f"challenger is not worse: {figures} (tolerance {tolerance:g})"


def _said(name: str) -> str:
    """A headline figure's name as the other messages write it: category_micro_f1 is
    "category micro-F1"."""
    return name.replace("_f1", "-F1").replace("_", " ")


def retrain(*, settings: Settings, taxonomy: Taxonomy, registry: ModelRegistry, force: bool = False,
            requested_by: str | None = None, model: IncidentTypeClassifier | None = None,
            progress: Callable[[str], None] | None = None) -> RetrainDecision:
    """Train a challenger on everything the store holds and promote it only if it is not worse.

    ``model`` is the challenger's recipe (the shipped one by default). With ``force`` the
    challenger is promoted whatever its figures (or when there are too few incidents to compare),
    and the decision says so. ``progress`` is told what is being done, from the first step on.

    The steps: nothing new to learn decides at once (:func:`_nothing_new_decision`); else the
    window is cut (:func:`holdout_window`), the challenger's recipe predicts it as it would have
    lived it, the active model is judged on the same incidents (:func:`_judged_against_active`),
    the challenger is fitted on every labelled incident, and promoted when the gate (or
    ``force``) says so.
    """
    note = progress or (lambda _: None)
    recipe = model if model is not None else default_model(settings, taxonomy)
    tolerance = settings.retrain_tolerance
    note("loading labelled incidents from the store")
    with session_scope(settings.database_url) as session:
        dataset = load_dataset(session=session)
    if len(dataset) < 2:
        raise NotEnoughData("the store holds fewer than 2 labelled incidents; run `incidents sync` first")
    active_before = registry.active_version()
    active_model = registry.load(active_before) if active_before else None
    if active_before and active_model is not None and not force \
            and _nothing_new(active_model, recipe, dataset):
        return _nothing_new_decision(settings, dataset, active_before, requested_by)
    window = holdout_window(dataset, settings.retrain_holdout_fraction,
                            _last_filed(active_model.card) if active_model else None,
                            min_size=settings.retrain_min_holdout, active=active_before)
    train, test = _split_newest(dataset, window.size if window.compared else 0)

    challenger_scores: dict[str, Any] | None = None
    not_compared = window.too_few()
    if window.compared:
        try:
            challenger_scores = score_prequential(
                recipe, dataset, window.size, settings.retrain_gate_blocks, taxonomy,
                progress=lambda message: note(f"challenger: {message}"))
        except NotEnoughData as exc:
            window = replace(window, size=0, first=None, last=None)
            not_compared = f"the challenger cannot be fitted on the {len(train)} older incidents ({exc})"
            train, test = _split_newest(dataset, 0)
    challenger_metrics = headline(challenger_scores, test, window.all_unseen)
    contenders: dict[str, Any] = {}
    active_metrics: dict[str, Any] | None = None
    if challenger_scores is not None:
        challenger_metrics["holdout_blocks"] = challenger_scores["blocks"]
        contenders["model"] = challenger_scores
    if active_before is None or active_model is None:
        promote, reason = True, "no model was active"
    elif challenger_scores is None:
        promote, reason = False, not_compared
    else:
        active_scores, active_metrics, promote, reason = _judged_against_active(
            active_model, active_before, recipe, dataset, test, window, challenger_scores,
            challenger_metrics, settings=settings, taxonomy=taxonomy, note=note)
        contenders[f"active {active_before}"] = active_scores
        if promote:
            contradicted = _contradicted(settings, taxonomy, test, active_model.card)
            if len(contradicted) >= max(HOLD_MIN_CONTRADICTED, HOLD_SHARE * len(test)):
                challenger_metrics["contradicted_corrections"] = contradicted
                promote, reason = False, _held(contradicted, len(test), active_before, reason)
    if force:
        reason = f"forced although {reason}" if not promote else f"forced; {reason}"
    # The card's metrics: the comparison when there was one, else the time split of `train`.
    report = None if challenger_scores is None else {
        "cutoff": challenger_metrics["holdout_from"], "end": None, "train_size": len(train),
        "test_size": len(test), "blocks": challenger_scores["blocks"], "contenders": contenders}

    version, _ = train_version(dataset, settings=settings, taxonomy=taxonomy, registry=registry,
                               promote_first=False, model=recipe, report=report,
                               progress=lambda message: note(f"challenger: {message}"))
    promoted, superseded = promote or force, False
    pause_at("retrain:trained")
    if promoted:
        try:
            registry.promote(version, reason=f"retrain: {reason}", replacing=active_before,
                             by=requested_by)
        except ActiveChanged as exc:
            # Another job promoted a version while this one trained: this challenger was
            # compared with a version that no longer serves, so it must not replace the new one.
            promoted, superseded = False, True
            reason = f"refused: {exc} (the gate had said: {reason})"
    decision_id = _record_decision(settings, challenger=version, active_before=active_before,
                                   promoted=promoted, forced=force, tolerance=tolerance,
                                   reason=reason, challenger_metrics=challenger_metrics,
                                   active_metrics=active_metrics, requested_by=requested_by)
    return RetrainDecision(id=decision_id, challenger=version, active_before=active_before,
                           active_after=registry.active_version(), promoted=promoted, forced=force,
                           tolerance=tolerance, reason=reason, challenger_metrics=challenger_metrics,
                           active_metrics=active_metrics, requested_by=requested_by,
                           window=_described(window, not_compared, challenger_scores,
                                             active_metrics, active_before),
                           superseded=superseded)


#: The gate holds a challenger it would promote when at least this many (and this share) of the
#: window's incidents carry corrections made since the active model that contradict Mozilla's
#: own tags (:func:`_contradicted`): the window is scored against those corrections.
HOLD_MIN_CONTRADICTED = 5
HOLD_SHARE = 0.1


def _contradicted(settings: Settings, taxonomy: Taxonomy, test: Dataset,
                  card: dict[str, Any]) -> list[int]:
    """The window's incidents whose correction, stored since the labels the active model of
    ``card`` learned, puts them in other briefing rows than Mozilla's tags in Bugzilla.

    The gate scores both models against the window's labels, corrections included. A batch of
    wrong corrections there (a bad import, a mistaken maintainer) is the truth both are scored
    on: the challenger, fitted with the earlier of them, agrees with them best and was
    promoted ("0.3235 vs 0.0667" on 45 incidents corrected to audit-delay)."""
    with session_scope(settings.database_url) as session:
        return corrections_against_bugzilla(session=session, incident_ids=[int(i) for i in test.ids],
                                            since=labels_as_of(card),
                                            categories_of=taxonomy.categories_of)


def _held(contradicted: list[int], size: int, active: str, verdict: str) -> str:
    """Why the gate held a challenger it would have promoted (see :func:`_contradicted`)."""
    bugs = ", ".join(map(str, contradicted[:10])) + (", ..." if len(contradicted) > 10 else "")
    return (f"held: {len(contradicted)} of the {size} incidents compared on carry corrections "
            f"made since {active} that put them in other briefing rows than Mozilla's tags in "
            f"Bugzilla (bugs {bugs}), and the figures are scored against them; check those "
            f"corrections (`incidents corrections list --bug ID`), then promote the challenger "
            f"(`incidents models promote`) or retrain with --force (the gate had said: {verdict})")


def _split_newest(dataset: Dataset, size: int) -> tuple[Dataset, Dataset]:
    """The incidents but the newest ``size`` (the dataset is oldest first), and those."""
    mask = np.zeros(len(dataset), dtype=bool)
    if size:
        mask[len(dataset) - size:] = True
    return dataset.subset(~mask), dataset.subset(mask)


def _nothing_new_decision(settings: Settings, dataset: Dataset, active: str,
                          requested_by: str | None) -> RetrainDecision:
    """The decision, recorded, when the active model already has the recipe and learned the
    store's labelled incidents (``dataset``) as they are: nothing is fitted."""
    reason = (f"nothing new to learn: {active} has the challenger's recipe and learned "
              f"the store's {len(dataset)} labelled incidents and their tags as they are now; "
              f"nothing was fitted")
    fields: dict[str, Any] = {
        "challenger": None, "active_before": active, "promoted": False, "forced": False,
        "tolerance": settings.retrain_tolerance, "reason": reason, "active_metrics": None,
        "requested_by": requested_by,
        "challenger_metrics": headline(None, _split_newest(dataset, 0)[1])}
    decision_id = _record_decision(settings, **fields)
    return RetrainDecision(id=decision_id, active_after=active, window="none: nothing new to learn",
                           **fields)


def _judged_against_active(
        active_model: Any, active: str, recipe: IncidentTypeClassifier, dataset: Dataset,
        test: Dataset, window: HoldoutWindow, challenger_scores: dict[str, Any],
        challenger_metrics: dict[str, Any], *, settings: Settings, taxonomy: Taxonomy,
        note: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, Any], bool, str]:
    """The active model scored on the window the challenger was (its recipe refitted as the
    challenger was when it may have learned the window, else its own answers), the paired
    resamples of the two (added to ``challenger_metrics``) and the gate's verdict: the active
    model's scores and figures, whether to promote, and why."""
    active_scores = None if window.all_unseen else _active_recipe_scores(
        active_model, recipe, dataset, window.size, settings, taxonomy, challenger_scores,
        progress=lambda message: note(f"active {active}'s recipe: {message}"))
    if active_scores is None:
        note(f"evaluating the active {active} on the same {len(test)} incidents")
        # One prediction of the window by the active model: scored, and compared in resamples.
        proba, active_tags, review = predictions(active_model.model, test)
        active_scores = score_predictions(
            test, active_tags, proba, list(active_model.model.classes_), taxonomy, review)
    else:
        active_tags = active_scores["predicted"]
    active_metrics = headline(active_scores, test, window.all_unseen)
    if "blocks" in active_scores:
        active_metrics["holdout_blocks"] = active_scores["blocks"]
        active_metrics["scored_as"] = "recipe"
    compared = ([taxonomy.categories_of(t) for t in test.y],
                [taxonomy.categories_of(t) for t in challenger_scores["predicted"]],
                [taxonomy.categories_of(t) for t in active_tags],
                list(taxonomy.categories))
    lower, higher = lower_and_higher_in_resamples(*compared, resamples=GATE_RESAMPLES,
                                                  seed=settings.random_state)
    worse_in = {f"category_{name}": share for name, share in lower.items()}
    better_in = {f"category_{name}": share for name, share in higher.items()}
    challenger_metrics["worse_in_resamples"] = worse_in
    challenger_metrics["better_in_resamples"] = better_in
    # The same resamples as an interval: the challenger's F1 minus the active model's.
    challenger_metrics["lead_over_active"] = {
        f"category_{name}": interval for name, interval in difference_interval(
            *compared, resamples=GATE_RESAMPLES, seed=settings.random_state).items()}
    promote, reason = gate(challenger_metrics, active_metrics, settings.retrain_tolerance,
                           worse_in, settings.retrain_gate_confidence, better_in)
    return active_scores, active_metrics, promote, reason


def _described(window: HoldoutWindow, not_compared: str, challenger_scores: dict[str, Any] | None,
               active_metrics: dict[str, Any] | None, active: str | None) -> str:
    """The comparison window in words, as `retrain` answers it."""
    if challenger_scores is None:
        return f"none: {not_compared}"
    described = window.describe()
    if challenger_scores["blocks"] > 1:
        described += (f"; the challenger predicted them in {challenger_scores['blocks']} "
                      f"blocks by filing time, each fitted on every incident filed before it")
    if active_metrics is not None and active_metrics.get("scored_as") == "recipe":
        described += (f"; {active} may have learned {'some' if window.unseen else 'all'} "
                      f"of them, where its own answers would be its training data's: its recipe "
                      f"predicted them the same way, fitted on the labels {active} learned")
    return described


def _record_decision(settings: Settings, **fields: Any) -> int:
    """Store a decision in ``model_decisions``; its id."""
    with session_scope(settings.database_url) as session:
        row = ModelDecisionRow(created_at=utcnow(), **fields)
        session.add(row)
        session.flush()
        return row.id
