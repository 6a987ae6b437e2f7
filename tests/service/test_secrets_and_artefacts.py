"""Secrets stay out of logs and answers, and a changed artefact is refused while the version in
service goes on answering: against a real `incidents serve` and in-process (caplog)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
from pydantic import SecretStr
from sqlalchemy import update

from core.db import session_scope
from core.registry import ARTEFACT, ModelRegistry
from core.tables import ApiTokenRow, utcnow
from core.tokens import create_token
from tests.fixtures import API_KEY, first_ready, incidents_serve, new_bug, second_version
from tests.standin import BugzillaStandIn


def _tokens(url: str) -> tuple[str, str]:
    """A valid token and an expired one, stored at ``url``."""
    with session_scope(url) as session:
        valid, _ = create_token(session=session, name="alice")
        expired, row = create_token(session=session, name="bob")
        session.flush()
        session.execute(update(ApiTokenRow).where(ApiTokenRow.id == row.id)
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
    return valid, expired


def _use_secrets(http: Any, valid: str, expired: str) -> list[str]:
    """Requests carrying the tokens every way a client might, failing ones included; a sync
    that sends the Bugzilla key to a Bugzilla refusing it. Returns every answer's text."""
    answers = []
    for headers in ({"Authorization": f"Bearer {valid}"}, {"Authorization": f"Bearer {expired}"},
                    {"Authorization": f"Bearer {valid}x"}, {"Authorization": f"Token {valid}"},
                    {"Authorization": valid}):
        answers.append(http.post("/corrections", json={"bug_id": 0, "tags": ["no such tag"]},
                                 headers=headers).text)
        answers.append(http.get("/review", headers=headers).text)
    answers.append(http.post("/ui/corrections", data={"token": expired, "bug_id": "1",
                                                      "tags": "none"}).text)
    sync = http.post("/incidents/sync", headers={"Authorization": f"Bearer {valid}"})
    assert sync.status_code == 202, sync.text
    answers.append(sync.text)
    deadline = time.monotonic() + 30
    while True:
        job = http.get(f"/jobs/{sync.json()['id']}")
        if job.json()["state"] in ("succeeded", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    answers.append(job.text)
    assert job.json()["state"] == "failed", job.text  # Bugzilla refused the key
    return answers


def _refusing_key(standin: BugzillaStandIn) -> dict[str, str]:
    """Settings sending API_KEY to a stand-in that wants another key (so the sync fails)."""
    standin.api_key = "another-key"
    return {"INCIDENTS_BUGZILLA_URL": standin.url, "INCIDENTS_BUGZILLA_API_KEY": API_KEY,
            "INCIDENTS_BUGZILLA_MAX_ATTEMPTS": "1", "INCIDENTS_LOG_LEVEL": "DEBUG"}


def _assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
        assert secret[len("inc_"):][:20] not in text  # nor a recognisable part of it


def test_secrets_not_in_caplog_or_answers(make_client, models_dir, store, standin, caplog):
    _refusing_key(standin)
    client = make_client(bugzilla_url=standin.url, bugzilla_api_key=SecretStr(API_KEY),
                         bugzilla_max_attempts=1, log_level="DEBUG")
    valid, expired = _tokens(store)
    with caplog.at_level(logging.DEBUG):
        answers = _use_secrets(client, valid, expired)
    assert any(r.name.startswith("service") for r in caplog.records)  # the capture worked
    assert standin.requests  # the key was really sent
    _assert_no_secret(caplog.text + "\n".join(answers), valid, expired, API_KEY)


def test_secrets_not_in_server_log(tmp_path: Path, trained_models: Path, standin):
    with incidents_serve(tmp_path, trained_models, env=_refusing_key(standin)) as (process, url, log):
        assert first_ready(process, url, log).status_code == 200
        valid, expired = _tokens(f"sqlite:///{tmp_path / 'fresh.db'}")
        with httpx2.Client(base_url=url, timeout=30) as http:
            answers = _use_secrets(http, valid, expired)
    text = log.read_text()
    assert "POST /corrections 403" in text and "POST /corrections 401" in text
    _assert_no_secret(text + "\n".join(answers), valid, expired, API_KEY)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF
    path.write_bytes(bytes(data))


def test_changed_artefact_refused_while_serving(tmp_path: Path, trained_models: Path):
    """A newly active version whose file was changed after its promotion is refused when the
    service notices it; the version it had goes on answering, and /ready names the refused one
    (not where it lies)."""
    with incidents_serve(tmp_path, trained_models, env={"INCIDENTS_MODEL_CHECK_INTERVAL": "0"}
                         ) as (process, url, log):
        assert first_ready(process, url, log).json()["model_version"] == "v1"
        registry = ModelRegistry(tmp_path / "models")
        with httpx2.Client(base_url=url, timeout=30) as http:
            for spoil in (_truncate, _flip_byte):
                version = second_version(registry.root)
                registry.promote(version)  # it loads: the promotion checks that
                spoil(registry.root / version / ARTEFACT)  # before the service looked
                ready = http.get("/ready")
                assert ready.status_code == 200, ready.text
                assert ready.json()["model_version"] == "v1"
                assert ready.json()["warnings"] == [
                    f"model: active version {version} could not be loaded: its artefact was "
                    "changed or truncated after it was written; serving v1"]
                assert str(tmp_path) not in ready.text and ARTEFACT not in ready.text
                classified = http.post("/classify", json=new_bug(7))
                assert classified.status_code == 200, classified.text
                assert classified.json()["model_version"] == "v1"
            registry.promote("v1")  # back to the version in service: the warning goes
            assert http.get("/ready").json()["warnings"] == []
    text = log.read_text()
    assert "active version v2 could not be loaded" in text
    assert "active version v3 could not be loaded" in text
