"""Soak: many clients for a minute against a real `incidents serve`, with a promotion half-way.

A temporary SQLite store is loaded with the snapshot and two versions are trained into a
temporary models folder (v1 active, v2 a candidate). ``--clients`` threads, each with its own
``requests.Session``, then loop over ``POST /classify``, ``POST /classify/batch`` (with a
maintainer's token, so that their bugs are stored), ``GET /aggregate`` and ``GET /review`` for
``--seconds``; half-way, ``incidents models promote``
runs in its own process and the service must follow it by itself. Criteria (exit 1 if one
fails): no error answer, the server's RSS flat within 10 % after the warm-up, every prediction
the service said it stored in the store exactly once with the tags it answered, and no answer
from the old version once the new one has answered.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, select

from benchmarks import run_in_workdir, stop
from benchmarks.speed import _free_port, _payloads, _pct, _serve_command, _wait_ready
from classifier import Taxonomy
from core.bugzilla import BugRecord, read_snapshot
from core.config import PROJECT_ROOT, Settings
from core.db import session_scope, upgrade
from core.registry import ACTIVE, ModelRegistry
from core.store import upsert_bugs
from core.tables import IncidentRow, PredictionRow
from core.tokens import create_token
from training.dataset import load_dataset
from training.train import train_version

HTTP_TIMEOUT = 60.0
WARM_UP = 0.2  # share of the run before the RSS baseline is taken
RSS_TOLERANCE = 0.10
SHOWN_ERRORS = 5

Pair = tuple[int, str]  # (bug id, model version)
Call = Callable[[requests.Session, random.Random], requests.Response]


@dataclass(frozen=True)
class Sample:
    """One request of one client: when, how long, and what came back."""

    endpoint: str
    started: float  # seconds since the load began
    ended: float
    latency: float
    status: int | None  # None: no answer (connection error, timeout)
    version: str | None = None  # the model version the answer names
    error: str | None = None


@dataclass
class Ledger:
    """The tags the service answered for each (bug id, model version) it said it stored."""

    last: dict[Pair, list[str]] = field(default_factory=dict)
    variants: dict[Pair, set[tuple[str, ...]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, items: Sequence[dict[str, Any]]) -> None:
        with self._lock:
            for item in items:
                if item["stored"]:
                    pair = (item["id"], item["model_version"])
                    self.last[pair] = item["tags"]
                    self.variants.setdefault(pair, set()).add(tuple(item["tags"]))


@dataclass(frozen=True)
class Promotion:
    started: float  # seconds since the load began
    returned: float
    switched: float  # when ACTIVE was rewritten (its mtime)
    code: int
    output: str


# -- the load -------------------------------------------------------------------------------
def _mix(url: str, payloads: list[dict[str, Any]], *, batch: int, window: tuple[str, str],
         token: str) -> dict[str, Call]:
    """What a client sends, endpoint by endpoint; every bug has its id and is sent with a
    maintainer's ``token``, so it is stored. The reads are anonymous."""
    start, end = window
    auth = {"Authorization": f"Bearer {token}"}
    return {
        "POST /classify": lambda http, rng: http.post(
            f"{url}/classify", json=rng.choice(payloads), headers=auth, timeout=HTTP_TIMEOUT),
        "POST /classify/batch": lambda http, rng: http.post(
            f"{url}/classify/batch", json={"bugs": rng.sample(payloads, batch)}, headers=auth,
            timeout=HTTP_TIMEOUT),
        "GET /aggregate": lambda http, rng: http.get(
            f"{url}/aggregate", params={"start": start, "end": end}, timeout=HTTP_TIMEOUT),
        "GET /review": lambda http, rng: http.get(f"{url}/review", timeout=HTTP_TIMEOUT),
    }


