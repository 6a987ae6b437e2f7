"""The store's functions on SQLite and PostgreSQL: upserts by bug id, tags, predictions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from classifier import Taxonomy
from core.bugzilla import BugRecord
from core.db import session_scope, upgrade
from core.labels import labelled_incidents
from core.store import (
    NewPrediction,
    get_incident,
    iter_incidents,
    save_prediction,
    save_predictions,
    upsert_bugs,
)
from core.tables import IncidentRow, IncidentTagRow, PredictionRow


def bug(bug_id: int, whiteboard: str, *, summary: str = "Acme Trust: OCSP responder down",
        filed: str = "2022-03-01T10:00:00Z", **extra) -> dict:
    return {"id": bug_id, "summary": summary, "whiteboard": whiteboard, "creation_time": filed,
            "status": "NEW", "creator_domain": "acme.com", **extra}


def records(taxonomy: Taxonomy, *bugs: dict) -> list[BugRecord]:
    return [BugRecord.from_rest(b, [{"count": 0, "text": f"report {b['id']}"}], taxonomy)
            for b in bugs]


def upsert(url: str, taxonomy: Taxonomy, *bugs: dict):
    with session_scope(url) as session:
        return upsert_bugs(session=session, records=records(taxonomy, *bugs))


def stored_tags(url: str, bug_id: int) -> list[tuple[str, str]]:
    with session_scope(url) as session:
        return [(t.tag, t.kind) for t in get_incident(session=session, bug_id=bug_id).tags]


@pytest.fixture
def url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def test_upgrade_store_twice(url: str) -> None:
    upgrade(url)
    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(IncidentRow)) == 0


def test_upsert_bugs_new_then_unchanged(url: str, taxonomy: Taxonomy) -> None:
    bugs = [bug(1, "[ca-compliance] [ocsp-failure]"), bug(2, "[crl-failure]")]
    first = upsert(url, taxonomy, *bugs)
    assert (first.new, first.updated, first.unchanged) == ([1, 2], [], [])
    second = upsert(url, taxonomy, *bugs)
    assert (second.new, second.updated, second.unchanged) == ([], [], [1, 2])
    assert second.summary() == "0 new, 0 updated, 2 unchanged"


def test_upsert_bugs_changed_whiteboard_updates_tags(url: str, taxonomy: Taxonomy) -> None:
    upsert(url, taxonomy, bug(1, "[ca-compliance] [ocsp-failure]"), bug(2, "[crl-failure]"))
    counts = upsert(url, taxonomy, bug(1, "[ca-compliance] [crl-failure] [audit-finding]"),
                    bug(2, "[crl-failure]"))
    assert (counts.new, counts.updated, counts.unchanged) == ([], [1], [2])
    assert stored_tags(url, 1) == [("audit-finding", "type"), ("ca-compliance", "meta"),
                                   ("crl-failure", "type")]


def test_upsert_bugs_changed_summary_updates_ca_name(url: str, taxonomy: Taxonomy) -> None:
    upsert(url, taxonomy, bug(1, "[ocsp-failure]"))
    counts = upsert(url, taxonomy, bug(1, "[ocsp-failure]", summary="Borealis CA: OCSP down"))
    assert counts.updated == [1]
    with session_scope(url) as session:
        row = get_incident(session=session, bug_id=1)
        assert (row.ca_name, row.summary) == ("borealis ca", "Borealis CA: OCSP down")


def test_upsert_bugs_tag_kinds(url: str, taxonomy: Taxonomy) -> None:
    upsert(url, taxonomy, bug(1, "[CA Compliance] [verif?] [Delayed-Revocation-Leaf] "
                                 "[brand-new-tag] Next update 2023-04-30"))
    assert stored_tags(url, 1) == [("brand-new-tag", "unknown"), ("ca-compliance", "meta"),
                                   ("leaf-revocation-delay", "type"), ("verif?", "meta")]


def test_upsert_bugs_same_id_twice_in_one_batch(url: str, taxonomy: Taxonomy) -> None:
    counts = upsert(url, taxonomy, bug(1, "[ocsp-failure]"), bug(1, "[crl-failure]"))
    assert (counts.new, counts.updated) == ([1], [1])
    assert stored_tags(url, 1) == [("crl-failure", "type")]


def test_store_times_utc(url: str, taxonomy: Taxonomy) -> None:
    upsert(url, taxonomy, bug(1, "[ocsp-failure]", filed="2022-03-01T12:00:00+02:00"))
    with session_scope(url) as session:
        row = get_incident(session=session, bug_id=1)
        assert row.creation_time == datetime(2022, 3, 1, 10, 0, tzinfo=UTC)
        assert row.creation_time.utcoffset() == timedelta(0)
    # The same instant written in another zone is no change.
    counts = upsert(url, taxonomy, bug(1, "[ocsp-failure]", filed="2022-03-01T05:00:00-05:00"))
    assert counts.unchanged == [1]


def test_store_refuses_naive_time(url: str) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        with session_scope(url) as session:
            session.add(IncidentRow(id=5, summary="Acme: x", creation_time=datetime(2022, 1, 1),
                                    synced_at=datetime.now(UTC)))
    with session_scope(url) as session:
        assert session.get(IncidentRow, 5) is None


def test_labelled_incidents_type_tags_oldest_first(url: str, taxonomy: Taxonomy) -> None:
    upsert(url, taxonomy,
           bug(3, "[ca-compliance] [ov-misissuance] [ev-misissuance]",
               filed="2021-05-01T00:00:00Z"),
           bug(1, "[ca-compliance] [verif?]", filed="2020-01-01T00:00:00Z"),
           bug(2, "[uncategorized] [brand-new-tag]", filed="2020-02-01T00:00:00Z"),
           bug(4, "[crl-failure]", filed="2019-07-01T00:00:00Z"),
           bug(5, "[ocsp-failure]", filed="2021-05-01T00:00:00Z"))
    with session_scope(url) as session:
        labelled = labelled_incidents(session=session)
    assert [item.incident.id for item in labelled] == [4, 3, 5]
    assert labelled[1].tags == ("ev-misissuance", "ov-misissuance")
    assert labelled[1].incident.description == "report 3"
    assert labelled[1].creation_time == datetime(2021, 5, 1, tzinfo=UTC)


def test_iter_incidents_by_id(url: str, taxonomy: Taxonomy) -> None:
    upsert(url, taxonomy, bug(3, ""), bug(1, ""), bug(2, ""))
    with session_scope(url) as session:
        assert [r.id for r in iter_incidents(session=session)] == [1, 2, 3]
        assert [r.id for r in iter_incidents(session=session, ids=[3, 1, 9])] == [1, 3]
        assert get_incident(session=session, bug_id=9) is None


def test_save_prediction_last_wins(url: str, taxonomy: Taxonomy) -> None:
    upsert(url, taxonomy, bug(1, "[ocsp-failure]"))
    with session_scope(url) as session:
        save_prediction(session=session, incident_id=1, model_version="v1", tags=["crl-failure"],
                        scores={"crl-failure": 0.7}, needs_review=True, confidence=0.1)
        save_prediction(session=session, incident_id=1, model_version="v2", tags=[],
                        scores={}, needs_review=True, confidence=0.0)
    with session_scope(url) as session:
        first = save_prediction(session=session, incident_id=1, model_version="v1", tags=["x"],
                                scores={}, needs_review=True, confidence=0.0)
        again = save_prediction(session=session, incident_id=1, model_version="v1",
                                tags=["ocsp-failure"], scores={"ocsp-failure": 0.9},
                                needs_review=False, confidence=0.9)
        # The row returned is the one stored, even when the session held it already.
        assert again is first and (again.tags, again.confidence) == (["ocsp-failure"], 0.9)
    with session_scope(url) as session:
        rows = session.scalars(select(PredictionRow).order_by(PredictionRow.model_version)).all()
        assert [(r.model_version, r.tags, r.scores, r.needs_review) for r in rows] == [
            ("v1", ["ocsp-failure"], {"ocsp-failure": 0.9}, False), ("v2", [], {}, True)]


def test_predictions_in_bulk_insert_update_and_keep_the_last(url: str, taxonomy: Taxonomy) -> None:
    """New pairs inserted, stored ones updated in place (same row id), the last of a pair given
    twice wins, other versions untouched."""
    upsert(url, taxonomy, bug(1, "[ocsp-failure]"), bug(2, ""), bug(3, ""))
    with session_scope(url) as session:
        save_prediction(session=session, incident_id=1, model_version="v1", tags=["crl-failure"],
                        scores={"crl-failure": 0.7}, needs_review=True, confidence=0.1,
                        review_reason="confidence 0.10 is below the review bar")
        save_prediction(session=session, incident_id=1, model_version="v0", tags=[],
                        scores={}, needs_review=True, confidence=0.0)
    with session_scope(url) as session:
        first_id = session.scalar(select(PredictionRow.id).where(
            PredictionRow.incident_id == 1, PredictionRow.model_version == "v1"))
    with session_scope(url) as session:
        assert save_predictions(session=session, predictions=[
            NewPrediction(1, "v1", ["ocsp-failure"], {"ocsp-failure": 0.9}, False, 0.9),
            NewPrediction(2, "v1", ["crl-failure"], {"crl-failure": 0.6}, True, 0.6),
            NewPrediction(2, "v1", [], {"crl-failure": 0.2}, True, 0.2, "no type came near"),
            NewPrediction(3, "v1", ["policy-failure"], {"policy-failure": 0.8}, False, 0.8)]) == 3
        assert save_predictions(session=session, predictions=[]) == 0
    with session_scope(url) as session:
        rows = session.scalars(select(PredictionRow).order_by(
            PredictionRow.incident_id, PredictionRow.model_version)).all()
        # An update writes the reason too: the sure answer that replaced a flagged one has none.
        assert [(r.incident_id, r.model_version, r.tags, r.scores, r.needs_review, r.confidence,
                 r.review_reason) for r in rows] == [
            (1, "v0", [], {}, True, 0.0, None),
            (1, "v1", ["ocsp-failure"], {"ocsp-failure": 0.9}, False, 0.9, None),
            (2, "v1", [], {"crl-failure": 0.2}, True, 0.2, "no type came near"),
            (3, "v1", ["policy-failure"], {"policy-failure": 0.8}, False, 0.8, None)]
        assert rows[1].id == first_id
        assert all(r.created_at is not None for r in rows)


def test_delete_incident_cascades(url: str, taxonomy: Taxonomy) -> None:
    upsert(url, taxonomy, bug(1, "[ocsp-failure] [ca-compliance]"))
    with session_scope(url) as session:
        save_prediction(session=session, incident_id=1, model_version="v1", tags=[], scores={},
                        needs_review=True, confidence=0.0)
    with session_scope(url) as session:
        session.delete(get_incident(session=session, bug_id=1))
    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(IncidentTagRow)) == 0
        assert session.scalar(select(func.count()).select_from(PredictionRow)) == 0
