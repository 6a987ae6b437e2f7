"""The tests' shared helpers: small Bugzilla-shaped data sets written for the tests (the real
snapshot is never copied), request bodies, snapshots spoilt on purpose, the `incidents` command
run in-process, Bugzilla's webhook payloads, `incidents serve` in a subprocess, and small store
and registry helpers. Fixtures using them are in conftest.py."""

from __future__ import annotations

import copy
import dataclasses
import gc
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from cli import app
from core.config import PROJECT_ROOT, Settings, get_settings
from core.db import dispose_engines, session_scope
from core.jobs import HEARTBEAT_THREAD_PREFIX
from core.registry import ModelRegistry
from service.jobs import JOB_THREAD_PREFIX

#: For a test whose store does not matter (a fit, a report): SQLite only, not PostgreSQL too.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(name="settings")
def settings_comparing_on_ten(settings: Settings, monkeypatch: pytest.MonkeyPatch
                              ) -> Iterator[Settings]:
    """The test's settings, retraining compared on at least 10 incidents: the small store holds
    48 labelled ones, fewer than the 60 the default minimum (30, and as many to fit on) needs
    to compare. Imported by a test module, it replaces ``settings`` there."""
    monkeypatch.setenv("INCIDENTS_RETRAIN_MIN_HOLDOUT", "10")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


CAS = ["Acme Trust", "Borealis CA", "Cobalt PKI", "Dunmore Sign", "Estuary Certs", "Fjord Root",
       "Granite CA", "Harbor Trust"]

# Per tag: summary templates and sentences a comment 0 of that type would say.
TEMPLATES: dict[str, tuple[list[str], list[str]]] = {
    "ocsp-failure": (
        ["OCSP responder returned unknown for valid certificates",
         "OCSP responses signed with expired responder certificate",
         "OCSP service outage for issuing CA"],
        ["Our OCSP responder answered with malformed responses.",
         "The OCSP response was not available for several hours.",
         "Relying parties received OCSP tryLater errors."]),
    "crl-failure": (
        ["CRL expired and was not refreshed", "CRL not served from the published URL",
         "Malformed CRL published by intermediate"],
        ["The CRL nextUpdate passed before a new CRL was published.",
         "The CRL distribution point returned HTTP 404.",
         "The CRL encoding was invalid DER."]),
    "ev-misissuance": (
        ["EV certificates with wrong jurisdiction fields", "EV certificate missing business category",
         "EV serialNumber field incorrectly encoded"],
        ["The EV Guidelines require jurisdictionCountryName.",
         "Extended validation certificates were issued with the wrong businessCategory.",
         "Our EV vetting missed the registration number."]),
    "leaf-revocation-delay": (
        ["Delayed revocation of misissued certificates", "Failure to revoke within 5 days",
         "Revocation delay for subscriber certificates"],
        ["We did not revoke the affected certificates within the BR deadline.",
         "Revocation was delayed because subscribers asked for more time.",
         "The certificates were revoked late, after 5 days."]),
}


def refuse_reading(monkeypatch: pytest.MonkeyPatch, path: Path, errno: int = 13,
                   why: str = "Permission denied") -> None:
    """Make ``Path.read_text`` of ``path`` fail as a file the process may not read does (the
    tests run as root, whom a chmod does not stop); other files read as usual."""
    read_text = Path.read_text

    def refused(self: Path, *args: Any, **kwargs: Any) -> str:
        if self == path:
            raise PermissionError(errno, why, str(self)) if errno == 13 else OSError(errno, why, str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refused)


