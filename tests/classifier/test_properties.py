"""Property tests of the features and the estimator on any text: never a crash, probabilities in
[0, 1], the same answer for the same input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifier import Incident, IncidentTypeClassifier, InvalidIncident, incidents_frame
from classifier._model import build_features

#: Bounded, so the module runs in seconds; the estimator's fit is shared by the module.
PROPERTY = settings(max_examples=20, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

RIGHT_TO_LEFT = "\u202eאבג دلیل\u200f\u202b"
CONTROL = "".join(chr(c) for c in (*range(0, 32), 127, 0x85, 0x2028, 0x2029, 0xFEFF, 0x200B))

# Any unicode (lone surrogates too), weighted towards the characters that break parsers.
_character = st.one_of(st.characters(), st.characters(categories=["Cs"]),
                       st.sampled_from(CONTROL), st.sampled_from(RIGHT_TO_LEFT))
_text = st.text(_character, max_size=300)
_huge = st.builds(lambda piece, times: piece * times, st.text(_character, min_size=1, max_size=20),
                  st.integers(min_value=500, max_value=3_000))
_summary = st.one_of(_text, _huge).filter(lambda s: s.strip())
_description = st.one_of(st.just(""), _text, _huge)
_domain = st.one_of(st.none(), st.just(""), _text)
incidents = st.builds(Incident, summary=_summary, description=_description, creator_domain=_domain)


@pytest.fixture(scope="module")
def fitted(fixture_data) -> tuple[IncidentTypeClassifier, pd.DataFrame]:
    X, y = fixture_data
    return IncidentTypeClassifier(random_state=0).fit(X, y), X


@pytest.fixture(scope="module")
def features(fixture_data):
    X, _ = fixture_data
    return build_features().fit(X)


@PROPERTY
@given(incident=incidents)
def test_features_any_text(features, incident: Incident) -> None:
    row = features.transform(incidents_frame([incident]))
    again = features.transform(incidents_frame([incident]))
    assert row.shape == (1, len(features.get_feature_names_out()))
    assert np.all(np.isfinite(row.toarray()))
    assert (row != again).nnz == 0


@PROPERTY
@given(incident=incidents)
def test_predict_proba_model_any_text(fitted, incident: Incident) -> None:
    model, _ = fitted
    X = incidents_frame([incident])
    proba = model.predict_proba(X)
    assert proba.shape == (1, len(model.classes_))
    assert np.all(np.isfinite(proba)) and np.all((proba >= 0.0) & (proba <= 1.0))
    np.testing.assert_array_equal(model.predict_proba(X), proba)
    [decision] = model.decide(X)
    assert set(decision.tags) <= set(model.classes_)
    assert all(0.0 <= score <= 1.0 for score in decision.scores.values())
    assert 0.0 <= decision.confidence <= 1.0
    assert model.decide(X) == [decision]


@settings(PROPERTY, max_examples=8)
@given(batch=st.lists(incidents, min_size=2, max_size=4))
def test_predict_proba_model_batch_same_as_one_by_one(fitted, batch: list[Incident]) -> None:
    model, _ = fitted
    together = model.predict_proba(incidents_frame(batch))
    alone = np.vstack([model.predict_proba(incidents_frame([i])) for i in batch])
    np.testing.assert_allclose(together, alone, atol=1e-12)


@settings(max_examples=40, deadline=None, database=None)
@given(summary=st.text(st.sampled_from(" \t\n\r\x0b\x0c\u00a0\u2003\u3000"), max_size=50))
def test_incident_blank_summary_refused(summary: str) -> None:
    with pytest.raises(InvalidIncident) as refused:
        Incident(summary=summary)
    assert refused.value.field == "summary"
