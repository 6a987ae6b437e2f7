"""The service behind a real uvicorn on a loopback port, and `incidents serve` itself."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx2
import uvicorn
from fastapi import FastAPI

from core.config import PROJECT_ROOT
from core.registry import ModelRegistry
from service.app import create_app
from tests.fixtures import (
    first_ready,
    free_port,
    incidents_serve,
    maintainer_headers,
    new_bug,
    second_version,
)

START_TIMEOUT = 30.0


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn in a thread on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped before it started"
            assert time.monotonic() < deadline, f"uvicorn not started in {START_TIMEOUT} s"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
    assert not thread.is_alive(), "uvicorn did not stop"


def test_classify_incident_over_uvicorn(service_settings, models_dir):
    with serving(create_app(service_settings)) as url, httpx2.Client(base_url=url,
                                                                     timeout=30) as http:
        assert http.get("/ready").status_code == 200
        auth = maintainer_headers(service_settings.database_url)  # the store is migrated now
        response = http.post("/classify", json=new_bug(1_900_001),
                             headers={**auth, "X-Request-ID": "uvicorn-1"})
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "uvicorn-1"
        assert response.json()["stored"] is True
        incident = http.get("/incidents/1900001").json()
        assert [p["model_version"] for p in incident["predictions"]] == ["v1"]
        bad = http.post("/classify", content=b'{"summary": ', headers={
            "content-type": "application/json"})
        assert bad.status_code == 422
        huge = http.post("/classify", content=b"x" * (9 * 1024 * 1024),
                         headers={"content-type": "application/json"})
        assert huge.status_code == 413


def test_promote_under_load_fails_no_request(service_settings, models_dir):
    """Requests keep coming while versions switch: every one succeeds, each on one version."""
    registry = ModelRegistry(models_dir)
    v2 = second_version(models_dir)
    batch = {"bugs": [new_bug(summary=f"Nimbus Trust: OCSP outage number {i}")
                      for i in range(20)]}
    stop = threading.Event()

    def hammer(url: str) -> list[tuple[int, set[str]]]:
        seen = []
        with httpx2.Client(base_url=url, timeout=30) as http:
            while not stop.is_set():
                response = http.post("/classify/batch", json=batch)
                body = response.json()
                versions = {r["model_version"] for r in body.get("data", [])}
                seen.append((response.status_code, versions | {body.get("model_version")}))
        return seen

    with serving(create_app(service_settings)) as url, ThreadPoolExecutor(4) as pool:
        workers = [pool.submit(hammer, url) for _ in range(4)]
        for _ in range(3):
            time.sleep(0.3)
            registry.promote(v2)
            time.sleep(0.3)
            registry.rollback()
        time.sleep(0.3)
        stop.set()
        answers = [a for w in workers for a in w.result(timeout=60)]
    assert answers
    assert all(status == 200 for status, _ in answers)
    assert all(len(versions) == 1 for _, versions in answers)  # one version a request
    assert {v for _, versions in answers for v in versions} == {"v1", "v2"}


def test_incidents_serve(tmp_path: Path, trained_models: Path):
    with incidents_serve(tmp_path, trained_models) as (process, url, log):
        ready = first_ready(process, url, log)
        assert ready.status_code == 200, ready.text
        assert ready.json()["model_version"] == "v1"
        with httpx2.Client(base_url=url, timeout=5) as http:
            assert http.post("/classify", json=new_bug(7)).status_code == 200
    text = log.read_text()
    assert "serving model v1" in text
    assert "POST /classify 200" in text


def _metric(text: str, line_start: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(line_start))


def test_incidents_serve_workers_sum_metrics(tmp_path: Path, trained_models: Path):
    """Two worker processes: /metrics counts the requests of both, whichever worker answers."""
    with incidents_serve(tmp_path, trained_models, "--workers", "2",
                         stop_within=30) as (process, url, log):
        deadline = time.monotonic() + 90
        while True:  # both workers load the model; wait until two said so
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            if log.read_text().count("serving model v1") == 2:
                break
            time.sleep(0.2)
        for i in range(30):  # a new connection each, so the kernel spreads them over the workers
            with httpx2.Client(base_url=url, timeout=30) as http:
                assert http.post("/classify", json=new_bug(8_000 + i)).status_code == 200
        for _ in range(5):  # the same sums whichever worker answers
            with httpx2.Client(base_url=url, timeout=30) as http:
                text = http.get("/metrics").text
            assert _metric(text, 'incidents_http_requests_total{method="POST",route="/classify",'
                                 'status="200"}') == 30
            assert _metric(text, 'incidents_classified_total{model_version="v1"}') == 30
            assert _metric(text, 'incidents_model_serving{version="v1"}') == 1
    pids = set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))
    assert len(pids) == 2, log.read_text()


def test_incidents_serve_workers_bad_store(tmp_path: Path):
    """With several workers the store is migrated once, first: a bad URL stops the command."""
    result = subprocess.run(
        [sys.executable, "-m", "cli", "serve", "--port", str(free_port()), "--workers",
         "2"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "INCIDENTS_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/x",
             "INCIDENTS_MODELS_DIR": str(tmp_path / "models")})
    assert result.returncode != 0
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr


def test_classify_same_new_bug_concurrently(service_settings, models_dir):
    """Requests racing to store one new bug all succeed, and it is stored once."""
    barrier = threading.Barrier(6)
    auth: dict[str, str] = {}

    def post(url: str) -> int:
        with httpx2.Client(base_url=url, timeout=30) as http:
            barrier.wait(timeout=10)
            return http.post("/classify", json=new_bug(1_900_042), headers=auth).status_code

    with serving(create_app(service_settings)) as url, ThreadPoolExecutor(6) as pool:
        auth.update(maintainer_headers(service_settings.database_url))  # the store is migrated now
        statuses = list(pool.map(post, [url] * 6))
        incident = httpx2.get(f"{url}/incidents/1900042", timeout=30).json()
    assert statuses == [200] * 6
    assert [p["model_version"] for p in incident["predictions"]] == ["v1"]
