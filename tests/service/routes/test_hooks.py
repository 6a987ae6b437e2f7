"""POST /hooks/bugzilla: Bugzilla's webhook payloads (written from its documented format) posted
to the app and to a real `incidents serve`; its secret, its answers, what it stores and not."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from core.db import session_scope
from core.tables import CorrectionRow, IncidentRow
from service.config import ServiceSettings
from tests.fixtures import (
    API_KEY,
    WEBHOOK_SECRET,
    first_ready,
    incidents_serve,
    new_bug,
    stored_bug,
    webhook_bug,
    webhook_comment,
    webhook_payload,
)
from tests.standin import BugzillaStandIn

BUG = 1_900_001
REPORT = "Our OCSP responder answered 'unknown' for valid certificates for 6 hours."
AUTH = {"X-Api-Key": WEBHOOK_SECRET}
SECRET = SecretStr(WEBHOOK_SECRET)  # make_client's settings are copied, not validated
WRONG = "not-the-webhook-secret-41"
OCSP = "[ca-compliance] [ocsp-failure]"


def filed(bug_id: int = BUG, *, comment: bool = True, **fields: Any) -> dict[str, Any]:
    """The ``create`` payload of a new bug, with comment 0 unless told otherwise."""
    return webhook_payload(webhook_bug(bug_id, **fields), action="create",
                           comment=webhook_comment(0, REPORT) if comment else None)


def whiteboard(at: str, before: str, after: str, bug_id: int = BUG, **fields: Any) -> dict[str, Any]:
    """A ``modify`` of the whiteboard, the bug as Bugzilla has it then."""
    return webhook_payload(webhook_bug(bug_id, whiteboard=after, last_change_time=at, **fields),
                           at=at, changes=[("whiteboard", before, after)])


def stored(url: str, bug_id: int = BUG) -> dict[str, Any]:
    return stored_bug(url, bug_id)


def incident_count(url: str) -> int:
    with session_scope(url) as session:
        return int(session.scalar(select(func.count()).select_from(IncidentRow)))


@pytest.fixture
def hooks(make_client: Callable[..., TestClient], models_dir: Path) -> TestClient:
    """The app with the webhook's secret set and the small trained model active."""
    return make_client(webhook_secret=SECRET)