def _client(k: int, mix: dict[str, Call], *, t0: float, stop_at: float, ledger: Ledger) -> list[Sample]:
    """Loop over the mix until ``stop_at``; each client starts at another endpoint so that all
    four are in flight at any time, and draws its bugs from its own seeded generator."""
    rng = random.Random(k)
    names = list(mix)
    samples = []
    with requests.Session() as http:
        turn = k
        while time.monotonic() < stop_at:
            name = names[turn % len(names)]
            turn += 1
            started, tick = time.time() - t0, time.perf_counter()
            try:
                answer = mix[name](http, rng)
                body = answer.json() if 200 <= answer.status_code < 300 else None
            except (requests.RequestException, ValueError) as exc:  # ValueError: not JSON
                samples.append(Sample(name, started, time.time() - t0, time.perf_counter() - tick, None,
                                      error=f"{type(exc).__name__}: {exc}"))
                continue
            latency, ended = time.perf_counter() - tick, time.time() - t0
            if body is None:
                samples.append(Sample(name, started, ended, latency, answer.status_code,
                                      error=answer.text[:300]))
                continue
            if name.startswith("POST /classify"):
                ledger.note(body["data"] if "data" in body else [body])
            samples.append(Sample(name, started, ended, latency, answer.status_code, body.get("model_version")))
    return samples


