"""What the model takes from comment 0's incident report, and from training incidents' age."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from classifier import FILED_COLUMN, Incident, IncidentTypeClassifier, Taxonomy, incidents_frame

SUMMARY = "Acme Trust: Delayed revocation of misissued certificates"
STATES_EV = ("## Incident Report\n\n### Summary\n\n"
             "**Affected certificate types:** This incident affects EV certificates.\n")


@pytest.fixture(scope="module")
def model(fixture_data, taxonomy: Taxonomy) -> IncidentTypeClassifier:
    X, y = fixture_data
    return IncidentTypeClassifier(cues=dict(taxonomy.cues),
                                  excludes={t: list(o) for t, o in taxonomy.excludes.items()}).fit(X, y)


def _frame(*descriptions: str) -> pd.DataFrame:
    return incidents_frame([Incident(summary=SUMMARY, description=d) for d in descriptions])


def test_stated_certificate_types_settle_the_level(model: IncidentTypeClassifier) -> None:
    X = _frame(STATES_EV, "We revoked late.")
    proba = model.predict_proba(X)
    column = {t: j for j, t in enumerate(model.classes_)}
    assert proba[0, column["ev-misissuance"]] >= model.cue_score
    assert proba[1, column["ev-misissuance"]] < model.thresholds_[column["ev-misissuance"]]
    for tag in ("dv-misissuance", "ov-misissuance", "smime-misissuance"):
        assert proba[0, column[tag]] <= 0.02
    decided = model.decide(X)
    assert "ev-misissuance" in decided[0].tags and "ev-misissuance" not in decided[1].tags


def test_report_evidence_off_leaves_the_model_alone(model: IncidentTypeClassifier) -> None:
    X = _frame(STATES_EV)
    on = model.predict_proba(X)
    model.set_params(report_evidence=False)
    try:
        off = model.predict_proba(X)
    finally:
        model.set_params(report_evidence=True)
    settled = [j for j, t in enumerate(model.classes_)
               if t in ("dv-misissuance", "ov-misissuance", "ev-misissuance", "smime-misissuance")]
    others = [j for j in range(len(model.classes_)) if j not in settled]
    assert np.array_equal(on[:, others], off[:, others])
    assert not np.array_equal(on[:, settled], off[:, settled])


def test_recency_weights_favour_recent_incidents(fixture_data) -> None:
    X, y = fixture_data
    X = X.copy()
    X[FILED_COLUMN] = pd.date_range("2015-01-01", periods=len(X), freq="60D", tz="UTC")
    model = IncidentTypeClassifier(recency_half_life=1.0)
    weights = model._recency_weights(X)
    assert weights is not None and weights[-1] == 1.0
    assert weights[0] < 0.01 and np.all(np.diff(weights) > 0)
    assert IncidentTypeClassifier()._recency_weights(X) is None
    fitted = model.fit(X, y)
    plain = IncidentTypeClassifier().fit(X, y)
    assert not np.allclose(fitted.predict_proba(X), plain.predict_proba(X))