# -- the route, in process ------------------------------------------------------------------------
def test_bugzilla_hook_without_secret_is_not_found(client: TestClient):
    assert client.post("/hooks/bugzilla", json=filed(), headers=AUTH).status_code == 404
    assert client.post("/hooks/bugzilla", content=b"{not json", headers={
        **AUTH, "content-type": "application/json"}).status_code == 404
    assert "/hooks/bugzilla" not in client.get("/openapi.json").json()["paths"]


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="none"),
    pytest.param({"X-Api-Key": WRONG}, id="wrong-key"),
    pytest.param({"X-Api-Key": WEBHOOK_SECRET[:-1]}, id="prefix"),
    pytest.param({"X-Api-Key": WEBHOOK_SECRET + "x"}, id="longer"),
    pytest.param({"X-Api-Key": ""}, id="empty-key"),
    pytest.param({"X-Api-Key": "sécret-ünicode-header-value".encode()}, id="not-ascii"),
    pytest.param({"Authorization": _basic("bugzilla", WRONG)}, id="wrong-basic"),
    pytest.param({"Authorization": "Basic %%%not-base64"}, id="broken-basic"),
    pytest.param({"Authorization": f"Bearer {WEBHOOK_SECRET}"}, id="bearer"),
    pytest.param({"X-Api-Key": WRONG, "Authorization": _basic("bugzilla", WEBHOOK_SECRET)},
                 id="wrong-key-right-basic"),
])
def test_bugzilla_hook_refuses_bad_secret(hooks: TestClient, settings, headers):
    response = hooks.post("/hooks/bugzilla", json=filed(), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    # Ours, also for a basic header that does not decode (FastAPI's "Not authenticated").
    assert response.json()["detail"].startswith("this route needs the webhook's secret")
    assert WEBHOOK_SECRET not in response.text and WRONG not in response.text
    assert incident_count(settings.database_url) == 0


def test_bugzilla_hook_bad_secret_comes_before_a_bad_payload(hooks: TestClient):
    assert hooks.post("/hooks/bugzilla", json={"bug": {"id": "x"}}).status_code == 401


@pytest.mark.parametrize("headers", [
    pytest.param(AUTH, id="x-api-key"),
    pytest.param({"x-api-key": WEBHOOK_SECRET}, id="x-api-key-lower-case"),
    pytest.param({"Authorization": _basic("bugzilla", WEBHOOK_SECRET)}, id="basic"),
])
def test_bugzilla_hook_accepts_the_secret(hooks: TestClient, settings, headers):
    response = hooks.post("/hooks/bugzilla", json=filed(), headers=headers)
    assert response.status_code == 200, response.text
    assert stored(settings.database_url)["incident"]["description"] == REPORT


def test_bugzilla_hook_create_answers_as_classify(hooks: TestClient):
    """The answer of a create is POST /classify's for the same bug, field for field."""
    answer = hooks.post("/hooks/bugzilla", json=filed(), headers=AUTH)
    assert answer.status_code == 200
    same = hooks.post("/classify", json=new_bug(
        summary=webhook_bug(BUG)["summary"], description=REPORT,
        creator_domain="nimbustrust.example", creation_time=None, status=None, resolution=None))
    assert set(answer.json()) == set(same.json())
    assert answer.json() == {**same.json(), "id": BUG, "stored": True}
    incident = hooks.get(f"/incidents/{BUG}").json()
    assert incident["description"] == REPORT
    assert incident["creator"] is None and incident["creator_domain"] == "nimbustrust.example"
    assert [p["tags"] for p in incident["predictions"]] == [answer.json()["tags"]]
    assert incident["last_event_time"] == "2025-03-04T10:00:00Z"
    assert "/hooks/bugzilla" in hooks.get("/openapi.json").json()["paths"]


def _without(data: dict[str, Any], *path: str) -> dict[str, Any]:
    *parents, last = path
    node = data
    for key in parents:
        node = node[key]
    del node[last]
    return data


def _whiteboard_tag_too_long() -> dict[str, Any]:
    return filed(whiteboard="[" + "x" * 200 + "]")


@pytest.mark.parametrize(("body", "loc"), [
    pytest.param(lambda: _without(filed(), "event", "time"), ["body", "event", "time"],
                 id="no-time"),
    pytest.param(lambda: _without(filed(), "event"), ["body", "event"], id="no-event"),
    pytest.param(lambda: _without(filed(), "bug", "id"), ["body", "bug", "id"], id="no-bug-id"),
    pytest.param(lambda: {**filed(), "bug": {**filed()["bug"], "id": "1900001"}},
                 ["body", "bug", "id"], id="bug-id-string"),
    pytest.param(lambda: {**filed(), "event": {**filed()["event"], "time": "last Tuesday"}},
                 ["body", "event", "time"], id="time-not-a-time"),
    pytest.param(lambda: {**filed(), "event": {**filed()["event"], "changes": "whiteboard"}},
                 ["body", "event", "changes"], id="changes-not-a-list"),
    pytest.param(lambda: {**filed(), "bug": {**filed()["bug"], "summary": "x" * 1001}},
                 ["body", "bug", "summary"], id="summary-too-long"),
    pytest.param(lambda: {**filed(), "bug": {**filed()["bug"], "whiteboard": "[a]\x00"}},
                 ["body", "bug", "whiteboard"], id="whiteboard-nul"),
    pytest.param(_whiteboard_tag_too_long, ["body", "bug", "whiteboard"], id="tag-too-long"),
    pytest.param(lambda: _without(filed(), "bug", "summary"), ["body", "bug", "summary"],
                 id="new-bug-without-summary"),
    pytest.param(lambda: _without(filed(), "webhook_id"), ["body", "webhook_id"],
                 id="no-webhook-id"),
    pytest.param(lambda: {**filed(), "bug": {**filed()["bug"], "creator": "a@Évil Domain/<x>"}},
                 ["body", "bug", "creator"], id="creator-domain-not-a-domain"),
    pytest.param(lambda: {**filed(), "bug": {**filed()["bug"], "creation_time": "2030-01-01T00:00:00Z"}},
                 ["body", "bug", "creation_time"], id="filed-in-the-future"),
    pytest.param(lambda: {**filed(), "event": {**filed()["event"], "time": "2999-01-01T00:00:00Z"}},
                 ["body", "event", "time"], id="event-in-the-future"),
    pytest.param(lambda: {**filed(), "bug": {**filed()["bug"], "cf_last_resolved": "2001-01-01T00:00:00Z"}},
                 ["body", "bug", "cf_last_resolved"], id="resolved-before-filed"),
])
def test_bugzilla_hook_bad_payload_names_the_field(hooks: TestClient, settings, body, loc):
    response = hooks.post("/hooks/bugzilla", json=body(), headers=AUTH)
    assert response.status_code == 422, response.text
    assert loc in [error["loc"] for error in response.json()["detail"]]
    assert incident_count(settings.database_url) == 0


def test_bugzilla_hook_not_json(hooks: TestClient, settings):
    response = hooks.post("/hooks/bugzilla", content=b'{"bug": ', headers={
        **AUTH, "content-type": "application/json"})
    assert response.status_code == 422
    assert incident_count(settings.database_url) == 0


def test_bugzilla_hook_body_too_large(make_client, models_dir, settings):
    client = make_client(webhook_secret=SECRET, max_body_bytes=4096)
    payload = filed()
    payload["bug"]["comment"]["body"] = "x" * 5000
    response = client.post("/hooks/bugzilla", json=payload, headers=AUTH)
    assert response.status_code == 413
    assert incident_count(settings.database_url) == 0


@pytest.mark.parametrize(("body", "says"), [
    pytest.param(lambda: filed(product="Firefox", component="General"),
                 "is in Firefox / General, not CA Program / CA Certificate Compliance", id="product"),
    pytest.param(lambda: filed(component="CA Certificate Root Inclusion Request"),
                 "not CA Program / CA Certificate Compliance", id="component"),
    pytest.param(lambda: {**filed(), "bug": {"id": BUG, "is_private": True}},
                 "the bug is private", id="private-bug"),
    pytest.param(lambda: webhook_payload(
        {"id": BUG, "is_private": False, "comment": {"id": 5, "is_private": True}},
        action="create", target="comment"), "the comment is private", id="private-comment"),
    pytest.param(lambda: webhook_payload(webhook_bug(BUG), action="create", target="attachment",
                                         attachment={"id": 9, "is_private": True}),
                 "the attachment is private", id="private-attachment"),
    pytest.param(lambda: webhook_payload(webhook_bug(BUG), action="delete"),
                 "is not one this service takes", id="unknown-action"),
])
def test_bugzilla_hook_ignored_stores_nothing(hooks: TestClient, settings, body, says):
    response = hooks.post("/hooks/bugzilla", json=body(), headers=AUTH)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["status"], answer["bug_id"]) == ("ignored", BUG)
    assert says in answer["reason"]
    assert incident_count(settings.database_url) == 0


