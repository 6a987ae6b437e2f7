"""What the model takes from comment 0's incident report, and from training incidents' age."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from classifier import FILED_COLUMN, Incident, IncidentTypeClassifier, Taxonomy, incidents_frame
from classifier._model import REPORT_TERM, _ages

MISISSUANCE = "Acme Trust: EV certificates with wrong jurisdiction fields"
REVOCATION = "Acme Trust: Failure to revoke within 5 days"
LEVELS = ("dv-misissuance", "ov-misissuance", "ev-misissuance", "smime-misissuance")


def _report(types: str | None) -> str:
    """Comment 0 in the CCADB v3 template, stating the affected certificate types (None: the
    same report without the field)."""
    report = "## Full Incident Report\n\n### Summary\n\n- **Incident description:** See below.\n\n### Impact\n\n"
    if types is None:
        return report
    return report + f"- **Affected certificate types:** This incident affects {types} certificates.\n"


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
    X = _frame((MISISSUANCE, _report("OV and EV")), (MISISSUANCE, _report(None)))
    proba = model.predict_proba(X)
    column = {t: j for j, t in enumerate(model.classes_)}
    plain_ev = proba[1, column["ev-misissuance"]]
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
    X = _frame((REVOCATION, _report("DV and OV")), (REVOCATION, _report(None)))
    proba = model.predict_proba(X)
    column = {t: j for j, t in enumerate(model.classes_)}
    for tag in LEVELS:
        assert proba[0, column[tag]] <= proba[1, column[tag]] + 1e-12
    decided = model.decide(X)
    assert "leaf-revocation-delay" in decided[0].tags
    assert not set(decided[0].tags) & set(LEVELS)


def test_stated_certificate_types_rule_out_the_others(model: IncidentTypeClassifier) -> None:
    X = _frame((MISISSUANCE, _report("DV")), (MISISSUANCE, _report(None)))
    proba = model.predict_proba(X)
    column = {t: j for j, t in enumerate(model.classes_)}
    assert proba[0, column["ev-misissuance"]] <= 0.02 < proba[1, column["ev-misissuance"]]
    assert "dv-misissuance" in model.decide(X)[0].tags


def test_report_against_the_text_goes_to_review(model: IncidentTypeClassifier) -> None:
    """The summary reads as an EV misissuance, the report says DV: the report chooses the level,
    but a person looks, told why; and the explanation says the report gave the tag."""
    X = _frame((MISISSUANCE, _report("DV")), (MISISSUANCE, _report("EV")), (MISISSUANCE, _report(None)))
    decisions, explained = model.decide_and_explain(X)
    disagreeing, agreeing, plain = decisions
    assert "dv-misissuance" in disagreeing.tags and disagreeing.needs_review
    assert disagreeing.review_reason is not None
    assert disagreeing.review_reason.startswith(
        "the report's affected certificate types give dv-misissuance, but the text reads as ev-misissuance (")
    assert [d.needs_review for d in model.decide(X)] == [d.needs_review for d in decisions]
    # Where the report agrees with the text, it is no reason to look.
    assert "ev-misissuance" in agreeing.tags
    assert agreeing.review_reason is None or "report" not in agreeing.review_reason
    assert (agreeing.needs_review, agreeing.confidence) == (plain.needs_review, plain.confidence)
    # The DV tag's first "word" is the report, by how much it raised the tag's log-odds.
    term, push = explained[0]["dv-misissuance"][0]
    assert term == REPORT_TERM and push > 1.0
    assert all(term != REPORT_TERM for term, _ in explained[1]["ev-misissuance"])  # not raised
    assert model.explain(X, [["dv-misissuance"]] * 3)[0]["dv-misissuance"] == explained[0]["dv-misissuance"]
    assert not any(term == REPORT_TERM for terms in explained[2].values() for term, _ in terms)


def test_stated_certificate_types_are_no_words_of_the_model(model: IncidentTypeClassifier) -> None:
    """The field's "DV and OV" is read by the evidence, not by the word features: with the
    evidence on, only the level tags differ from the same report without the field; with it
    off, the field is text like any other."""
    X = _frame((MISISSUANCE, _report("OV")), (MISISSUANCE, _report(None)))
    on = model.predict_proba(X)
    settled = [j for j, t in enumerate(model.classes_) if t in LEVELS]
    others = [j for j in range(len(model.classes_)) if j not in settled]
    np.testing.assert_array_equal(on[0, others], on[1, others])
    assert not np.array_equal(on[0, settled], on[1, settled])
    off = _without_evidence(model, X)
    assert not np.array_equal(off[0, others], off[1, others])


def _policy_or_ocsp_model(**params) -> IncidentTypeClassifier:
    """A model that learned "policies" in comment 0 from policy failures only."""
    rows, tags = [], []
    for i in range(12):
        rows.append((f"CA {i}: OCSP responder outage", f"The OCSP responder {i} returned errors for hours."))
        tags.append(("ocsp-failure",))
        rows.append((f"CA {i}: CPS not updated", f"Our relevant policies were not reviewed; policies {i} went stale."))
        tags.append(("policy-failure",))
    return IncidentTypeClassifier(**params).fit(_frame(*rows), tags)


OCSP_V3 = ("## Preliminary Incident Report\n\n### Summary\n\n"
           "- **Incident description:** The OCSP responder returned errors.\n"
           "- **Relevant policies:** TLS BR 4.10.2\n- **Source of incident disclosure:** Self Reported\n")


def test_template_words_are_no_features() -> None:
    """A v3 report's field names are in every report: "Relevant policies" says nothing of a
    policy failure. The model reads the report as its values alone; with ``strip_template``
    off (or an artefact from before it), the name is a word like any other."""
    from classifier import without_template

    X = _frame(("CA 99: OCSP responder outage", OCSP_V3),
               ("CA 99: OCSP responder outage", without_template(OCSP_V3)))
    model = _policy_or_ocsp_model()
    policy = list(model.classes_).index("policy-failure")
    on = model.predict_proba(X)
    np.testing.assert_array_equal(on[0], on[1])
    plain = _policy_or_ocsp_model(strip_template=False)
    off = plain.predict_proba(X)
    assert off[0, policy] > off[1, policy]

    def words(m: IncidentTypeClassifier) -> list[str]:
        return [term for term, _ in m.explain(X.iloc[:1], [("policy-failure",)])[0]["policy-failure"]]

    assert "relevant policies" in words(plain)
    assert not any("polic" in term for term in words(model))
    # An artefact written before the parameter: no attribute, nothing stripped at prediction.
    del model.strip_template
    assert model.predict_proba(X)[0, policy] > on[0, policy]


def test_recency_weights_favour_recent_incidents(fixture_data) -> None:
    X, y = fixture_data
    X = X.copy()
    X[FILED_COLUMN] = pd.date_range("2015-01-01", periods=len(X), freq="60D", tz="UTC")
    model = IncidentTypeClassifier(recency_half_life=1.0, recent_prior_years=None)
    weights = model._recency_weights(_ages(X))
    assert weights is not None and weights[-1] == 1.0
    assert weights[0] < 0.01 and np.all(np.diff(weights) > 0)
    assert IncidentTypeClassifier()._recency_weights(_ages(X)) is None
    fitted = model.fit(X, y)
    plain = IncidentTypeClassifier(recent_prior_years=None).fit(X, y)
    assert not np.allclose(fitted.predict_proba(X), plain.predict_proba(X))


@pytest.mark.snapshot
def test_stated_certificate_types_on_real_incidents(fitted_before_2022) -> None:
    """The 2022-2023 incidents, their comment 0 rewritten as v3 reports that state certificate
    types: the true levels for the misissuances, "DV and OV" for every other incident (the types
    of the certificates a late revocation or an outage touched)."""
    model, test = fitted_before_2022.model, fitted_before_2022.later
    names = {"dv-misissuance": "DV", "ov-misissuance": "OV", "ev-misissuance": "EV", "smime-misissuance": "S/MIME"}
    misissued = [[names[t] for t in r.tags.types if t in names] for r in test]

    def stated(r, levels: list[str]) -> Incident:
        report = _report(" and ".join(levels) if levels else "DV and OV")
        return Incident(summary=r.summary, description=report + "\n" + r.description)

    plain = model.predict_tags(incidents_frame(r.incident() for r in test))
    told = model.predict_tags(incidents_frame(stated(r, lv) for r, lv in zip(test, misissued, strict=True)))
    others = [i for i, lv in enumerate(misissued) if not lv]
    assert len(others) > 50

    def levels_given(tags: list[tuple[str, ...]], rows: list[int]) -> int:
        return sum(bool(set(tags[i]) & set(names)) for i in rows)

    # Stating "DV and OV" makes no other incident a misissuance: at most the ones the model
    # already took for one keep a level tag.
    assert levels_given(told, others) <= levels_given(plain, others)
    # Where the levels are stated and true, the model's levels agree with them more often.
    levelled = [i for i, lv in enumerate(misissued) if lv]

    def right(tags: list[tuple[str, ...]]) -> int:
        return sum({names[t] for t in tags[i] if t in names} == set(misissued[i]) for i in levelled)

    assert right(told) > right(plain)
