"""The live record: predictions scored when Mozilla's type tags arrive (upsert_bugs), its figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, text

from classifier import Taxonomy
from core.bugzilla import BugRecord
from core.corrections import CorrectionIn, add_correction
from core.db import get_engine, session_scope, upgrade
from core.live import LIVE_MIN_SCORED, live_alarm, live_record, live_summary, scored_versions
from core.store import save_prediction, upsert_bugs
from core.tables import IncidentRow, LiveScoreRow, PredictionRow

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def record(taxonomy: Taxonomy, bug_id: int, whiteboard: str) -> BugRecord:
    return BugRecord.from_rest({"id": bug_id, "summary": f"Acme Trust: OCSP responder down ({bug_id})",
                                "whiteboard": whiteboard, "creation_time": "2024-04-01T10:00:00Z",
                                "status": "NEW", "creator_domain": "acme.com"},
                               [{"count": 0, "text": f"report {bug_id}"}], taxonomy)


def upsert(url: str, taxonomy: Taxonomy, *bugs: tuple[int, str]):
    with session_scope(url) as session:
        return upsert_bugs(session=session, records=[record(taxonomy, b, w) for b, w in bugs])


def predict(url: str, bug_id: int, version: str, tags: list[str], *, at: datetime | None = None,
            needs_review: bool = False) -> None:
    with session_scope(url) as session:
        row = save_prediction(session=session, incident_id=bug_id, model_version=version, tags=tags,
                              scores={t: 0.9 for t in tags}, needs_review=needs_review, confidence=0.9)
        if at is not None:
            row.created_at = at


def state(url: str) -> tuple[list[tuple], list[tuple]]:
    """Every incident's tag time and every live score, to compare before and after."""
    with session_scope(url) as session:
        incidents = list(session.execute(select(IncidentRow.id, IncidentRow.tags_known_at,
                                                IncidentRow.synced_at).order_by(IncidentRow.id)))
        scores = [(s.incident_id, s.model_version, tuple(s.predicted_tags), tuple(s.true_tags),
                   s.needs_review, s.predicted_at, s.scored_at)
                  for s in session.scalars(select(LiveScoreRow).order_by(LiveScoreRow.id))]
    return [tuple(r) for r in incidents], scores


@pytest.fixture
def url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def test_prediction_before_tags_is_scored_once(url: str, taxonomy: Taxonomy) -> None:
    upsert(url, taxonomy, (1, "[ca-compliance]"), (2, "[ca-compliance]"), (3, "[crl-failure]"))
    with session_scope(url) as session:
        known = {i: at for i, at in session.execute(select(IncidentRow.id, IncidentRow.tags_known_at))}
    assert known[1] is None and known[2] is None and known[3] is not None  # new with a type tag
    predict(url, 1, "v1", ["ocsp-failure"], at=T0)
    predict(url, 1, "v2", ["crl-failure"], at=T0 + timedelta(hours=1), needs_review=True)
    predict(url, 2, "v1", ["ocsp-failure"], at=T0)
    predict(url, 3, "v1", ["crl-failure"], at=T0)  # tags were known before: never scored

    upsert(url, taxonomy, (1, "[ca-compliance] [ocsp-failure]"))
    incidents, scores = state(url)
    assert [(s[0], s[1], s[2], s[3], s[4], s[5]) for s in scores] == [
        (1, "v1", ("ocsp-failure",), ("ocsp-failure",), False, T0),
        (1, "v2", ("crl-failure",), ("ocsp-failure",), True, T0 + timedelta(hours=1)),
    ]
    tagged_at = dict((i[0], i[1]) for i in incidents)[1]
    assert tagged_at is not None and all(s[6] == tagged_at for s in scores)

    # The same upsert again: nothing changes, nothing is scored twice.
    before = state(url)
    counts = upsert(url, taxonomy, (1, "[ca-compliance] [ocsp-failure]"))
    assert counts.unchanged == [1]
    assert state(url) == before

    # Tags changed, then gone, then back: the first tag time stays, nothing is scored again, and a
    # prediction made after the tags were known (v3, now) is never scored.
    predict(url, 1, "v3", ["ev-misissuance"])
    upsert(url, taxonomy, (1, "[crl-failure]"))
    upsert(url, taxonomy, (1, "[ca-compliance]"))
    upsert(url, taxonomy, (1, "[leaf-revocation-delay]"))
    incidents, scores = state(url)
    assert dict((i[0], i[1]) for i in incidents)[1] == tagged_at
    assert [(s[0], s[1]) for s in scores] == [(1, "v1"), (1, "v2")]
    # The untagged incident's prediction waits for its tags.
    upsert(url, taxonomy, (2, "[ca-compliance] [crl-failure] [ocsp-failure]"))
    _, scores = state(url)
    assert [(s[0], s[1], s[3]) for s in scores][-1] == (2, "v1", ("crl-failure", "ocsp-failure"))
    with session_scope(url) as session:
        assert scored_versions(session=session) == ["v1", "v2"]