def _correction_count(url: str, bug_id: int = BUG) -> int:
    with session_scope(url) as session:
        return int(session.scalar(select(func.count()).select_from(CorrectionRow)
                                  .where(CorrectionRow.incident_id == bug_id)))


def test_bugzilla_hook_bug_made_private_is_removed(hooks: TestClient, settings, correct, maintainer):
    """What the store holds of a bug made private goes, with everything stored of it: it leaves
    the record, the briefing and the store; another stored bug stays."""
    url = settings.database_url
    for bug_id in (BUG, BUG + 1):
        assert hooks.post("/hooks/bugzilla", json=filed(bug_id), headers=AUTH).status_code == 200
    tagged = whiteboard("2025-03-05T09:00:00", "[ca-compliance]", OCSP)
    assert hooks.post("/hooks/bugzilla", json=tagged, headers=AUTH).status_code == 200
    correct(BUG, ["crl-failure"], note="not OCSP")
    before = stored(url)
    assert before["incident"] is not None and before["tags"] and before["predictions"]
    assert hooks.get("/aggregate", params={"start": "2025-03-01", "end": "2025-03-31"}).json()[
        "total"] == 2
    hidden = webhook_payload({"id": BUG, "is_private": True}, at="2025-03-06T10:00:00",
                             changes=[("is_private", "0", "1")])
    response = hooks.post("/hooks/bugzilla", json=hidden, headers=AUTH)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["status"], answer["changed"]) == ("applied", ["removed"])
    assert answer["reason"].startswith(f"bug {BUG} is private now: removed from the store")
    after = stored(url)
    assert after == {"incident": None, "tags": [], "predictions": [], "live": []}
    assert _correction_count(url) == 0
    assert hooks.get(f"/incidents/{BUG}", headers=maintainer).status_code == 404
    assert hooks.get("/aggregate", params={"start": "2025-03-01", "end": "2025-03-31"}).json()[
        "total"] == 1
    assert stored(url, BUG + 1)["incident"] is not None
    # The same event again: nothing left to remove, nothing stored.
    again = hooks.post("/hooks/bugzilla", json=hidden, headers=AUTH)
    assert again.status_code == 202 and "the bug is private" in again.json()["reason"]


