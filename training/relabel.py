"""The nightly relabelling: every stored incident classified by the active model, resumably.

Incidents are read in chunks of ``relabel_chunk_size`` by ascending id (keyset pagination, so
memory stays bounded whatever the store holds). Each chunk's predictions and the run's
checkpoint (``last_incident_id``, ``done``, ``changed``, the category counts) are committed in
one transaction: a run killed half-way has stored whole chunks only, and a re-run for the same
model version resumes after the last one. Predictions are unique per incident and version, so
re-running a finished run changes nothing but the run's own row.

An incident's label *before* is the prediction the store showed it with when its chunk is
classified (:func:`core.labels.shown_predictions`: the active version's own, from an earlier
night or from ``POST /classify``, else the latest by another version; none if never
classified); it *changed* when the active model's tags differ from that.
So a run reports what it changed in the store: the night after a promotion, the new model's
differences from the old one's labels; a night with the same model, only the incidents whose
text changed since (a second run in a row changes nothing).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from joblib import effective_n_jobs
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from tqdm.auto import tqdm

from classifier import Incident, Taxonomy
from core.classification import Classification, classify
from core.config import Settings
from core.db import session_scope
from core.labels import shown_predictions
from core.pause import pause_at
from core.registry import LoadedModel, ModelRegistry
from core.store import row_incident, save_predictions
from core.tables import IncidentRow, RelabelRunRow, utcnow

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


def _open_run(*, session: Session, version: str, taxonomy: Taxonomy) -> tuple[RelabelRunRow, bool]:
    run = session.scalar(select(RelabelRunRow).where(RelabelRunRow.model_version == version,
                                                     RelabelRunRow.status == "running")
                         .order_by(RelabelRunRow.id.desc()).limit(1))
    if run is not None:
        return run, True
    # Another version's unfinished run (the active version changed before it was resumed) will
    # not be resumed: it said "running" for ever.
    session.execute(update(RelabelRunRow).where(RelabelRunRow.status == "running",
                                                RelabelRunRow.model_version != version)
                    .values(status="abandoned"))
    total = session.scalar(select(func.count()).select_from(IncidentRow)) or 0
    run = RelabelRunRow(model_version=version, status="running", started_at=utcnow(), total=total,
                        done=0, changed=0, last_incident_id=None,
                        counts_before={c: 0 for c in taxonomy.categories},
                        counts_after={c: 0 for c in taxonomy.categories})
    session.add(run)
    session.flush()
    return run, False


def _read_chunk(*, session: Session, after: int | None, size: int) -> tuple[list[int], list[Incident]]:
    """The ids and incidents of the next ``size`` stored incidents after id ``after``."""
    query = select(IncidentRow).order_by(IncidentRow.id).limit(size)
    if after is not None:
        query = query.where(IncidentRow.id > after)
    rows = list(session.scalars(query))
    return [row.id for row in rows], [row_incident(row) for row in rows]


def _store_chunk(*, session: Session, run: RelabelRunRow, version: str, ids: list[int],
                 results: list[Classification], taxonomy: Taxonomy) -> None:
    """Store a classified chunk's predictions and move the run's checkpoint past it."""
    # Read before this chunk's are stored: what the store showed until now.
    before = {incident_id: row.tags for incident_id, row in shown_predictions(
        session=session, incident_ids=ids, active_version=version).items()}
    counts_before, counts_after = Counter(run.counts_before or {}), Counter(run.counts_after or {})
    changed = 0
    save_predictions(session=session, predictions=[
        result.prediction(incident_id) for incident_id, result in zip(ids, results, strict=True)])
    for incident_id, result in zip(ids, results, strict=True):
        previous = before.get(incident_id)
        _category_counts(counts_before, previous, taxonomy)
        _category_counts(counts_after, tuple(result.tags), taxonomy)
        changed += previous is None or set(previous) != set(result.tags)
    run.counts_before, run.counts_after = dict(counts_before), dict(counts_after)
    run.done += len(ids)
    run.changed += changed
    run.last_incident_id = ids[-1]


# -- classifying in child processes -------------------------------------------------------------
_worker_state: dict[str, Any] = {}


def _start_worker(parent: int, models_dir: str, version: str, taxonomy: Taxonomy) -> None:
    threading.Thread(target=_exit_with, args=(parent,), daemon=True,
                     name="exit-with-parent").start()
    _worker_state["loaded"] = ModelRegistry(models_dir).load(version)
    _worker_state["taxonomy"] = taxonomy


def _exit_with(parent: int, every: float = 1.0) -> None:
    """End this worker once ``parent`` is gone. A relabel killed with SIGKILL cannot shut its
    pool down, and a worker waiting on the pool's queue would wait for ever (it holds a write
    end of the queue's pipe itself, so it never sees it close)."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def _classify_in_worker(incidents: list[Incident]) -> list[Classification]:
    return classify(_worker_state["loaded"], incidents, _worker_state["taxonomy"])


