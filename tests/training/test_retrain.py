"""Gated retraining: a worse challenger stays a candidate, --force promotes, decisions are kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, update

from classifier import NotEnoughData, Taxonomy
from cli._shared import cli_user
from core.config import Settings, get_settings
from core.db import session_scope
from core.registry import ModelRegistry
from core.tables import IncidentRow, ModelDecisionRow
from tests.fixtures import (
    SQLITE_ONLY,
    SWAPPED,
    run,
    second_version,
    settings_comparing_on_ten,  # noqa: F401  (the `settings` of these tests)
    unstamped,
)
from training.dataset import Dataset, load_dataset
from training.retrain import gate, holdout_split, holdout_window, retrain


def _spoil_older_labels(settings: Settings, correct: Callable[..., int]) -> None:
    """Correct the incidents the challenger learns from to wrong tags (the holdout stays true)."""
    with session_scope(settings.database_url) as session:
        older, _ = holdout_split(load_dataset(session=session), settings.retrain_holdout_fraction,
                                 min_size=settings.retrain_min_holdout)
    for bug_id, tags in zip(older.ids, older.y, strict=True):
        correct(int(bug_id), [SWAPPED[t] for t in tags])


def _decisions(settings: Settings) -> list[ModelDecisionRow]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(ModelDecisionRow).order_by(ModelDecisionRow.id)))


def _window(settings: Settings) -> Dataset:
    with session_scope(settings.database_url) as session:
        return holdout_split(load_dataset(session=session), settings.retrain_holdout_fraction,
                             min_size=settings.retrain_min_holdout)[1]


@SQLITE_ONLY
def test_retrain_holds_a_challenger_scored_on_corrections_that_contradict_mozilla(
        settings: Settings, store: str, models_dir: Path, taxonomy: Taxonomy,
        correct: Callable[..., int]) -> None:
    """The window's labels are what both models are scored on: wrong corrections there were the
    truth, and the challenger, fitted with the earlier of them, was promoted (a triager's 45
    incidents corrected to audit-delay: "0.3235 vs 0.0667"). Corrections made since the active
    model that contradict Mozilla's own tags on a tenth or more of the window hold it."""
    window = _window(settings)
    for bug_id, tags in zip(window.ids, window.y, strict=True):
        correct(int(bug_id), [SWAPPED[t] for t in tags])
    registry = ModelRegistry(models_dir)
    decision = retrain(settings=settings, taxonomy=taxonomy, registry=registry)
    assert not decision.promoted and registry.active_version() == "v1"
    assert decision.reason.startswith(
        f"held: {len(window)} of the {len(window)} incidents compared on carry corrections made "
        "since v1 that put them in other briefing rows than Mozilla's tags in Bugzilla (bugs ")
    assert "(the gate had said: challenger is not" in decision.reason
    assert decision.challenger_metrics["contradicted_corrections"] == sorted(int(i) for i in window.ids)
    forced = retrain(settings=settings, taxonomy=taxonomy, registry=registry, force=True)
    assert forced.promoted and forced.reason.startswith("forced although held: ")


@SQLITE_ONLY
def test_retrain_corrections_that_agree_with_mozilla_do_not_hold(
        settings: Settings, store: str, models_dir: Path, taxonomy: Taxonomy,
        correct: Callable[..., int]) -> None:
    """Corrections restating Mozilla's rows, or fewer than five contradicting ones, are no reason
    to doubt the window."""
    window = _window(settings)
    for n, (bug_id, tags) in enumerate(zip(window.ids, window.y, strict=True)):
        correct(int(bug_id), [SWAPPED[t] for t in tags] if n < 4 else list(tags))
    decision = retrain(settings=settings, taxonomy=taxonomy, registry=ModelRegistry(models_dir))
    assert not decision.reason.startswith("held") and "contradicted_corrections" not in decision.challenger_metrics