@pytest.mark.parametrize("moved", [{"product": "Firefox", "component": "General"},
                                   {"component": "CA Certificate Root Inclusion Request"}])
def test_bugzilla_hook_bug_moved_out_is_removed(hooks: TestClient, settings, maintainer, moved):
    """A stored bug moved to another product or component is no incident any more: removed
    with what is stored of it, and out of the briefing. A payload without its product and
    component moves nothing."""
    url = settings.database_url
    assert hooks.post("/hooks/bugzilla", json=filed(), headers=AUTH).status_code == 200
    partial = {k: v for k, v in webhook_bug(BUG, last_change_time="2025-03-05T10:00:00").items()
               if k not in ("product", "component")}
    kept = hooks.post("/hooks/bugzilla", json=webhook_payload(partial, at="2025-03-05T10:00:00"),
                      headers=AUTH)
    assert kept.status_code == 202 and stored(url)["incident"] is not None
    move = webhook_payload(webhook_bug(BUG, last_change_time="2025-03-06T10:00:00", **moved),
                           at="2025-03-06T10:00:00",
                           changes=[(name, "old", value) for name, value in moved.items()])
    response = hooks.post("/hooks/bugzilla", json=move, headers=AUTH)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["status"], answer["changed"]) == ("applied", ["removed"])
    assert answer["reason"].endswith("not CA Program / CA Certificate Compliance: removed from "
                                     "the store with its tags, predictions, live scores and "
                                     "corrections")
    assert stored(url) == {"incident": None, "tags": [], "predictions": [], "live": []}
    assert hooks.get("/aggregate", params={"start": "2025-03-01", "end": "2025-03-31"}).json()[
        "total"] == 0
    # Moved back: stored and classified again, as a bug new to the store.
    back = webhook_payload(webhook_bug(BUG, last_change_time="2025-03-07T10:00:00"),
                           at="2025-03-07T10:00:00", comment=webhook_comment(0, REPORT))
    assert hooks.post("/hooks/bugzilla", json=back, headers=AUTH).status_code == 200
    assert stored(url)["incident"] is not None


def test_bugzilla_hook_older_private_event_removes_nothing(hooks: TestClient, settings):
    """A bug made private, then public again: the older event, delivered late, is stale."""
    assert hooks.post("/hooks/bugzilla", json=filed(), headers=AUTH).status_code == 200
    public = webhook_payload(webhook_bug(BUG, last_change_time="2025-03-08T10:00:00"),
                             at="2025-03-08T10:00:00", changes=[("is_private", "1", "0")])
    assert hooks.post("/hooks/bugzilla", json=public, headers=AUTH).status_code == 200
    late = webhook_payload({"id": BUG, "is_private": True}, at="2025-03-06T10:00:00")
    response = hooks.post("/hooks/bugzilla", json=late, headers=AUTH)
    assert response.status_code == 202 and "is older than what the store holds" in response.json()["reason"]
    assert stored(settings.database_url)["incident"] is not None


