"""The incident as the model sees it: filing-time fields only, never the whiteboard."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from classifier import (
    FEATURE_COLUMNS,
    Incident,
    InvalidIncident,
    Taxonomy,
    ca_name_from_summary,
    incidents_frame,
    reporter_kind,
)
from core.bugzilla import BugRecord
from tests.fixtures import make_bugs


@pytest.mark.parametrize("summary", ["", "   ", None])
def test_create_incident_empty_summary(summary) -> None:
    with pytest.raises(InvalidIncident) as info:
        Incident(summary=summary)
    assert info.value.field == "summary"


@pytest.mark.parametrize(("summary", "ca"), [
    ("Entrust: Delayed revocation", "entrust"),
    ("  Let's  Encrypt : CAA rechecking bug", "let's encrypt"),
    ("[Sectigo] Sectigo: OCSP outage", "sectigo"),
    ("OCSP responder down for an hour", ""),
    ("A" * 61 + ": too long to be a CA name", ""),
    ("某CA：证书吊销延迟", "某ca"),  # a full-width colon (it gave "(no CA named)")
    ("Acme：late revocation: of 3 certificates", "acme"),  # the first colon, whichever
])
def test_ca_name_from_summary(summary: str, ca: str) -> None:
    assert ca_name_from_summary(summary) == ca


@pytest.mark.parametrize(("domain", "ca", "kind"), [
    (None, "entrust", "unknown"),
    ("", "entrust", "unknown"),
    ("mozilla.com", "entrust", "mozilla"),
    ("gmail.com", "entrust", "webmail"),
    ("entrust.com", "entrust", "self"),
    ("GlobalSign.COM", "globalsign", "self"),
    ("letsencrypt.org", "let's encrypt", "self"),
    ("digicert.com", "entrust", "external"),
    ("example.org", "", "external"),
])
def test_reporter_kind(domain: str | None, ca: str, kind: str) -> None:
    assert reporter_kind(domain, ca) == kind


def test_build_frame_feature_columns_only() -> None:
    incident = Incident(summary="Acme Trust: OCSP outage", description="It was down.", id=7,
                        creator_domain="acme.com")
    frame = incidents_frame([incident])
    assert list(frame.columns) == list(FEATURE_COLUMNS)
    assert "whiteboard" not in frame.columns
    assert frame.iloc[0].to_dict() == {"summary": "Acme Trust: OCSP outage",
                                       "description": "It was down.", "ca_name": "acme trust",
                                       "reporter": "self"}


def test_incident_has_no_whiteboard_field() -> None:
    assert "whiteboard" not in {f.name for f in dataclasses.fields(Incident)}


def test_build_frame_same_bugs_other_whiteboards(taxonomy: Taxonomy) -> None:
    """Two copies of the same bugs whose whiteboards differ give the same feature frame."""
    bugs, comments = make_bugs(n_per_tag=3)
    other = [{**bug, "whiteboard": "[ca-compliance] [smime-misissuance] [policy-failure]"}
             for bug in bugs["bugs"]]

    def frame(payload: list[dict]) -> pd.DataFrame:
        records = [BugRecord.from_rest(b, comments["bugs"][str(b["id"])]["comments"], taxonomy)
                   for b in payload]
        return incidents_frame(r.incident() for r in records)

    first, second = frame(bugs["bugs"]), frame(other)
    assert len(first) == 12
    pd.testing.assert_frame_equal(first, second)


def test_build_frame_empty() -> None:
    frame = incidents_frame([])
    assert list(frame.columns) == list(FEATURE_COLUMNS)
    assert len(frame) == 0
