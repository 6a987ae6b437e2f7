"""Limits answered with a 4xx naming the field, errors that name no server path, a body that is
not JSON told so, and a slow client cut off by `incidents serve`."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.config import MAX_BATCH, MAX_OFFSET
from tests.fixtures import first_ready, incidents_serve, new_bug


@pytest.mark.parametrize("route", ["/corrections", "/review", "/models/decisions"])
def test_list_offset_too_large(client: TestClient, route: str):
    # The 500: an offset beyond the store's integers reached the database.
    response = client.get(route, params={"offset": 1702430891987688751104})
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"] == ["query", "offset"] and str(MAX_OFFSET) in error["msg"]
    assert client.get(route, params={"offset": MAX_OFFSET}).status_code == 200


def test_read_model_unknown_version_names_no_path(client: TestClient, models_dir: Path):
    response = client.get("/models/v99")
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "v99" in detail and "the models folder" in detail
    assert str(models_dir) not in response.text and "/tmp" not in response.text


def test_changed_artefact_names_no_path(make_client, models_dir: Path):
    active = (models_dir / "ACTIVE").read_text().strip()
    artefact = next(p for p in (models_dir / active).iterdir() if p.suffix == ".skops")
    artefact.write_bytes(artefact.read_bytes() + b"changed")
    client = make_client()
    response = client.post("/classify", json=new_bug(1900001))
    ready = client.get("/ready")
    assert response.status_code == 503 and ready.status_code == 503
    assert active in response.json()["detail"]
    for answer in (response, ready):
        assert str(models_dir) not in answer.text and "/tmp" not in answer.text, answer.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-yaml", None,
                                          "application/x-www-form-urlencoded"])
def test_classify_incident_body_not_sent_as_json(client: TestClient, content_type: str | None):
    """The last is what `curl -d` sends without a header: FastAPI reads the body as bytes."""
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/classify", content=json.dumps(new_bug(1900001)), headers=headers)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"] and "application/json" in error["msg"]
    assert error["msg"].endswith(f"(it came as {content_type or 'no content type'!r})")


def test_create_correction_body_not_sent_as_json(client: TestClient, maintainer: dict[str, str]):
    response = client.post("/corrections", content=b'{"bug_id": 1500001, "tags": []}',
                           headers={**maintainer, "content-type": "text/plain"})
    assert response.status_code == 422
    assert "application/json" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(("route", "body", "why"), [
    ("/classify", b'{"summary": "caf\xe9"}', "it is not UTF-8 text"),
    ("/classify", b"[" * 100_000 + b"]" * 100_000, "it nests too deeply"),
    ("/corrections", b'{"bug_id": 1500001, "note": "\xff"}', "it is not UTF-8 text"),
    ("/classify", b'{"id": ' + b"9" * 5000 + b', "summary": "x"}',
     "a number in it has more than 4300 digits"),  # it said "ValueError"
])
def test_body_that_cannot_be_parsed(client: TestClient, maintainer: dict[str, str], route: str,
                                    body: bytes, why: str):
    """FastAPI answers such a body 400 "There was an error parsing the body", with no field and
    no reason; it is a 422 at the body saying why, as a malformed one is."""
    response = client.post(route, content=body,
                           headers={**maintainer, "content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == [{"type": "json_invalid", "loc": ["body"],
                                          "msg": f"the body cannot be read as JSON: {why}"}]


@pytest.mark.parametrize("summary", ["\u001c", " \u001f\t"])
def test_blank_summary_named_at_its_place(client: TestClient, maintainer: dict[str, str],
                                          summary: str):
    """A summary of separators only (which the schema's stripping keeps) is refused where it is
    in the body, not at a ``body.summary`` the batch does not have; nothing is stored."""
    batch = {"bugs": [new_bug(1900001), {**new_bug(1900002), "summary": summary}]}
    response = client.post("/classify/batch", json=batch, headers=maintainer)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "bugs", 1, "summary"] and "blank" in error["msg"]
    assert client.get("/incidents/1900001").status_code == 404


def test_batch_over_the_most_any_setting_allows_is_refused_before_its_bugs_are_read(
        client: TestClient):
    """The count is checked before any bug is validated (so the bugs' own errors, here a
    missing summary, are not reported): a body of many small bugs no longer holds the event
    loop while each is validated only to be refused."""
    response = client.post("/classify/batch", json={"bugs": [{"id": 1}] * (MAX_BATCH + 1)})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "bugs"]
    # Not "at most 10000" where the setting is 100 (the route's own check says 100).
    assert error["msg"] == (f"at most INCIDENTS_MAX_BATCH bugs a batch (never more than "
                            f"{MAX_BATCH}), got {MAX_BATCH + 1}")
    assert len(response.content) < 2_000


def test_other_http_errors_keep_their_answer(client: TestClient):
    response = client.get("/no-such-route")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
    assert client.post("/corrections", json={}).status_code == 401  # no token: still 401


def _closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closes ``sock`` (reading only what it sends), failing after ``seconds``."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for more than {seconds} s")
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def _trickled_until_closed(sock: socket.socket, seconds: float) -> float:
    """Send a request line a byte every 0.1 s, never ending it; seconds until the server closes."""
    started = time.monotonic()
    try:
        for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000:
            sock.sendall(bytes([byte]))
            time.sleep(0.1)
            if time.monotonic() - started > seconds:
                pytest.fail(f"the server kept a trickling client for more than {seconds} s")
    except (BrokenPipeError, ConnectionResetError):
        return time.monotonic() - started
    pytest.fail("the server read the whole trickle")


def test_incidents_serve_closes_slow_clients(tmp_path: Path, trained_models: Path):
    with incidents_serve(tmp_path, trained_models,
                         env={"INCIDENTS_REQUEST_READ_TIMEOUT": "1"}) as (process, url, log):
        assert first_ready(process, url, log).status_code == 200
        port = int(url.rsplit(":", 1)[1])
        opened = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        try:
            silent, headers_never_end, body_never_ends, trickle = opened
            headers_never_end.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            body_never_ends.sendall(b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                                    b"\r\nContent-Length: 1000\r\n\r\n{\"summary\": ")
            assert _trickled_until_closed(trickle, 4) < 4
            for sock in (silent, headers_never_end, body_never_ends):
                assert _closed_within(sock, 4) < 4
        finally:
            for sock in opened:
                sock.close()
        # A prompt client is still served: the deadline is for reading a request, not answering it.
        with socket.create_connection(("127.0.0.1", port)) as prompt:
            prompt.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert prompt.recv(4096).startswith(b"HTTP/1.1 200")
        assert process.poll() is None
        assert "its request was not in within 1.0 s" in log.read_text()
