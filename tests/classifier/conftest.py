"""Fixtures of the classifier tests: the small fixture data as a feature frame and tag lists."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from classifier import IncidentTypeClassifier, Taxonomy, incidents_frame
from core.bugzilla import BugRecord
from tests.fixtures import make_bugs


@pytest.fixture(scope="session")
def fixture_data(taxonomy: Taxonomy) -> tuple[pd.DataFrame, list[tuple[str, ...]]]:
    """``X`` and ``y`` of the 48 fixture bugs, in filing order as the dataset gives them."""
    bugs, comments = make_bugs()
    records = sorted((BugRecord.from_rest(b, comments["bugs"][str(b["id"])]["comments"], taxonomy)
                      for b in bugs["bugs"]), key=lambda r: (r.creation_time, r.id))
    return incidents_frame(r.incident() for r in records), [r.tags.types for r in records]


@dataclass(frozen=True)
class FittedBefore2022:
    """The shipped recipe fitted on the real snapshot's typed incidents filed before 2022, and
    the typed incidents filed since (its answers are not to be changed by a test)."""

    model: IncidentTypeClassifier
    later: list[BugRecord]


@pytest.fixture(scope="session")
def fitted_before_2022(real_snapshot: Path, taxonomy: Taxonomy) -> FittedBefore2022:
    from datetime import UTC, datetime

    from core.bugzilla import read_snapshot
    from core.config import Settings
    from training.train import default_model

    records = [r for r in read_snapshot(real_snapshot, taxonomy) if r.creation_time and r.tags.types]
    cutoff = datetime(2022, 1, 1, tzinfo=UTC)
    train = [r for r in records if r.creation_time < cutoff]
    model = default_model(Settings(), taxonomy).fit(incidents_frame(r.incident() for r in train),
                                                    [r.tags.types for r in train])
    return FittedBefore2022(model, [r for r in records if r.creation_time >= cutoff])