def make_bugs(n_per_tag: int = 12, seed: int = 7, start_year: int = 2019) -> tuple[dict, dict]:
    """A ``bugs.json`` and a ``comments.json`` payload, in Bugzilla's REST shapes.

    Every bug has one type tag; a few carry a second one, a legacy name or an odd meta tag, and
    filing times run from ``start_year`` onwards in tag-interleaved order.
    """
    rng = random.Random(seed)
    bugs: list[dict[str, Any]] = []
    comments: dict[str, Any] = {}
    tags = list(TEMPLATES)
    bug_id = 1_500_000
    for i in range(n_per_tag):
        for tag in tags:
            bug_id += 1
            summaries, sentences = TEMPLATES[tag]
            ca = CAS[(i + tags.index(tag)) % len(CAS)]
            month = 1 + (i * len(tags) + tags.index(tag)) % 12
            year = start_year + (i * len(tags) + tags.index(tag)) // 12
            whiteboard = f"[ca-compliance] [{tag}]"
            if tag == "leaf-revocation-delay" and i % 3 == 0:
                whiteboard = "[ca-compliance] [delayed-revocation-leaf]"
            if tag == "ev-misissuance" and i % 4 == 0:
                whiteboard += " [leaf-revocation-delay]"
            if i % 5 == 0:
                whiteboard += " [verif?] Next update 2023-04-30"
            bugs.append({
                "id": bug_id,
                "product": "CA Program",
                "component": "CA Certificate Compliance",
                "summary": f"{ca}: {rng.choice(summaries)}",
                "whiteboard": whiteboard,
                "creation_time": f"{year}-{month:02d}-{1 + i % 27:02d}T12:00:00Z",
                "status": "RESOLVED",
                "resolution": "FIXED",
                "creator_domain": rng.choice([ca.split()[0].lower() + ".com", "gmail.com"]),
            })
            text = " ".join(rng.sample(sentences, k=2))
            comments[str(bug_id)] = {"comments": [{
                "bug_id": bug_id, "count": 0, "is_private": False,
                "creation_time": bugs[-1]["creation_time"],
                "text": f"## Incident Report\n\n{text}\n\nSummary: {bugs[-1]['summary']}",
            }]}
    return {"bugs": bugs}, {"bugs": comments, "comments": {}}


def write_snapshot(folder: Path, bugs: dict | None = None, comments: dict | None = None) -> Path:
    """Write a snapshot folder (``bugs.json``, ``comments.json``) and return it."""
    if bugs is None or comments is None:
        made_bugs, made_comments = make_bugs()
        bugs = made_bugs if bugs is None else bugs
        comments = made_comments if comments is None else comments
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bugs.json").write_text(json.dumps(bugs), encoding="utf-8")
    (folder / "comments.json").write_text(json.dumps(comments), encoding="utf-8")
    return folder


# -- request bodies of the service tests, in Bugzilla's REST shape -----------------------------
def bug_payloads(bugs: dict | None = None, comments: dict | None = None) -> list[dict[str, Any]]:
    """Each bug of a ``bugs.json`` payload with its comments (the small snapshot's by default)."""
    if bugs is None or comments is None:
        bugs, comments = make_bugs()
    by_id = comments["bugs"]
    return [{**bug, "comments": by_id.get(str(bug["id"]), {}).get("comments", [])}
            for bug in bugs["bugs"]]


def without(bug: dict[str, Any], *names: str) -> dict[str, Any]:
    """A copy of ``bug`` without the given fields."""
    return {k: v for k, v in bug.items() if k not in names}


def new_bug(bug_id: int | None = None, **fields: Any) -> dict[str, Any]:
    """A bug that is not in any snapshot (an OCSP outage), with ``fields`` changed."""
    bug: dict[str, Any] = {
        "summary": "Nimbus Trust: OCSP responder returned unknown for valid certificates",
        "description": "Our OCSP responder answered with malformed responses for 6 hours.",
        "creation_time": "2020-03-04T10:00:00Z",
        "creator_domain": "nimbustrust.example",
        "status": "RESOLVED",
        "resolution": "FIXED",
    }
    if bug_id is not None:
        bug["id"] = bug_id
    bug.update(fields)
    return bug


