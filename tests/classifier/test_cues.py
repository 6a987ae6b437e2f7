"""Cues and exclusions: taxonomy knowledge the model uses as features, as rules and in its confidence."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from classifier import Incident, IncidentTypeClassifier, Taxonomy, TaxonomyError, incidents_frame
from classifier._model import CueFlags

CUES = {"ev-misissuance": r"\bev\b|extended validation", "smime-misissuance": r"s/?mime"}
EXCLUDES = {"smime-misissuance": ["ev-misissuance"]}


def _taxonomy(**tag_fields) -> dict:
    return {"categories": {"order": ["EV Misissuance"]},
            "tags": {"ev-misissuance": {"categories": ["EV Misissuance"], **tag_fields}}}


@pytest.fixture(scope="module")
def cued(fixture_data) -> IncidentTypeClassifier:
    """A model with an EV cue, and an S/MIME cue for a tag the fixture data never carries."""
    X, y = fixture_data
    return IncidentTypeClassifier(cues=CUES, excludes=EXCLUDES, random_state=0).fit(X, y)


def test_shipped_taxonomy_cues_compile_and_exclusions_name_tags(taxonomy: Taxonomy) -> None:
    assert "smime-misissuance" in taxonomy.cues
    assert set(taxonomy.excludes["smime-misissuance"]) == {
        "dv-misissuance", "ov-misissuance", "ev-misissuance"}
    for ruled_out in taxonomy.excludes.values():
        assert set(ruled_out) <= set(taxonomy.type_tags)


def _shipped_cue_flags(taxonomy: Taxonomy, tags: tuple[str, ...], summary: str) -> list[float]:
    """The shipped cues of ``tags`` on one summary, in that order."""
    X = pd.DataFrame({"summary": [summary]})
    return CueFlags({t: taxonomy.cues[t] for t in tags}).fit(X).transform(X).toarray()[0].tolist()


@pytest.mark.parametrize(("tag", "summary", "flagged"), [
    # Policy Failures: the documents, and the operational controls a CA's practice must keep.
    ("policy-failure", "Acme: Trusted Role Control Failure", True),
    ("policy-failure", "Acme: Late removal of privileged access to the CA systems", True),
    ("policy-failure", "Acme: Quarterly access review not performed", True),
    ("policy-failure", "Acme: Background checks of staff not refreshed", True),
    ("policy-failure", "Acme: Vulnerability scanning and patching incomplete", True),
    ("policy-failure", "Acme: CPS not updated within 365 days", True),
    # Not operational controls: a flaw in a validation method, an outage, a word inside a word.
    ("policy-failure", "Acme: Random value vulnerability in domain validation", False),
    ("policy-failure", "Acme: OCSP responder outage", False),
    ("policy-failure", "Acme: test bug filed from an unprivileged account", False),
    # CA Misissuance: every name of a CA certificate, plural or spaced.
    ("ca-misissuance", "Acme: Multiple sub CAs with incorrectly encoded SubjectPublicKeyInfo", True),
    ("ca-misissuance", "Acme: Sub-CA without EKU", True),
    ("ca-misissuance", "Acme: Malformed ICAs (missing certificate policies)", True),
    ("ca-misissuance", "Acme: Issuance of intermediates that do not comply with the policy", True),
    ("ca-misissuance", "Acme: Cross-certificate with wrong policy identifier", True),
    ("ca-misissuance", "Acme: Misissuance of Cross Signed Certs", True),
    ("ca-misissuance", "Acme: CA certificate without EKU", True),
    # A word that only starts like one, and a leaf misissuance.
    ("ca-misissuance", "Acme: Subcategory field missing from the CPS", False),
    ("ca-misissuance", "Acme: OV certificates with a wrong locality", False),
])
def test_shipped_cue_reads_its_tags_summaries(taxonomy: Taxonomy, tag: str, summary: str,
                                              flagged: bool) -> None:
    assert _shipped_cue_flags(taxonomy, (tag,), summary) == [float(flagged)]


@pytest.mark.parametrize(("tag", "summary"), [
    ("dv-misissuance", "Acme: Domain-validated certificates with a bad SAN"),
    ("dv-misissuance", "Acme: domain validation method 3.2.2.4.6 used"),
    ("ov-misissuance", "Acme: Organisation-validated certificates with a wrong locality"),
    ("ov-misissuance", "Acme: OV certificates with a wrong locality"),
    ("ev-misissuance", "Acme: Extended-validation certificates without a jurisdiction"),
])
def test_shipped_level_cues_read_the_level_spelled_with_a_hyphen_or_a_space(
        taxonomy: Taxonomy, tag: str, summary: str) -> None:
    levels = ("dv-misissuance", "ov-misissuance", "ev-misissuance")
    assert _shipped_cue_flags(taxonomy, levels, summary) == [float(t == tag) for t in levels]


def test_taxonomy_rejects_bad_cue() -> None:
    with pytest.raises(TaxonomyError, match="'ev-misissuance' cue is not a regular expression"):
        Taxonomy.from_dict(_taxonomy(cue="(unclosed"))


def test_taxonomy_rejects_exclusion_of_unknown_tag() -> None:
    with pytest.raises(TaxonomyError, match=r"excludes names unknown tags \['no-such-tag'\]"):
        Taxonomy.from_dict(_taxonomy(excludes=["no-such-tag"]))


def test_cue_flags_match_case_insensitively() -> None:
    X = pd.DataFrame({"summary": ["Acme: EV certificate with bad JOI", "Acme: S/MIME issue",
                                  "Acme: OCSP outage"]})
    flags = CueFlags(CUES).fit(X).transform(X).toarray()
    assert flags.tolist() == [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    assert list(CueFlags(CUES).fit(X).get_feature_names_out()) == list(CUES)


def test_cue_flags_bad_pattern_fails_at_fit() -> None:
    with pytest.raises(Exception, match="missing \\)"):
        CueFlags({"x": "(unclosed"}).fit(pd.DataFrame({"summary": ["a"]}))


def test_cue_only_tag_is_given_by_its_cue(cued: IncidentTypeClassifier) -> None:
    # The fixture data has no S/MIME incident: the tag exists only through its cue.
    assert cued.cue_tags_ == ["smime-misissuance"]
    assert cued.classes_[-1] == "smime-misissuance"
    X = incidents_frame([Incident(summary="Acme: SMIME certificates without mailbox validation"),
                         Incident(summary="Acme: OCSP responder down")])
    proba = cued.predict_proba(X)
    assert proba[:, -1].tolist() == [cued.cue_score, 0.02]
    first, second = cued.decide(X)
    assert "smime-misissuance" in first.tags
    assert "smime-misissuance" not in second.tags
    assert cued.explain(X.iloc[[0]], [["smime-misissuance"]])[0] == {
        "smime-misissuance": [("smime", cued.cue_score)]}
    # A cue that matched part of a word shows the whole word the summary wrote.
    X = incidents_frame([Incident(summary="Acme: S/MIMEv3 certificates without mailbox validation")])
    assert cued.explain(X, [["smime-misissuance"]])[0] == {
        "smime-misissuance": [("s/mimev3", cued.cue_score)]}


CUE_ONLY_REASON = ("smime-misissuance is given by the summary's words alone (the taxonomy's "
                   "cue): fewer than 5 labelled incidents to learn it from")


def test_cue_only_tag_sends_the_incident_to_review(cued: IncidentTypeClassifier) -> None:
    """No labelled incident measures how often a cue alone is right: a person confirms it."""
    proba = np.full((2, len(cued.classes_)), 0.001)
    proba[0, -1] = cued.cue_score   # S/MIME by its cue, every other answer sure
    proba[1, 0] = 0.999             # a learned tag, as sure
    strict = copy.deepcopy(cued)
    strict.review_threshold_ = 0.0  # no incident is under the review bar
    cue_only, learned = strict.decide_proba(proba)
    assert cue_only.tags == ("smime-misissuance",) and learned.tags == (cued.classes_[0],)
    assert (cue_only.needs_review, cue_only.review_reason) == (True, CUE_ONLY_REASON)
    assert (learned.needs_review, learned.review_reason) == (False, None)
    # Off, or a model written before the rule: decided like any other tag.
    off = copy.deepcopy(strict).set_params(review_cue_only=False)
    old = copy.deepcopy(strict)
    del old.review_cue_only
    for model in (off, old):
        assert model.decide_proba(proba)[0].needs_review is False


def test_cue_only_reason_follows_the_other_reason(cued: IncidentTypeClassifier) -> None:
    proba = np.full((1, len(cued.classes_)), 0.001)
    proba[0, -1] = cued.cue_score
    strict = copy.deepcopy(cued)
    strict.review_threshold_ = 1.0  # every incident is under the review bar
    (decision,) = strict.decide_proba(proba)
    assert decision.review_reason is not None
    first, second = decision.review_reason.split("; least sure: ")[1].split("; ", 1)
    assert decision.review_reason.startswith("confidence ")
    # The least sure answer is a learned one: the cue-only tag's is no measured answer.
    assert first.startswith("it does not give ") and "smime" not in first
    assert second == CUE_ONLY_REASON


def test_exclusion_removes_the_excluded_tag(cued: IncidentTypeClassifier) -> None:
    j_ev = list(cued.classes_).index("ev-misissuance")
    proba = np.full((1, len(cued.classes_)), 0.01)
    proba[0, j_ev] = 0.97
    proba[0, -1] = cued.cue_score
    (decision,) = cued.decide_proba(proba)
    assert decision.tags == ("smime-misissuance",)
    # Without the S/MIME score the same EV score is a tag.
    proba[0, -1] = 0.02
    assert cued.decide_proba(proba)[0].tags == ("ev-misissuance",)


@pytest.mark.parametrize("review_cue_only", [True, False])
def test_exclusion_does_not_lower_confidence(cued: IncidentTypeClassifier, review_cue_only: bool) -> None:
    """A no said by an exclusion is the taxonomy's: the excluded tag's high score is not doubt."""
    model = copy.deepcopy(cued).set_params(review_cue_only=review_cue_only)
    j_ev = list(model.classes_).index("ev-misissuance")
    proba = np.full((2, len(model.classes_)), 0.01)
    proba[:, -1] = model.cue_score
    proba[1, j_ev] = 0.97  # the second incident also looks like an EV misissuance
    plain, with_ev = model.decide_proba(proba)
    assert plain.tags == with_ev.tags == ("smime-misissuance",)
    # The chance that every yes and no is right: 0.99 for each other no, times S/MIME's score
    # when a cue-only tag is decided like a learned one; when it sends the incident to review,
    # its fixed score is no measured answer and costs nothing.
    others = len(model.classes_) - 2
    cue = 1.0 if review_cue_only else model.cue_score
    assert with_ev.confidence == plain.confidence == pytest.approx(cue * 0.99 ** others, abs=1e-4)


def test_without_exclusions_both_tags_are_given(fixture_data) -> None:
    X, y = fixture_data
    model = IncidentTypeClassifier(cues=CUES, random_state=0).fit(X, y)
    j_ev = list(model.classes_).index("ev-misissuance")
    proba = np.full((1, len(model.classes_)), 0.01)
    proba[0, j_ev] = 0.97
    proba[0, -1] = model.cue_score
    (decision,) = model.decide_proba(proba)
    assert set(decision.tags) == {"ev-misissuance", "smime-misissuance"}
