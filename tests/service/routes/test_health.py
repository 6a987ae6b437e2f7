"""GET /health, /ready and /metrics; request ids and logs; the OpenAPI docs; a fresh store."""

from __future__ import annotations

import logging
import re
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from core.db import get_engine
from core.tables import Base
from service.app import create_app
from service.observability import configure_logging
from tests.fixtures import add_live_scores, new_bug


def test_health(client_without_model: TestClient):
    response = client_without_model.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(("route", "status"), [("/health", 200), ("/ready", 200),
                                                ("/models", 200), ("/aggregate", 422),
                                                ("/incidents/1999999", 404), ("/classify", 405)])
def test_head_answers_as_get_without_a_body(client: TestClient, route: str, status: int):
    """Monitors and `curl -I` send HEAD: the GET answer's status and headers, no body."""
    got = client.get(route)
    response = client.head(route)
    assert (response.status_code, got.status_code) == (status, status)
    assert response.content == b""
    assert response.headers["content-type"] == got.headers["content-type"]
    assert "x-request-id" in response.headers
    if status == 405:
        assert response.headers["allow"] == "POST"


def test_head_counted_on_its_route(client: TestClient):
    client.head("/health")
    assert ('incidents_http_requests_total{method="HEAD",route="/health",status="200"} 1.0'
            in client.get("/metrics").text)


def test_ready(client: TestClient):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "model_version": "v1", "store": "ok",
                               "problems": [], "warnings": []}


def test_ready_without_model(client_without_model: TestClient):
    response = client_without_model.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False and body["store"] == "ok"
    assert body["problems"] == ["no active model: train one with `incidents sync` and `incidents "
                                "train` (the first version becomes active), or activate one with "
                                "`incidents models promote VERSION`"]


def test_ready_store_unreachable(service_settings, models_dir):
    down = service_settings.model_copy(update={
        "database_url": "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"})
    with TestClient(create_app(down)) as client:
        assert client.get("/health").status_code == 200
        response = client.get("/ready")
        assert response.status_code == 503
        assert response.json()["store"] == "unreachable"
        assert "127.0.0.1:1" not in response.text  # no connection details to clients
        assert client.post("/classify", json=new_bug()).status_code == 200  # needs no store
        anonymous = client.post("/classify", json=new_bug(1_900_001))  # not stored: needs none
        assert anonymous.status_code == 200 and anonymous.json()["stored"] is False
        # Storing needs the store, first to check the maintainer's token (any token: it is
        # looked up there).
        stored = client.post("/classify", json=new_bug(1_900_001),
                             headers={"Authorization": "Bearer inc_looked-up-in-the-store"})
        assert stored.status_code == 503
        assert client.get("/aggregate", params={"start": "2019-01-01",
                                                "end": "2019-12-31"}).status_code == 503


def test_ready_store_folder_missing(service_settings, models_dir, tmp_path, caplog):
    """A SQLite store in a folder that does not exist: not ready, saying so; no folder made."""
    missing = tmp_path / "incidnets"
    settings = service_settings.model_copy(update={
        "database_url": f"sqlite:///{missing / 'store.db'}"})
    with caplog.at_level("INFO", logger="service"), TestClient(create_app(settings)) as client:
        # The log says why too, where it said only "starting without a store".
        assert f"store not usable: the SQLite store's folder {missing} does not exist" in caplog.text
        response = client.get("/ready")
        assert response.status_code == 503
        assert response.json()["store"] == "unreachable"
        [problem] = response.json()["problems"]
        assert problem == ("the SQLite store's folder incidnets does not exist; create it, or correct "
                                "INCIDENTS_DATABASE_URL")
        assert str(tmp_path) not in response.text  # no server path to clients
        assert client.get("/aggregate", params={"start": "2019-01-01",
                                                "end": "2019-12-31"}).status_code == 503
    assert not missing.exists()


def test_start_migrates_a_fresh_store(service_settings, models_dir, caplog):
    engine = get_engine(service_settings.database_url)
    assert "incidents" not in inspect(engine).get_table_names()
    with caplog.at_level("INFO", logger="service.store"):
        with TestClient(create_app(service_settings)) as client:
            assert client.get("/ready").status_code == 200
        assert {"incidents", "incident_tags", "predictions"} <= set(
            inspect(engine).get_table_names())
        [created] = [r.getMessage() for r in caplog.records if r.name == "service.store"]
        assert created.startswith("store created at migration ")
        caplog.clear()
        # Every worker of every later start logged "store migrated" though nothing was.
        with TestClient(create_app(service_settings)):
            pass
        [current] = [r.getMessage() for r in caplog.records if r.name == "service.store"]
        assert current == created.replace("created at migration", "is up to date (migration") + ")"


