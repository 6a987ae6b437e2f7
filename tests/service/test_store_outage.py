"""PostgreSQL going away under a running `incidents serve`: 503 saying why, nothing half-written,
and the service back by itself when the database is, without a restart.

The service reaches PostgreSQL through a TCP proxy the test holds (``CuttableProxy``): cutting it
drops every open connection and refuses new ones, as a database that stopped would.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx2
import pytest
from sqlalchemy.engine import make_url

from tests.fixtures import first_ready, incidents_serve, maintainer_headers, new_bug, stored_bug

pytestmark = pytest.mark.postgres

#: Sent in the service's database URL (PostgreSQL on loopback trusts, so it is never checked):
#: it must appear in no answer and no log line.
PASSWORD = "s3cret-pg-pass"
BUG_ID = 1_600_001


class CuttableProxy:
    """A thread forwarding 127.0.0.1:<port> to ``target``, which the test can cut and restore."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()  # the database is "down": the connection ends at once
                continue
            server = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        self.up = False
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self._stopped = True
        self.cut()
        self.listener.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_store_outage_answers_503_and_recovers_without_restart(
        tmp_path: Path, trained_models: Path, database_url: str) -> None:
    url = make_url(database_url)
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(port=proxy.port, password=PASSWORD).render_as_string(hide_password=False)
    try:
        with incidents_serve(tmp_path, trained_models, database_url=proxied) as (process, base, log), \
                httpx2.Client(base_url=base, timeout=20) as http:
            assert first_ready(process, base, log).status_code == 200, log.read_text()
            auth = maintainer_headers(database_url)  # storing needs a maintainer's token
            assert http.post("/classify", json=new_bug(BUG_ID), headers=auth).status_code == 200
            before = stored_bug(database_url, BUG_ID)
            assert len(before["predictions"]) == 1

            proxy.cut()
            down = {
                "ready": http.get("/ready"),
                "classify stored": http.post("/classify", json=new_bug(BUG_ID + 1), headers=auth),
                "review": http.get("/review"),
                "aggregate": http.get("/aggregate", params={"start": "2023-01-01", "end": "2023-06-30"}),
            }
            for name, response in down.items():
                assert response.status_code == 503, (name, response.text, log.read_text())
                assert "Traceback" not in response.text and PASSWORD not in response.text
            assert down["ready"].json()["store"] == "unreachable"
            assert any("store is unreachable" in p for p in down["ready"].json()["problems"])
            assert "store is unreachable" in down["classify stored"].json()["detail"]
            assert down["classify stored"].headers["Retry-After"]
            # Classifying a bug that is not to be stored (no id, or no token) needs no store.
            assert http.post("/classify", json=new_bug()).status_code == 200
            anonymous = http.post("/classify", json=new_bug(BUG_ID + 1))
            assert anonymous.status_code == 200 and anonymous.json()["stored"] is False

            proxy.restore()
            deadline = time.monotonic() + 30
            while (ready := http.get("/ready")).status_code != 200:
                assert time.monotonic() < deadline, (ready.text, log.read_text())
                time.sleep(0.5)
            assert process.poll() is None  # the same process: no restart
            assert http.get("/review").status_code == 200
            assert http.post("/classify", json=new_bug(BUG_ID + 1), headers=auth).status_code == 200
        assert stored_bug(database_url, BUG_ID) == before
        assert len(stored_bug(database_url, BUG_ID + 1)["predictions"]) == 1
        assert PASSWORD not in log.read_text()
    finally:
        proxy.close()