def test_bugzilla_hook_comment_zero_made_private_blanks_the_description(hooks: TestClient, settings):
    """Comment 0 made private: the stored description goes and the bug is classified again on
    its summary alone."""
    url = settings.database_url
    assert hooks.post("/hooks/bugzilla", json=filed(), headers=AUTH).status_code == 200
    before = stored(url)
    assert before["incident"]["description"] == REPORT
    hidden = webhook_payload(webhook_bug(BUG, last_change_time="2025-03-06T10:00:00"),
                             action="modify", target="comment", at="2025-03-06T10:00:00",
                             comment=webhook_comment(0, REPORT, is_private=True))
    response = hooks.post("/hooks/bugzilla", json=hidden, headers=AUTH)
    assert response.status_code == 200, response.text
    after = stored(url)
    assert after["incident"]["description"] == ""
    assert len(after["predictions"]) == 1 and after["predictions"][0][5] > before["predictions"][0][5]
    assert REPORT not in response.text


def test_bugzilla_hook_bugzilla_failing_is_502(hooks: TestClient, settings):
    """Comment 0 not in the event, and Bugzilla (a closed port here) does not answer."""
    response = hooks.post("/hooks/bugzilla", json=filed(comment=False), headers=AUTH)
    assert response.status_code == 502
    assert f"comment 0 of bug {BUG}" in response.json()["detail"]
    assert incident_count(settings.database_url) == 0


@pytest.mark.parametrize("drop", ["null", "left out"])
def test_bugzilla_hook_comment_zero_without_its_body_is_asked_of_bugzilla(hooks: TestClient,
                                                                        settings, drop: str):
    """A public comment 0 whose body is null is not an empty description (it was stored as
    one): Bugzilla is asked for it, here a closed port, so 502 and nothing stored."""
    body = filed()
    if drop == "null":
        body["bug"]["comment"]["body"] = None
    else:
        del body["bug"]["comment"]["body"]
    response = hooks.post("/hooks/bugzilla", json=body, headers=AUTH)
    assert response.status_code == 502, response.text
    assert f"comment 0 of bug {BUG} is not in the event" in response.json()["detail"]
    assert incident_count(settings.database_url) == 0


def test_bugzilla_hook_without_model(make_client, settings):
    """A new bug cannot be classified: 503 (Bugzilla delivers it again), nothing stored."""
    client = make_client(webhook_secret=SECRET)
    response = client.post("/hooks/bugzilla", json=filed(), headers=AUTH)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert incident_count(settings.database_url) == 0


def test_bugzilla_hook_counts_events(hooks: TestClient):
    hooks.post("/hooks/bugzilla", json=filed(), headers=AUTH)
    hooks.post("/hooks/bugzilla", json=filed(BUG + 1, product="Firefox"), headers=AUTH)
    text = hooks.get("/metrics").text
    assert 'incidents_webhook_events_total{event="create",outcome="applied"} 1.0' in text
    assert 'incidents_webhook_events_total{event="create",outcome="ignored"} 1.0' in text


