"""The classify batcher: requests waiting together share one model call and one transaction,
answer as if alone, fail alone, and the same bug sent twice is applied in order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from classifier import InvalidIncident, Taxonomy
from core.classification import Classification, classify
from core.db import session_scope, upgrade
from core.registry import LoadedModel, ModelRegistry
from core.tables import IncidentRow, PredictionRow
from service import batching
from service.batching import ClassifyBatcher
from service.observability import Metrics
from service.schemas import IncidentClassify
from service.store import Store
from tests.fixtures import new_bug

FIRST_ID = 1_950_000


@pytest.fixture
def loaded(models_dir: Path) -> LoadedModel:
    return ModelRegistry(models_dir).load()


@pytest.fixture
def store(settings) -> Store:
    upgrade(settings.database_url)
    return Store(settings.database_url)


@pytest.fixture
def model_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of bugs of each model call the batcher makes."""
    calls: list[int] = []

    def counting(loaded: LoadedModel, incidents: Sequence[Any], taxonomy: Taxonomy,
                 **options: Any) -> list[Classification]:
        calls.append(len(incidents))
        return classify(loaded, incidents, taxonomy, **options)

    monkeypatch.setattr(batching, "classify", counting)
    return calls


def _bugs(*ids: int | None, **fields: Any) -> list[IncidentClassify]:
    return [IncidentClassify.model_validate(new_bug(bug_id, **fields)) for bug_id in ids]


def _at_once(batcher: ClassifyBatcher, requests: Sequence[list[IncidentClassify]], *,
             loaded: LoadedModel, taxonomy: Taxonomy, explain: Sequence[bool] | None = None
             ) -> list[list[Classification] | BaseException]:
    """Send the requests concurrently: all are queued before the worker takes any."""
    async def main() -> list[list[Classification] | BaseException]:
        return await asyncio.gather(*(
            batcher.classify(bugs, loaded=loaded, taxonomy=taxonomy,
                             explain=True if explain is None else explain[i])
            for i, bugs in enumerate(requests)), return_exceptions=True)
    return asyncio.run(main())


def _predictions(url: str) -> list[tuple[int, str, list[str]]]:
    with session_scope(url) as session:
        return [(row.incident_id, row.model_version, list(row.tags)) for row in session.scalars(
            select(PredictionRow).order_by(PredictionRow.incident_id, PredictionRow.id))]


def test_waiting_requests_share_one_model_call_and_one_transaction(
        store, loaded, taxonomy, model_calls, opened, settings):
    requests = [_bugs(FIRST_ID + i, summary=summary) for i, summary in enumerate([
        "Nimbus Trust: OCSP responder returned unknown for valid certificates",
        "Nimbus Trust: CRL not published for 3 days",
        "Nimbus Trust: OV certificates issued with an invalid organizationName",
    ])] + [_bugs(None)]
    answers = _at_once(ClassifyBatcher(store=store, metrics=Metrics()), requests, loaded=loaded,
                       taxonomy=taxonomy)
    assert model_calls == [4]
    assert len(opened) == 1
    for bugs, answer in zip(requests, answers, strict=True):
        alone = classify(loaded, [bug.incident() for bug in bugs], taxonomy, explain=True)
        assert answer == alone
    assert _predictions(settings.database_url) == [
        (FIRST_ID + i, loaded.version, answer[0].tags)
        for i, answer in enumerate(answers[:3]) if isinstance(answer, list)]


def test_a_request_alone_is_classified_at_once(store, loaded, taxonomy, model_calls):
    batcher = ClassifyBatcher(store=store, metrics=Metrics())
    for i in range(3):
        _at_once(batcher, [_bugs(FIRST_ID + i)], loaded=loaded, taxonomy=taxonomy)
    assert model_calls == [1, 1, 1]