def _rss_kib(pid: int) -> int | None:
    """The process's resident set (VmRSS), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _sample_rss(pid: int, *, t0: float, stop: threading.Event, out: list[tuple[float, int]]) -> None:
    while True:
        rss = _rss_kib(pid)
        if rss is not None:
            out.append((time.time() - t0, rss))
        if stop.wait(1.0):
            return


def _promote(version: str, *, env: dict[str, str], models_dir: Path, t0: float) -> Promotion:
    started = time.time() - t0
    done = subprocess.run([sys.executable, "-m", "cli", "models", "promote", version], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, check=False)
    returned = time.time() - t0
    switched = (models_dir / ACTIVE).stat().st_mtime - t0
    return Promotion(started, returned, switched, done.returncode, (done.stdout + done.stderr).strip())


# -- the store --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Accounting:
    answered: int  # (bug id, version) pairs the service said it stored
    stored: int  # prediction rows
    incidents: int
    missing: int
    duplicated: int
    mismatched: int
    unanswered: int  # rows no answer speaks of
    disagreeing: int  # pairs answered with different tags at different times

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicated or self.mismatched or self.unanswered)


def _account(url: str, ledger: Ledger) -> Accounting:
    with session_scope(url) as session:
        rows = session.execute(select(PredictionRow.incident_id, PredictionRow.model_version,
                                      PredictionRow.tags)).all()
        incidents = session.scalar(select(func.count()).select_from(IncidentRow)) or 0
    counts = Counter((bug_id, version) for bug_id, version, _ in rows)
    tags = {(bug_id, version): list(t) for bug_id, version, t in rows}
    return Accounting(
        answered=len(ledger.last), stored=len(rows), incidents=incidents,
        missing=sum(pair not in counts for pair in ledger.last),
        duplicated=sum(n > 1 for n in counts.values()),
        mismatched=sum(pair in tags and tags[pair] != answer for pair, answer in ledger.last.items()),
        unanswered=sum(pair not in ledger.last for pair in counts),
        disagreeing=sum(len(v) > 1 for v in ledger.variants.values()))


# -- the figures ------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _verdict(name: str, ok: bool, why: str) -> bool:
    print(f"  {'PASS' if ok else 'FAIL'}  {name:<22} {why}")
    return ok


def _report_requests(samples: Sequence[Sample], seconds: float) -> list[Sample]:
    """The table per endpoint and the first errors; returns the failed requests."""
    print(f"\n{'requests':<22} {'count':>7} {'errors':>7} {'per s':>7} {'p50':>8} {'p95':>8} {'p99':>8}  (ms)")
    groups = {name: [s for s in samples if s.endpoint == name] for name in dict.fromkeys(s.endpoint for s in samples)}
    for name, group in [*groups.items(), ("all", list(samples))]:
        latencies = [s.latency * 1000 for s in group]
        errors = sum(s.error is not None for s in group)
        print(f"{name:<22} {len(group):>7} {errors:>7} {len(group) / seconds:>7.1f} "
              + " ".join(f"{_pct(latencies, q):>8.0f}" for q in (50, 95, 99)))
    failed = sorted((s for s in samples if s.error is not None), key=lambda s: s.ended)
    for s in failed[:SHOWN_ERRORS]:
        print(f"  error at {s.ended:.1f}s: {s.endpoint} -> {s.status or 'no answer'}: {s.error}")
    return failed


def _report_promotion(samples: Sequence[Sample], promotion: Promotion, *, old: str, new: str,
                      seconds: float) -> tuple[bool, str]:
    """When the new version first answered, and whether the old one answered after that."""
    named = [s for s in samples if s.version is not None]
    first_new = min((s.ended for s in named if s.version == new), default=None)
    print(f"\npromotion: `incidents models promote {new}` at {promotion.started:.1f}s, exit {promotion.code} "
          f"after {promotion.returned - promotion.started:.1f}s; ACTIVE rewritten at {promotion.switched:.1f}s")
    if promotion.code != 0:
        print(f"  {promotion.output}")
    if first_new is None:
        late = promotion.switched >= seconds
        print(f"  no answer from {new}" + (f" (the clients stopped at {seconds:.0f}s, before ACTIVE changed)"
                                           if late else ""))
        return False, f"{new} never answered"
    stale = sum(s.version == old and s.started > first_new for s in named)
    early = sum(s.version == new and s.ended < promotion.started for s in named)
    switch = first_new - promotion.switched
    print(f"  first {new} answer at {first_new:.1f}s, {switch:.2f}s after ACTIVE changed; {stale} answers "
          f"from {old} to requests sent after it, {early} from {new} before the promotion")
    return (promotion.code == 0 and not stale and not early,
            f"{new} answering {switch:.2f}s after ACTIVE changed, {stale} stale, {early} early")


def _report_rss(rss: Sequence[tuple[float, int]], promotion: Promotion, seconds: float) -> float | None:
    """The server's RSS figures; returns the growth from the end of the warm-up to the end."""
    warm = seconds * WARM_UP
    settled = [kib for at, kib in rss if at >= warm]
    if not settled:
        print("\nRSS: no sample after the warm-up")
        return None
    growth = (settled[-1] - settled[0]) / settled[0]
    before = [kib for at, kib in rss if warm <= at < promotion.started] or settled[:1]
    print(f"\nRSS of the server ({len(rss)} samples, one a second; warm-up the first {warm:.0f}s): "
          f"{rss[0][1] / 1024:.0f} MiB at start, {settled[0] / 1024:.0f} MiB after warm-up, "
          f"{before[-1] / 1024:.0f} MiB just before the promotion, max {max(kib for _, kib in rss) / 1024:.0f} MiB, "
          f"{settled[-1] / 1024:.0f} MiB at the end: {growth:+.1%} end vs after warm-up")
    # The shape tells a leak (a slope) from a second model kept after the promotion (a step).
    step = max(1, len(rss) // 12)
    print("  timeline: " + ", ".join(f"{at:.0f}s {kib / 1024:.0f}" for at, kib in rss[::step]) + " MiB")
    return growth


# -- the run --------------------------------------------------------------------------------
def _prepare(settings: Settings, taxonomy: Taxonomy) -> tuple[list[BugRecord], str, str]:
    """The snapshot in the store, and two versions of the same recipe: active, and a candidate."""
    tick = time.perf_counter()
    records = read_snapshot(settings.snapshot_dir, taxonomy)
    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        upsert_bugs(session=session, records=records)
        dataset = load_dataset(session=session)
    print(f"store: temporary SQLite, {len(records)} snapshot bugs ({time.perf_counter() - tick:.1f}s)", flush=True)
    tick = time.perf_counter()
    registry = ModelRegistry(settings.models_dir)
    old, _ = train_version(dataset, settings=settings, taxonomy=taxonomy, registry=registry)
    new, _ = train_version(dataset, settings=settings, taxonomy=taxonomy, registry=registry,
                           promote_first=False)
    print(f"models: {old} active, {new} a candidate, each on {len(dataset)} labelled incidents "
          f"({time.perf_counter() - tick:.0f}s)", flush=True)
    return records, old, new


def _load(server_pid: int, mix: dict[str, Call], *, args: argparse.Namespace, ledger: Ledger,
          promote: Callable[[float], Promotion]) -> tuple[list[Sample], Promotion, list[tuple[float, int]]]:
    """The clients for the run's duration, the promotion half-way, the RSS sampled meanwhile."""
    rss: list[tuple[float, int]] = []
    t0 = time.time()
    stop_at = time.monotonic() + args.seconds
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(server_pid,),
                               kwargs={"t0": t0, "stop": stop, "out": rss}, daemon=True)
    sampler.start()
    try:
        with ThreadPoolExecutor(args.clients) as pool:
            futures = [pool.submit(_client, k, mix, t0=t0, stop_at=stop_at, ledger=ledger)
                       for k in range(args.clients)]
            time.sleep(max(0.0, args.seconds / 2 - (time.time() - t0)))
            promotion = promote(t0)
            samples = [s for f in futures for s in f.result()]
    finally:
        stop.set()
        sampler.join()
    return samples, promotion, rss