def test_bugzilla_hook_secret_never_logged(hooks: TestClient, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    answers = [
        hooks.post("/hooks/bugzilla", json=filed(), headers=AUTH),
        hooks.post("/hooks/bugzilla", json=filed(), headers={"X-Api-Key": WRONG}),
        hooks.post("/hooks/bugzilla", json=filed(),
                   headers={"Authorization": _basic("bugzilla", WEBHOOK_SECRET)}),
        hooks.post("/hooks/bugzilla", json={"bug": 1}, headers=AUTH),
    ]
    assert [a.status_code for a in answers] == [200, 401, 200, 422]
    assert "webhook incident-classifier (23): create event" in caplog.text
    for text in [caplog.text, *(a.text for a in answers)]:
        assert WEBHOOK_SECRET not in text and WRONG not in text


def test_webhook_secret_setting_hides_its_value():
    with pytest.raises(ValueError) as caught:
        ServiceSettings(webhook_secret="short-secret")
    assert "16 to 64 characters" in str(caught.value)
    assert "short-secret" not in str(caught.value)
    assert ServiceSettings(webhook_secret="   ").webhook_secret is None
    assert "x" * 20 not in repr(ServiceSettings(webhook_secret="x" * 20))


# -- a real `incidents serve` ---------------------------------------------------------------------
@contextmanager
def serving_hooks(tmp_path: Path, trained_models: Path, database_url: str,
                  **env: str) -> Iterator[tuple[httpx2.Client, Path]]:
    """`incidents serve` with the webhook's secret, ready; an HTTP client on it and its log."""
    environment = {"INCIDENTS_WEBHOOK_SECRET": WEBHOOK_SECRET, "NO_PROXY": "127.0.0.1,localhost",
                   **env}
    with incidents_serve(tmp_path, trained_models, database_url=database_url,
                         env=environment) as (process, url, log):
        assert first_ready(process, url, log).status_code == 200, log.read_text()
        with httpx2.Client(base_url=url, timeout=30, headers=AUTH) as http:
            yield http, log


def test_bugzilla_hook_over_incidents_serve(tmp_path: Path, trained_models: Path,
                                            database_url: str):
    """A bug's life through the webhook of a real server: filed, tagged, delivered again and
    out of order, commented, renamed; other products, private bugs and bad secrets stored not."""
    with serving_hooks(tmp_path, trained_models, database_url) as (http, log):
        def post(payload: dict[str, Any], **options: Any) -> httpx2.Response:
            return http.post("/hooks/bugzilla", json=payload, **options)

        # Filed: stored and classified, answered as POST /classify would.
        created = post(filed())
        assert created.status_code == 200, created.text
        predicted = created.json()
        assert (predicted["id"], predicted["stored"], predicted["model_version"]) == (BUG, True, "v1")
        assert predicted["tags"] and set(predicted) >= {"categories", "scores", "explanation"}
        after_create = stored(database_url)
        assert after_create["incident"]["description"] == REPORT
        assert [p[:2] for p in after_create["predictions"]] == [("v1", predicted["tags"])]

        # The same delivery again: the same answer, the same state.
        assert post(filed()).json() == predicted
        assert stored(database_url) == after_create

        # Tagged by a maintainer: the type tags arrive and score the earlier prediction.
        tagged = post(whiteboard("2025-03-05T09:00:00", "[ca-compliance]", OCSP))
        assert tagged.status_code == 200, tagged.text
        assert tagged.json()["status"] == "applied" and "whiteboard" in tagged.json()["changed"]
        incident = http.get(f"/incidents/{BUG}").json()
        assert incident["bugzilla_tags"] == ["ocsp-failure"]
        live = http.get("/models/v1").json()["live"]
        assert live["scored"] == 1
        after_tags = stored(database_url)
        assert [s[:3] for s in after_tags["live"]] == [("v1", predicted["tags"], ["ocsp-failure"])]

        # Delivered again, and an older change delivered late: nothing moves.
        assert post(whiteboard("2025-03-05T09:00:00", "[ca-compliance]", OCSP)).status_code == 200
        late = post(whiteboard("2025-03-04T12:00:00", "[ca-compliance]",
                               "[ca-compliance] [crl-failure]",
                               summary="Nimbus Trust: CRL expired"))
        assert late.status_code == 202
        assert late.json()["status"] == "ignored" and "older" in late.json()["reason"]
        assert stored(database_url) == after_tags

        # A comment: the time of the last change moves, nothing is re-classified.
        commented = post(webhook_payload(
            webhook_bug(BUG, whiteboard=OCSP, last_change_time="2025-03-06T08:00:00"),
            action="create", target="comment", at="2025-03-06T08:00:00",
            comment=webhook_comment(2, "Update: root cause found.", at="2025-03-06T08:00:00")))
        assert commented.status_code == 200 and commented.json()["event"] == "comment"
        after_comment = stored(database_url)
        assert after_comment["predictions"] == after_tags["predictions"]
        assert http.get(f"/incidents/{BUG}").json()["last_change_time"] == "2025-03-06T08:00:00Z"

        # Renamed: re-classified, answered as POST /classify.
        renamed = post(webhook_payload(
            webhook_bug(BUG, whiteboard=OCSP, summary="Nimbus Trust: CRL expired and was not "
                        "refreshed", last_change_time="2025-03-07T08:00:00"),
            at="2025-03-07T08:00:00",
            changes=[("summary", webhook_bug(BUG)["summary"],
                      "Nimbus Trust: CRL expired and was not refreshed")]))
        assert renamed.status_code == 200 and renamed.json()["stored"] is True
        (version, tags, *_, made), = stored(database_url)["predictions"]
        assert (version, tags) == ("v1", renamed.json()["tags"])
        assert made > after_comment["predictions"][0][5]

        # Another product, a private bug, a bad secret: nothing stored.
        other = post(filed(BUG + 1, product="Firefox", component="General"))
        assert other.status_code == 202 and "Firefox / General" in other.json()["reason"]
        private = post({**filed(BUG + 2), "bug": {"id": BUG + 2, "is_private": True}})
        assert private.status_code == 202 and "private" in private.json()["reason"]
        assert post(filed(BUG + 3), headers={"X-Api-Key": WRONG}).status_code == 401
        assert post(filed(BUG + 3), headers={"X-Api-Key": ""}).status_code == 401
        for bug_id in (BUG + 1, BUG + 2, BUG + 3):
            assert http.get(f"/incidents/{bug_id}").status_code == 404
    text = log.read_text()
    assert "POST /hooks/bugzilla 200" in text and "POST /hooks/bugzilla 401" in text
    assert WEBHOOK_SECRET not in text and WRONG not in text
    assert incident_count(database_url) == 1


def test_bugzilla_hook_fetches_comment_zero_over_incidents_serve(
        tmp_path: Path, trained_models: Path, database_url: str, standin: BugzillaStandIn):
    """A create without comment 0: the server asks the Bugzilla stand-in with the sync's client
    (its API key, its retries, at most two tries: the delivery waits); when Bugzilla keeps
    failing, 502 and nothing stored."""
    standin.api_key = API_KEY
    standin.file({**webhook_bug(BUG), "creation_time": "2025-03-04T10:00:00Z"}, REPORT)
    standin.fail(f"comment@{BUG}", "500", times=1)  # one retry
    env = {"INCIDENTS_BUGZILLA_URL": standin.url, "INCIDENTS_BUGZILLA_API_KEY": API_KEY,
           "INCIDENTS_BUGZILLA_MAX_ATTEMPTS": "3", "INCIDENTS_BUGZILLA_BACKOFF": "0.01",
           "INCIDENTS_BUGZILLA_TIMEOUT": "5"}
    with serving_hooks(tmp_path, trained_models, database_url, **env) as (http, log):
        created = http.post("/hooks/bugzilla", json=filed(comment=False))
        assert created.status_code == 200, created.text
        assert created.json()["stored"] is True
        assert [r.comment_bug for r in standin.requests] == [BUG, BUG]
        assert all(r.headers.get("X-BUGZILLA-API-KEY") == API_KEY for r in standin.requests)
        assert stored(database_url)["incident"]["description"] == REPORT

        standin.file({**webhook_bug(BUG + 1), "creation_time": "2025-03-04T10:00:00Z"}, REPORT)
        standin.fail(f"comment@{BUG + 1}", "500", times=None)
        standin.clear_log()
        failed = http.post("/hooks/bugzilla", json=filed(BUG + 1, comment=False))
        assert failed.status_code == 502
        assert "failed 2 times" in failed.json()["detail"]
        assert len(standin.requests) == 2  # the settings allow 3: the webhook's budget is 2
        assert stored(database_url, BUG + 1)["incident"] is None
    assert API_KEY not in log.read_text()
