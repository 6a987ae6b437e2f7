"""Classifying the bugs of concurrent requests together: one model call and one transaction.

A single bug costs the model almost as much as a hundred (the features and the sparse products
have a fixed cost a call), and each transaction costs a commit; on SQLite, concurrent writers
also wait for each other's locks. So the requests of ``POST /classify`` and ``/classify/batch``
queue here, and one worker thread takes everything waiting at once: while it classifies and
stores one group, the next requests gather. One request alone is served at once, without
waiting for company.

A request keeps its own guarantees: its bugs are stored all or none. When a group's model call
or transaction fails, each request of it is run again on its own, so that one bad request
fails alone. Requests that send the same bug are applied in the order they came, never in
one transaction together.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from anyio import to_thread
from sqlalchemy.exc import IntegrityError

from classifier import Incident, Taxonomy
from core.bugzilla import COMPONENT, PRODUCT, BugRecord, bugzilla_time, elsewhere
from core.classification import Classification, classify
from core.registry import LoadedModel
from core.store import save_predictions, stored_records, upsert_bugs

from .observability import Metrics
from .schemas import IncidentClassify
from .store import Store

logger = logging.getLogger("service.batching")


@dataclass(eq=False)
class _Request:
    bugs: Sequence[IncidentClassify]
    loaded: LoadedModel
    taxonomy: Taxonomy
    explain: bool
    answer: asyncio.Future[list[Classification]]


class ClassifyBatcher:
    """Classifies and stores bugs for the service's requests, those waiting together.

    ``max_group``: the most bugs in one model call and transaction (a request with more is
    still taken whole, alone).
    """

    def __init__(self, *, store: Store, metrics: Metrics, max_group: int = 256) -> None:
        self.store = store
        self.metrics = metrics
        self.max_group = max_group
        self._waiting: deque[_Request] = deque()
        self._worker: asyncio.Task[None] | None = None

    async def classify(self, bugs: Sequence[IncidentClassify], *, loaded: LoadedModel,
                       taxonomy: Taxonomy, explain: bool = True) -> list[Classification]:
        """Each bug's classification, in order; those with ids are stored with it."""
        loop = asyncio.get_running_loop()
        request = _Request(bugs, loaded, taxonomy, explain, loop.create_future())
        self._waiting.append(request)
        # The worker runs while there is work and ends when there is none. Starting it is
        # race-free: this loop's thread alone touches the queue and the worker's state, and the
        # worker ends without awaiting once it finds the queue empty.
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._worker = loop.create_task(self._work())
        return await request.answer

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            group = self._take(loop)
            if not group:
                continue
            try:
                outcomes = await to_thread.run_sync(self._run_group, group)
            except asyncio.CancelledError:  # the service stops
                for request in group:
                    request.answer.cancel()
                raise
            except Exception as exc:  # not one request's failure (those are outcomes)
                for request in group:
                    if not request.answer.done():
                        request.answer.set_exception(exc)
                continue
            for request, outcome in zip(group, outcomes, strict=True):
                if request.answer.done():  # its client went away; what it sent is stored
                    continue
                if isinstance(outcome, Exception):
                    request.answer.set_exception(outcome)
                else:
                    request.answer.set_result(outcome)

    def _take(self, loop: asyncio.AbstractEventLoop) -> list[_Request]:
        """The requests waiting, in order, up to ``max_group`` bugs (at least one request)."""
        group: list[_Request] = []
        size = 0
        while self._waiting:
            request = self._waiting[0]
            if request.answer.get_loop() is not loop:  # left by a loop that has stopped
                self._waiting.popleft()
                continue
            if group and size + len(request.bugs) > self.max_group:
                break
            group.append(self._waiting.popleft())
            size += len(request.bugs)
        return group

    # -- in the worker thread ------------------------------------------------------------------
    def _run_group(self, group: list[_Request]) -> list[list[Classification] | Exception]:
        """Each request's answer or the exception it met, in order."""
        outcomes: list[list[Classification] | Exception] = []
        for part in _parts(group):
            try:
                outcomes.extend(self._run(part))
            except Exception as first:
                if len(part) == 1:
                    outcomes.append(first)
                    continue
                logger.info("a group of %d requests failed together (%s); running each alone",
                            len(part), type(first).__name__)
                for request in part:
                    try:
                        outcomes.extend(self._run([request]))
                    except Exception as exc:
                        outcomes.append(exc)
        return outcomes

    def _run(self, part: list[_Request]) -> list[list[Classification]]:
        """Classify the bugs of ``part`` in one model call and store those with ids in one
        transaction (all of them or none)."""
        first = part[0]
        bugs = [bug for request in part for bug in request.bugs]
        explain = any(request.explain for request in part)
        results = classify(first.loaded, [bug.incident() for bug in bugs], first.taxonomy,
                           explain=explain)
        self.metrics.classified.labels(model_version=first.loaded.version).inc(len(bugs))
        self.metrics.classify_group.observe(len(bugs))
        keyed = [(bug.id, bug, result) for bug, result in zip(bugs, results, strict=True)
                 if bug.id is not None]
        if keyed:
            at = [i for i, bug in enumerate(bugs) if bug.id is not None]
            redone, stale = self._store(keyed, first.taxonomy, first.loaded, explain)
            for k, result in redone.items():
                results[at[k]] = result
            for k, reason in stale.items():
                results[at[k]] = replace(results[at[k]], not_stored_because=reason)
        answers, start = [], 0
        for request in part:
            mine = results[start:start + len(request.bugs)]
            start += len(request.bugs)
            answers.append(mine if request.explain or not explain
                           else [_without_explanation(result) for result in mine])
        return answers

    def _store(self, keyed: list[tuple[int, IncidentClassify, Classification]],
               taxonomy: Taxonomy, loaded: LoadedModel, explain: bool
               ) -> tuple[dict[int, Classification], dict[int, str]]:
        """Upsert the bugs and their predictions in one transaction.

        Each bug is stored as sent over its stored record (``IncidentClassify.record``). A bug
        sent without what the model reads of the stored one (its comment 0 or its reporter
        left out) is classified again on the record stored, in the same transaction, so that
        the stored prediction is of the stored text. A bug whose ``last_change_time`` is older
        than the stored one's is a stale copy (a retried or late request): nothing of it is
        written, as the webhook ignores an older event. Returned, by place in ``keyed``: the
        classifications to answer instead, and why a stale bug was not stored.
        """
        ids = [bug_id for bug_id, _, _ in keyed]
        for attempt in (1, 2):
            with self.store.session() as session:
                try:
                    stored = stored_records(session=session, ids=ids)
                    stale = {k: why for k, (bug_id, bug, _) in enumerate(keyed)
                             if (why := _not_ours(bug) or _older(bug, stored.get(bug_id))) is not None}
                    fresh = [k for k in range(len(keyed)) if k not in stale]
                    records = {k: keyed[k][1].record(taxonomy, stored.get(keyed[k][0])) for k in fresh}
                    again = [k for k in fresh
                             if _read(records[k].incident()) != _read(keyed[k][1].incident())]
                    redone = dict(zip(again, classify(
                        loaded, [records[k].incident() for k in again], taxonomy, explain=explain),
                        strict=True)) if again else {}
                    upsert_bugs(session=session, records=list(records.values()))
                    save_predictions(session=session, predictions=[
                        redone.get(k, keyed[k][2]).prediction(keyed[k][0]) for k in fresh])
                    session.commit()
                except IntegrityError:
                    # Another writer (a sync, another worker) stored one of these new bugs
                    # between our read and our write: read again (it is stored now), write over.
                    session.rollback()
                    if attempt == 2:
                        raise
                    logger.info("bugs %s were written concurrently; trying once more", ids)
                    continue
            self.metrics.predictions_stored.inc(len(fresh))
            return redone, stale
        raise AssertionError("unreachable: the second attempt returns or raises")