@SQLITE_ONLY
def test_retrain_worse_challenger_not_promoted(settings: Settings, store: str, models_dir: Path,
                                               taxonomy: Taxonomy, correct: Callable[..., int]) -> None:
    _spoil_older_labels(settings, correct)
    registry = ModelRegistry(models_dir)
    decision = retrain(settings=settings, taxonomy=taxonomy, registry=registry, requested_by="alice")
    assert not decision.promoted and not decision.forced
    assert registry.active_version() == "v1" == decision.active_before == decision.active_after
    assert decision.challenger == "v2" and "v2" in registry.versions()
    assert decision.reason.startswith("challenger is worse")
    assert registry.card("v2")["corrections"]["count"] > 0
    (row,) = _decisions(settings)
    assert row.promoted is False and row.challenger == "v2" and row.active_before == "v1"
    assert row.requested_by == "alice" and row.tolerance == settings.retrain_tolerance
    for metrics in (row.challenger_metrics, row.active_metrics):
        assert {"category_micro_f1", "category_macro_f1", "holdout_size"} <= set(metrics)
    assert row.challenger_metrics["category_micro_f1"] < row.active_metrics["category_micro_f1"]
    assert row.challenger_metrics["holdout_size"] == row.active_metrics["holdout_size"]
    # Worse beyond doubt: lower in (nearly) every paired resample of the window, and said so.
    assert row.challenger_metrics["worse_in_resamples"]["category_micro_f1"] >= 0.9
    worse, better = (row.challenger_metrics[k]["category_micro_f1"]
                     for k in ("worse_in_resamples", "better_in_resamples"))
    assert 0 <= better <= 1 - worse  # the other way round, from the same resamples
    assert "of resamples of the window" in decision.reason
    # The same resamples as an interval of the challenger's lead: below 0, and it holds the
    # difference of the two recorded figures.
    for name in ("category_micro_f1", "category_macro_f1"):
        lead = row.challenger_metrics["lead_over_active"][name]
        assert lead["difference"] == pytest.approx(
            row.challenger_metrics[name] - row.active_metrics[name], abs=2e-4)
        assert lead["low"] <= lead["difference"] <= lead["high"]
    assert row.challenger_metrics["lead_over_active"]["category_micro_f1"]["high"] < 0


def test_retrain_force_promotes_worse_challenger(settings: Settings, store: str, models_dir: Path,
                                                 correct: Callable[..., int]) -> None:
    _spoil_older_labels(settings, correct)
    result = run("retrain", "--force", "--requested-by", "bob")
    assert result.exit_code == 0, result.output
    assert "FORCED: promoted v2 (was v1)" in result.stdout
    assert "  challenger minus active: micro-F1 -" in result.stdout  # lower, with its interval
    # v1 learned the whole window: it is scored as its recipe, on the labels it learned.
    assert "on the same incidents (its recipe, as it would have lived them)" in result.stdout
    assert ModelRegistry(models_dir).active_version() == "v2"
    assert ModelRegistry(models_dir).history()[-1]["by"] == "bob"  # who asked, in the history too
    (row,) = _decisions(settings)
    assert row.promoted and row.forced and row.reason.startswith("forced although challenger is worse")


@SQLITE_ONLY
def test_retrain_with_nothing_new_keeps_the_active_model(settings: Settings, store: str,
                                                         models_dir: Path, taxonomy: Taxonomy) -> None:
    """The incidents and tags v1 learned, the same recipe: nothing to learn. The decision is taken
    before anything is fitted: no version is written, and the recorded decision names none."""
    registry = ModelRegistry(models_dir)
    said: list[str] = []
    decision = retrain(settings=settings, taxonomy=taxonomy, registry=registry, requested_by="carol",
                       progress=said.append)
    assert not decision.promoted and not decision.forced
    assert decision.challenger is None and registry.versions() == ["v1"]
    assert registry.active_version() == "v1" == decision.active_before == decision.active_after
    assert decision.reason == ("nothing new to learn: v1 has the challenger's recipe and learned the "
                               "store's 48 labelled incidents and their tags as they are now; nothing "
                               "was fitted")
    assert decision.active_metrics is None and decision.challenger_metrics["holdout_size"] == 0
    assert not any("fit" in message for message in said)  # nothing was trained
    (row,) = _decisions(settings)
    assert row.challenger is None and not row.promoted and row.requested_by == "carol"
    assert row.reason == decision.reason and row.id == decision.id


