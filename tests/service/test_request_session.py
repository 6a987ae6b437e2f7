"""Sessions of a request: a maintainer route shares one with its auth; the token's use is
committed before the route runs; classifying stores on the batcher's session, which retries
after a concurrent insert."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from classifier import WhiteboardTags
from core.bugzilla import BugRecord
from core.db import session_scope
from core.store import upsert_bugs
from core.tables import ApiTokenRow, IncidentRow, PredictionRow
from service import batching
from tests.fixtures import new_bug

BUG_ID = 1_900_077


def _token_used(url: str) -> bool:
    with session_scope(url) as session:
        return session.scalar(select(ApiTokenRow.last_used_at)) is not None


def test_maintainer_auth_and_route_share_one_session(make_client, maintainer, fixture_bugs,
                                                     opened):
    client = make_client()
    correction = client.post("/corrections", headers=maintainer,
                             json={"bug_id": fixture_bugs[0]["id"], "tags": []})
    assert correction.status_code == 201
    assert len(opened) == 1


def test_classify_opens_a_session_to_store_and_one_to_check_a_token(
        make_client, models_dir, maintainer, settings, opened):
    """A read checks a token on a session of its own, only when there is a token to check; the
    classification is stored on the batcher's (shared by the requests classified together).
    Only a token holder's bug is stored: an anonymous request, open reads or not, opens none."""
    client = make_client(require_token_for_reads=True)
    response = client.post("/classify", json=new_bug(BUG_ID), headers=maintainer)
    assert response.status_code == 200 and response.json()["stored"] is True
    assert len(opened) == 2
    assert _token_used(settings.database_url)
    opened.clear()
    open_client = make_client()
    stored = open_client.post("/classify", json=new_bug(BUG_ID), headers=maintainer)
    assert stored.status_code == 200 and stored.json()["stored"] is True
    assert len(opened) == 2  # storing needs a token, checked on a session of its own
    opened.clear()
    anonymous = open_client.post("/classify", json=new_bug(BUG_ID))  # no token: not stored
    assert anonymous.status_code == 200 and anonymous.json()["stored"] is False
    assert opened == []
    assert open_client.post("/classify", json=new_bug()).status_code == 200  # no id: not stored
    assert opened == []


def test_routes_that_need_no_store_work_without_one(make_client, models_dir):
    """The request's session reaches the store at its first query only: reading the models
    and classifying a bug that is not to be stored (without an id, or sent without a token)
    work while the store is down; storing one (its token checked there first) does not."""
    client = make_client(database_url="postgresql+psycopg://postgres@127.0.0.1:1/none"
                                      "?connect_timeout=2")
    assert client.get("/models").status_code == 200
    assert client.post("/classify", json=new_bug()).status_code == 200
    anonymous = client.post("/classify", json=new_bug(BUG_ID))
    assert anonymous.status_code == 200 and anonymous.json()["stored"] is False
    assert client.post("/classify", json=new_bug(BUG_ID),
                       headers={"Authorization": "Bearer inc_looked-up-in-the-store"}
                       ).status_code == 503


@pytest.mark.parametrize(("path", "body"), [
    pytest.param("/models/retrain", {"force": True, "tolerance": 1}, id="invalid body"),
    pytest.param("/corrections", {"bug_id": BUG_ID, "tags": []}, id="refused by the route"),
])
def test_token_use_committed_when_the_request_fails(client, settings, maintainer, path, body):
    response = client.post(path, json=body, headers=maintainer)
    assert response.status_code == 422
    assert _token_used(settings.database_url)


def test_classify_retries_after_a_concurrent_insert(make_client, models_dir, maintainer, settings,
                                                 monkeypatch: pytest.MonkeyPatch):
    """Another writer stores the same new bug between our read and our write: the insert
    fails, the session rolls back, reads again and updates the bug instead."""
    reads: list[list[int]] = []
    real = batching.stored_records

    def store_it_first(*_args: object) -> None:
        with session_scope(settings.database_url) as other:
            upsert_bugs(session=other, records=[BugRecord(
                id=BUG_ID, summary="Other: stored first", description="", whiteboard="",
                tags=WhiteboardTags())])

    def racing(*, session: Session, ids: list[int]) -> dict[int, BugRecord]:
        found = real(session=session, ids=ids)
        reads.append(sorted(found))
        if len(reads) == 1:  # the other request writes just before our first write
            event.listen(session, "before_flush", store_it_first, once=True)
        return found

    monkeypatch.setattr(batching, "stored_records", racing)
    client = make_client(require_token_for_reads=True)
    response = client.post("/classify", json=new_bug(BUG_ID), headers=maintainer)
    assert response.status_code == 200 and response.json()["stored"] is True
    assert reads == [[], [BUG_ID]]
    with session_scope(settings.database_url) as session:
        row = session.get(IncidentRow, BUG_ID)
        assert row.summary == new_bug()["summary"]
        assert len(session.scalars(select(PredictionRow).where(
            PredictionRow.incident_id == BUG_ID)).all()) == 1
    assert _token_used(settings.database_url)  # committed by auth, not undone by the rollback
