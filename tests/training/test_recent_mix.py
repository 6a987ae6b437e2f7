"""The loop learns a moved tag mix: labels that arrive raise their tag's prior at the next retrain."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from classifier import Taxonomy, incidents_frame
from core.bugzilla import BugRecord
from core.config import Settings
from core.db import session_scope
from core.labels import labelled_incidents
from core.registry import ModelRegistry
from core.store import upsert_bugs
from tests.fixtures import SQLITE_ONLY, make_bugs
from training.retrain import retrain


def _ocsp_surge(taxonomy: Taxonomy, n: int) -> list[BugRecord]:
    """``n`` OCSP outages filed in 2023, after every fixture bug (2019 to 2022)."""
    bugs, comments = make_bugs(n_per_tag=n, seed=11, start_year=2023)
    records = []
    for bug in bugs["bugs"]:
        if "[ocsp-failure]" not in bug["whiteboard"]:
            continue
        bug = {**bug, "id": bug["id"] + 100_000, "creation_time": "2023" + bug["creation_time"][4:]}
        thread = [{**c, "bug_id": bug["id"]} for c in comments["bugs"][str(bug["id"] - 100_000)]["comments"]]
        records.append(BugRecord.from_rest(bug, thread, taxonomy))
    return records


def _older(store: str) -> list:
    with session_scope(store) as session:
        return [r.incident for r in labelled_incidents(session=session)
                if "ocsp-failure" not in r.tags]


@SQLITE_ONLY
def test_a_surge_of_new_labels_raises_its_tag_prior(settings: Settings, store: str,
                                                     models_dir: Path, taxonomy: Taxonomy) -> None:
    registry = ModelRegistry(models_dir)
    before = registry.load().model
    ocsp = list(before.classes_).index("ocsp-failure")
    surge = _ocsp_surge(taxonomy, 12)
    assert len(surge) == 12
    with session_scope(store) as session:
        upsert_bugs(session=session, records=surge)
    decision = retrain(settings=settings, taxonomy=taxonomy, registry=registry, force=True)
    after = registry.load(decision.challenger).model
    assert list(after.classes_).index("ocsp-failure") == ocsp
    # OCSP outages are now a larger share of the last two years than of everything: the prior
    # moves up, the other tags' down, and the model gives OCSP more than without the shift.
    assert after.prior_shift_[ocsp] > 0.1 > before.prior_shift_[ocsp]
    others = [j for j in range(len(after.estimators_)) if j != ocsp]
    assert (after.prior_shift_[others] < 0).all()
    frame = incidents_frame([surge[0].incident(), *_older(store)[:3]])
    shifted = after.predict_proba(frame)[:, ocsp]
    after.prior_shift_ = np.zeros_like(after.prior_shift_)
    assert (shifted > after.predict_proba(frame)[:, ocsp]).all()
    card = registry.card(decision.challenger)
    assert card["prior_shift"]["ocsp-failure"] > 0.1