@SQLITE_ONLY
def test_retrain_forced_with_nothing_new_trains_and_promotes(settings: Settings, store: str,
                                                             models_dir: Path, taxonomy: Taxonomy) -> None:
    """--force asks for a new version whatever the gate says: nothing new to learn does not stop
    it. Its recipe's fits are the ones v1's would make, so both score the same on the window."""
    registry = ModelRegistry(models_dir)
    decision = retrain(settings=settings, taxonomy=taxonomy, registry=registry, force=True)
    assert decision.promoted and decision.forced and decision.challenger == "v2"
    assert registry.active_version() == "v2"
    assert decision.reason.startswith("forced; challenger is not worse")
    assert decision.active_metrics is not None and decision.active_metrics["scored_as"] == "recipe"
    for name in ("category_micro_f1", "category_macro_f1"):
        assert decision.active_metrics[name] == decision.challenger_metrics[name]


@SQLITE_ONLY
def test_retrain_from_a_correction_compares_recipes(settings: Settings, store: str, models_dir: Path,
                                                    taxonomy: Taxonomy, correct: Callable[..., int]) -> None:
    """A correction and no new incident: v1 learned the whole window, and its answers there are
    its training data's. Its recipe is scored instead, as the challenger's is, fitted on the
    labels v1 learned (without the correction): a correction that does not make the model worse
    is promoted."""
    dataset = _dataset(store)
    said: list[str] = []
    older = int(dataset.ids[5])
    correct(older, [*dataset.y[5], "policy-failure"])
    registry = ModelRegistry(models_dir)
    decision = retrain(settings=settings, taxonomy=taxonomy, registry=registry, progress=said.append)
    assert decision.promoted and registry.active_version() == "v2"
    assert decision.reason.startswith("challenger is not")
    active, challenger = decision.active_metrics, decision.challenger_metrics
    assert active is not None and active["scored_as"] == "recipe" and active["holdout_blocks"] == 3
    assert active["holdout_size"] == challenger["holdout_size"] == 10
    assert decision.window.endswith("v1 may have learned all of them, where its own answers would be its training "
                                    "data's: its recipe predicted them the same way, fitted on the "
                                    "labels v1 learned")
    # Both recipes were fitted three times each, v1's on the incidents as they were.
    assert [s for s in said if "block 1 of 3" in s] == [
        "challenger: block 1 of 3: fitting on the 38 incidents before it",
        "active v1's recipe: block 1 of 3: fitting on the 38 incidents before it"]


@SQLITE_ONLY
def test_retrain_active_recipe_leaves_out_old_bugs_tagged_after_it(
        settings: Settings, store: str, models_dir: Path, taxonomy: Taxonomy) -> None:
    """Old bugs Mozilla tagged after the active model was trained are labels it did not learn:
    its recipe is fitted without them, so the gate judges what they teach. (It used to take the
    tags as they are today: the active side was then the challenger itself, and the tie
    promoted whatever the late tags taught.)"""
    dataset = _dataset(store)
    late = [int(i) for i in dataset.ids[:14]]  # the oldest, all before the window
    path = models_dir / "v1" / "card.json"
    card = json.loads(path.read_text(encoding="utf-8"))
    created = datetime.fromisoformat(card["training_data"]["labels_as_of"])
    with session_scope(store) as session:
        session.execute(update(IncidentRow).values(tags_known_at=created - timedelta(days=1)))
        session.execute(update(IncidentRow).where(IncidentRow.id.in_(late))
                        .values(tags_known_at=created + timedelta(days=1)))
    # v1 as a model trained before those 14 were tagged: its card's training data is the rest.
    learned = dataset.subset(~np.isin(dataset.ids, late))
    card["training_data"] |= {"size": len(learned), "sha256": learned.fingerprint()}
    path.write_text(json.dumps(card), encoding="utf-8")
    said: list[str] = []
    decision = retrain(settings=settings, taxonomy=taxonomy, registry=ModelRegistry(models_dir),
                       progress=said.append)
    assert [s for s in said if "block 1 of 3" in s] == [
        "challenger: block 1 of 3: fitting on the 38 incidents before it",
        "active v1's recipe: block 1 of 3: fitting on the 24 incidents before it"]
    assert decision.active_metrics is not None and decision.active_metrics["scored_as"] == "recipe"