def _processes(n_jobs: int) -> int:
    """Child processes that classify for ``n_jobs`` (joblib's meaning): none for 1."""
    jobs = effective_n_jobs(n_jobs)
    return jobs if jobs > 1 else 0


class _Classifiers:
    """Where chunks are classified: in this process, or in ``processes`` child processes while
    this one reads the next chunks and stores the finished ones (``depth`` chunks in flight)."""

    def __init__(self, loaded: LoadedModel, taxonomy: Taxonomy, registry: ModelRegistry,
                 processes: int) -> None:
        self.loaded, self.taxonomy = loaded, taxonomy
        self.pool: ProcessPoolExecutor | None = None
        if processes > 0:
            self.pool = ProcessPoolExecutor(
                processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(os.getpid(), str(registry.root), loaded.version, taxonomy))
        self.depth = processes + 1

    def submit(self, incidents: list[Incident]) -> Future[list[Classification]]:
        if self.pool is not None:
            return self.pool.submit(_classify_in_worker, incidents)
        done: Future[list[Classification]] = Future()
        done.set_result(classify(self.loaded, incidents, self.taxonomy))
        return done

    def __enter__(self) -> _Classifiers:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _run(session: Session, run_id: int, *, with_for_update: bool = False) -> RelabelRunRow:
    run = session.get(RelabelRunRow, run_id, with_for_update=with_for_update)
    if run is None:  # a run row is never deleted; its absence means the store was swapped under us
        raise LookupError(f"relabel run {run_id} vanished from the store")
    return run


def relabel(*, settings: Settings, taxonomy: Taxonomy, registry: ModelRegistry,
            after_chunk: Callable[[int], Any] | None = None) -> RelabelReport:
    """Classify every stored incident with the active model and store the predictions.

    With ``settings.n_jobs`` above 1 (``INCIDENTS_N_JOBS``; -1 for every core), that many
    child processes classify the chunks while this one reads the next and stores the finished
    ones, in order: the run's checkpoints and what a kill leaves are the same.
    ``after_chunk`` is called with the run's ``done`` after each committed chunk (progress).
    """
    loaded = registry.load()
    url = settings.database_url
    with session_scope(url) as session:
        run, resumed = _open_run(session=session, version=loaded.version, taxonomy=taxonomy)
        run_id = run.id
        total, done, after = run.total, run.done, run.last_incident_id
    # Chunks read and classified, oldest first, waiting to be stored in order.
    in_flight: deque[tuple[list[int], Future[list[Classification]]]] = deque()
    exhausted = False
    with tqdm(total=total, initial=done, desc=f"relabel {loaded.version}", unit=" incidents",
              disable=None) as bar, \
            _Classifiers(loaded, taxonomy, registry, _processes(settings.n_jobs)) as classifiers:
        while True:
            while not exhausted and len(in_flight) < classifiers.depth:
                with session_scope(url) as session:
                    ids, incidents = _read_chunk(session=session, after=after,
                                                 size=settings.relabel_chunk_size)
                if not ids:
                    exhausted = True
                    break
                in_flight.append((ids, classifiers.submit(incidents)))
                after = ids[-1]
            if not in_flight:
                break
            ids, classified = in_flight.popleft()
            results = classified.result()
            with session_scope(url) as session:
                run = _run(session, run_id, with_for_update=True)
                _store_chunk(session=session, run=run, version=loaded.version, ids=ids,
                             results=results, taxonomy=taxonomy)
                done = run.done
            bar.update(len(ids))
            pause_at("relabel:chunk-committed")
            if after_chunk is not None:
                after_chunk(done)
    with session_scope(url) as session:
        run = _run(session, run_id, with_for_update=True)
        run.status = "finished"
        run.finished_at = utcnow()
        run.total = max(run.total, run.done)
    with session_scope(url) as session:
        run = _run(session, run_id)
        return RelabelReport(run.id, run.model_version, resumed, run.total, run.done, run.changed,
                             dict(run.counts_before or {}), dict(run.counts_after or {}))
