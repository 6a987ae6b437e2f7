"""The nightly run (`incidents nightly`, what cron runs): sync, retrain when it is time, relabel.

1. **sync**: from Bugzilla (``sync_from_bugzilla``, incremental), or, when
   ``INCIDENTS_NIGHTLY_SOURCE=snapshot``, from the snapshot folder (``INCIDENTS_SNAPSHOT_DIR``).
   Either way the store's ``upsert_bugs`` scores the predictions of incidents whose first type
   tags arrive (the live record, ``core.live``).
2. **retrain** through the gate (``training.retrain.retrain``, requested by ``nightly``) when
   no model is active, or when at least ``INCIDENTS_NIGHTLY_MIN_NEW_LABELS`` labelled incidents
   are new to the newest version (:func:`new_label_count`; the active one unless a challenger was
   kept or a maintainer rolled back), when the recipe is not the newest version's (a taxonomy
   edit: :func:`recipe_changes`), or when the active model's live record alarms
   (``core.live.live_alarm``; :func:`retrain_due`); otherwise the run records why not.
3. **relabel** every stored incident with the (possibly new) active model
   (``training.relabel.relabel``; resumable).

Each run is a row of ``nightly_runs``, committed as each step ends: the sync summary, the
new-label count, the alarm, whether it retrained and why (and the decision's id), the relabel
run's id and changed count. A step that fails ends the run: it is recorded as ``failed`` with
the step and the error, and the error is raised again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from classifier import IncidentTypeClassifier, ModelNotFound, Taxonomy
from core.bugzilla import sync_from_bugzilla, sync_snapshot
from core.config import Settings
from core.corrections import latest_correction_ids
from core.db import session_scope
from core.jobs import JobLock, describe_holder, held_alive
from core.labels import Label, LabelSource, incident_labels
from core.live import live_alarm, live_record
from core.registry import ModelRegistry
from core.tables import CorrectionRow, IncidentRow, NightlyRunRow, PredictionRow, utcnow
from core.text import first_line

from .dataset import card_time, labels_as_of
from .relabel import RelabelReport, relabel
from .retrain import RetrainDecision, retrain
from .train import default_model

log = logging.getLogger(__name__)

#: Who a nightly retraining is recorded as requested by.
REQUESTED_BY = "nightly"


@dataclass
class NightlyReport:
    """What one nightly run did; ``run_id`` is its row in ``nightly_runs``."""

    run_id: int
    source: str
    status: str = "running"
    sync_summary: str | None = None
    sync_counts: dict[str, Any] | None = None
    new_labels: int | None = None
    live_alarm: str | None = None
    retrained: bool | None = None
    retrain_reason: str | None = None
    decision: RetrainDecision | None = None
    relabel: RelabelReport | None = None
    failed_step: str | None = None
    error: str | None = None
    #: The rollback that made the replaced version active, when a promotion replaced it.
    rollback: dict[str, Any] | None = None

    def retrain_line(self) -> str:
        if not self.retrained:
            return f"not retrained: {self.retrain_reason}"
        d = self.decision
        if d is None:
            return f"retrained: {self.retrain_reason}"
        if d.challenger is None:  # the retraining found nothing to fit
            return f"not retrained ({self.retrain_reason}); decision {d.id}: {d.reason}"
        if d.promoted:
            outcome = f"promoted {d.challenger} (was {d.active_before or 'none'})"
            if self.rollback is not None:  # a maintainer's choice undone: said, not silent
                outcome += (f", over {self.rollback.get('by') or 'a maintainer'}'s rollback to "
                            f"{d.active_before} of {str(self.rollback.get('at', ''))[:10]}")
        elif d.superseded:  # another version was promoted while it trained
            outcome = f"{d.challenger} stays a candidate, {d.active_after} became active meanwhile"
        else:
            outcome = f"kept {d.active_before} active, {d.challenger} stays a candidate"
        return f"retrained, {self.retrain_reason}; decision {d.id}, {outcome}: {d.reason}"


def _store_labels(session: Session) -> dict[int, Label]:
    """Every incident's label as training would take it now (correction, else Mozilla's tags)."""
    return incident_labels(session=session, incident_ids=select(IncidentRow.id),
                           active_version=None, predictions=False)


def new_label_count(*, session: Session, card: dict[str, Any] | None,
                    labels: Mapping[int, Label] | None = None) -> int:
    """How many labelled incidents the model of ``card`` did not learn as they are labelled now.

    Of the incidents training would take now (dated, with a type tag by their latest correction,
    else by Mozilla's tags: ``core.labels``), those

    1. filed after the card's ``training_data.last_filed`` (the model cannot have seen them);
    2. filed up to then whose latest correction was stored after the card's labels were read
       (``training.dataset.labels_as_of``: when training read them, not when it finished, so a
       correction stored while the version was fitted is new to it);
    3. filed up to then, labelled by Mozilla's tags that first reached the store (``tags_known_at``)
       after that time: old bugs tagged late. These count at most as many as the labelled
       incidents filed up to ``last_filed`` now exceed the card's ``training_data.size``, so a
       store reloaded after training (where every tag looks new) counts none of them.

    Without a card every labelled incident is new. Mozilla's retagging of a tagged bug is not
    seen. ``labels``: the store's labels (:func:`_store_labels`), when the caller read them.
    """
    labels = _store_labels(session) if labels is None else labels
    training = (card or {}).get("training_data") or {}
    created = labels_as_of(card) if card else None
    last_filed = card_time(training.get("last_filed"))
    corrected_at = {bug_id: at for bug_id, at in session.execute(
        select(CorrectionRow.incident_id, CorrectionRow.created_at)
        .where(CorrectionRow.id.in_(latest_correction_ids())))}
    after = corrected = tagged_late = old = 0
    for bug_id, filed, tags_known_at in session.execute(
            select(IncidentRow.id, IncidentRow.creation_time, IncidentRow.tags_known_at)):
        label = labels.get(bug_id)
        if label is None or not label.tags or filed is None:
            continue
        if card is None or (last_filed is not None and filed.replace(microsecond=0) > last_filed):
            after += 1
            continue
        old += 1
        if created is None:
            continue
        if label.source == LabelSource.CORRECTION:
            corrected += corrected_at[bug_id] > created
        elif tags_known_at is not None and tags_known_at > created:
            tagged_late += 1
    try:
        grown = max(0, old - int(training["size"]))
    except (KeyError, TypeError, ValueError):
        grown = tagged_late
    return after + corrected + min(tagged_late, grown)


def newly_learnable(*, session: Session, card: dict[str, Any] | None,
                    labels: Mapping[int, Label] | None = None) -> dict[str, int]:
    """The tags that have enough labelled incidents to be learned now (the card's
    ``min_support``) and had too few when the model of ``card`` was trained (its
    ``training_data.tag_counts``), with how many they have: a new kind of incident that
    maintainers have labelled enough of. Empty without a card that records both. ``labels``:
    the store's labels (:func:`_store_labels`), when the caller read them."""
    training = (card or {}).get("training_data") or {}
    learned_from = training.get("tag_counts")
    min_support = ((card or {}).get("params") or {}).get("min_support")
    if not isinstance(learned_from, dict) or not isinstance(min_support, int):
        return {}
    labels = _store_labels(session) if labels is None else labels
    undated = set(session.scalars(select(IncidentRow.id).where(IncidentRow.creation_time.is_(None))))
    counts: dict[str, int] = {}
    for bug_id, label in labels.items():
        if bug_id in undated:  # training leaves undated incidents out
            continue
        for tag in label.tags:
            counts[tag] = counts.get(tag, 0) + 1
    return {tag: n for tag, n in sorted(counts.items())
            if n >= min_support and int(learned_from.get(tag, 0)) < min_support}


def _sync(settings: Settings, taxonomy: Taxonomy) -> tuple[str, dict[str, Any]]:
    if settings.nightly_source == "snapshot":
        folder = settings.snapshot_dir
        message, counts = sync_snapshot(url=settings.database_url, folder=folder, taxonomy=taxonomy)
        return message, {"source": str(folder), "new": len(counts.new), "updated": len(counts.updated),
                         "unchanged": len(counts.unchanged)}
    report = sync_from_bugzilla(settings=settings, taxonomy=taxonomy)
    return report.summary(), report.as_dict()


@dataclass(frozen=True)
class RetrainDue:
    """Whether the nightly loop retrains now, and why (or why not)."""

    due: bool
    reason: str
    new_labels: int
    live_alarm: str | None = None


def retrain_due(*, settings: Settings, taxonomy: Taxonomy, registry: ModelRegistry,
                recipe: IncidentTypeClassifier | None = None) -> RetrainDue:
    """The nightly loop's rule: retrain when no model is active, when at least
    ``nightly_min_new_labels`` labelled incidents are new to the newest version, when the
    newest version's recipe is not ``recipe`` (the shipped one with the taxonomy's cues,
    exclusions and pools by default: a cue or a new tag edited into the taxonomy is tried by
    the next run, not left until enough labels arrive), when a tag the newest version had too
    few incidents of to learn has enough now (:func:`newly_learnable`: a new kind of incident
    is learned once maintainers labelled ``min_support`` of it), or when the active model's
    live record alarms. The deployment replay (``training.replay``) follows the same rule.

    New labels are counted against the newest version trained (usually the active one), not the
    active one: after the gate kept a challenger, or a maintainer rolled back to an older version,
    the labels that newer version learned were tried already, and training on them again would
    bring back what was kept out. An alarm retrains when some label is new to the newest version,
    however few: not night after night on the same labels, which would fit the same model again.
    """
    active = registry.active_version()
    versions = registry.versions()
    newest = versions[-1] if versions else active
    card = registry.card(newest) if newest else None
    alarm = None
    with session_scope(settings.database_url) as session:
        labels = _store_labels(session)  # read once for both
        new_labels = new_label_count(session=session, card=card, labels=labels)
        learnable = newly_learnable(session=session, card=card, labels=labels)
        if active is not None:
            record = live_record(session=session, model_version=active, taxonomy=taxonomy,
                                 last_n=settings.live_window)
            alarm = live_alarm(record, registry.card(active), margin=settings.live_margin)
    threshold = settings.nightly_min_new_labels
    if active is None:
        if not versions:
            _refuse_a_stranger_models_folder(settings, registry)
        return RetrainDue(True, "no model is active", new_labels, alarm)
    new_to = newest if newest == active else f"{newest}, the newest version, while {active} is active"
    are_new = (f"{new_labels} labelled incident is new" if new_labels == 1
               else f"{new_labels} labelled incidents are new")
    if new_labels >= threshold:
        return RetrainDue(True, f"{are_new} to {new_to} (at least {threshold})", new_labels, alarm)
    changed = recipe_changes(card, recipe if recipe is not None else default_model(settings, taxonomy))
    if changed:
        return RetrainDue(True, f"the recipe is not {newest}'s: {changed}", new_labels, alarm)
    if learnable:
        tags = ", ".join(f"{tag} ({n})" for tag, n in learnable.items())
        return RetrainDue(True, f"enough labelled incidents to learn a tag {newest} had too few of: "
                                f"{tags}", new_labels, alarm)
    if alarm is not None and new_labels > 0:
        return RetrainDue(True, f"live record alarm: {alarm}", new_labels, alarm)
    if alarm is not None:
        since = "it" if newest == active else f"{newest}, which was trained since"
        return RetrainDue(False, f"{active}'s live record alarms ({alarm}), but no labelled "
                                 f"incident is new to {since}: retraining would learn the same "
                                 f"labels", new_labels, alarm)
    whose = "its" if newest == active else f"{active}'s"
    return RetrainDue(False, f"{are_new} to {new_to} (fewer than {threshold}) and {whose} live "
                             "record does not alarm",
                      new_labels, alarm)


def recipe_changes(card: dict[str, Any] | None, recipe: IncidentTypeClassifier) -> str | None:
    """What of ``recipe``'s parameters differ from those the card's version was trained with, in
    words (a cue, an exclusion or a pool by its tag or name); None when none do (``n_jobs``, how
    fast and not what, aside), or when the card records none."""
    trained = (card or {}).get("params")
    if not isinstance(trained, dict):
        return None
    wanted = json.loads(json.dumps(recipe.get_params(deep=False), default=str))
    changes = []
    for name in sorted(wanted):
        was, now = trained.get(name), wanted[name]
        if name == "n_jobs" or was == now:
            continue
        if isinstance(was, dict) and isinstance(now, dict):
            keys = sorted(k for k in {*was, *now} if was.get(k) != now.get(k))
            changes.append(f"{name} of {', '.join(keys)}")
        else:
            changes.append(f"{name} {was!r} → {now!r}" if name in trained else f"{name} (new)")
    return "; ".join(changes) or None


def _refuse_a_stranger_models_folder(settings: Settings, registry: ModelRegistry) -> None:
    """ModelNotFound when the models folder holds no version but the store holds predictions:
    the store was labelled by models kept elsewhere, so this folder is most likely not the
    service's (a cron line without its INCIDENTS_MODELS_DIR), and a nightly would train a new
    v1 there and relabel every incident with it. ``incidents train`` starts afresh on purpose."""
    with session_scope(settings.database_url) as session:
        made_by = session.scalars(select(PredictionRow.model_version).distinct()
                                  .order_by(PredictionRow.model_version).limit(4)).all()
    if made_by:
        versions = ", ".join(made_by[:3]) + (", ..." if len(made_by) > 3 else "")
        raise ModelNotFound(
            f"the models folder {registry.root} holds no version, but the store holds "
            f"predictions of {versions}: INCIDENTS_MODELS_DIR is likely not the service's; set it "
            "to the service's, or run `incidents train` to start a new first version on purpose")


#: Why a run recorded as running is not: it ended without recording how.
INTERRUPTED = "it stopped without recording how it ended: its process was killed, or its machine stopped"


def list_runs(*, session: Session, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The newest ``limit`` nightly runs, newest first (:func:`run_fields`), and how many there
    are in all. A run recorded as running while no live process holds the nightly lock (or one
    older than the run that holds it) reads as ``interrupted``, as the next run records it."""
    rows = list(session.scalars(select(NightlyRunRow).order_by(NightlyRunRow.id.desc()).limit(limit)))
    newest_running = session.scalar(select(func.max(NightlyRunRow.id))
                                    .where(NightlyRunRow.status == "running"))
    live = newest_running if held_alive(session, "nightly") else None
    fields = [run_fields(row) for row in rows]
    for run in fields:
        if run["status"] == "running" and run["id"] != live:
            run.update(status="interrupted", error=INTERRUPTED)
    return fields, int(session.scalar(select(func.count()).select_from(NightlyRunRow)) or 0)


def run_fields(run: NightlyRunRow) -> dict[str, Any]:
    """A run's record by column name, times in ISO 8601 (`incidents nightly-runs --json`)."""
    return {column.key: (value.isoformat() if isinstance(value, datetime) else value)
            for column in NightlyRunRow.__table__.columns
            for value in [getattr(run, column.key)]}


def _rolled_back_to(registry: ModelRegistry) -> dict[str, Any] | None:
    """The history's last entry when it is the rollback that made the active version active
    (a maintainer's choice a promotion would undo), else None."""
    history = registry.history()
    last = history[-1] if history else None
    if last is None or last.get("kind") != "rollback":
        return None
    return last if last.get("active") == registry.active_version() else None


def _record(url: str, run_id: int, **values: Any) -> None:
    with session_scope(url) as session:
        run = session.get(NightlyRunRow, run_id, with_for_update=True)
        if run is None:  # a run row is never deleted; its absence means the store was swapped
            raise LookupError(f"nightly run {run_id} vanished from the store")
        for name, value in values.items():
            setattr(run, name, value)


def _lock(url: str, kind: str) -> JobLock:
    """The store's lock of one step: a sync, retrain or relabel started elsewhere (the CLI, the
    service) meanwhile makes the step fail with JobRunning, recorded as its error."""
    return JobLock(url, kind, holder=describe_holder(REQUESTED_BY, "incidents nightly"))


def nightly(*, settings: Settings, taxonomy: Taxonomy, registry: ModelRegistry,
            progress: Callable[[str], object] | None = None) -> NightlyReport:
    """Sync, retrain when it is time, relabel; every step recorded in ``nightly_runs``.

    ``progress`` is called with one line when the run starts and as each step ends. The store
    must be migrated first (``core.db.upgrade``). A failing step is recorded (``failed``, its
    step, its error) and its exception raised again.
    """
    # One run at a time (a second is refused, naming the first); runs still recorded as running
    # then are ones whose process died, and are recorded as interrupted.
    with _lock(settings.database_url, "nightly"):
        return _nightly(settings=settings, taxonomy=taxonomy, registry=registry,
                        say=progress or (lambda _: None))


def _nightly(*, settings: Settings, taxonomy: Taxonomy, registry: ModelRegistry,
             say: Callable[[str], object]) -> NightlyReport:
    url = settings.database_url
    with session_scope(url) as session:
        dead = session.execute(update(NightlyRunRow).where(NightlyRunRow.status == "running")
                               .values(status="interrupted", error=INTERRUPTED))
        run = NightlyRunRow(started_at=utcnow(), status="running", source=settings.nightly_source)
        session.add(run)
        session.flush()
        report = NightlyReport(run.id, settings.nightly_source)
    interrupted = dead.rowcount  # type: ignore[attr-defined]
    if interrupted:
        say(f"{interrupted} earlier nightly run(s) recorded as running had stopped: recorded as "
            "interrupted")
    say(f"nightly run {report.run_id}: sync from {settings.nightly_source}, retrain when due, relabel")
    step = "sync"
    try:
        with _lock(url, "sync"):
            report.sync_summary, report.sync_counts = _sync(settings, taxonomy)
        _record(url, report.run_id, sync_summary=report.sync_summary, sync_counts=report.sync_counts)
        say(f"sync: {report.sync_summary}")

        step = "retrain"
        due = retrain_due(settings=settings, taxonomy=taxonomy, registry=registry)
        report.retrained, report.retrain_reason = due.due, due.reason
        report.new_labels, report.live_alarm = due.new_labels, due.live_alarm
        _record(url, report.run_id, new_labels=report.new_labels, live_alarm=report.live_alarm,
                retrained=report.retrained, retrain_reason=report.retrain_reason)
        if report.retrained:
            chosen = _rolled_back_to(registry)
            with _lock(url, "retrain"):
                report.decision = retrain(settings=settings, taxonomy=taxonomy,
                                          registry=registry, requested_by=REQUESTED_BY)
            if report.decision.promoted and chosen is not None \
                    and chosen.get("active") == report.decision.active_before:
                report.rollback = chosen
            # Decided before fitting anything (nothing new to learn): due, but not retrained.
            report.retrained = report.decision.challenger is not None
            _record(url, report.run_id, retrain_decision_id=report.decision.id,
                    retrained=report.retrained)
        say(f"retrain: {report.retrain_line()}")

        step = "relabel"
        with _lock(url, "relabel"):
            report.relabel = relabel(settings=settings, taxonomy=taxonomy, registry=registry)
        _record(url, report.run_id, relabel_run_id=report.relabel.run_id,
                relabel_changed=report.relabel.changed)
        say(f"relabel: {report.relabel.summary()} (relabel run {report.relabel.run_id})")
    except BaseException as exc:
        report.status, report.failed_step, report.error = "failed", step, first_line(exc)
        if step == "retrain" and report.retrained and report.decision is None:
            report.retrained = False  # it was due, and failed before it decided anything
        try:
            _record(url, report.run_id, status="failed", finished_at=utcnow(), failed_step=step,
                    error=report.error, retrained=report.retrained)
        except Exception:  # the store may be what failed: the original error matters more
            log.exception("nightly run %d: could not record its failure", report.run_id)
        say(f"nightly run {report.run_id} failed at {step}")
        raise
    report.status = "finished"
    _record(url, report.run_id, status="finished", finished_at=utcnow())
    say(f"nightly run {report.run_id} finished")
    return report