def second_version(models_dir: Path) -> str:
    """Write v2 (the same estimator as v1) without promoting it."""
    registry = ModelRegistry(models_dir)
    loaded = registry.load("v1")
    card = {k: v for k, v in loaded.card.items()
            if k not in ("version", "artefact", "artefact_sha256")}
    return registry.create(loaded.model, card)


#: A line a long command writes on stderr off a terminal: the UTC time, then the step.
STAMPED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")


def unstamped(stderr: str) -> list[str]:
    """What a command said on stderr besides its timestamped step lines."""
    return [line for line in stderr.splitlines() if not STAMPED.match(line)]


# -- the `incidents` command, run in-process with the test's settings ---------------------------
class Incidents:
    """The ``incidents`` command line, run in-process with the test's settings."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: object) -> Result:
        return self.runner.invoke(app, [str(a) for a in args])

    def ok(self, *args: object) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (result.output, result.exception)
        return result

    def fails(self, *args: object, says: tuple[str, ...] = ()) -> Result:
        """Run a command that must stop with one error line: no crash, no traceback. A long
        command's timestamped step lines (``StatusLine(log=True)``) may come before it."""
        result = self(*args)
        assert result.exit_code != 0, result.output
        assert isinstance(result.exception, SystemExit), repr(result.exception)
        assert "Traceback" not in result.output
        said = unstamped(result.stderr)
        assert said and said[0].startswith("error: "), result.stderr
        for phrase in says:
            assert phrase in result.stderr
        return result


#: A wrong mapping of the fixture's tags: corrections that teach it make a worse model.
SWAPPED = {"ocsp-failure": "crl-failure", "crl-failure": "ev-misissuance",
           "ev-misissuance": "leaf-revocation-delay", "leaf-revocation-delay": "ocsp-failure"}