def test_holdout_split_judges_on_what_the_active_model_has_not_seen(settings: Settings, store: str) -> None:
    with session_scope(store) as session:
        dataset = load_dataset(session=session)
    older, newest = holdout_split(dataset, 0.2)
    assert len(newest) == 10 and older.created.max() <= newest.created.min()
    # An active model trained up to the 45th incident: only the 3 after it are compared on.
    _, unseen = holdout_split(dataset, 0.2, dataset.created[44])
    assert list(unseen.ids) == list(dataset.ids[45:])
    # An active model that saw everything: the newest minimum (conservative: it flatters it).
    _, seen = holdout_split(dataset, 0.2, dataset.created[-1], min_size=4)
    assert list(seen.ids) == list(dataset.ids[44:])


def _dataset(store: str) -> Dataset:
    with session_scope(store) as session:
        return load_dataset(session=session)


def _iso(moment: np.datetime64) -> str:
    return pd.Timestamp(moment).tz_localize("UTC").isoformat()


def _trained_up_to(models_dir: Path, moment: np.datetime64) -> None:
    """Make v1's card say its last training incident was filed at ``moment`` (and, as it learned
    fewer incidents than the store holds, that its training data had another fingerprint)."""
    path = models_dir / "v1" / "card.json"
    card = json.loads(path.read_text(encoding="utf-8"))
    card["training_data"]["last_filed"] = str(moment)
    card["training_data"]["sha256"] = f"up to {moment}"
    path.write_text(json.dumps(card), encoding="utf-8")


def test_holdout_window_minimum(settings: Settings, store: str) -> None:
    dataset = _dataset(store)
    assert len(dataset) == 48
    # Fewer labelled incidents than the minimum and as many to fit on: nothing is compared.
    too_few = holdout_window(dataset, 0.2, min_size=30)
    assert (too_few.size, too_few.labelled, too_few.needed) == (0, 48, 60)
    assert not too_few.compared and too_few.too_few().startswith(
        "too few labelled incidents to compare (48 < 60")
    with pytest.raises(NotEnoughData, match="48 < 60"):
        holdout_split(dataset, 0.2, min_size=30)
    # The minimum outranks a small share; a large share still leaves the minimum to fit on.
    assert holdout_window(dataset, 0.1, min_size=20).size == 20
    assert holdout_window(dataset, 0.9, min_size=10).size == 38
    assert holdout_window(dataset, 0.2, min_size=24).size == 24


def test_holdout_window_unseen_needs_the_minimum(settings: Settings, store: str) -> None:
    dataset = _dataset(store)
    # 12 incidents unseen by the active model, a minimum of 10: exactly those.
    window = holdout_window(dataset, 0.3, dataset.created[35], min_size=10, active="v1")
    assert (window.size, window.unseen, window.all_unseen) == (12, 12, True)
    assert (window.first, window.last) == (_iso(dataset.created[36]), _iso(dataset.created[47]))
    assert "unseen by it" in window.describe()
    # Only 5 unseen, fewer than the minimum: the newest 10 instead, the fewest the minimum allows
    # of which the active model has seen (5); not the newest share, max(10, ceil(0.3 * 48)) = 15.
    fallback = holdout_window(dataset, 0.3, dataset.created[42], min_size=10, active="v1")
    assert (fallback.size, fallback.unseen, fallback.all_unseen) == (10, 5, False)
    # Without an active model there is nothing to flatter: the newest share.
    assert holdout_window(dataset, 0.3, None, min_size=10).size == 15
    assert "only the last 5 are newer than v1's last training incident" in fallback.describe()


