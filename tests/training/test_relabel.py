"""The nightly relabelling: every incident once per version, resumable after a crash."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import delete, select

import training.relabel
from classifier import Taxonomy
from core.config import Settings
from core.db import session_scope
from core.registry import ModelRegistry
from core.store import save_prediction
from core.tables import IncidentRow, PredictionRow, RelabelRunRow
from tests.fixtures import run, second_version
from training.relabel import relabel


class Crash(Exception):
    pass


def _state(settings: Settings) -> tuple[list[tuple], list[tuple]]:
    with session_scope(settings.database_url) as session:
        predictions = [(p.incident_id, p.model_version, tuple(p.tags), p.needs_review,
                        p.review_reason)
                       for p in session.scalars(select(PredictionRow).order_by(
                           PredictionRow.incident_id, PredictionRow.model_version))]
        runs = [(r.model_version, r.status, r.total, r.done, r.changed, r.last_incident_id,
                 r.counts_before, r.counts_after)
                for r in session.scalars(select(RelabelRunRow).order_by(RelabelRunRow.id))]
    return predictions, runs


def _reset(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        session.execute(delete(RelabelRunRow))
        session.execute(delete(PredictionRow).where(PredictionRow.model_version == "v1"))


@pytest.fixture
def chunked(settings: Settings) -> Settings:
    return settings.model_copy(update={"relabel_chunk_size": 10})


@pytest.fixture
def earlier_predictions(store: str) -> None:
    """What an older version said of a few incidents: the labels 'before' the run."""
    with session_scope(store) as session:
        for bug_id in range(1_500_001, 1_500_006):
            save_prediction(session=session, incident_id=bug_id, model_version="v0",
                            tags=["ocsp-failure"], scores={}, needs_review=False, confidence=1.0)


def test_relabel_stores_one_prediction_per_incident(chunked: Settings, store: str, models_dir: Path,
                                                    taxonomy: Taxonomy, earlier_predictions) -> None:
    registry = ModelRegistry(models_dir)
    report = relabel(settings=chunked, taxonomy=taxonomy, registry=registry)
    assert report.total == report.done == 48 and not report.resumed
    # 43 never labelled; of the 5 labelled ocsp-failure by v0, the ones v1 sees otherwise changed.
    predictions, runs = _state(chunked)
    v1 = {p[0]: p[2] for p in predictions if p[1] == "v1"}
    assert len(v1) == 48
    # A flagged prediction is stored with why, and only a flagged one.
    assert all((p[4] is not None) == p[3] for p in predictions if p[1] == "v1")
    assert any(p[3] for p in predictions if p[1] == "v1")
    expected = 43 + sum(set(v1[b]) != {"ocsp-failure"} for b in range(1_500_001, 1_500_006))
    assert report.changed == expected
    assert report.counts_before["(none)"] == 43
    assert sum(report.counts_after.values()) >= 48
    # A second night with the same version: nothing doubled, nothing changed; what the first
    # night left is the second's "before".
    again = relabel(settings=chunked, taxonomy=taxonomy, registry=registry)
    after, runs_after = _state(chunked)
    assert after == predictions
    assert runs_after[1][1] == "finished" and runs_after[1][2:4] == runs[0][2:4]
    assert again.changed == 0
    assert again.counts_before == again.counts_after == report.counts_after
    # One incident's text changes: the next night changes its label, and only it.
    with session_scope(chunked.database_url) as session:
        incident = session.get(IncidentRow, 1_500_010)
        old_tags = v1[1_500_010]
        incident.summary = ("Acme: OCSP responder down for 3 hours" if "ocsp-failure" not in old_tags
                            else "Acme: CRL expired and was not reissued")
    third = relabel(settings=chunked, taxonomy=taxonomy, registry=registry)
    newer = {p[0]: p[2] for p in _state(chunked)[0] if p[1] == "v1"}
    assert newer[1_500_010] != old_tags
    assert third.changed == 1


def test_relabel_before_is_the_label_the_store_showed(chunked: Settings, store: str, models_dir: Path,
                                                      taxonomy: Taxonomy) -> None:
    """An incident the active version classified before (a rollback to it, say) is shown with
    that prediction even when another version's is newer: that is its label before the run."""
    bug = 1_500_001
    with session_scope(store) as session:
        save_prediction(session=session, incident_id=bug, model_version="v1", tags=["crl-failure"],
                        scores={}, needs_review=False, confidence=1.0)
    with session_scope(store) as session:
        save_prediction(session=session, incident_id=bug, model_version="v0", tags=["ocsp-failure"],
                        scores={}, needs_review=False, confidence=1.0)
    report = relabel(settings=chunked, taxonomy=taxonomy, registry=ModelRegistry(models_dir))
    assert report.counts_before["CRL Failures"] == 1
    assert report.counts_before["OCSP Failures"] == 0
    assert report.counts_before["(none)"] == 47