def test_store_that_lost_its_tables_is_migrated_again(client: TestClient, service_settings):
    """A database dropped and made again empty (restored from a dump later) answered 500 on
    every call, "relation api_tokens does not exist", until the service was restarted."""
    engine = get_engine(service_settings.database_url)
    with engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE alembic_version"))
    period = {"start": "2019-01-01", "end": "2019-12-31"}
    lost = client.get("/aggregate", params=period)
    assert lost.status_code == 503
    assert lost.json()["detail"] == "the store has lost its tables; they are made again at the next call"
    again = client.get("/aggregate", params=period)
    assert again.status_code == 200 and again.json()["total"] == 0
    assert client.get("/ready").status_code == 200
    assert {"incidents", "predictions"} <= set(inspect(engine).get_table_names())


def test_request_id_echoed(client: TestClient):
    response = client.get("/health", headers={"X-Request-ID": "briefing-42"})
    assert response.headers["X-Request-ID"] == "briefing-42"


def test_request_id_made_when_absent_or_unsafe(client: TestClient):
    made = client.get("/health").headers["X-Request-ID"]
    unsafe = client.get("/health", headers={"X-Request-ID": "x\" onload=\"" + "y" * 300})
    assert len(made) == 32 and made != unsafe.headers["X-Request-ID"]
    assert len(unsafe.headers["X-Request-ID"]) == 32


def test_request_id_on_errors(client: TestClient):
    response = client.post("/classify", content=b"{", headers={
        "content-type": "application/json", "X-Request-ID": "bad-json-1"})
    assert response.status_code == 422
    assert response.headers["X-Request-ID"] == "bad-json-1"


def test_request_logged_with_request_id(client: TestClient, caplog):
    with caplog.at_level(logging.INFO, logger="service.access"):
        client.post("/classify", json=new_bug(), headers={"X-Request-ID": "log-me-7"})
    records = [r for r in caplog.records if r.name == "service.access"]
    assert any(r.request_id == "log-me-7" and "POST /classify 200" in r.getMessage()
               for r in records)


def test_request_path_cannot_forge_a_log_line(client: TestClient, caplog):
    """The path is logged decoded: a %0a in it ended the line and began a made-up one."""
    with caplog.at_level(logging.INFO, logger="service.access"):
        client.get("/nothing%0a2026-12-07%2011:00:00,000%20ERROR%20fake%E2%80%A8x")
    [line] = [r.getMessage() for r in caplog.records if r.name == "service.access"]
    assert line.startswith("GET /nothing\\n2026-12-07 11:00:00,000 ERROR fake\\u2028x 404 ")
    assert "\n" not in line and "\u2028" not in line


def test_no_logged_value_can_forge_a_line() -> None:
    """A webhook's name (its sender's to choose) was logged raw: a security review wrote a
    made-up "bug 1 corrected from the page by mallory" line into the service log."""
    configure_logging("INFO")
    [handler] = [h for h in logging.getLogger("service").handlers if type(h).__name__ == "_StderrHandler"]
    forged = "x\n2026-12-07 22:40:00,000 INFO service.ui [-] bug 1 corrected by mallory"

    def record(exc_info=None) -> logging.LogRecord:
        made = logging.LogRecord("service.hooks", logging.INFO, __file__, 1, "webhook %s (%d): ok",
                                 (forged, 7), exc_info)
        made.request_id = "-"
        return made

    line = handler.format(record())
    assert "\n" not in line and "x\\n2026-12-07 22:40:00,000 INFO service.ui" in line
    try:
        raise ValueError("boom")
    except ValueError:
        with_traceback = handler.format(record(sys.exc_info()))
    assert with_traceback.count("\n") >= 3 and with_traceback.endswith("ValueError: boom")


def test_made_up_methods_are_counted_as_one(client: TestClient):
    """Each made-up method was a series of its own on /metrics for the life of the process."""
    for method in ("FOO1", "FOO2", "BREW"):
        assert client.request(method, "/health").status_code == 405
    text = client.get("/metrics").text
    assert 'incidents_http_requests_total{method="other",route="/health",status="405"} 3.0' in text
    assert "FOO1" not in text and "BREW" not in text