@SQLITE_ONLY
def test_retrain_compares_on_the_unseen_incidents(settings: Settings, store: str, models_dir: Path,
                                                  taxonomy: Taxonomy) -> None:
    dataset = _dataset(store)
    assert int((dataset.created > dataset.created[35]).sum()) == 12
    _trained_up_to(models_dir, dataset.created[35])
    registry = ModelRegistry(models_dir)
    decision = retrain(settings=settings.model_copy(update={"retrain_holdout_fraction": 0.3}),
                       taxonomy=taxonomy, registry=registry)
    window = {"holdout_size": 12, "holdout_from": _iso(dataset.created[36]),
              "holdout_to": _iso(dataset.created[47]), "holdout_unseen": True}
    assert decision.active_metrics is not None
    for metrics in (decision.challenger_metrics, decision.active_metrics):
        assert {k: metrics[k] for k in window} == window
    assert decision.window.startswith("the newest 12 labelled incidents, filed "
                                      f"{_iso(dataset.created[36])[:16]} to ")
    assert decision.window.endswith(
        "all filed after v1's last training incident (unseen by it); the challenger predicted them "
        "in 3 blocks by filing time, each fitted on every incident filed before it")
    (row,) = _decisions(settings)
    assert {k: row.challenger_metrics[k] for k in window} == window
    assert {k: row.active_metrics[k] for k in window} == window
    assert row.challenger_metrics["holdout_blocks"] == 3 and "holdout_blocks" not in row.active_metrics
    # The challenger's card holds the same comparison: its first fit on the 36 older incidents,
    # the next ones on those and the window's first 4, then 8; scored on the 12.
    metrics = registry.card(decision.challenger)["metrics"]
    assert (metrics["train_size"], metrics["test_size"], metrics["blocks"]) == (36, 12, 3)
    assert set(metrics["contenders"]) == {"model", "active v1"}
    # `models list` shows those figures, how many incidents they are on, and the decision.
    listed = run("models", "list")
    assert listed.exit_code == 0, listed.output
    line = listed.stdout.splitlines()[1]
    assert line.startswith(f"{'*' if decision.promoted else ' '} v2")
    assert f"(n=12)  newest from {_iso(dataset.created[36])[:10]} vs v1 " in line
    assert line.endswith(f"retrain #1: {'promoted' if decision.promoted else 'kept'}")


@SQLITE_ONLY
def test_retrain_one_block_fits_once_on_the_older_incidents(settings: Settings, store: str,
                                                            models_dir: Path, taxonomy: Taxonomy) -> None:
    dataset = _dataset(store)
    _trained_up_to(models_dir, dataset.created[35])
    registry = ModelRegistry(models_dir)
    said: list[str] = []
    decision = retrain(settings=settings.model_copy(update={"retrain_holdout_fraction": 0.3,
                                                            "retrain_gate_blocks": 1}),
                       taxonomy=taxonomy, registry=registry, progress=said.append)
    assert decision.challenger_metrics["holdout_blocks"] == 1
    assert decision.window.endswith("(unseen by it)")
    assert [s for s in said if "incidents before it" in s] == [
        "challenger: block 1 of 1: fitting on the 36 incidents before it"]
    assert registry.card(decision.challenger)["metrics"]["blocks"] == 1


@SQLITE_ONLY
def test_retrain_too_few_to_compare_keeps_the_active_model(settings: Settings, store: str,
                                                            models_dir: Path,
                                                            taxonomy: Taxonomy, something_new: int) -> None:
    registry = ModelRegistry(models_dir)
    decision = retrain(settings=settings.model_copy(update={"retrain_min_holdout": 30}),
                       taxonomy=taxonomy, registry=registry, requested_by="alice")
    assert not decision.promoted and not decision.forced
    assert registry.active_version() == "v1" == decision.active_after
    assert decision.challenger == "v2" and "v2" in registry.versions()  # a candidate
    assert decision.reason.startswith("too few labelled incidents to compare (48 < 60")
    assert decision.window.startswith("none: too few labelled incidents to compare (48 < 60")
    assert decision.active_metrics is None
    c = decision.challenger_metrics
    assert c["category_micro_f1"] is None and c["category_macro_f1"] is None
    assert (c["holdout_size"], c["holdout_from"], c["holdout_to"], c["holdout_unseen"]) == (
        0, None, None, False)
    (row,) = _decisions(settings)
    assert row.promoted is False and row.reason == decision.reason
    assert row.challenger_metrics["holdout_size"] == 0 and row.active_metrics is None
    # The candidate's card has figures all the same: the time split, as `incidents train`'s.
    metrics = registry.card("v2")["metrics"]
    assert metrics["test_size"] > 0 and set(metrics["contenders"]) >= {"model", "tfidf+logreg"}