def test_prediction_after_a_correction_is_not_scored(url: str, taxonomy: Taxonomy) -> None:
    """A maintainer's correction is a label: a prediction made after it (by a version that may
    have learned it) is not one made before the incident's label existed, so Mozilla's tags
    arriving later do not score it. One made before the correction still is."""
    upsert(url, taxonomy, (7, "[ca-compliance]"))
    predict(url, 7, "v1", ["ocsp-failure"], at=T0)
    with session_scope(url) as session:
        row = add_correction(session=session, correction=CorrectionIn(7, ("crl-failure",)),
                             author="alice")
        row.created_at = T0 + timedelta(hours=1)
    predict(url, 7, "v2", ["crl-failure"], at=T0 + timedelta(hours=2))
    upsert(url, taxonomy, (7, "[ca-compliance] [crl-failure]"))
    _, scores = state(url)
    assert [(s[0], s[1]) for s in scores] == [(7, "v1")]


def test_two_first_tags_in_one_batch(url: str, taxonomy: Taxonomy) -> None:
    """The same bug twice in one upsert is scored once, against the tags the upsert leaves."""
    upsert(url, taxonomy, (5, ""))
    predict(url, 5, "v1", ["ocsp-failure"], at=T0)
    upsert(url, taxonomy, (5, "[ocsp-failure]"), (5, "[ocsp-failure] [crl-failure]"))
    _, scores = state(url)
    assert [(s[0], s[1], s[3]) for s in scores] == [(5, "v1", ("crl-failure", "ocsp-failure"))]


def _scores(url: str, version: str, rows: list[tuple[list[str], list[str], bool]],
            start: datetime = T0) -> None:
    """Live scores written by hand: (predicted, true, needs_review), scored an hour apart."""
    with session_scope(url) as session:
        first = 100 + (session.scalar(text("SELECT COUNT(*) FROM incidents")) or 0)
    with session_scope(url) as session:
        session.add_all(IncidentRow(id=first + i, summary=f"bug {first + i}", description="",
                                    ca_name="", whiteboard="", synced_at=start) for i in range(len(rows)))
        session.flush()
        session.execute(insert(LiveScoreRow), [
            {"incident_id": first + i, "model_version": version, "predicted_tags": predicted,
             "true_tags": true, "needs_review": review, "predicted_at": start - timedelta(days=1),
             "scored_at": start + timedelta(hours=i)}
            for i, (predicted, true, review) in enumerate(rows)])


HAND_MADE = [
    (["ocsp-failure"], ["ocsp-failure"], False),
    (["crl-failure"], ["ocsp-failure"], False),
    (["ev-misissuance", "leaf-revocation-delay"], ["ev-misissuance"], True),
    ([], ["crl-failure"], True),
]


