"""The gate's prequential scoring: each block of the window predicted by a fit on what precedes it."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from classifier import Decision, NotEnoughData, Taxonomy
from training.dataset import Dataset
from training.evaluate import block_starts, score_prequential

TAXONOMY = Taxonomy.load(Path(__file__).resolve().parents[2] / "classifier" / "taxonomy.toml")


class LatestTag(BaseEstimator):  # type: ignore[misc]
    """Answers every incident with the newest tag it was fitted on; records what each fit saw."""

    fitted_on: ClassVar[list[list[int]]] = []

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    def fit(self, X: pd.DataFrame, y: list[tuple[str, ...]]) -> LatestTag:
        if len(y) < self.minimum:
            raise NotEnoughData(f"{len(y)} incidents, fewer than {self.minimum}")
        LatestTag.fitted_on.append(list(X["position"]))
        self.classes_ = np.array(sorted({t for tags in y for t in tags}))
        self.latest_ = y[-1][0]
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        proba = np.full((len(X), len(self.classes_)), 0.1)
        proba[:, list(self.classes_).index(self.latest_)] = 0.9
        return proba

    def decide_proba(self, proba: np.ndarray) -> list[Decision]:
        return [Decision((self.latest_,), {}, needs_review=self.latest_ == "crl-failure",
                         confidence=0.9) for _ in proba]


def _dataset(tags: list[str]) -> Dataset:
    n = len(tags)
    created = np.array([np.datetime64("2022-01-01T00:00:00") + np.timedelta64(i, "D")
                        for i in range(n)], dtype="datetime64[s]")
    return Dataset(np.arange(1, n + 1), pd.DataFrame({"position": range(n)}),
                   [(t,) for t in tags], created)


@pytest.fixture(autouse=True)
def _fresh_record() -> None:
    LatestTag.fitted_on.clear()


def test_block_starts() -> None:
    assert block_starts(20, 6, 3) == [14, 16, 18]
    assert block_starts(20, 7, 3) == [13, 16, 18]  # the older blocks take the remainder
    assert block_starts(20, 6, 1) == [14]
    assert block_starts(20, 2, 3) == [18, 19]  # never an empty block


def test_each_block_is_predicted_by_a_fit_on_what_precedes_it() -> None:
    # The mix moves: six CRL failures, then six OCSP failures, the window being the last six.
    dataset = _dataset(["crl-failure"] * 6 + ["ocsp-failure"] * 6)
    once = score_prequential(LatestTag(), dataset, 6, 1, TAXONOMY)
    assert LatestTag.fitted_on == [list(range(6))]
    assert once["categories"]["micro_f1"] == 0.0 and (once["blocks"], once["train_size"]) == (1, 6)
    LatestTag.fitted_on.clear()

    lived = score_prequential(LatestTag(), dataset, 6, 3, TAXONOMY)
    # Fitted three times, each time on every incident before its block and on none after.
    assert LatestTag.fitted_on == [list(range(6)), list(range(8)), list(range(10))]
    assert (lived["blocks"], lived["train_size"]) == (3, 6)
    # The first block is wrong (its fit had seen no OCSP failure), the other four are right.
    assert lived["categories"]["micro_f1"] == pytest.approx(2 * 4 / (6 + 6), abs=1e-4)
    ocsp = lived["categories"]["per_label"]["OCSP Failures"]
    assert (ocsp["support"], ocsp["predicted"], ocsp["precision"]) == (6, 4, 1.0)
    # The first block's answers went to review, as its fit decided.
    assert lived["review"]["sent_to_review"] == 2


def test_a_tag_a_later_fit_learned_scores_zero_before() -> None:
    # OCSP failure is first seen inside the window: the first block's fit has no column for it.
    dataset = _dataset(["crl-failure"] * 6 + ["ocsp-failure"] * 4)
    scores = score_prequential(LatestTag(), dataset, 4, 2, TAXONOMY)
    # Brier over both tags: block 1 said CRL 0.9 (truth OCSP), block 2 said OCSP 0.9, CRL 0.1.
    first = (0.9 - 0) ** 2 + (0.0 - 1) ** 2
    second = (0.1 - 0) ** 2 + (0.9 - 1) ** 2
    assert scores["brier"] == pytest.approx((2 * first + 2 * second) / (4 * 2), abs=1e-4)


def test_a_fit_that_cannot_be_made_raises() -> None:
    dataset = _dataset(["crl-failure"] * 6 + ["ocsp-failure"] * 6)
    with pytest.raises(NotEnoughData):
        score_prequential(LatestTag(minimum=7), dataset, 6, 3, TAXONOMY)


def test_progress_names_each_fit() -> None:
    said: list[str] = []
    score_prequential(LatestTag(), _dataset(["crl-failure"] * 8), 4, 2, TAXONOMY, progress=said.append)
    assert said == ["block 1 of 2: fitting on the 4 incidents before it",
                    "block 2 of 2: fitting on the 6 incidents before it"]