@SQLITE_ONLY
def test_retrain_cli_with_nothing_new(settings: Settings, store: str, models_dir: Path) -> None:
    """One line: v1 kept, nothing fitted, why; `models decisions` lists the decision with no
    challenger."""
    result = run("retrain", "--requested-by", "dana")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "kept v1 active, no challenger fitted: nothing new to learn: v1 has the challenger's recipe "
        "and learned the store's 48 labelled incidents and their tags as they are now; nothing was "
        "fitted"]
    assert ModelRegistry(models_dir).versions() == ["v1"]
    decisions = run("models", "decisions")
    assert decisions.exit_code == 0, decisions.output
    _, line = decisions.stdout.splitlines()
    assert line.split()[2:8] == ["-", "v1", "v1", "kept", "-", "0"]
    assert line.split()[8] == "dana"


@SQLITE_ONLY
def test_retrain_too_few_to_compare_forced(settings: Settings, store: str, models_dir: Path,
                                           taxonomy: Taxonomy) -> None:
    registry = ModelRegistry(models_dir)
    decision = retrain(settings=settings.model_copy(update={"retrain_min_holdout": 30}),
                       taxonomy=taxonomy, registry=registry, force=True)
    assert decision.promoted and decision.forced
    assert registry.active_version() == "v2" == decision.active_after
    assert decision.reason.startswith("forced although too few labelled incidents to compare")


@SQLITE_ONLY
def test_retrain_too_few_to_compare_first_version(settings: Settings, store: str,
                                                  taxonomy: Taxonomy) -> None:
    registry = ModelRegistry(settings.models_dir)
    decision = retrain(settings=settings.model_copy(update={"retrain_min_holdout": 30}),
                       taxonomy=taxonomy, registry=registry)
    assert decision.promoted and decision.active_before is None
    assert registry.active_version() == "v1" == decision.challenger
    assert decision.reason == "no model was active"
    assert decision.challenger_metrics["holdout_size"] == 0


@SQLITE_ONLY
def test_retrain_cli_too_few_to_compare(settings: Settings, store: str, models_dir: Path,
                                        monkeypatch: pytest.MonkeyPatch, something_new: int) -> None:
    monkeypatch.setenv("INCIDENTS_RETRAIN_MIN_HOLDOUT", "30")
    get_settings.cache_clear()
    result = run("retrain")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "challenger v2: not compared: too few labelled incidents to compare (48 < 60: "
        "INCIDENTS_RETRAIN_MIN_HOLDOUT=30 to compare on, and as many older ones to fit on)",
        "kept v1 active; v2 stays a candidate: too few labelled incidents to compare (48 < 60: "
        "INCIDENTS_RETRAIN_MIN_HOLDOUT=30 to compare on, and as many older ones to fit on)"]
    assert unstamped(result.stderr) == []  # no terminal: timestamped step lines only
    assert result.stderr.splitlines()[0].endswith("Z loading labelled incidents from the store")
    assert ModelRegistry(models_dir).active_version() == "v1"


@SQLITE_ONLY
def test_retrain_cli_status_line_on_a_terminal(settings: Settings, store: str, models_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch, something_new: int) -> None:
    import cli._shared

    monkeypatch.setattr(cli._shared, "_stderr_is_terminal", lambda: True)
    result = run("retrain")
    assert result.exit_code == 0, result.output
    for step in ("loading labelled incidents from the store", "challenger: block 1 of 3: fitting "
                 "on the 38 incidents before it", "challenger: block 3 of 3: fitting on the 45 "
                 "incidents before it", "active v1's recipe: block 3 of 3: fitting on the 45 "
                 "incidents before it", "challenger: fitting on 48 incidents"):
        assert step in result.stderr
    assert result.stdout.startswith("challenger v2: category micro-F1 ")
    assert "  window: the newest 10 labelled incidents" in result.stdout
    decisions = run("models", "decisions")
    assert decisions.exit_code == 0, decisions.output
    header, line = decisions.stdout.splitlines()
    assert header.split()[:5] == ["id", "time", "challenger", "before", "after"]
    assert line.split()[0] == "1" and line.split()[2:4] == ["v2", "v1"]