def soak(base: Settings, workdir: Path, args: argparse.Namespace) -> int:
    settings = base.model_copy(update={"database_url": f"sqlite:///{workdir / 'store.db'}",
                                       "models_dir": workdir / "models"})
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, {_cpu_model()}; load average {load}; "
          f"Python {platform.python_version()}")
    records, old, new = _prepare(settings, Taxonomy.load(settings.taxonomy_file))
    with session_scope(settings.database_url) as session:
        token, _ = create_token(session=session, name="bench-soak")

    payloads, _ = _payloads(records)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "serve.log"
    env = {**os.environ, "INCIDENTS_DATABASE_URL": settings.database_url,
           "INCIDENTS_MODELS_DIR": str(settings.models_dir), "INCIDENTS_REQUIRE_TOKEN_FOR_READS": "false"}
    mix = _mix(url, payloads, batch=args.batch, window=(args.start, args.end), token=token)
    ledger = Ledger()
    with open(log, "wb") as out:
        server = subprocess.Popen(_serve_command(port), cwd=PROJECT_ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        ready = _wait_ready(server, url, log)
        # `incidents` is a console script run through its shebang: this pid is the serving Python.
        print(f"server: `incidents serve` (one process, pid {server.pid}, "
              f"{os.readlink(f'/proc/{server.pid}/exe')}) at {url}, ready in {ready:.1f}s")
        print(f"load: {args.clients} clients for {args.seconds:.0f}s, each looping over "
              f"{', '.join(mix)} (batches of {args.batch}, window {args.start}..{args.end}); "
              f"{len(payloads)} bugs drawn at random", flush=True)
        samples, promotion, rss = _load(
            server.pid, mix, args=args, ledger=ledger,
            promote=lambda t0: _promote(new, env=env, models_dir=settings.models_dir, t0=t0))
    finally:
        stop(server)

    failed = _report_requests(samples, args.seconds)
    followed, how = _report_promotion(samples, promotion, old=old, new=new, seconds=args.seconds)
    growth = _report_rss(rss, promotion, args.seconds)
    accounting = _account(settings.database_url, ledger)
    print(f"\nstore: {accounting.incidents} incidents (loaded {len(records)}), {accounting.stored} predictions; "
          f"{accounting.answered} (bug, version) pairs answered as stored: {accounting.missing} missing, "
          f"{accounting.duplicated} duplicated, {accounting.mismatched} with other tags than last answered, "
          f"{accounting.unanswered} stored but never answered; {accounting.disagreeing} pairs answered "
          f"with different tags at different times")

    print()
    passed = [
        _verdict("zero errors", not failed, f"{len(failed)} of {len(samples)} requests failed"),
        _verdict("RSS flat", growth is not None and abs(growth) <= RSS_TOLERANCE,
                 f"{growth if growth is not None else float('nan'):+.1%} end vs after warm-up "
                 f"(limit ±{RSS_TOLERANCE:.0%})"),
        _verdict("all accounted", accounting.ok and accounting.incidents == len(records),
                 f"{accounting.missing} missing, {accounting.duplicated} duplicated, "
                 f"{accounting.mismatched} mismatched, {accounting.unanswered} unanswered, "
                 f"{accounting.incidents - len(records)} incidents added"),
        _verdict("promotion followed", followed, how),
    ]
    return 0 if all(passed) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks soak", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the clients run")
    parser.add_argument("--clients", type=int, default=32, help="concurrent client threads")
    parser.add_argument("--batch", type=int, default=20, help="bugs a POST /classify/batch")
    parser.add_argument("--start", default="2023-01-01", help="GET /aggregate window start")
    parser.add_argument("--end", default="2023-12-31", help="GET /aggregate window end")
    parser.add_argument("--n-jobs", type=int, default=2, help="joblib workers of the training fits")
    args = parser.parse_args(argv)
    return run_in_workdir("soak", args.n_jobs, lambda base, workdir: soak(base, workdir, args))