def test_a_failing_request_fails_alone(store, loaded, taxonomy, model_calls,
                                       monkeypatch: pytest.MonkeyPatch, settings):
    real = batching.upsert_bugs
    bad = FIRST_ID + 1

    def refusing(*, session: Session, records: Sequence[Any]) -> Any:
        if any(record.id == bad for record in records):
            raise InvalidIncident("whiteboard: refused by this test")
        return real(session=session, records=records)

    monkeypatch.setattr(batching, "upsert_bugs", refusing)
    answers = _at_once(ClassifyBatcher(store=store, metrics=Metrics()),
                       [_bugs(FIRST_ID), _bugs(bad), _bugs(FIRST_ID + 2, FIRST_ID + 3)],
                       loaded=loaded, taxonomy=taxonomy)
    assert isinstance(answers[1], InvalidIncident)
    assert [len(a) for a in answers if isinstance(a, list)] == [1, 2]
    assert model_calls == [4, 1, 1, 2]  # together, then each alone
    assert [bug_id for bug_id, _, _ in _predictions(settings.database_url)] == [
        FIRST_ID, FIRST_ID + 2, FIRST_ID + 3]


def test_the_same_bug_sent_twice_is_applied_in_order(store, loaded, taxonomy, model_calls,
                                                     settings):
    answers = _at_once(ClassifyBatcher(store=store, metrics=Metrics()), [
        _bugs(FIRST_ID, summary="Nimbus Trust: first summary"),
        _bugs(FIRST_ID + 1),
        _bugs(FIRST_ID, summary="Nimbus Trust: OCSP responder down, second summary"),
    ], loaded=loaded, taxonomy=taxonomy)
    assert all(isinstance(a, list) for a in answers)
    assert model_calls == [2, 1]
    with session_scope(settings.database_url) as session:
        assert session.get(IncidentRow, FIRST_ID).summary.endswith("second summary")
    assert [bug_id for bug_id, _, _ in _predictions(settings.database_url)] == [
        FIRST_ID, FIRST_ID + 1]


def test_a_group_holds_at_most_max_group_bugs(store, loaded, taxonomy, model_calls):
    batcher = ClassifyBatcher(store=store, metrics=Metrics(), max_group=3)
    answers = _at_once(batcher, [_bugs(FIRST_ID + 2 * i, FIRST_ID + 2 * i + 1) for i in range(3)]
                       + [_bugs(*range(FIRST_ID + 10, FIRST_ID + 15))],
                       loaded=loaded, taxonomy=taxonomy)
    assert all(isinstance(a, list) for a in answers)
    assert model_calls == [2, 2, 2, 5]  # a request over the limit is still taken whole


def test_explanations_only_for_the_requests_that_ask(store, loaded, taxonomy, model_calls):
    answers = _at_once(ClassifyBatcher(store=store, metrics=Metrics()),
                       [_bugs(FIRST_ID), _bugs(FIRST_ID + 1)], loaded=loaded, taxonomy=taxonomy,
                       explain=[False, True])
    assert model_calls == [2]
    quiet, explained = answers
    assert isinstance(quiet, list) and isinstance(explained, list)
    assert quiet[0].explanation == {} and quiet[0].tags
    assert explained[0].explanation.keys() == set(explained[0].tags)


def test_models_do_not_mix_in_one_call(store, loaded, taxonomy, model_calls):
    """A promotion between two waiting requests: each is classified by the model it took."""
    other = replace(loaded, version="v-other")
    batcher = ClassifyBatcher(store=store, metrics=Metrics())

    async def main() -> list[list[Classification]]:
        return await asyncio.gather(
            batcher.classify(_bugs(FIRST_ID), loaded=loaded, taxonomy=taxonomy),
            batcher.classify(_bugs(FIRST_ID + 1), loaded=other, taxonomy=taxonomy))

    first, second = asyncio.run(main())
    assert model_calls == [1, 1]
    assert first[0].model_version == loaded.version and second[0].model_version == "v-other"
