"""The nightly run: sync, retrain when due (new labels, live alarm, no model), relabel, recorded."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

import training.nightly
from classifier import BugzillaUnavailable, JobRunning, ModelNotFound, Taxonomy
from core.bugzilla import BugRecord
from core.config import Settings
from core.db import session_scope
from core.jobs import JobLock
from core.registry import ModelRegistry
from core.store import upsert_bugs
from core.tables import IncidentRow, LiveScoreRow, ModelDecisionRow, NightlyRunRow, RelabelRunRow
from tests.fixtures import SQLITE_ONLY, make_bugs, write_snapshot
from tests.standin import BugzillaStandIn
from training.nightly import new_label_count, nightly
from training.retrain import RetrainDecision
from training.train import default_model


@pytest.fixture
def nightly_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"nightly_source": "snapshot", "relabel_chunk_size": 25})


def _runs(settings: Settings) -> list[NightlyRunRow]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(NightlyRunRow).order_by(NightlyRunRow.id)))


def _decisions(settings: Settings) -> list[ModelDecisionRow]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(ModelDecisionRow).order_by(ModelDecisionRow.id)))


def _later_bugs(folder: Path, n: int, first_id: int = 1_600_001, year: int = 2024) -> None:
    """The snapshot in ``folder`` and ``n`` more bugs like the small snapshot's first ones, filed
    in ``year`` (2024: after v1's data), their ids from ``first_id``."""
    bugs, comments = make_bugs()
    if (folder / "bugs.json").is_file():  # bugs added before stay
        bugs = json.loads((folder / "bugs.json").read_text(encoding="utf-8"))
        comments = json.loads((folder / "comments.json").read_text(encoding="utf-8"))
    originals = make_bugs()[0]["bugs"][:n]
    for i, bug in enumerate(originals):
        new_id = first_id + i
        bugs["bugs"].append({**bug, "id": new_id, "creation_time": f"{year}-{1 + i % 12:02d}-10T12:00:00Z"})
        comments["bugs"][str(new_id)] = comments["bugs"][str(bug["id"])]
    write_snapshot(folder, bugs, comments)


def test_new_labels_cross_the_threshold(nightly_settings: Settings, store: str, models_dir: Path,
                                        taxonomy: Taxonomy) -> None:
    _later_bugs(nightly_settings.snapshot_dir, 34)
    lines: list[str] = []
    report = nightly(settings=nightly_settings, taxonomy=taxonomy, registry=ModelRegistry(models_dir),
                     progress=lines.append)
    assert report.status == "finished" and report.sync_counts is not None
    assert (report.sync_counts["new"], report.sync_counts["unchanged"]) == (34, 48)
    assert report.new_labels == 34 and report.retrained and report.live_alarm is None
    assert report.retrain_reason == "34 labelled incidents are new to v1 (at least 30)"
    (decision,) = _decisions(nightly_settings)
    assert report.decision is not None and report.decision.id == decision.id
    assert decision.requested_by == "nightly" and decision.challenger == "v2"
    assert report.relabel is not None and report.relabel.done == 82
    (run,) = _runs(nightly_settings)
    assert (run.status, run.source, run.new_labels, run.retrained) == ("finished", "snapshot", 34, True)
    assert run.retrain_decision_id == decision.id and run.retrain_reason == report.retrain_reason
    assert run.relabel_run_id == report.relabel.run_id and run.relabel_changed == report.relabel.changed
    assert run.sync_counts == report.sync_counts and "34 new, 0 updated, 48 unchanged" in run.sync_summary
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.error is None and run.failed_step is None
    with session_scope(nightly_settings.database_url) as session:
        relabel_run = session.get(RelabelRunRow, run.relabel_run_id)
        assert relabel_run is not None and relabel_run.model_version == report.decision.active_after
    assert lines[0].startswith(f"nightly run {run.id}: ") and lines[-1] == f"nightly run {run.id} finished"
    assert lines[1].startswith("sync: synced 82 bugs from ") and lines[2].startswith(
        f"retrain: retrained, 34 labelled incidents are new to v1 (at least 30); decision {decision.id}, ")
    assert lines[3].startswith("relabel: relabelled 82 of 82 incidents with ")


@pytest.mark.parametrize(("new", "are_new"), [(5, "5 labelled incidents are new"),
                                               (1, "1 labelled incident is new")])
def test_few_new_labels_no_retrain(nightly_settings: Settings, store: str, models_dir: Path,
                                   taxonomy: Taxonomy, new: int, are_new: str) -> None:
    _later_bugs(nightly_settings.snapshot_dir, new)
    report = nightly(settings=nightly_settings, taxonomy=taxonomy, registry=ModelRegistry(models_dir))
    assert report.new_labels == new and report.retrained is False and report.decision is None
    reason = f"{are_new} to v1 (fewer than 30) and its live record does not alarm"
    assert report.retrain_reason == reason
    assert report.retrain_line() == f"not retrained: {reason}"
    assert _decisions(nightly_settings) == []
    assert ModelRegistry(models_dir).versions() == ["v1"]
    (run,) = _runs(nightly_settings)
    assert (run.status, run.new_labels, run.retrained, run.retrain_reason) == ("finished", new, False, reason)
    assert run.retrain_decision_id is None
    assert report.relabel is not None and report.relabel.done == 48 + new and report.relabel.model_version == "v1"
    assert run.relabel_run_id == report.relabel.run_id and run.relabel_changed == 48 + new  # never labelled before
    # The next night: nothing new, relabel again (a new run of v1 changes nothing).
    again = nightly(settings=nightly_settings, taxonomy=taxonomy, registry=ModelRegistry(models_dir))
    assert again.sync_counts is not None and again.sync_counts["unchanged"] == 48 + new
    assert again.retrained is False and again.relabel is not None and again.relabel.run_id != report.relabel.run_id
    assert [r.status for r in _runs(nightly_settings)] == ["finished", "finished"]


def test_a_taxonomy_edit_is_tried_by_the_next_run(nightly_settings: Settings, store: str,
                                                 models_dir: Path, taxonomy: Taxonomy) -> None:
    """A cue edited into the taxonomy changes the recipe: the next run retrains through the
    gate with no new label (it waited for 30 before), and the run after does not again."""
    edited = dataclasses.replace(taxonomy, cues={**taxonomy.cues, "crl-failure": r"\bcrl\b|revocation list"})
    assert training.nightly.recipe_changes(ModelRegistry(models_dir).card("v1"),
                                           default_model(nightly_settings, taxonomy)) is None
    report = nightly(settings=nightly_settings, taxonomy=edited, registry=ModelRegistry(models_dir))
    assert report.new_labels == 0 and report.retrained
    assert report.retrain_reason == "the recipe is not v1's: cues of crl-failure"
    (decision,) = _decisions(nightly_settings)
    assert decision.challenger == "v2" and decision.requested_by == "nightly"
    again = nightly(settings=nightly_settings, taxonomy=edited, registry=ModelRegistry(models_dir))
    assert again.retrained is False and len(_decisions(nightly_settings)) == 1
    # Any parameter, named with its values; one the card does not know is new.
    card = {"params": {"C": 10.0, "cues": {"a": "x"}}}
    changed = training.nightly.recipe_changes(card, default_model(nightly_settings, taxonomy).set_params(C=3.0))
    assert changed is not None and changed.startswith("C 10.0 → 3.0; ")
    assert "min_support (new)" in changed and "n_jobs" not in changed
    assert training.nightly.recipe_changes({}, default_model(nightly_settings, taxonomy)) is None


def test_a_tag_labelled_enough_to_learn_retrains(nightly_settings: Settings, store: str,
                                                 models_dir: Path, taxonomy: Taxonomy,
                                                 correct: Callable[..., int]) -> None:
    """A kind of incident v1 never learned (too few labelled) that maintainers have now
    labelled min_support times is learned by the next run, not after 30 new labels."""
    card = ModelRegistry(models_dir).card("v1")
    assert "policy-failure" not in card["training_data"]["tag_counts"]
    with session_scope(store) as session:
        ids = list(session.scalars(select(IncidentRow.id).order_by(IncidentRow.id).limit(5)))
    for bug_id in ids[:4]:
        correct(bug_id, ["policy-failure"])
    with session_scope(store) as session:
        assert training.nightly.newly_learnable(session=session, card=card) == {}
    quiet = nightly(settings=nightly_settings, taxonomy=taxonomy, registry=ModelRegistry(models_dir))
    assert quiet.retrained is False and quiet.new_labels == 4
    correct(ids[4], ["policy-failure"])
    report = nightly(settings=nightly_settings, taxonomy=taxonomy, registry=ModelRegistry(models_dir))
    assert report.retrained and report.new_labels == 5
    assert report.retrain_reason == ("enough labelled incidents to learn a tag v1 had too few of: "
                                     "policy-failure (5)")
    assert "policy-failure" in ModelRegistry(models_dir).card("v2")["labels"]
    again = nightly(settings=nightly_settings, taxonomy=taxonomy, registry=ModelRegistry(models_dir))
    assert again.retrained is False  # v2 learned it


@SQLITE_ONLY
def _alarm(store: str, version: str = "v1") -> None:
    """25 of ``version``'s predictions scored wrong against tags that came later: its live record
    alarms (category micro-F1 0.000 against its card's held-out figure)."""
    now = datetime.now(UTC)
    with session_scope(store) as session:
        ids = list(session.scalars(select(IncidentRow.id).order_by(IncidentRow.id).limit(25)))
        session.execute(insert(LiveScoreRow), [
            {"incident_id": bug_id, "model_version": version, "predicted_tags": ["crl-failure"],
             "true_tags": ["ocsp-failure"], "needs_review": False, "predicted_at": now - timedelta(days=2),
             "scored_at": now - timedelta(minutes=i)} for i, bug_id in enumerate(ids)])


def test_live_alarm_retrains(nightly_settings: Settings, store: str, models_dir: Path,
                             taxonomy: Taxonomy) -> None:
    """v1's live record far below its held-out micro-F1 retrains on fewer new labels than the
    threshold asks (one)."""
    _alarm(store)
    _later_bugs(nightly_settings.snapshot_dir, 1)
    report = nightly(settings=nightly_settings, taxonomy=taxonomy, registry=ModelRegistry(models_dir))
    assert report.new_labels == 1 and report.live_alarm is not None
    assert "live category micro-F1 0.000 over its last 25 scored incidents" in report.live_alarm
    assert report.retrained and report.retrain_reason == f"live record alarm: {report.live_alarm}"
    (run,) = _runs(nightly_settings)
    (decision,) = _decisions(nightly_settings)
    assert run.live_alarm == report.live_alarm and run.retrain_decision_id == decision.id
    assert (decision.challenger, decision.promoted) == ("v2", False)  # too few to compare
    # The alarm stands, but v2 learned every label there is: the next night does not train a
    # third copy of the same labels.
    again = nightly(settings=nightly_settings, taxonomy=taxonomy, registry=ModelRegistry(models_dir))
    assert again.live_alarm == report.live_alarm and again.retrained is False
    assert again.retrain_reason == (f"v1's live record alarms ({report.live_alarm}), but no "
                                    "labelled incident is new to v2, which was trained since: "
                                    "retraining would learn the same labels")
    assert len(_decisions(nightly_settings)) == 1
    assert ModelRegistry(models_dir).versions() == ["v1", "v2"]


def test_live_alarm_with_nothing_new_does_not_retrain(nightly_settings: Settings, store: str,
                                                      models_dir: Path, taxonomy: Taxonomy) -> None:
    """An alarm, but v1 learned every label the store holds: a retraining would fit v1 again,
    so none is run, none recorded, and the run says why."""
    _alarm(store)
    report = nightly(settings=nightly_settings, taxonomy=taxonomy, registry=ModelRegistry(models_dir))
    assert report.new_labels == 0 and report.live_alarm is not None
    assert report.retrained is False and report.decision is None
    assert report.retrain_reason == (f"v1's live record alarms ({report.live_alarm}), but no "
                                     "labelled incident is new to it: retraining would learn the "
                                     "same labels")
    assert _decisions(nightly_settings) == [] and ModelRegistry(models_dir).versions() == ["v1"]
    (run,) = _runs(nightly_settings)
    assert (run.retrained, run.retrain_reason) == (False, report.retrain_reason)


@SQLITE_ONLY
def test_rollback_sticks(nightly_settings: Settings, store: str, models_dir: Path,
                         taxonomy: Taxonomy) -> None:
    """A maintainer's rollback is not undone by the next night: the labels the rolled-back
    version learned are not new to the loop, which waits for labels no version has learned."""
    registry = ModelRegistry(models_dir)
    _later_bugs(nightly_settings.snapshot_dir, 34)
    first = nightly(settings=nightly_settings, taxonomy=taxonomy, registry=registry)
    assert first.decision is not None and first.decision.promoted
    assert registry.active_version() == "v2"
    assert registry.rollback(by="maintainer") == "v1"
    after = nightly(settings=nightly_settings, taxonomy=taxonomy, registry=registry)
    assert after.retrained is False and after.new_labels == 0
    assert after.retrain_reason == ("0 labelled incidents are new to v2, the newest version, while v1 "
                                    "is active (fewer than 30) and v1's live record does not alarm")
    assert registry.active_version() == "v1" and registry.versions() == ["v1", "v2"]
    assert after.relabel is not None and after.relabel.model_version == "v1"
    # Labels no version learned arrive: the loop retrains, and a promotion over the rollback
    # says that it undoes a maintainer's choice.
    _later_bugs(nightly_settings.snapshot_dir, 34, first_id=1_700_001, year=2025)
    later = nightly(settings=nightly_settings, taxonomy=taxonomy, registry=registry)
    assert later.decision is not None and later.decision.promoted and registry.active_version() == "v3"
    day = registry.history()[-2]["at"][:10]
    assert later.retrain_line().startswith(
        f"retrained, 34 labelled incidents are new to v2, the newest version, while v1 is active "
        f"(at least 30); decision {later.decision.id}, promoted v3 (was v1), over maintainer's "
        f"rollback to v1 of {day}: ")
    assert first.rollback is None and "rollback" not in first.retrain_line()


@SQLITE_ONLY
def test_nightly_from_bugzilla_without_a_model(sync_settings: Settings, standin: BugzillaStandIn,
                                               taxonomy: Taxonomy) -> None:
    registry = ModelRegistry(sync_settings.models_dir)
    report = nightly(settings=sync_settings, taxonomy=taxonomy, registry=registry)
    assert report.source == "bugzilla" and report.sync_counts is not None
    assert report.sync_counts["new"] == 48 and report.sync_counts["source"] == standin.url
    assert report.retrained and report.retrain_reason == "no model is active" and report.new_labels == 48
    assert report.decision is not None and report.decision.promoted and registry.active_version() == "v1"
    assert report.relabel is not None and report.relabel.model_version == "v1"


def test_failing_sync_is_recorded(settings: Settings, store: str, models_dir: Path, taxonomy: Taxonomy) -> None:
    """The Bugzilla of the tests' settings is a closed port: the run stops at the sync."""
    lines: list[str] = []
    with pytest.raises(BugzillaUnavailable):
        nightly(settings=settings, taxonomy=taxonomy, registry=ModelRegistry(models_dir), progress=lines.append)
    (run,) = _runs(settings)
    assert (run.status, run.failed_step, run.source) == ("failed", "sync", "bugzilla")
    assert run.error and "127.0.0.1:9" in run.error and "\n" not in run.error
    assert run.finished_at is not None and run.sync_summary is None and run.relabel_run_id is None
    assert lines[-1] == f"nightly run {run.id} failed at sync"


def test_failing_relabel_is_recorded(nightly_settings: Settings, store: str, models_dir: Path,
                                     taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(training.nightly, "relabel", broken)
    with pytest.raises(OSError, match="disk full"):
        nightly(settings=nightly_settings, taxonomy=taxonomy, registry=ModelRegistry(models_dir))
    (run,) = _runs(nightly_settings)
    assert (run.status, run.failed_step, run.error) == ("failed", "relabel", "disk full")
    assert run.sync_summary and run.new_labels == 0 and run.retrained is False  # the steps before stay


def test_failing_retrain_is_recorded(nightly_settings: Settings, store: str, models_dir: Path,
                                     taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch) -> None:
    """A retraining that was due and failed (one started from the API holds the lock) is
    recorded as not retrained, with its error; the relabel does not run."""
    def busy(**_: object) -> None:
        raise JobRunning("a retraining is already running, started by alice via the API")

    monkeypatch.setattr(training.nightly, "retrain", busy)
    _later_bugs(nightly_settings.snapshot_dir, 34)
    with pytest.raises(JobRunning):
        nightly(settings=nightly_settings, taxonomy=taxonomy, registry=ModelRegistry(models_dir))
    (run,) = _runs(nightly_settings)
    assert (run.status, run.failed_step, run.new_labels) == ("failed", "retrain", 34)
    assert run.retrained is False and run.retrain_decision_id is None and run.relabel_run_id is None
    assert run.retrain_reason == "34 labelled incidents are new to v1 (at least 30)"
    assert run.error == "a retraining is already running, started by alice via the API"


def test_a_killed_run_reads_as_interrupted_and_one_run_at_a_time(
        nightly_settings: Settings, store: str, models_dir: Path, taxonomy: Taxonomy) -> None:
    """A run killed midway stayed "running" for ever; two runs at once each failed at a step."""
    url = nightly_settings.database_url
    registry = ModelRegistry(models_dir)
    with session_scope(url) as session:  # what a run killed at its retrain step leaves
        session.add(NightlyRunRow(started_at=datetime(2026, 1, 1, tzinfo=UTC), status="running",
                                  source="snapshot"))
    with session_scope(url) as session:
        [killed] = training.nightly.list_runs(session=session, limit=5)[0]
    assert (killed["status"], killed["error"]) == ("interrupted", training.nightly.INTERRUPTED)

    with JobLock(url, "nightly", holder="bob via incidents nightly"):
        with session_scope(url) as session:
            session.add(NightlyRunRow(started_at=datetime(2026, 1, 2, tzinfo=UTC), status="running",
                                      source="snapshot"))
        with session_scope(url) as session:
            live, dead = training.nightly.list_runs(session=session, limit=5)[0]
        assert (live["status"], dead["status"]) == ("running", "interrupted")  # bob's is the newest
        with pytest.raises(JobRunning, match="a nightly run is already running, started by bob"):
            nightly(settings=nightly_settings, taxonomy=taxonomy, registry=registry)
    assert len(_runs(nightly_settings)) == 2  # the refused one recorded nothing

    lines: list[str] = []
    nightly(settings=nightly_settings, taxonomy=taxonomy, registry=registry, progress=lines.append)
    assert lines[0] == ("2 earlier nightly run(s) recorded as running had stopped: recorded as "
                        "interrupted")
    assert [r.status for r in _runs(nightly_settings)] == ["interrupted", "interrupted", "finished"]


def test_retrain_line_of_a_superseded_challenger() -> None:
    """A challenger refused because another version was promoted while it trained: the line
    names the version now active, not the one it was compared with."""
    decision = RetrainDecision(id=7, challenger="v3", active_before="v1", active_after="v2",
                               promoted=False, forced=False, tolerance=0.0,
                               reason="refused: not promoting v3: it was to replace v1, but v2 "
                                      "became active meanwhile",
                               challenger_metrics={}, active_metrics=None, requested_by="nightly",
                               superseded=True)
    report = training.nightly.NightlyReport(1, "snapshot", retrained=True,
                                            retrain_reason="due", decision=decision)
    assert report.retrain_line() == (
        "retrained, due; decision 7, v3 stays a candidate, v2 became active meanwhile: refused: "
        "not promoting v3: it was to replace v1, but v2 became active meanwhile")


# -- which labels are new to a model ------------------------------------------------------------
def _card(models_dir: Path) -> dict:
    return json.loads((models_dir / "v1" / "card.json").read_text(encoding="utf-8"))


def _count(url: str, card: dict | None) -> int:
    with session_scope(url) as session:
        return new_label_count(session=session, card=card)


def test_new_label_count(store: str, models_dir: Path, taxonomy: Taxonomy,
                         correct: Callable[..., int]) -> None:
    card = _card(models_dir)
    assert card["training_data"]["size"] == 48
    # The store was loaded after v1 was trained, with the same bugs: every tag looks new, none is.
    assert _count(store, card) == 0
    assert _count(store, None) == 48  # no model: everything is new
    # Corrections after the card count; one to no tag leaves the training data.
    correct(1_500_001, ["crl-failure"])
    correct(1_500_002, ["ocsp-failure", "crl-failure"])
    correct(1_500_003, [])
    assert _count(store, card) == 2
    # A correction stored before training read its labels does not count ...
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    read_later = {**card, "training_data": {**card["training_data"], "labels_as_of": later}}
    assert _count(store, read_later) == 0
    # ... and one stored while the version was being fitted (after its labels were read, before
    # its card was written) does: the version never saw it.
    assert card["training_data"]["labels_as_of"] < card["created_at"]
    assert _count(store, {**card, "created_at": later}) == 2
    # A card written before labels_as_of was recorded: its created_at stands in.
    old_card = {**card, "created_at": later,
                "training_data": {k: v for k, v in card["training_data"].items() if k != "labels_as_of"}}
    assert _count(store, old_card) == 0
    # Old bugs Mozilla tagged after the card: counted as far as the labelled old bugs grew.
    bugs, _ = make_bugs()
    old = {**bugs["bugs"][0], "id": 1_550_001, "whiteboard": "[ca-compliance]"}
    with session_scope(store) as session:
        upsert_bugs(session=session, records=[BugRecord.from_rest(old, None, taxonomy)])
    assert _count(store, card) == 2
    with session_scope(store) as session:
        upsert_bugs(session=session, records=[BugRecord.from_rest({**old, "whiteboard": "[crl-failure]"},
                                                                  None, taxonomy)])
    # 48 labelled old bugs again (one corrected to none, one tagged late): the late one counts
    # only up to the growth over the card's 48, i.e. not at all ...
    assert _count(store, card) == 2
    # ... until the store holds more labelled old bugs than v1 learnt from (2 more: 2 of them).
    assert _count(store, {**card, "training_data": {**card["training_data"], "size": 46}}) == 4
    # A store loaded before the card: only what came after it counts.
    with session_scope(store) as session:
        session.execute(update(IncidentRow).where(IncidentRow.id != 1_550_001)
                        .values(tags_known_at=datetime(2020, 1, 1, tzinfo=UTC)))
    assert _count(store, {**card, "training_data": {**card["training_data"], "size": 47}}) == 3


def test_nightly_refuses_a_models_folder_that_is_not_the_stores(
        nightly_settings: Settings, store: str, tmp_path: Path, taxonomy: Taxonomy) -> None:
    """The store holds predictions, the models folder no version: a cron line without the
    service's INCIDENTS_MODELS_DIR. The nightly trained a new v1 there and relabelled every
    incident with it (operator review); it now stops at the retrain step, saying why."""
    from core.store import save_prediction

    with session_scope(store) as session:
        save_prediction(session=session, incident_id=1_500_001, model_version="v7", tags=[],
                        scores={}, needs_review=True, confidence=0.0)
    stranger = nightly_settings.model_copy(update={"models_dir": tmp_path / "elsewhere"})
    registry = ModelRegistry(stranger.models_dir)
    with pytest.raises(ModelNotFound, match="holds no version, but the store holds predictions of v7: "
                                            "INCIDENTS_MODELS_DIR is likely not the service's"):
        nightly(settings=stranger, taxonomy=taxonomy, registry=registry)
    assert registry.versions() == []
    (run,) = _runs(stranger)
    assert (run.status, run.failed_step) == ("failed", "retrain")
