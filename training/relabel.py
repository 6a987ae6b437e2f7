"""The nightly relabelling: every stored incident classified by the active model, resumably.

Incidents are read in chunks of ``relabel_chunk_size`` by ascending id (keyset pagination, so
memory stays bounded whatever the store holds). Each chunk's predictions and the run's
checkpoint (``last_incident_id``, ``done``, ``changed``, the category counts) are committed in
one transaction: a run killed half-way has stored whole chunks only, and a re-run for the same
model version resumes after the last one. Predictions are unique per incident and version, so
re-running a finished run changes nothing but the run's own row.

An incident's label *before* is its latest prediction by another model version (none if never
classified); it *changed* when the active model's tags differ from that.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tqdm.auto import tqdm

from classifier import Taxonomy
from core.classification import classify
from core.config import Settings
from core.db import session_scope
from core.pause import pause_at
from core.registry import LoadedModel, ModelRegistry
from core.store import NewPrediction, row_incident, save_predictions
from core.tables import IncidentRow, PredictionRow, RelabelRunRow, utcnow

UNLABELLED = "(none)"


@dataclass(frozen=True)
class RelabelReport:
    run_id: int
    model_version: str
    resumed: bool
    total: int
    done: int
    changed: int
    counts_before: dict[str, int]
    counts_after: dict[str, int]

    def summary(self) -> str:
        return (f"relabelled {self.done} of {self.total} incidents with {self.model_version}"
                f"{' (resumed)' if self.resumed else ''}: {self.changed} changed labels")


def _category_counts(counts: Counter, tags: tuple[str, ...] | None, taxonomy: Taxonomy) -> None:
    categories = taxonomy.categories_of(tags or ())
    for category in categories or [UNLABELLED]:
        counts[category] += 1


def _previous_labels(*, session: Session, ids: list[int], version: str) -> dict[int, tuple[str, ...]]:
    """Each incident's latest prediction by a version other than ``version``."""
    out: dict[int, tuple[str, ...]] = {}
    for incident_id, tags in session.execute(
            select(PredictionRow.incident_id, PredictionRow.tags)
            .where(PredictionRow.incident_id.in_(ids), PredictionRow.model_version != version)
            .order_by(PredictionRow.incident_id, PredictionRow.created_at, PredictionRow.id)):
        out[incident_id] = tuple(tags)  # later rows overwrite earlier ones
    return out


def _open_run(*, session: Session, version: str, taxonomy: Taxonomy) -> tuple[RelabelRunRow, bool]:
    run = session.scalar(select(RelabelRunRow).where(RelabelRunRow.model_version == version,
                                                     RelabelRunRow.status == "running")
                         .order_by(RelabelRunRow.id.desc()).limit(1))
    if run is not None:
        return run, True
    total = session.scalar(select(func.count()).select_from(IncidentRow)) or 0
    run = RelabelRunRow(model_version=version, status="running", started_at=utcnow(), total=total,
                        done=0, changed=0, last_incident_id=None,
                        counts_before={c: 0 for c in taxonomy.categories},
                        counts_after={c: 0 for c in taxonomy.categories})
    session.add(run)
    session.flush()
    return run, False


def _relabel_chunk(*, session: Session, run: RelabelRunRow, loaded: LoadedModel, taxonomy: Taxonomy,
                   size: int) -> int:
    """Classify and store the next chunk after the run's checkpoint; returns its size."""
    query = select(IncidentRow).order_by(IncidentRow.id).limit(size)
    if run.last_incident_id is not None:
        query = query.where(IncidentRow.id > run.last_incident_id)
    rows = list(session.scalars(query))
    if not rows:
        return 0
    ids = [row.id for row in rows]
    before = _previous_labels(session=session, ids=ids, version=loaded.version)
    results = classify(loaded, [row_incident(row) for row in rows], taxonomy)
    counts_before, counts_after = Counter(run.counts_before or {}), Counter(run.counts_after or {})
    changed = 0
    save_predictions(session=session, predictions=[
        NewPrediction(row.id, loaded.version, result.tags, result.scores, result.needs_review,
                      result.confidence) for row, result in zip(rows, results, strict=True)])
    for row, result in zip(rows, results, strict=True):
        previous = before.get(row.id)
        _category_counts(counts_before, previous, taxonomy)
        _category_counts(counts_after, tuple(result.tags), taxonomy)
        changed += previous is None or set(previous) != set(result.tags)
    run.counts_before, run.counts_after = dict(counts_before), dict(counts_after)
    run.done += len(rows)
    run.changed += changed
    run.last_incident_id = ids[-1]
    return len(rows)


def _run(session: Session, run_id: int, *, with_for_update: bool = False) -> RelabelRunRow:
    run = session.get(RelabelRunRow, run_id, with_for_update=with_for_update)
    if run is None:  # a run row is never deleted; its absence means the store was swapped under us
        raise LookupError(f"relabel run {run_id} vanished from the store")
    return run


def relabel(*, settings: Settings, taxonomy: Taxonomy, registry: ModelRegistry,
            after_chunk: Callable[[int], Any] | None = None) -> RelabelReport:
    """Classify every stored incident with the active model and store the predictions.

    ``after_chunk`` is called with the run's ``done`` after each committed chunk (progress).
    """
    loaded = registry.load()
    url = settings.database_url
    with session_scope(url) as session:
        run, resumed = _open_run(session=session, version=loaded.version, taxonomy=taxonomy)
        run_id = run.id
        total, done = run.total, run.done
    with tqdm(total=total, initial=done, desc=f"relabel {loaded.version}", unit=" incidents",
              disable=None) as bar:
        while True:
            with session_scope(url) as session:
                run = _run(session, run_id, with_for_update=True)
                n = _relabel_chunk(session=session, run=run, loaded=loaded, taxonomy=taxonomy,
                                   size=settings.relabel_chunk_size)
                if n == 0:
                    run.status = "finished"
                    run.finished_at = utcnow()
                    run.total = max(run.total, run.done)
                done = run.done
            if n == 0:
                break
            bar.update(n)
            pause_at("relabel:chunk-committed")
            if after_chunk is not None:
                after_chunk(done)
    with session_scope(url) as session:
        run = _run(session, run_id)
        return RelabelReport(run.id, run.model_version, resumed, run.total, run.done, run.changed,
                             dict(run.counts_before or {}), dict(run.counts_after or {}))