def test_metrics(client: TestClient):
    client.post("/classify", json=new_bug())
    client.post("/classify", json={"summary": ""})
    client.get("/incidents/1999999")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'incidents_http_requests_total{method="POST",route="/classify",status="200"} 1.0' in text
    assert 'incidents_http_requests_total{method="POST",route="/classify",status="422"} 1.0' in text
    assert ('incidents_http_requests_total{method="GET",route="/incidents/{bug_id}",'
            'status="404"} 1.0') in text
    assert 'incidents_classified_total{model_version="v1"} 1.0' in text
    assert "incidents_http_request_duration_seconds_bucket" in text
    # What an on-call person needs first: every worker has a model, the store answers, memory.
    assert "\nincidents_model_loaded 1.0\n" in text and "\nincidents_store_reachable 1.0\n" in text
    [rss] = re.findall(r"\nincidents_worker_resident_memory_bytes (\S+)\n", text)
    assert float(rss) > 50e6


def test_metrics_say_no_model(client_without_model: TestClient):
    assert "\nincidents_model_loaded 0.0\n" in client_without_model.get("/metrics").text


def test_metrics_say_no_store(service_settings, models_dir):
    down = service_settings.model_copy(update={
        "database_url": "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"})
    with TestClient(create_app(down)) as client:
        text = client.get("/metrics").text
    assert "\nincidents_store_reachable 0.0\n" in text and "\nincidents_model_loaded 1.0\n" in text


def test_metrics_of_two_apps_apart(client: TestClient, make_client):
    other = make_client()
    client.post("/classify", json=new_bug())
    assert 'route="/classify"' in client.get("/metrics").text
    assert 'route="/classify"' not in other.get("/metrics").text


def test_openapi_examples(client: TestClient):
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/classify"]["post"]["requestBody"]["content"]["application/json"]
    examples = body["examples"]
    assert examples["stored"]["value"]["summary"].startswith("HARICA: ")
    assert examples["stored"]["value"]["comments"][0]["count"] == 0
    assert "/aggregate" in spec["paths"] and "/models/active" in spec["paths"]
    assert "≤ 100 bugs a batch" in spec["info"]["description"]
    assert client.get("/docs").status_code == 200


def test_openapi_documents_the_store_unreachable(client: TestClient):
    """Every route that reads or writes the store documents its 503 (it answers one when the
    store cannot be reached), keeping a route's own wording; /health reads nothing."""
    spec = client.get("/openapi.json").json()
    answers = {(method.upper(), path): op["responses"] for path, ops in spec["paths"].items()
               for method, op in ops.items()}
    for route in [("POST", "/corrections"), ("GET", "/corrections"), ("GET", "/incidents"),
                  ("GET", "/incidents/{bug_id}"), ("GET", "/aggregate"), ("GET", "/review"),
                  ("GET", "/models/decisions"), ("GET", "/jobs/{job_id}")]:
        assert answers[route]["503"]["description"].startswith("The store is unreachable"), route
    assert answers[("POST", "/classify")]["503"]["description"].startswith("No model version is active")
    assert "503" not in answers[("GET", "/health")]


# -- the live record in /ready and /metrics -------------------------------------------------------


WRONG = (["crl-failure"], ["ocsp-failure"], False)
RIGHT = (["ocsp-failure"], ["ocsp-failure"], False)


def test_ready_warns_when_the_live_record_is_low(client: TestClient, store: str):
    add_live_scores(store, "v1", [WRONG] * 19)
    assert client.get("/ready").json()["warnings"] == []  # 19 scored: too few to say
    add_live_scores(store, "v2", [WRONG] * 30)  # another version's record is not the served one's
    assert client.get("/ready").json()["warnings"] == []
    add_live_scores(store, "v1", [WRONG] * 25)
    response = client.get("/ready")
    assert response.status_code == 200 and response.json()["ready"] is True
    (warning,) = response.json()["warnings"]
    assert warning.startswith("live record: v1's live category micro-F1 0.000 over its last 44 scored "
                              "incidents is below its held-out 0.")
    assert " incidents) by more than 0.1" in warning  # the held-out figure's own size
    assert warning.endswith("by more than 0.1; the next `incidents nightly` retrains")


def test_ready_no_warning_when_the_live_record_holds(client: TestClient, store: str):
    add_live_scores(store, "v1", [RIGHT] * 30)
    assert client.get("/ready").json()["warnings"] == []


def test_metrics_live_record_gauges(client: TestClient, store: str):
    assert "incidents_live_category_micro_f1{" not in client.get("/metrics").text  # nothing scored
    add_live_scores(store, "v1", [RIGHT, WRONG, RIGHT, RIGHT])
    add_live_scores(store, "v2", [RIGHT])
    text = client.get("/metrics").text
    assert 'incidents_live_category_micro_f1{version="v1"} 0.75' in text
    assert 'incidents_live_scored{version="v1"} 4.0' in text
    assert 'incidents_live_category_micro_f1{version="v2"} 1.0' in text
    assert 'incidents_live_scored{version="v2"} 1.0' in text