def test_live_record_figures(url: str, taxonomy: Taxonomy) -> None:
    # An older, perfect score falls out of a window of 4.
    _scores(url, "v1", [(["crl-failure"], ["crl-failure"], False)], start=T0 - timedelta(days=30))
    _scores(url, "v1", HAND_MADE)
    _scores(url, "v2", [(["ocsp-failure"], ["ocsp-failure"], False)])
    with session_scope(url) as session:
        rec = live_record(session=session, model_version="v1", taxonomy=taxonomy, last_n=4)
        wide = live_record(session=session, model_version="v1", taxonomy=taxonomy, last_n=100)
        none = live_record(session=session, model_version="v9", taxonomy=taxonomy, last_n=100)
    assert (rec.scored, rec.scored_in_all, rec.window) == (4, 5, 4)
    # Categories: 2 right of 4 given and 4 true.
    assert (rec.category_micro_precision, rec.category_micro_recall, rec.category_micro_f1) == (0.5, 0.5, 0.5)
    assert rec.tag_micro_f1 == 0.5
    # Not sent to review: incidents 1 and 2, one of their two categories right.
    assert (rec.not_sent_to_review, rec.auto_precision) == (2, 0.5)
    ocsp, crl = rec.categories["OCSP Failures"], rec.categories["CRL Failures"]
    assert (ocsp.precision, ocsp.recall, ocsp.support, ocsp.predicted, ocsp.correct) == (1.0, 0.5, 2, 1, 1)
    assert (crl.precision, crl.recall, crl.support, crl.predicted) == (0.0, 0.0, 1, 1)
    assert rec.categories["EV Misissuance"].recall == 1.0
    leaf = rec.tags["leaf-revocation-delay"]
    assert (leaf.precision, leaf.support, leaf.predicted) == (0.0, 0, 1)
    assert set(rec.categories) == set(taxonomy.categories)
    assert (rec.first_scored_at, rec.last_scored_at) == (T0, T0 + timedelta(hours=3))
    # The older perfect score lifts the wider window.
    assert wide.scored == 5 and wide.category_micro_f1 == round(2 * (3 / 5) * (3 / 5) / (6 / 5), 4)
    assert (none.scored, none.category_micro_f1, none.auto_precision) == (0, None, None)
    assert live_summary(rec, {}, margin=0.1)["alarm"] is None


def test_live_alarm(url: str, taxonomy: Taxonomy) -> None:
    card = {"metrics": {"contenders": {"model": {"category_micro_f1": 0.8}}}}
    _scores(url, "v1", HAND_MADE * 5)  # 20 scored, micro-F1 0.5
    _scores(url, "v2", (HAND_MADE * 5)[:LIVE_MIN_SCORED - 1])
    with session_scope(url) as session:
        v1 = live_record(session=session, model_version="v1", taxonomy=taxonomy, last_n=100)
        v2 = live_record(session=session, model_version="v2", taxonomy=taxonomy, last_n=100)
    assert v1.scored == LIVE_MIN_SCORED and v1.category_micro_f1 == 0.5
    alarm = live_alarm(v1, card, margin=0.1)
    assert alarm is not None and "0.500" in alarm and "0.800" in alarm and "v1" in alarm
    assert live_alarm(v1, card, margin=0.3) is None  # 0.5 is not below 0.8 - 0.3 by more
    assert live_alarm(v2, card, margin=0.1) is None  # 19 scored: too few to say
    assert live_alarm(v1, {"metrics": {}}, margin=0.1) is None  # no held-out figure
    summary = live_summary(v1, card, margin=0.1)
    assert summary["alarm"] == alarm and summary["held_out_category_micro_f1"] == 0.8
    assert summary["first_scored_at"] == T0.isoformat()


def test_migration_sets_tag_time_of_tagged_incidents(database_url: str) -> None:
    """Incidents tagged before 0004 get their synced_at as the time their tags were known."""
    upgrade(database_url, "0003")
    engine = get_engine(database_url)
    with engine.begin() as conn:
        for bug_id, kind in ((1, "type"), (2, "meta")):
            conn.execute(text("INSERT INTO incidents (id, summary, description, ca_name, whiteboard, "
                              "synced_at) VALUES (:id, 's', '', '', '', :at)"),
                         {"id": bug_id, "at": T0.isoformat() if "sqlite" in database_url else T0})
            conn.execute(text("INSERT INTO incident_tags (incident_id, tag, kind) VALUES (:id, 't', :kind)"),
                         {"id": bug_id, "kind": kind})
    upgrade(database_url)
    with session_scope(database_url) as session:
        known = {i: at for i, at in session.execute(select(IncidentRow.id, IncidentRow.tags_known_at))}
    assert known == {1: T0, 2: None}


def test_scores_go_with_their_incident(url: str, taxonomy: Taxonomy) -> None:
    upsert(url, taxonomy, (7, ""))
    predict(url, 7, "v1", ["ocsp-failure"], at=T0)
    upsert(url, taxonomy, (7, "[ocsp-failure]"))
    with session_scope(url) as session:
        session.delete(session.get(IncidentRow, 7))
    with session_scope(url) as session:
        assert session.scalars(select(LiveScoreRow)).all() == []
        assert session.scalars(select(PredictionRow)).all() == []
