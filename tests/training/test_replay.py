"""The deployment replay: quarters, its figures, and a whole replay of the small fixture."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from classifier import NotEnoughData, Taxonomy
from core.bugzilla import read_snapshot
from core.config import Settings
from tests.fixtures import SQLITE_ONLY
from training.replay import Answers, figures, quarters, render, replay


def test_quarters_cover_start_to_end() -> None:
    got = quarters(datetime(2021, 2, 10, tzinfo=UTC), datetime(2022, 1, 5, tzinfo=UTC))
    assert [name for name, _, _ in got] == ["2021Q1", "2021Q2", "2021Q3", "2021Q4", "2022Q1"]
    assert got[0][1] == datetime(2021, 1, 1, tzinfo=UTC)
    assert got[3][2] == datetime(2022, 1, 1, tzinfo=UTC)
    assert all(stop == nxt for (_, _, stop), (_, nxt, _) in zip(got, got[1:], strict=False))


def test_figures_table_error_review_and_precision() -> None:
    answers = Answers(truth=[("A",), ("A", "B"), ("C",)], given=[("A",), ("B",), ("A",)],
                      review=[False, False, True])
    got = figures(answers, ["A", "B", "C"], reviews=True)
    # true counts A 2, B 1, C 1; given A 2, B 1, C 0
    assert got["table_error"] == 1
    assert got["n"] == 3
    assert got["review_share"] == pytest.approx(1 / 3, abs=1e-4)
    assert got["auto_precision"] == 1.0  # the two not sent to review are right
    assert "review_share" not in figures(answers, ["A", "B", "C"], reviews=False)
    assert "tag_ece" not in got  # no probabilities given


def test_figures_calibration_of_the_tag_probabilities() -> None:
    answers = Answers(truth=[("A",), ("B",)], given=[("A",), ("A",)], review=[False, False])
    answers.add_scores([{"a": 0.9, "b": 0.2}, {"a": 0.6, "b": 0.3}], [("a",), ("b",)])
    assert answers.probability == [0.9, 0.2, 0.6, 0.3] and answers.outcome == [1, 0, 0, 1]
    got = figures(answers, ["A", "B"], reviews=True)
    # bins: 0.2 (0 of 1 true), 0.3 (1 of 1), 0.6 (0 of 1), 0.9 (1 of 1); each a quarter of the pairs
    assert got["tag_ece"] == pytest.approx((0.2 + 0.7 + 0.6 + 0.1) / 4, abs=1e-4)
    assert got["tag_brier"] == pytest.approx((0.01 + 0.04 + 0.36 + 0.49) / 4, abs=1e-4)
    merged = Answers()
    merged.extend(answers)
    merged.extend(answers)
    assert figures(merged, ["A", "B"], reviews=True)["tag_ece"] == got["tag_ece"]


def test_figures_honesty_of_the_confidence() -> None:
    """Each incident given a confidence pairs it with whether every answer of its model was
    right: its tags are the true ones among the tags the model has (its scores')."""
    @dataclass
    class Said:
        tags: list[str]
        scores: dict[str, float]
        confidence: float

    answers = Answers(truth=[("A",)] * 3, given=[("A",)] * 3, review=[False] * 3)
    answers.add_confidences(
        [Said(["a"], {"a": 0.9, "b": 0.1}, 0.9),       # right: "c" is no tag of the model
         Said(["a"], {"a": 0.8, "b": 0.4}, 0.6),       # wrong: "b" was true too
         Said([], {"a": 0.1, "b": 0.1}, 0.0)],         # no confidence: not a pair
        [("a", "c"), ("a", "b"), ("b",)])
    assert (answers.confidence, answers.wholly_right) == ([0.9, 0.6], [1, 0])
    got = figures(answers, ["A"], reviews=True)
    assert got["confidence_ece"] == pytest.approx((0.1 + 0.6) / 2)
    assert got["confidence_brier"] == pytest.approx((0.01 + 0.36) / 2)
    assert (got["given_confidence"], got["mean_confidence"], got["wholly_right"]) == (2, 0.75, 0.5)
    assert "confidence_ece" not in figures(Answers(truth=[("A",)], given=[("A",)], review=[False]),
                                           ["A"], reviews=True)


@SQLITE_ONLY
def test_replay_of_the_fixture(settings: Settings, snapshot_dir: Path, tmp_path: Path) -> None:
    taxonomy = Taxonomy.load(settings.taxonomy_file)
    records = read_snapshot(snapshot_dir, taxonomy)
    lines: list[str] = []
    # Three typed incidents a quarter: the loop retrains once five are new to the active model.
    settings = settings.model_copy(update={"nightly_min_new_labels": 5})
    report = replay(records, settings=settings, taxonomy=taxonomy,
                    start=datetime(2022, 1, 1, tzinfo=UTC), workdir=tmp_path / "work",
                    progress=lines.append)
    typed_2022 = sum(1 for r in records if r.tags.types and r.creation_time
                     and r.creation_time.year == 2022)
    assert [q["period"] for q in report["quarters"]] == ["2022Q1", "2022Q2", "2022Q3", "2022Q4"]
    assert sum(q["product"]["n"] for q in report["quarters"]) == typed_2022
    assert report["overall"]["product"]["n"] == typed_2022 == report["years"][0]["baseline"]["n"]
    assert report["first_model"]["version"] == "v1"
    assert report["quarters"][0]["active"] == "v1"
    # the product's own loop ran after every quarter with the nightly run's rule, and what it
    # decided is reported: not due after the first quarter's three, due after the next three
    assert [q["product"]["n"] for q in report["quarters"]] == [3, 3, 3, 3]
    first, second = report["quarters"][:2]
    assert first["decision"] == "not retrained"
    assert first["reason"].startswith("3 labelled incidents are new to v1 (fewer than 5)")
    assert second["decision"].startswith(("promoted", "kept"))
    assert second["reason"].startswith("6 labelled incidents are new to v1 (at least 5): ")
    # the report says which rules decided
    assert report["settings"]["nightly_min_new_labels"] == 5
    assert report["settings"]["retrain_gate_blocks"] == settings.retrain_gate_blocks
    for contender in ("product", "frozen", "baseline"):
        assert 0.0 <= report["overall"][contender]["micro_f1"] <= 1.0
    assert 0.0 <= report["overall"]["product"]["review_share"] <= 1.0
    for contender in ("product", "frozen"):
        assert 0.0 <= report["overall"][contender]["tag_ece"] <= 1.0
        assert 0.0 < report["overall"][contender]["tag_brier"] < 0.5
    assert "tag_ece" not in report["overall"]["baseline"]
    # how honest the confidences were, beside how often the answers were wholly right
    assert 0.0 < report["overall"]["product"]["mean_confidence"] <= 1.0
    assert 0.0 <= report["overall"]["product"]["confidence_ece"] <= 1.0
    assert "Confidence of the incidents given one" in render(report)
    # the product's lead over each of the others, per year and overall, with its interval
    assert list(report["against"]) == ["2022", "overall"]
    for other in ("frozen", "baseline"):
        for key in ("micro_f1", "macro_f1"):
            lead = report["against"]["overall"][other][key]
            assert lead["difference"] == pytest.approx(
                report["overall"]["product"][key] - report["overall"][other][key], abs=2e-4)
            assert lead["low"] <= lead["difference"] <= lead["high"]
    assert "against frozen" in render(report)
    # each briefing row's figures, the counts as the period's incidents give them
    rows = report["overall"]["product"]["per_category"]
    assert list(rows) == list(taxonomy.categories)
    true_counts = Counter(c for r in records if r.tags.types and r.creation_time
                          and r.creation_time.year == 2022 for c in taxonomy.categories_of(r.tags.types))
    assert {c: v["support"] for c, v in rows.items()} == {c: true_counts[c] for c in rows}
    # the table error is the rows' given counts against their true ones
    assert sum(abs(v["predicted"] - v["support"]) for v in rows.values()) == \
        report["overall"]["product"]["table_error"]
    assert "Briefing rows over the whole replay" in render(report)
    assert lines and lines[0].startswith("training the first model on the 36 incidents")
    assert "2022Q4" in render(report) and "overall" in render(report)
    # it never touches the store of the settings it was given
    assert not Path(settings.database_url.split("///", 1)[1]).exists()


@SQLITE_ONLY
def test_replay_without_dated_incidents(settings: Settings, tmp_path: Path) -> None:
    taxonomy = Taxonomy.load(settings.taxonomy_file)
    with pytest.raises(NotEnoughData):
        replay([], settings=settings, taxonomy=taxonomy, start=datetime(2022, 1, 1, tzinfo=UTC),
               workdir=tmp_path)
