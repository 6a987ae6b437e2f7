"""Fixtures of the classifier tests: the small fixture data as a feature frame and tag lists."""

from __future__ import annotations

import pandas as pd
import pytest

from classifier import Taxonomy, incidents_frame
from core.bugzilla import BugRecord
from tests.fixtures import make_bugs


@pytest.fixture(scope="session")
def fixture_data(taxonomy: Taxonomy) -> tuple[pd.DataFrame, list[tuple[str, ...]]]:
    """``X`` and ``y`` of the 48 fixture bugs, in filing order as the dataset gives them."""
    bugs, comments = make_bugs()
    records = sorted((BugRecord.from_rest(b, comments["bugs"][str(b["id"])]["comments"], taxonomy)
                      for b in bugs["bugs"]), key=lambda r: (r.creation_time, r.id))
    return incidents_frame(r.incident() for r in records), [r.tags.types for r in records]