@pytest.mark.parametrize("crash_where", ["inside-chunk", "after-commit"])
def test_relabel_killed_midway_then_rerun_equals_clean_run(
        chunked: Settings, store: str, models_dir: Path, taxonomy: Taxonomy, earlier_predictions,
        monkeypatch: pytest.MonkeyPatch, crash_where: str) -> None:
    registry = ModelRegistry(models_dir)
    relabel(settings=chunked, taxonomy=taxonomy, registry=registry)
    clean = _state(chunked)
    _reset(chunked)

    calls = {"n": 0}
    if crash_where == "inside-chunk":
        real = training.relabel.classify

        def dying(*args, **kwargs):  # the third chunk dies before its commit
            calls["n"] += 1
            if calls["n"] == 3:
                raise Crash
            return real(*args, **kwargs)

        monkeypatch.setattr(training.relabel, "classify", dying)
        with pytest.raises(Crash):
            relabel(settings=chunked, taxonomy=taxonomy, registry=registry)
        monkeypatch.setattr(training.relabel, "classify", real)
    else:
        def die_after_two(done: int) -> None:
            if done >= 20:
                raise Crash
        with pytest.raises(Crash):
            relabel(settings=chunked, taxonomy=taxonomy, registry=registry, after_chunk=die_after_two)

    predictions, runs = _state(chunked)
    assert sum(p[1] == "v1" for p in predictions) == 20  # two whole chunks, not a part of the third
    assert runs[0][1] == "running" and runs[0][3] == 20

    resumed = relabel(settings=chunked, taxonomy=taxonomy, registry=registry)
    assert resumed.resumed
    assert _state(chunked) == clean


def test_an_unfinished_run_of_another_version_is_abandoned(chunked: Settings, store: str,
                                                          models_dir: Path, taxonomy: Taxonomy) -> None:
    """Killed midway, then v2 promoted: v1's run said "running" for ever."""
    registry = ModelRegistry(models_dir)

    def die(done: int) -> None:
        raise Crash

    with pytest.raises(Crash):
        relabel(settings=chunked, taxonomy=taxonomy, registry=registry, after_chunk=die)
    registry.promote(second_version(models_dir))
    report = relabel(settings=chunked, taxonomy=taxonomy, registry=registry)
    assert not report.resumed and report.model_version == "v2"
    with session_scope(chunked.database_url) as session:
        runs = [(r.model_version, r.status) for r in session.scalars(select(RelabelRunRow).order_by(RelabelRunRow.id))]
    assert runs == [("v1", "abandoned"), ("v2", "finished")]


def test_relabel_in_child_processes_equals_relabel_in_process(
        chunked: Settings, store: str, models_dir: Path, taxonomy: Taxonomy,
        earlier_predictions) -> None:
    """With n_jobs 2 a child process classifies while this one stores, chunk by chunk in order:
    the same predictions, checkpoints and counts; a run stopped after two chunks has stored two
    (not the one classified meanwhile), and its re-run in child processes ends the same."""
    registry = ModelRegistry(models_dir)
    alone = relabel(settings=chunked, taxonomy=taxonomy, registry=registry)
    clean = _state(chunked)
    _reset(chunked)
    pooled = chunked.model_copy(update={"n_jobs": 2})
    assert replace(relabel(settings=pooled, taxonomy=taxonomy, registry=registry),
                   run_id=alone.run_id) == alone
    assert _state(chunked) == clean
    _reset(chunked)

    def stop_after_two(done: int) -> None:
        if done >= 20:
            raise Crash
    with pytest.raises(Crash):
        relabel(settings=pooled, taxonomy=taxonomy, registry=registry, after_chunk=stop_after_two)
    predictions, runs = _state(chunked)
    assert sum(p[1] == "v1" for p in predictions) == 20
    assert runs[0][1] == "running" and runs[0][3] == 20
    assert relabel(settings=pooled, taxonomy=taxonomy, registry=registry).resumed
    assert _state(chunked) == clean


def test_relabel_cli_prints_counts(settings: Settings, store: str, models_dir: Path) -> None:
    result = run("relabel")
    assert result.exit_code == 0, result.output
    assert "relabelled 48 of 48 incidents with v1: 48 changed labels" in result.stdout
    assert "before" in result.stdout and "after" in result.stdout


def test_relabel_cli_on_an_empty_store_says_to_sync(settings: Settings, models_dir: Path) -> None:
    """Not "relabelled 0 of 0" and a table of zeros: where incidents come from."""
    result = run("relabel")
    assert result.exit_code == 0, result.output
    assert result.stdout == ("the store holds no incidents to relabel; load them with `incidents "
                             "sync` (v1 is active)\n")
