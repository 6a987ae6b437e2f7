"""The review queue is the work left to do: predicted labels flagged for review, of incidents no
human labelled, that are incidents of their own; least sure first, by period and CA, paged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from classifier import Taxonomy
from core.bugzilla import BugRecord
from core.ca_names import CANames
from core.corrections import correct_incident
from core.db import session_scope, upgrade
from core.labels import shown_predictions
from core.review import review_count, review_queue, shown_prediction_ids
from core.store import save_prediction, upsert_bugs
from core.tables import PredictionRow

V1 = "v1"


def _bug(bug_id: int, taxonomy: Taxonomy, *, summary: str = "Acme Trust: CRL expired",
         whiteboard: str = "", resolution: str = "FIXED", filed: str = "2023-03-01T00:00:00Z",
         commented: str = "2023-03-20T00:00:00Z") -> BugRecord:
    return BugRecord.from_rest(
        {"id": bug_id, "summary": summary, "whiteboard": whiteboard, "creation_time": filed,
         "status": "RESOLVED", "resolution": resolution},
        [{"count": 0, "text": "report", "creation_time": filed},
         {"count": 1, "text": "", "creation_time": commented}], taxonomy)


#: bug id -> (record options, predictions as (version, needs_review, confidence)), and why
QUEUE = {
    1: ({}, [(V1, True, 0.30)]),                                   # in
    2: ({}, [(V1, True, 0.10)]),                                   # in, least sure
    3: ({"whiteboard": "[ca-compliance] [crl-failure]"}, [(V1, True, 0.05)]),  # Mozilla tagged it
    4: ({}, [(V1, True, 0.05)]),                                   # corrected below
    5: ({"resolution": "DUPLICATE"}, [(V1, True, 0.05)]),         # not an incident of its own
    6: ({"resolution": "invalid"}, [(V1, True, 0.05)]),
    7: ({}, [(V1, False, 0.20)]),                                  # not flagged
    8: ({}, [("v0", True, 0.04)]),                                 # v1 has not classified it: in, as v0's
    9: ({"summary": "Comodo: CRL expired", "filed": "2019-01-01T00:00:00Z",
         "commented": "2019-02-01T00:00:00Z"}, [(V1, True, 0.50)]),  # in, closed in 2019
    10: ({"summary": "Sectigo: CRL late", "whiteboard": "[ca-compliance]"},
         [(V1, True, 0.40), ("v0", True, 0.01)]),                  # meta tags only: in
    11: ({"summary": "[meta] Acme Trust: tracking bug"}, [(V1, True, 0.01)]),  # tracks others: out
    12: ({}, [("v0", True, 0.01), (V1, False, 0.90)]),            # v1's is shown, not flagged: out
    13: ({}, [("v0", True, 0.01), ("v0b", False, 0.90)]),         # the latest is shown: out
}


@pytest.fixture
def queue_store(database_url: str, taxonomy: Taxonomy) -> str:
    upgrade(database_url)
    with session_scope(database_url) as session:
        upsert_bugs(session=session, records=[_bug(i, taxonomy, **options) for i, (options, _) in QUEUE.items()])
        for bug_id, (_, predictions) in QUEUE.items():
            for version, flagged, confidence in predictions:
                save_prediction(session=session, incident_id=bug_id, model_version=version,
                                tags=["crl-failure"], scores={"crl-failure": confidence, "ocsp-failure": 0.2},
                                needs_review=flagged, confidence=confidence)
        correct_incident(session=session, taxonomy=taxonomy, bug_id=4, tags=["crl-failure"], author="alice")
    return database_url


def ids(url: str, **options) -> list[int]:
    with session_scope(url) as session:
        return [i.incident_id for i in review_queue(session=session, model_version=V1, **options)]


def count(url: str, **options) -> int:
    with session_scope(url) as session:
        return review_count(session=session, model_version=V1, **options)


def test_review_queue_holds_the_work_left(queue_store: str):
    assert ids(queue_store) == [8, 2, 1, 10, 9]
    assert count(queue_store) == 5
    with session_scope(queue_store) as session:
        older, first = review_queue(session=session, model_version=V1, limit=2)
    # The prediction the briefing counts: v1's where it made one (bugs 10 and 12), else the
    # latest (8, 13). It was v1's only, so a promotion emptied the queue until a relabel.
    assert (older.model_version, older.confidence, first.model_version) == ("v0", 0.04, V1)
    assert first.needs_review and first.confidence == 0.10 and first.ca_name == "acme trust"
    assert list(first.top_scores) == ["ocsp-failure", "crl-failure"]
    assert first.creation_time == datetime(2023, 3, 1, tzinfo=UTC)


def test_review_queue_pages_and_counts_the_whole(queue_store: str):
    assert ids(queue_store, limit=2) == [8, 2]
    assert ids(queue_store, limit=2, offset=2) == [1, 10]
    assert ids(queue_store, limit=2, offset=4) == [9]
    assert ids(queue_store, limit=2, offset=6) == []
    assert count(queue_store) == 5  # the total, whatever the page


def test_review_queue_by_period(queue_store: str):
    march = {"start": datetime(2023, 3, 1, tzinfo=UTC), "end": datetime(2023, 3, 31, tzinfo=UTC)}
    assert ids(queue_store, **march) == [8, 2, 1, 10] and count(queue_store, **march) == 4
    assert ids(queue_store, end=datetime(2019, 12, 31, tzinfo=UTC)) == [9]
    assert ids(queue_store, start=datetime(2023, 4, 1, tzinfo=UTC)) == []


def test_review_queue_by_ca_across_aliases(queue_store: str):
    names = CANames.load()
    assert ids(queue_store, ca="Sectigo", ca_names=names) == [10, 9]  # Comodo is Sectigo
    assert count(queue_store, ca="comodo", ca_names=names) == 2
    assert ids(queue_store, ca="Sectigo") == [10]  # without the file, only the name itself
    assert ids(queue_store, ca="ACME TRUST", ca_names=names) == [8, 2, 1]
    assert ids(queue_store, ca="Nobody CA", ca_names=names) == [] and count(queue_store, ca="Nobody CA") == 0


def test_review_queue_excluded_resolutions(queue_store: str):
    assert ids(queue_store, excluded_resolutions=["DUPLICATE"]) == [8, 6, 2, 1, 10, 9]
    assert ids(queue_store, excluded_resolutions=[]) == [8, 5, 6, 2, 1, 10, 9]


@pytest.mark.parametrize("active", [V1, "v0", None])
def test_shown_prediction_ids_pick_what_the_briefing_shows(queue_store: str, active: str | None):
    """The queue's rule in SQL (shown_prediction_ids) and the briefing's in Python
    (core.labels.shown_predictions) are the same rule: the same prediction of each incident."""
    with session_scope(queue_store) as session:
        in_sql = {(p.incident_id, p.model_version) for p in session.scalars(
            select(PredictionRow).where(PredictionRow.id.in_(shown_prediction_ids(active))))}
        in_python = {(bug_id, shown.model_version) for bug_id, shown in shown_predictions(
            session=session, incident_ids=[bug_id for bug_id, _ in in_sql] + list(QUEUE),
            active_version=active).items()}
    assert in_sql == in_python and len(in_sql) == len(QUEUE)
