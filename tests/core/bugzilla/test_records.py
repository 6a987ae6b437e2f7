"""Bugzilla REST shapes turned into records, and classification that never reads the whiteboard."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from classifier import InvalidIncident, Taxonomy, WhiteboardTags
from core.bugzilla import BugRecord, comment_zero, last_comment_time, parse_time
from core.classification import classify
from core.registry import ModelRegistry
from core.store import MAX_BUG_ID
from tests.fixtures import make_bugs

BUG = {
    "id": 1883843, "product": "CA Program", "component": "CA Certificate Compliance",
    "summary": "  Acme Trust: OCSP responder outage  ",
    "whiteboard": "[ca-compliance] [ocsp-failure] [delayed-revocation-leaf] Next update 2024-02-01",
    "creation_time": "2024-01-05T09:30:00Z", "last_change_time": "2024-02-01T10:00:00+01:00",
    "cf_last_resolved": None, "status": "ASSIGNED", "resolution": "",
    "creator": "Jane.Doe@AcmeTrust.COM",
}
COMMENTS = [
    {"bug_id": 1883843, "count": 2, "text": "A later comment."},
    {"bug_id": 1883843, "count": 0, "text": "Incident report: the OCSP responder was down."},
    {"bug_id": 1883843, "count": 1, "text": "A question."},
]


def test_build_record_from_rest(taxonomy: Taxonomy) -> None:
    record = BugRecord.from_rest(BUG, COMMENTS, taxonomy)
    assert record.id == 1883843
    assert record.summary == "Acme Trust: OCSP responder outage"
    assert record.description == "Incident report: the OCSP responder was down."
    assert record.tags == WhiteboardTags(types=("ocsp-failure", "leaf-revocation-delay"),
                                         meta=("ca-compliance",))
    assert record.whiteboard == BUG["whiteboard"]
    assert record.creator_domain == "acmetrust.com"
    assert record.creation_time == datetime(2024, 1, 5, 9, 30, tzinfo=UTC)
    assert record.last_change_time == datetime(2024, 2, 1, 9, 0, tzinfo=UTC)
    assert record.resolved_at is None
    assert record.status == "ASSIGNED"


def test_build_record_creator_domain_given(taxonomy: Taxonomy) -> None:
    bug = {**BUG, "creator": None, "creator_domain": "Mozilla.COM"}
    record = BugRecord.from_rest(bug, None, taxonomy)
    assert record.creator_domain == "mozilla.com"
    assert record.description == ""
    assert record.incident().reporter == "mozilla"


def test_build_record_incident_filing_fields(taxonomy: Taxonomy) -> None:
    record = BugRecord.from_rest(BUG, COMMENTS, taxonomy)
    incident = record.incident()
    assert (incident.id, incident.summary, incident.description) == (
        record.id, record.summary, record.description)
    assert incident.ca_name == "acme trust"
    assert incident.reporter == "self"
    assert not hasattr(incident, "whiteboard")


@pytest.mark.parametrize(("change", "field"), [
    ({"id": None}, "id"),
    ({"id": "1883843"}, "id"),
    ({"id": 18.5}, "id"),
    ({"id": True}, "id"),
    ({"id": -4}, "id"),
    ({"id": [1883843]}, "id"),
    ({"summary": None}, "summary"),
    ({"summary": "   "}, "summary"),
    ({"summary": ["Acme"]}, "summary"),
    ({"creation_time": "last Tuesday"}, "creation_time"),
    ({"creation_time": "2024-13-45T00:00:00Z"}, "creation_time"),
    ({"creation_time": 1704447000}, "creation_time"),
    ({"cf_last_resolved": "soon"}, "cf_last_resolved"),
    ({"whiteboard": ["[ocsp-failure]"]}, "whiteboard"),
    ({"status": 3}, "status"),
])
def test_build_record_invalid_field(taxonomy: Taxonomy, change: dict, field: str) -> None:
    with pytest.raises(InvalidIncident) as info:
        BugRecord.from_rest({**BUG, **change}, COMMENTS, taxonomy)
    assert info.value.field == field
    assert field in str(info.value)


def test_build_record_missing_summary(taxonomy: Taxonomy) -> None:
    bug = {k: v for k, v in BUG.items() if k != "summary"}
    with pytest.raises(InvalidIncident, match="summary"):
        BugRecord.from_rest(bug, COMMENTS, taxonomy)


def test_build_record_not_an_object(taxonomy: Taxonomy) -> None:
    with pytest.raises(InvalidIncident) as info:
        BugRecord.from_rest(["id", 1], None, taxonomy)
    assert info.value.field == "bug"


@pytest.mark.parametrize(("value", "expected"), [
    ("2023-12-29T16:33:04Z", datetime(2023, 12, 29, 16, 33, 4, tzinfo=UTC)),
    ("2023-12-29T18:33:04+02:00", datetime(2023, 12, 29, 16, 33, 4, tzinfo=UTC)),
    ("2023-12-29T16:33:04", datetime(2023, 12, 29, 16, 33, 4, tzinfo=UTC)),
    ("2023-12-29", datetime(2023, 12, 29, tzinfo=UTC)),
    (None, None),
    ("", None),
])
def test_parse_time(value, expected) -> None:
    parsed = parse_time(value, "creation_time")
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(("comments", "text"), [
    (COMMENTS, "Incident report: the OCSP responder was down."),
    ([], ""),
    (None, ""),
    ([{"count": 0, "text": None}], ""),
    ([{"text": "no count given"}], "no count given"),
])
def test_comment_zero(comments, text: str) -> None:
    assert comment_zero(comments) == text


@pytest.mark.parametrize("bug_id", [0, -1, MAX_BUG_ID + 1, 2**63, 10**23, True, 1.0])
def test_from_rest_refuses_id_outside_bug_ids(bug_id, taxonomy: Taxonomy) -> None:
    with pytest.raises(InvalidIncident, match=rf"^id: expected a positive integer up to {MAX_BUG_ID} ") as info:
        BugRecord.from_rest({**BUG, "id": bug_id}, COMMENTS, taxonomy)
    assert info.value.field == "id"


def test_from_rest_takes_the_largest_bug_id(taxonomy: Taxonomy) -> None:
    assert BugRecord.from_rest({**BUG, "id": MAX_BUG_ID}, COMMENTS, taxonomy).id == 2**31 - 1


@pytest.mark.parametrize("count", ["a", "0", 1.5, True, [0]])
@pytest.mark.parametrize("public_only", [False, True])
def test_comment_zero_refuses_count_not_an_integer(count, public_only: bool) -> None:
    """Among numbers, a count that is not one is named, not a TypeError from comparing them."""
    comments = [{"count": 1, "text": "later"}, {"count": count, "text": "x"},
                {"count": 0, "text": "report"}]
    with pytest.raises(InvalidIncident, match=r"^comments\[1\]\.count: expected an integer") as info:
        comment_zero(comments, public_only=public_only)
    assert info.value.field == "comments[1].count"


def test_comment_zero_count_null_is_no_count() -> None:
    assert comment_zero([{"count": None, "text": "report"}, {"count": 1, "text": "later"}]) == "report"


@pytest.mark.parametrize(("comments", "anyone", "public"), [
    ([{"count": 1, "text": "later", "is_private": False},
      {"count": 0, "text": "report", "is_private": False}], "report", "report"),
    ([{"count": 0, "text": "the customer's name", "is_private": True},
      {"count": 1, "text": "later", "is_private": False}], "the customer's name", ""),
    ([{"count": 1, "text": "later", "is_private": False}], "later", ""),  # comment 0 left out
])
def test_comment_zero_public_only(comments, anyone: str, public: str) -> None:
    assert comment_zero(comments) == anyone
    assert comment_zero(comments, public_only=True) == public


# -- leakage: the whiteboard holds the answer and must change no prediction ---------------------
@pytest.mark.parametrize("whiteboard", ["", "[ca-compliance] [smime-misissuance] [policy-failure]",
                                        "[ocsp-failure] [crl-failure] [ev-misissuance] "
                                        "[leaf-revocation-delay]"])
def test_classify_same_bugs_other_whiteboard(trained_models: Path, taxonomy: Taxonomy,
                                             whiteboard: str) -> None:
    loaded = ModelRegistry(trained_models).load()
    bugs, comments = make_bugs(n_per_tag=4, seed=3, start_year=2023)

    def answers(payload: list[dict]) -> list[dict]:
        records = [BugRecord.from_rest(b, comments["bugs"][str(b["id"])]["comments"], taxonomy)
                   for b in payload]
        return [c.as_dict() for c in classify(loaded, [r.incident() for r in records], taxonomy,
                                              explain=True)]

    original = answers(bugs["bugs"])
    changed = answers([{**b, "whiteboard": whiteboard} for b in bugs["bugs"]])
    assert len(original) == 16
    assert any(a["explanation"] for a in original)
    assert changed == original


def test_classify_answers(trained_models: Path, taxonomy: Taxonomy) -> None:
    loaded = ModelRegistry(trained_models).load()
    record = BugRecord.from_rest(BUG, COMMENTS, taxonomy)
    (answer,) = classify(loaded, [record.incident()], taxonomy)
    assert answer.id == 1883843
    assert answer.model_version == "v1"
    assert answer.categories == taxonomy.categories_of(answer.tags)
    assert list(answer.scores) == list(loaded.model.classes_)
    assert answer.explanation == {}
    assert "explanation" not in answer.as_dict(explanation=False)


def test_classify_nothing(trained_models: Path, taxonomy: Taxonomy) -> None:
    assert classify(ModelRegistry(trained_models).load(), [], taxonomy) == []


@pytest.mark.parametrize(("field", "value", "says"), [
    ("summary", "Acme: bad\x00cert", "summary contains a NUL character"),
    # JSON's "\ud800": a UnicodeEncodeError traceback when stored, on either back end.
    ("summary", "Acme: bad \ud800 cert", "summary contains a character that is not valid Unicode"),
    ("product", "CA \udcff Program", "product contains a character that is not valid Unicode"),
    ("status", "R" * 65, "status is longer than 64 characters"),
    ("whiteboard", "[" + "x" * 129 + "]", "whiteboard: a tag is longer than 128 characters"),
    ("creator", "a" * 250 + "@example.com", "creator is longer than 255 characters"),
    # What the REST API takes too (classify FILE took 28 s and 1.7 GB for 5 million).
    ("summary", "Acme: " + "x" * 1_000, "summary is longer than 1000 characters"),
])
def test_from_rest_refuses_what_a_store_would_not_keep(taxonomy, field, value, says):
    bug = {"id": 7, "summary": "Acme: fine", field: value}
    with pytest.raises(InvalidIncident, match=re.escape(says)) as caught:
        BugRecord.from_rest(bug, None, taxonomy)
    assert caught.value.field == field


@pytest.mark.parametrize(("text", "says"), [("details\x00here", "description contains a NUL"),
                                           ("d" * 100_001, "description is longer than 100000"),
                                           ("details\ud800here", "description contains a character "
                                                                 "that is not valid Unicode")])
def test_from_rest_refuses_nul_in_comment_zero(taxonomy, text: str, says: str):
    comments = [{"count": 0, "text": text}]
    with pytest.raises(InvalidIncident, match=says) as caught:
        BugRecord.from_rest({"id": 7, "summary": "Acme: fine"}, comments, taxonomy)
    assert caught.value.field == "description"


def test_last_comment_time_newest_public(taxonomy: Taxonomy) -> None:
    comments = [
        {"count": 0, "text": "report", "creation_time": "2024-01-05T09:30:00Z"},
        {"count": 2, "text": "", "creation_time": "2024-03-01T10:00:00+01:00"},
        {"count": 1, "text": "", "creation_time": "2024-02-01T00:00:00Z"},
        {"count": 3, "text": "", "creation_time": "2024-04-01T00:00:00Z", "is_private": True},
        {"count": 4, "text": ""},
    ]
    newest = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    assert last_comment_time(comments) == newest
    assert BugRecord.from_rest(BUG, comments, taxonomy).last_comment_time == newest
    assert last_comment_time(None) is None and last_comment_time([]) is None
    assert BugRecord.from_rest(BUG, None, taxonomy).last_comment_time is None


def test_last_comment_time_refuses_a_time_that_is_not_one(taxonomy: Taxonomy) -> None:
    comments = [{"count": 0, "text": "report", "creation_time": "2024-01-05T09:30:00Z"},
                {"count": 1, "text": "", "creation_time": "soon"}]
    with pytest.raises(InvalidIncident, match=r"comments\[1\].creation_time: 'soon'") as caught:
        BugRecord.from_rest(BUG, comments, taxonomy)
    assert caught.value.field == "comments[1].creation_time"
