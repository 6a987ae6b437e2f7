"""What the model takes from comment 0's incident report, and from training incidents' age."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from classifier import FILED_COLUMN, Incident, IncidentTypeClassifier, Taxonomy, incidents_frame

MISISSUANCE = "Acme Trust: EV certificates with wrong jurisdiction fields"
REVOCATION = "Acme Trust: Failure to revoke within 5 days"
LEVELS = ("dv-misissuance", "ov-misissuance", "ev-misissuance", "smime-misissuance")


def _report(types: str) -> str:
    """Comment 0 in the CCADB v3 template, stating the affected certificate types."""
    return ("## Full Incident Report\n\n### Summary\n\n- **Incident description:** See below.\n\n"
            f"### Impact\n\n- **Affected certificate types:** This incident affects {types} certificates.\n")


@pytest.fixture(scope="module")
def model(fixture_data, taxonomy: Taxonomy) -> IncidentTypeClassifier:
    X, y = fixture_data
    return IncidentTypeClassifier(cues=dict(taxonomy.cues),
                                  excludes={t: list(o) for t, o in taxonomy.excludes.items()}).fit(X, y)


def _without_evidence(model: IncidentTypeClassifier, X: pd.DataFrame) -> np.ndarray:
    model.set_params(report_evidence=False)
    try:
        return model.predict_proba(X)
    finally:
        model.set_params(report_evidence=True)


def _frame(*incidents: tuple[str, str]) -> pd.DataFrame:
    return incidents_frame([Incident(summary=s, description=d) for s, d in incidents])


def test_stated_certificate_types_choose_the_level_of_a_misissuance(model: IncidentTypeClassifier) -> None:
    X = _frame((MISISSUANCE, _report("OV and EV")), (MISISSUANCE, "We issued them wrongly."))
    proba = model.predict_proba(X)
    column = {t: j for j, t in enumerate(model.classes_)}
    plain_ev = _without_evidence(model, X)[0, column["ev-misissuance"]]
    assert plain_ev >= model.thresholds_[column["ev-misissuance"]]  # the model sees an EV misissuance
    # OV is stated too: it scores what the model gives the likeliest level, not a fixed score.
    assert proba[0, column["ov-misissuance"]] == pytest.approx(max(plain_ev, model.thresholds_[column["ov-misissuance"]]))
    assert proba[0, column["ev-misissuance"]] == pytest.approx(plain_ev)
    for tag in ("dv-misissuance", "smime-misissuance"):
        assert proba[0, column[tag]] <= 0.02
    decided = model.decide(X)
    assert {"ov-misissuance", "ev-misissuance"} <= set(decided[0].tags)
    assert "ov-misissuance" not in decided[1].tags


def test_stated_certificate_types_do_not_make_a_misissuance(model: IncidentTypeClassifier) -> None:
    """A late revocation's report states its certificates' types: it is no misissuance for that."""
    X = _frame((REVOCATION, _report("DV and OV")), (REVOCATION, "We revoked late."))
    proba = model.predict_proba(X)
    column = {t: j for j, t in enumerate(model.classes_)}
    plain = _without_evidence(model, X)
    for tag in LEVELS:
        assert proba[0, column[tag]] <= plain[0, column[tag]] + 1e-12
    decided = model.decide(X)
    assert "leaf-revocation-delay" in decided[0].tags
    assert not set(decided[0].tags) & set(LEVELS)


def test_stated_certificate_types_rule_out_the_others(model: IncidentTypeClassifier) -> None:
    X = _frame((MISISSUANCE, _report("DV")), (MISISSUANCE, "We issued them wrongly."))
    proba = model.predict_proba(X)
    column = {t: j for j, t in enumerate(model.classes_)}
    assert proba[0, column["ev-misissuance"]] <= 0.02 < proba[1, column["ev-misissuance"]]
    assert "dv-misissuance" in model.decide(X)[0].tags


def test_report_evidence_off_leaves_the_model_alone(model: IncidentTypeClassifier) -> None:
    X = _frame((MISISSUANCE, _report("OV")))
    on, off = model.predict_proba(X), _without_evidence(model, X)
    settled = [j for j, t in enumerate(model.classes_) if t in LEVELS]
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
