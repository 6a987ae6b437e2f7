"""Time-based evaluation: the model and three baselines on one split, by `incidents evaluate`."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, f1_score, precision_score, recall_score

from classifier import Taxonomy
from core.bugzilla import read_snapshot
from core.db import session_scope, upgrade
from core.registry import ModelRegistry
from core.store import upsert_bugs
from tests.fixtures import SQLITE_ONLY
from training.dataset import load_dataset
from training.metrics import (
    brier,
    calibration,
    calibration_of_pairs,
    confusions,
    difference_interval,
    label_scores,
    lower_and_higher_in_resamples,
    worse_in_resamples,
)

BASELINES = ("tfidf+logreg", "keyword-rules", "most-frequent-tag")


def test_label_scores_by_hand() -> None:
    truth = [("a",), ("a", "b"), ("b",), ("c",)]
    pred = [("a",), ("a",), ("a", "b"), ()]
    scores = label_scores(truth, pred, ["a", "b", "c", "d"])
    assert scores["per_label"]["a"] == {"precision": 0.6667, "recall": 1.0, "f1": 0.8,
                                        "support": 2, "predicted": 3}
    assert scores["per_label"]["b"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667,
                                        "support": 2, "predicted": 1}
    assert scores["per_label"]["c"]["f1"] == 0.0
    # micro: tp 3, fp 1, fn 2; macro over the labels present in the truth (a, b, c), not d.
    assert scores["micro"] == {"precision": 0.75, "recall": 0.6, "f1": 0.6667}
    assert scores["micro_f1"] == 0.6667
    assert scores["macro_over"] == 3
    assert scores["macro_f1"] == round((0.8 + 0.6667 + 0.0) / 3, 4)


def test_label_scores_nothing_to_score() -> None:
    scores = label_scores([], [], ["a"])
    assert (scores["micro_f1"], scores["macro_f1"], scores["macro_over"]) == (0.0, 0.0, 0)


def test_label_scores_agrees_with_sklearn() -> None:
    rng = np.random.default_rng(3)
    labels = [f"t{i}" for i in range(7)]
    Y_true, Y_pred = rng.random((80, 7)) < 0.3, rng.random((80, 7)) < 0.3
    Y_true[:, 6] = False  # a label without support: in per_label, not in the macro
    truth = [tuple(lab for lab, on in zip(labels, row, strict=True) if on) for row in Y_true]
    pred = [tuple(lab for lab, on in zip(labels, row, strict=True) if on) for row in Y_pred]
    scores = label_scores(truth, pred, labels)
    f1 = f1_score(Y_true, Y_pred, average=None, zero_division=0)
    precision = precision_score(Y_true, Y_pred, average=None, zero_division=0)
    recall = recall_score(Y_true, Y_pred, average=None, zero_division=0)
    for i, label in enumerate(labels):
        s = scores["per_label"][label]
        assert (s["precision"], s["recall"]) == (round(precision[i], 4), round(recall[i], 4))
        assert s["f1"] == pytest.approx(f1[i], abs=5e-5 + 1e-12)
        assert (s["support"], s["predicted"]) == (Y_true[:, i].sum(), Y_pred[:, i].sum())
    assert scores["micro_f1"] == pytest.approx(f1_score(Y_true, Y_pred, average="micro"), abs=5e-5)
    assert scores["macro_over"] == 6
    assert scores["macro_f1"] == pytest.approx(f1[:6].mean(), abs=1e-4)


def test_label_scores_one_label_and_unknown_tags() -> None:
    # One label is one indicator column (not a binary target whose class 0 gets scored); tags
    # outside the labels are left out, without a warning.
    truth = [("a", "x"), ("a", "b"), ("b",), ("c",)]
    pred = [("a",), ("a", "y"), ("a", "b"), ()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = label_scores(truth, pred, ["a"])
    assert scores["per_label"] == {"a": {"precision": 0.6667, "recall": 1.0, "f1": 0.8,
                                         "support": 2, "predicted": 3}}
    assert scores["micro"] == {"precision": 0.6667, "recall": 1.0, "f1": 0.8}
    assert (scores["macro_f1"], scores["macro_over"]) == (0.8, 1)
    assert type(scores["per_label"]["a"]["support"]) is int
    assert type(scores["micro"]["f1"]) is float


def test_label_scores_f1_is_the_harmonic_mean_of_precision_and_recall() -> None:
    # tp 1, fp 19, fn 43: F1 is 1/32 exactly, a rounding tie; 2pr/(p+r) lands just above it.
    truth = [("a",)] + [()] * 19 + [("a",)] * 43
    pred = [("a",)] + [("a",)] * 19 + [()] * 43
    scores = label_scores(truth, pred, ["a", "b"])
    assert scores["per_label"]["a"] == {"precision": 0.05, "recall": 0.0227, "f1": 0.0313,
                                        "support": 44, "predicted": 20}
    assert scores["micro_f1"] == 0.0313


def test_confusions_missed_and_given_instead() -> None:
    truth = [("OCSP",), ("OCSP",), ("CRL", "OCSP"), ("CRL",)]
    pred = [("CRL",), ("CRL",), ("CRL",), ("CRL",)]
    assert confusions(truth, pred) == [{"true": "OCSP", "predicted": "CRL", "count": 2},
                                       {"true": "OCSP", "predicted": "(nothing)", "count": 1}]


def test_brier_score() -> None:
    proba = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert brier([("a",), ("b",)], proba, ["a", "b"]) == round((0 + 0 + 0.25 + 0.25) / 4, 4)


def test_brier_is_the_mean_of_sklearn_brier_over_tags() -> None:
    rng = np.random.default_rng(5)
    classes = ["a", "b", "c"]
    Y = rng.random((40, 3)) < 0.4
    proba = rng.random((40, 3))
    truth = [tuple(c for c, on in zip(classes, row, strict=True) if on) for row in Y]
    expected = np.mean([brier_score_loss(Y[:, j], proba[:, j]) for j in range(3)])
    assert brier(truth, proba, classes) == pytest.approx(expected, abs=5e-5 + 1e-12)
    assert brier([], np.empty((0, 3)), classes) == 0.0


def test_calibration_bin_edges() -> None:
    # A probability on a bin edge counts in the bin it opens; 1.0 in the last bin.
    proba = np.array([[0.0], [0.1], [0.5], [0.7], [1.0]])
    report = calibration([("a",)] * 5, proba, ["a"])
    assert [(b["from"], b["count"]) for b in report["bins"]] == [(0.0, 1), (0.1, 1), (0.5, 1),
                                                                 (0.7, 1), (0.9, 1)]


def test_calibration_by_hand() -> None:
    # Four incidents, tags a and b: 8 pairs in three bins.
    truth = [("a",), ("a",), ("b",), ()]
    proba = np.array([[0.95, 0.05], [0.85, 0.05], [0.15, 0.75], [0.85, 0.05]])
    report = calibration(truth, proba, ["a", "b"])
    bins = {b["from"]: b for b in report["bins"]}
    assert sorted(bins) == [0.0, 0.1, 0.7, 0.8, 0.9]
    assert bins[0.0] == {"from": 0.0, "to": 0.1, "count": 3, "mean_predicted": 0.05,
                         "observed": 0.0}
    assert (bins[0.8]["count"], bins[0.8]["mean_predicted"], bins[0.8]["observed"]) == (2, 0.85, 0.5)
    assert (bins[0.7]["count"], bins[0.7]["observed"]) == (1, 1.0)
    # |0.05-0| * 3 + |0.15-0| + |0.75-1| + |0.85-0.5| * 2 + |0.95-1|, over 8 pairs
    assert report["ece"] == round((0.15 + 0.15 + 0.25 + 0.7 + 0.05) / 8, 4)
    assert calibration([], np.empty((0, 2)), ["a", "b"]) == {"ece": 0.0, "bins": []}
    # The same pairs, flattened (as the replay has them), give the same report.
    flat = calibration_of_pairs(proba.ravel(), np.array([1, 0, 1, 0, 0, 1, 0, 0]))
    assert flat == report


def test_load_dataset_same_on_every_store(store: str, trained_models: Path) -> None:
    with session_scope(store) as session:
        dataset = load_dataset(session=session)
    assert len(dataset) == 48
    assert list(dataset.X.columns) == ["summary", "description", "ca_name", "reporter", "filed"]
    assert np.all(np.diff(dataset.created.astype("int64")) >= 0)
    reference = ModelRegistry(trained_models).card("v1")["training_data"]
    assert dataset.fingerprint() == reference["sha256"]
    assert dataset.tag_counts() == reference["tag_counts"]


@SQLITE_ONLY
def test_split_dataset_cutoff_and_end(store: str) -> None:
    with session_scope(store) as session:
        dataset = load_dataset(session=session)
    train, test = dataset.split(datetime(2021, 1, 1, tzinfo=UTC), datetime(2022, 1, 1, tzinfo=UTC))
    assert (len(train), len(test)) == (24, 12)
    assert train.created.max() < np.datetime64("2021-01-01")
    assert np.datetime64("2021-01-01") <= test.created.min()
    assert test.created.max() < np.datetime64("2022-01-01")
    assert set(train.ids).isdisjoint(test.ids)


@SQLITE_ONLY
def test_evaluate_report_with_baselines(incidents, store: str) -> None:
    result = incidents.ok("evaluate", "--cutoff", "2021-01-01")
    out = result.stdout
    assert ("trained on 24 incidents filed before 2021-01-01, tested on 24 filed from then to "
            "the newest bug") in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if line.split() and line.split()[0] in ("model", *BASELINES)}
    assert set(rows) == {"model", *BASELINES}
    assert all(len(figures) == 6 for figures in rows.values())
    assert "Per category (model | tfidf+logreg F1):" in out
    assert "The model minus each baseline (category F1" in out
    assert all(f"  against {name}:" in out for name in BASELINES)
    assert "Calibration of the model's tag probabilities" in out
    assert "OCSP Failures" in out
    for name in ("model", *BASELINES):
        assert f"training {name} ..." in result.stderr


@SQLITE_ONLY
@pytest.mark.parametrize(("args", "says"), [
    (["--cutoff", "banana"], "cutoff: 'banana' is not a date like 2023-01-01"),
    (["--cutoff", "2023-02-30"], "cutoff: '2023-02-30' is not a date"),
    (["--cutoff", "2021-01-01", "--end", "soon"], "end: 'soon' is not a date"),
    (["--cutoff", "2021-01-01", "--end", "2020-06-01"], "end: 2020-06-01 is not after the cutoff"),
    # Python reads week dates and undashed days; `report --start` refused them, evaluate read
    # 2023-W26 as June 26.
    (["--cutoff", "2023-W26"], "cutoff: '2023-W26' is not a date like 2023-01-01"),
    (["--cutoff", "2021-01-01", "--end", "20220101"], "end: '20220101' is not a date like 2023-01-01"),
])
def test_evaluate_bad_date(incidents, store: str, args: list[str], says: str) -> None:
    incidents.fails("evaluate", *args, says=(says,))


@SQLITE_ONLY
@pytest.mark.parametrize(("args", "says"), [
    (["--cutoff", "2030-01-01"], "the split at 2030-01-01 leaves 48 training and 0 test"),
    (["--cutoff", "2010-01-01"], "leaves 0 training and 48 test"),
    (["--cutoff", "2023-01-01", "--end", "2024-01-01"], "leaves 48 training and 0 test"),
])
def test_evaluate_split_without_data(incidents, store: str, args: list[str], says: str) -> None:
    incidents.fails("evaluate", *args, says=(says,))


@SQLITE_ONLY
def test_evaluate_empty_store(incidents) -> None:
    incidents.fails("evaluate", says=("leaves 0 training and 0 test",))


@pytest.mark.snapshot
@SQLITE_ONLY
def test_evaluate_real_snapshot_beats_tfidf(incidents, settings, real_snapshot: Path,
                                            taxonomy: Taxonomy) -> None:
    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        upsert_bugs(session=session, records=read_snapshot(real_snapshot, taxonomy))
    result = incidents.ok("evaluate", "--cutoff", "2023-01-01", "--json")
    report = json.loads(result.stdout)["main"]
    assert report["cutoff"].startswith("2023-01-01")
    assert report["train_size"] > 0 and report["test_size"] > 0
    assert set(report["contenders"]) == {"model", *BASELINES}
    model = report["contenders"]["model"]["categories"]
    tfidf = report["contenders"]["tfidf+logreg"]["categories"]
    assert model["micro_f1"] > tfidf["micro_f1"]
    assert model["macro_f1"] > tfidf["macro_f1"]


def test_f1_of_counts_agrees_with_label_scores() -> None:
    from training.metrics import _f1_of_counts, _indicators

    labels = ["A", "B", "C", "D"]
    truth = [("A",), ("A", "B"), ("C",), ("B",), (), ("A",)]
    pred = [("A",), ("B",), ("A",), ("B", "D"), ("C",), ()]
    Y, P = _indicators(truth, labels), _indicators(pred, labels)
    ones = np.ones((1, len(truth)))
    micro, macro = _f1_of_counts(ones @ (Y * P), ones @ ((1 - Y) * P), ones @ (Y * (1 - P)))
    expected = label_scores(truth, pred, labels)
    assert round(float(micro[0]), 4) == expected["micro_f1"]
    assert round(float(macro[0]), 4) == expected["macro_f1"]  # D has no support: not averaged


def test_worse_in_resamples() -> None:
    labels = ["A", "B"]
    truth = [("A",), ("B",), ("A", "B"), ("B",)] * 5
    right, wrong = list(truth), [("B",), ("A",), (), ("A",)] * 5
    assert worse_in_resamples(truth, right, right, labels) == {"micro_f1": 0.0, "macro_f1": 0.0}
    assert worse_in_resamples(truth, wrong, right, labels) == {"micro_f1": 1.0, "macro_f1": 1.0}
    assert worse_in_resamples(truth, right, wrong, labels) == {"micro_f1": 0.0, "macro_f1": 0.0}
    # One miss in twenty incidents: worse in every resample that draws that incident, which is
    # most of them (1 - (19/20)^20 = 0.64), and never better.
    one_off = list(truth)
    one_off[0] = ()
    got = worse_in_resamples(truth, one_off, right, labels, resamples=4000, seed=3)
    assert got["micro_f1"] == pytest.approx(1 - (19 / 20) ** 20, abs=0.03)
    assert got == worse_in_resamples(truth, one_off, right, labels, resamples=4000, seed=3)
    assert worse_in_resamples([], [], [], labels) == {"micro_f1": 0.0, "macro_f1": 0.0}
    # The higher share comes from the same resamples: never higher, and it is the lower share
    # of the two the other way round.
    lower, higher = lower_and_higher_in_resamples(truth, one_off, right, labels, resamples=4000, seed=3)
    assert lower == got and higher == {"micro_f1": 0.0, "macro_f1": 0.0}
    assert lower_and_higher_in_resamples(truth, right, one_off, labels, resamples=4000, seed=3) == (
        higher, got)


def test_difference_interval() -> None:
    labels = ["A", "B"]
    truth = [("A",), ("B",), ("A", "B"), ("B",)] * 5
    right, wrong = list(truth), [("B",), ("A",), (), ("A",)] * 5
    same = difference_interval(truth, right, right, labels)
    assert same == {"micro_f1": {"difference": 0.0, "low": 0.0, "high": 0.0},
                    "macro_f1": {"difference": 0.0, "low": 0.0, "high": 0.0}}
    # all right against all wrong: 1.0 above in every resample
    assert difference_interval(truth, right, wrong, labels)["micro_f1"] == {
        "difference": 1.0, "low": 1.0, "high": 1.0}
    assert difference_interval(truth, wrong, right, labels)["macro_f1"]["high"] == -1.0
    # Two misses in twenty incidents: the difference is what label_scores gives, and the
    # interval holds it; resamples that draw neither miss give 0, so the interval reaches 0.
    two_off = list(truth)
    two_off[0] = two_off[1] = ()
    got = difference_interval(truth, two_off, right, labels, resamples=4000, seed=3)
    seen = label_scores(truth, two_off, labels)
    assert got["micro_f1"]["difference"] == pytest.approx(seen["micro_f1"] - 1.0, abs=1e-4)
    assert got["micro_f1"]["difference"] < 0
    assert got["micro_f1"]["low"] < got["micro_f1"]["difference"] < got["micro_f1"]["high"] <= 0.0
    narrower = difference_interval(truth, two_off, right, labels, level=0.5, resamples=4000, seed=3)
    assert got["micro_f1"]["low"] < narrower["micro_f1"]["low"] <= narrower["micro_f1"]["high"]
    assert got == difference_interval(truth, two_off, right, labels, resamples=4000, seed=3)
    assert difference_interval([], [], [], labels)["macro_f1"] == {"difference": 0.0, "low": 0.0,
                                                                   "high": 0.0}
    with pytest.raises(ValueError, match="level"):
        difference_interval(truth, right, right, labels, level=95)