def run(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def count_rows(settings: Settings, table) -> int:
    with session_scope(settings.database_url) as session:
        return int(session.scalar(select(func.count()).select_from(table)))


#: The API key the Bugzilla stand-in expects, when a test sets one.
API_KEY = "bz-test-key-7f3a9c21d4"


# -- snapshots with one problem each -------------------------------------------------------------
def _bugs_and_comments() -> tuple[dict, dict]:
    """The fixture snapshot with a change a partial load would leave behind: a new whiteboard
    on the first bug and one bug more."""
    bugs, comments = make_bugs()
    bugs["bugs"][0]["whiteboard"] = "[ca-compliance] [crl-failure] [audit-finding]"
    bugs["bugs"].append({**bugs["bugs"][1], "id": 1_600_000, "summary": "Granite CA: new bug"})
    return bugs, comments


def _write(folder: Path, bugs: object, comments: object) -> None:
    write_snapshot(folder, bugs, comments)


def _edit_bug(index: int, **change: object) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        bugs, comments = _bugs_and_comments()
        bugs["bugs"][index].update(change)
        _write(folder, bugs, comments)
    return edit


def _drop_summary(folder: Path) -> None:
    bugs, comments = _bugs_and_comments()
    del bugs["bugs"][40]["summary"]
    _write(folder, bugs, comments)


def _duplicate_id(folder: Path) -> None:
    bugs, comments = _bugs_and_comments()
    bugs["bugs"][45]["id"] = bugs["bugs"][3]["id"]
    _write(folder, bugs, comments)


def _bug_not_object(folder: Path) -> None:
    bugs, comments = _bugs_and_comments()
    bugs["bugs"][40] = "bug 1500041"
    _write(folder, bugs, comments)


def _replace_file(name: str, content: bytes | str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        _write(folder, *_bugs_and_comments())
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return edit


def _remove_file(name: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        _write(folder, *_bugs_and_comments())
        (folder / name).unlink()
    return edit


def _edit_comments(edit_payload: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        bugs, comments = _bugs_and_comments()
        edit_payload(comments)
        _write(folder, bugs, comments)
    return edit


#: name -> (how to spoil a snapshot folder, the file the message names, what it says)
BAD_SNAPSHOTS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "no-bugs-file": (_remove_file("bugs.json"), "bugs.json", "no such file"),
    "no-comments-file": (_remove_file("comments.json"), "comments.json", "no such file"),
    "bugs-invalid-json": (_replace_file("bugs.json", '{"bugs": [{"id": 1,'), "bugs.json",
                          "not valid JSON"),
    "bugs-not-utf8": (_replace_file("bugs.json", b'{"bugs": ["\xff\xfe"]}'), "bugs.json",
                      "not UTF-8"),
    "bugs-top-level-list": (_replace_file("bugs.json", json.dumps(make_bugs()[0]["bugs"])),
                            "bugs.json", 'expected an object {"bugs": [...]}'),
    "bugs-not-a-list": (_replace_file("bugs.json", '{"bugs": {"1": {}}}'), "bugs.json",
                        'expected an object {"bugs": [...]}'),
    "bug-not-an-object": (_bug_not_object, "bugs.json", "bugs[40] is not an object"),
    "bug-without-summary": (_drop_summary, "bugs.json", "bugs[40] (id 1500041): summary"),
    "bug-id-not-integer": (_edit_bug(40, id="1500041"), "bugs.json",
                           "bugs[40] (id '1500041'): id: expected a positive integer"),
    "bug-id-list": (_edit_bug(40, id=[1500041]), "bugs.json", "bugs[40] (id [1500041]): id"),
    "bug-id-missing": (_edit_bug(40, id=None), "bugs.json", "bugs[40] (id None): id"),
    # Above the REST API's bound (it could not be read back there), and beyond SQLite's 64 bits.
    "bug-id-over-32-bits": (_edit_bug(40, id=2**31), "bugs.json",
                            f"bugs[40] (id {2**31}): id: expected a positive integer up to {2**31 - 1}"),
    "bug-id-over-64-bits": (_edit_bug(40, id=10**23), "bugs.json",
                            f"bugs[40] (id {10**23}): id: expected a positive integer up to {2**31 - 1}"),
    "bad-creation-time": (_edit_bug(40, creation_time="last Tuesday"), "bugs.json",
                          "creation_time: 'last Tuesday' is not an ISO 8601 time"),
    "duplicate-ids": (_duplicate_id, "bugs.json", "bugs[45]: bug 1500004 appears twice"),
    "comments-top-level-list": (_replace_file("comments.json", "[]"), "comments.json",
                                'expected an object {"bugs": {"<id>": {"comments": [...]}}}'),
    "comments-bugs-list": (_replace_file("comments.json", '{"bugs": []}'), "comments.json",
                           'expected an object {"bugs"'),
    "comments-not-a-list": (_edit_comments(lambda c: c["bugs"]["1500040"].update(comments="x")),
                            "comments.json", 'bugs["1500040"].comments is not a list of objects'),
    "comments-key-not-id": (_edit_comments(lambda c: c["bugs"].update(abc={"comments": []})),
                            "comments.json", "bugs key 'abc' is not a bug id"),
    "comments-invalid-json": (_replace_file("comments.json", "{"), "comments.json",
                              "not valid JSON"),
    # What json.loads refuses with a RecursionError and a ValueError, not a JSONDecodeError.
    "bugs-nested-too-deeply": (_replace_file("bugs.json", '{"bugs": ' + "[" * 100_000 + "]" * 100_000 + "}"),
                               "bugs.json", "not valid JSON: nested too deeply to read"),
    "comments-number-too-long": (_replace_file("comments.json", '{"bugs": {"1": {"comments": [{"count": 1'
                                               + "0" * 5000 + "}]}}}"),
                                 "comments.json", "not valid JSON: a number with too many digits to read"),
    # A count that is not a number among numbers: comment 0 cannot be told (it was a TypeError).
    "comment-count-not-integer": (
        _edit_comments(lambda c: c["bugs"]["1500040"]["comments"].insert(0, {"count": "a", "text": "x"})),
        "bugs.json", "bugs[39] (id 1500040): comments[0].count: expected an integer, got str"),
}


def add_live_scores(url: str, version: str, rows: list[tuple[list[str], list[str], bool]]) -> None:
    """Live scores written by hand for ``version`` on the store's first incidents it has none of:
    one ``(predicted, true, needs_review)`` a row, scored an hour apart from 2025-03-01 12:00."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from core.tables import IncidentRow, LiveScoreRow

    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    with session_scope(url) as session:
        scored = select(LiveScoreRow.incident_id).where(LiveScoreRow.model_version == version)
        ids = list(session.scalars(select(IncidentRow.id).where(IncidentRow.id.not_in(scored))
                                   .order_by(IncidentRow.id).limit(len(rows))))
        session.execute(insert(LiveScoreRow), [
            {"incident_id": bug_id, "model_version": version, "predicted_tags": predicted,
             "true_tags": true, "needs_review": review, "predicted_at": now - timedelta(days=3),
             "scored_at": now + timedelta(hours=i)}
            for i, (bug_id, (predicted, true, review)) in enumerate(zip(ids, rows, strict=True))])


# -- Bugzilla's webhook: payloads in its documented shape, and a real `incidents serve` ---------
#: The webhook secret of the tests (INCIDENTS_WEBHOOK_SECRET).
WEBHOOK_SECRET = "wh-test-secret-5b8e1f0c2a"
NOBODY = {"id": 1, "login": "nobody@mozilla.org", "real_name": "Nobody; OK to take it and work on it"}
REPORTER = {"id": 4242, "login": "compliance@nimbustrust.example", "real_name": "Nimbus Trust"}


def webhook_bug(bug_id: int, **fields: Any) -> dict[str, Any]:
    """A public bug of CA Program / CA Certificate Compliance as Bugzilla's webhook sends it (every
    field of the payload its Webhooks extension documents, most of them unread), ``fields`` changed."""
    bug: dict[str, Any] = {
        "alias": "", "assigned_to": NOBODY["login"], "assigned_to_detail": NOBODY,
        "classification": "Other", "component": "CA Certificate Compliance",
        "creation_time": "2025-03-04T10:00:00", "creator": REPORTER["login"],
        "creator_detail": REPORTER, "flags": [], "id": bug_id, "is_private": False, "keywords": [],
        "last_change_time": "2025-03-04T10:00:00", "operating_system": "Unspecified",
        "platform": "Unspecified", "priority": "", "product": "CA Program", "qa_contact": "",
        "resolution": "", "see_also": [], "severity": "--", "status": "UNCONFIRMED",
        "summary": "Nimbus Trust: OCSP responder returned unknown for valid certificates",
        "target_milestone": "---", "type": "task", "url": "", "version": "other",
        "whiteboard": "[ca-compliance]",
    }
    bug.update(fields)
    return bug


def webhook_comment(number: int, body: str, *, at: str = "2025-03-04T10:00:00",
                    is_private: bool = False) -> dict[str, Any]:
    return {"body": body, "creation_time": at, "id": 17_000_000 + number, "is_private": is_private,
            "number": number}


def webhook_payload(bug: dict[str, Any], *, action: str = "modify", target: str = "bug",
                    at: str = "2025-03-04T10:00:00",
                    changes: list[tuple[str, Any, Any]] | None = None,
                    comment: dict[str, Any] | None = None,
                    attachment: dict[str, Any] | None = None) -> dict[str, Any]:
    """One POST of Bugzilla's webhook: the event at ``at`` (``changes`` as ``(field, removed,
    added)``) and the bug, with the comment or attachment the event is about inside it, as Bugzilla nests them."""
    fields = ",".join(name for name, _, _ in changes or [])
    event: dict[str, Any] = {"action": action, "target": target, "time": at, "user": NOBODY,
                             "routing_key": f"{target}.{action}" + (f":{fields}" if fields else "")}
    if changes:
        event["changes"] = [{"field": name, "removed": removed, "added": added}
                            for name, removed, added in changes]
    bug = dict(bug)
    if comment is not None:
        bug["comment"] = comment
    if attachment is not None:
        bug["attachment"] = attachment
    return {"bug": bug, "event": event, "webhook_id": 23, "webhook_name": "incident-classifier"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def incidents_serve(tmp_path: Path, trained_models: Path, *options: str, stop_within: float = 15,
                    database_url: str | None = None, env: dict[str, str] | None = None
                    ) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    """`incidents serve` (with ``options``) in a subprocess on a free port, on a copy of the
    trained models and a fresh store (a SQLite file in ``tmp_path`` unless ``database_url``),
    with ``env`` added to its environment; yields the process, its base URL and its log file."""
    shutil.copytree(trained_models, tmp_path / "models")
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    environment |= {"INCIDENTS_DATABASE_URL": database_url or f"sqlite:///{tmp_path / 'fresh.db'}",
                    "INCIDENTS_MODELS_DIR": str(tmp_path / "models"), **(env or {})}
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--host", "127.0.0.1", "--port",
             str(port), *options], cwd=PROJECT_ROOT, env=environment, stdout=out,
            stderr=subprocess.STDOUT)
    try:
        yield process, f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        process.wait(timeout=stop_within)


def first_ready(process: subprocess.Popen, url: str, log: Path, within: float = 60) -> httpx2.Response:
    """The first answer of ``GET /ready`` from a starting `incidents serve` (its log on failure)."""
    deadline = time.monotonic() + within
    with httpx2.Client(base_url=url, timeout=5) as http:
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                return http.get("/ready")
            except httpx2.TransportError:
                time.sleep(0.2)


def maintainer_headers(url: str, name: str = "alice") -> dict[str, str]:
    """The ``Authorization`` header of a new valid token of maintainer ``name``, stored at
    ``url`` (a migrated store): what a request needs for POST /classify to store its bugs."""
    from core.tokens import create_token

    with session_scope(url) as session:
        token, _ = create_token(session=session, name=name)
    return {"Authorization": f"Bearer {token}"}


def stored_bug(url: str, bug_id: int) -> dict[str, Any]:
    """Every stored row of one bug: the incident (by column; None when not stored), its tags,
    its predictions ``(version, tags, scores, needs_review, confidence, created_at)`` and its
    live scores ``(version, predicted, true, predicted_at)``."""
    from core.tables import IncidentRow, IncidentTagRow, LiveScoreRow, PredictionRow

    with session_scope(url) as session:
        row = session.get(IncidentRow, bug_id)
        return {
            "incident": None if row is None else {c.key: getattr(row, c.key)
                                                  for c in IncidentRow.__table__.columns},
            "tags": [(t.tag, t.kind) for t in session.scalars(
                select(IncidentTagRow).where(IncidentTagRow.incident_id == bug_id)
                .order_by(IncidentTagRow.tag))],
            "predictions": [(p.model_version, p.tags, p.scores, p.needs_review, p.confidence,
                             p.created_at) for p in session.scalars(
                select(PredictionRow).where(PredictionRow.incident_id == bug_id))],
            "live": [(s.model_version, s.predicted_tags, s.true_tags, s.predicted_at)
                     for s in session.scalars(
                         select(LiveScoreRow).where(LiveScoreRow.incident_id == bug_id))],
        }


# -- the maintainers' page: incidents the model alone has labelled ------------------------------
#: Bugs Mozilla has not tagged yet (no type tag in the whiteboard), filed in the first half of
#: 2023 and still open, by CAs of no other fixture: ``(id, summary, comment 0, day filed)``.
UNTAGGED = [
    (1_700_001, "Kestrel Trust: OCSP responder returned unknown for valid certificates",
     "Our OCSP responder answered with malformed responses.", "2023-02-03"),
    (1_700_002, "Lumen CA: CRL expired and was not refreshed",
     "The CRL nextUpdate passed before a new CRL was published.", "2023-03-14"),
    (1_700_003, "Kestrel Trust: OCSP responses signed with expired responder certificate",
     "Relying parties received OCSP tryLater errors.", "2023-04-21"),
    (1_700_004, "Marlow PKI: Delayed revocation of misissued certificates",
     "We did not revoke the affected certificates within the BR deadline.", "2023-05-09"),
]


def add_review_queue(url: str, models_dir: Path) -> list[int]:
    """Store the ``UNTAGGED`` bugs with the active model's predictions of them, each flagged for
    review: the review queue's incidents, and the only ones the briefing of 2023 counts. Returns
    their ids."""
    from classifier import Taxonomy
    from core.bugzilla import BugRecord
    from core.classification import classify
    from core.db import upgrade
    from core.store import save_predictions, upsert_bugs

    taxonomy = Taxonomy.load()
    loaded = ModelRegistry(models_dir).load()
    # Every one is flagged: as the model would flag them with its review bar at 1 (and why).
    strict = copy.copy(loaded.model)
    strict.review_threshold_ = 1.0
    loaded = dataclasses.replace(loaded, model=strict)
    records = [BugRecord.from_rest(
        {"id": bug_id, "product": "CA Program", "component": "CA Certificate Compliance",
         "summary": summary, "whiteboard": "[ca-compliance]", "status": "NEW",
         "creation_time": f"{day}T09:00:00Z", "creator_domain": summary.split()[0].lower() + ".example"},
        [{"count": 0, "is_private": False, "creation_time": f"{day}T09:00:00Z",
          "text": f"## Incident Report\n\n{text}"}], taxonomy)
        for bug_id, summary, text, day in UNTAGGED]
    upgrade(url)
    with session_scope(url) as session:
        upsert_bugs(session=session, records=records)
        results = classify(loaded, [r.incident() for r in records], taxonomy)
        save_predictions(session=session, predictions=[
            result.prediction(record.id) for record, result in zip(records, results, strict=True)])
    return [record.id for record in records]


def finished_job(client: Any, started: Any, within: float = 120) -> dict[str, Any]:
    """The job a 202 answer started (``started``), read from ``GET /jobs/{id}`` until it ended."""
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["Location"] == f"/jobs/{job['id']}"
    assert job["state"] in ("queued", "running", "succeeded", "failed")
    deadline = time.monotonic() + within
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {job['id']} still {job['state']} after {within} s"
        time.sleep(0.05)
        answer = client.get(f"/jobs/{job['id']}")
        assert answer.status_code == 200, answer.text
        job = answer.json()
    return job


def join_background_jobs(timeout: float = 120.0) -> None:
    """Wait for the jobs a test started (service/jobs.py runs each in a thread of its own)."""
    for thread in threading.enumerate():
        # Not a lock's heartbeat (the prefixes overlap): it ends with its lock's release.
        if (thread.name.startswith(JOB_THREAD_PREFIX)
                and not thread.name.startswith(HEARTBEAT_THREAD_PREFIX)):
            thread.join(timeout=timeout)


def end_background_jobs(*, collect: bool = True, timeout: float = 120.0) -> None:
    """Wait for the jobs a test started and close every pooled connection, so none outlives its
    database: a job still holding a connection when its engine is disposed checks it into a
    discarded pool, where it is garbage-collected open, and psycopg's warning then fails
    whichever test runs at the time."""
    join_background_jobs(timeout)
    dispose_engines()
    if collect:  # what the test left unreachable is closed now, inside that test's teardown
        gc.collect()