def _parts(group: list[_Request]) -> Iterator[list[_Request]]:
    """``group`` cut, in order, where the model or the taxonomy changes or a bug id repeats."""
    part: list[_Request] = []
    ids: set[int] = set()
    for request in group:
        mine = {bug.id for bug in request.bugs if bug.id is not None}
        if part and (request.loaded is not part[0].loaded or request.taxonomy is not part[0].taxonomy
                     or ids & mine):
            yield part
            part, ids = [], set()
        part.append(request)
        ids |= mine
    if part:
        yield part


def _not_ours(bug: IncidentClassify) -> str | None:
    """Why ``bug`` is not an incident of the CA Program's compliance component (its product or
    component sent, and another), or None: the sync and the webhook store no other bug."""
    if elsewhere(bug.id, bug.product or PRODUCT, bug.component or COMPONENT) is None:
        return None  # a field left out is taken as the incidents' own
    return f"{elsewhere(bug.id, bug.product, bug.component)}: only incidents are stored"


def _older(bug: IncidentClassify, stored: BugRecord | None) -> str | None:
    """Why ``bug`` is older than the stored copy (its ``last_change_time`` is earlier), or None."""
    sent, held = bug.last_change_time, stored.last_change_time if stored is not None else None
    if sent is None or held is None or sent >= held:
        return None
    return (f"bug {bug.id}: the last_change_time sent ({bugzilla_time(sent)}) is older than the "
            f"stored copy's ({bugzilla_time(held)}); send the bug as it is now to store it")


def _read(incident: Incident) -> tuple[str, str, str]:
    """What the model reads of an incident (its features)."""
    return incident.summary, incident.description, incident.reporter


def _without_explanation(result: Classification) -> Classification:
    return replace(result, explanation={})