def test_retrain_cli_refuses_to_promote_over_a_version_promoted_meanwhile(
        settings: Settings, store: str, models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's case: `incidents retrain` trains against v1 while another job (the service's
    retraining) promotes v2; promoting its challenger over v2 would replace a version it was
    never compared with, so it is refused and v2 stays active."""
    import training.retrain

    registry = ModelRegistry(models_dir)
    meanwhile = second_version(models_dir)
    train_version = training.retrain.train_version

    def promoted_meanwhile(*args, **kwargs):
        ModelRegistry(models_dir).promote(meanwhile)
        return train_version(*args, **kwargs)

    monkeypatch.setattr(training.retrain, "train_version", promoted_meanwhile)
    monkeypatch.setenv("INCIDENTS_RETRAIN_MIN_HOLDOUT", "30")  # one fit only: fast
    get_settings.cache_clear()
    result = run("retrain", "--force")
    assert result.exit_code == 1, result.output
    assert unstamped(result.stderr) == ["error: v3 was not promoted: v2 became active while it "
                                        "trained; `incidents retrain` again compares with it"]
    assert result.stdout.splitlines()[-1] == (
        "kept v2 active; v3 stays a candidate: refused: not promoting v3: it was to replace v1, "
        "but v2 became active meanwhile; compare v3 with v2 (`incidents retrain` again) or "
        "promote it explicitly (the gate had said: forced although too few labelled incidents "
        "to compare (48 < 60: INCIDENTS_RETRAIN_MIN_HOLDOUT=30 to compare on, and as many older "
        "ones to fit on))")
    assert registry.active_version() == "v2"
    assert [h["active"] for h in registry.history()] == ["v1", "v2"]
    (row,) = _decisions(settings)
    assert (row.challenger, row.active_before, row.promoted) == ("v3", "v1", False)
    assert row.reason.startswith("refused: not promoting v3")
    assert row.requested_by == cli_user()  # who ran it, when --requested-by is not given


def test_gate_keeps_the_active_model_only_on_a_measured_loss() -> None:
    challenger = {"category_micro_f1": 0.70, "category_macro_f1": 0.66}
    active = {"category_micro_f1": 0.75, "category_macro_f1": 0.66}
    # Lower by more than the tolerance, and lower in 95 % of the resamples: kept out.
    passed, reason = gate(challenger, active, 0.01,
                          {"category_micro_f1": 0.95, "category_macro_f1": 0.40}, 0.9)
    assert not passed
    assert reason == ("challenger is worse: category micro-F1 0.7000 < 0.7500 - 0.01, lower in 95% "
                      "of resamples of the window")
    # The same figures where a few incidents make the difference: not a measured loss.
    passed, reason = gate(challenger, active, 0.01,
                          {"category_micro_f1": 0.62, "category_macro_f1": 0.40}, 0.9)
    assert passed
    assert reason.startswith("challenger is not measured worse: category micro-F1 0.7000 < 0.7500 "
                             "- 0.01 but lower in only 62% of resamples of the window (fewer than 90%)")
    # Told how often it was higher: the rest are resamples where the two were the same.
    passed, reason = gate(challenger, active, 0.01,
                          {"category_micro_f1": 0.66, "category_macro_f1": 0.40}, 0.9,
                          {"category_micro_f1": 0.0, "category_macro_f1": 0.30})
    assert passed
    assert "lower in only 66% of resamples of the window (fewer than 90%, higher in 0%, the same in 34%)" \
        in reason
    # Without resamples (or at confidence 0) the point figures decide.
    assert not gate(challenger, active, 0.01)[0]
    assert not gate(challenger, active, 0.01, {"category_micro_f1": 0.0, "category_macro_f1": 0.0},
                    0.0)[0]
    # Within the tolerance nothing is asked of the resamples.
    assert gate(challenger, {**active, "category_micro_f1": 0.705}, 0.01,
                {"category_micro_f1": 1.0, "category_macro_f1": 1.0}, 0.9) == (
        True, "challenger is not worse: category micro-F1 0.7000 vs 0.7050, category macro-F1 "
              "0.6600 vs 0.6600 (tolerance 0.01)")
