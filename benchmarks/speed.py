"""Speed: what classifying costs in process, over HTTP against a real server, and nightly.

A temporary store is loaded with the snapshot and a model version is trained into a temporary
models folder. Then: the model's own cost (whole snapshot frame and one incident at a time);
the service's latency and throughput, measured with ``requests`` against ``incidents serve``
started on a free loopback port (single bugs, batches, concurrent clients, the briefing); and
the nightly relabelling of every stored incident. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import requests
import sklearn
from pydantic import ValidationError

from benchmarks import run_in_workdir
from classifier import Taxonomy, incidents_frame
from core.bugzilla import BugRecord, read_snapshot
from core.config import PROJECT_ROOT, Settings
from core.db import session_scope, upgrade
from core.registry import ModelRegistry
from core.store import upsert_bugs
from service.config import ServiceSettings
from service.schemas import IncidentClassify
from training.dataset import load_dataset
from training.relabel import relabel
from training.train import train_version

READY_TIMEOUT = 90.0  # seconds for the server to load the model and answer GET /ready 200
HTTP_TIMEOUT = 60.0


# -- figures ----------------------------------------------------------------------------------
def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def _timed(call: Callable[[], Any]) -> float:
    tick = time.perf_counter()
    call()
    return time.perf_counter() - tick


def _row(what: str, figure: str, note: str = "") -> None:
    print(f"  {what:<44} {figure:>22}  {note}".rstrip(), flush=True)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} incidents/s"


def _spread(prefix: str, latencies: Sequence[float], qs: Sequence[int]) -> None:
    _row(prefix, " / ".join(f"{_pct(latencies, q) * 1000:.1f}" for q in qs) + " ms",
         "p" + "/p".join(str(q) for q in qs))


def _evenly(items: Sequence[Any], n: int) -> list[Any]:
    """``n`` items spread evenly over ``items`` (all of them when there are fewer)."""
    if n >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, n).astype(int)]


# -- the payloads ---------------------------------------------------------------------------
def _payload(record: BugRecord) -> dict[str, Any]:
    """A stored bug as a client posts it, without its whiteboard (the model never reads it)."""
    when = record.creation_time
    return {"id": record.id, "summary": record.summary, "description": record.description,
            "creation_time": when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else None,
            "creator_domain": record.creator_domain, "status": record.status,
            "resolution": record.resolution}


def _payloads(records: Sequence[BugRecord]) -> tuple[list[dict[str, Any]], int]:
    """Payloads the service accepts (checked with its own schema), and how many were refused."""
    out = []
    for record in records:
        body = _payload(record)
        try:
            IncidentClassify.model_validate(body)
        except ValidationError:
            continue
        out.append(body)
    return out, len(records) - len(out)


# -- the server -----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _serve_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("incidents")
    head = [str(script)] if script.is_file() else [sys.executable, "-m", "cli"]
    return [*head, "serve", "--host", "127.0.0.1", "--port", str(port)]


def _wait_ready(process: subprocess.Popen, url: str, log: Path) -> float:
    """Seconds until GET /ready answers 200; a clear error if the server dies or never is."""
    tick = time.perf_counter()
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no answer"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before it was "
                               f"ready; its log ({log}):\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server at {url} was not ready within {READY_TIMEOUT:.0f}s "
                               f"(last: {last}); its log:\n{_tail(log)}")
        try:
            answer = requests.get(f"{url}/ready", timeout=5)
            if answer.status_code == 200:
                return time.perf_counter() - tick
            last = f"{answer.status_code} {answer.text[:200]}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.2)


def _check(answer: requests.Response) -> requests.Response:
    if answer.status_code != 200:
        raise RuntimeError(f"{answer.request.method} {answer.request.path_url} answered "
                           f"{answer.status_code}: {answer.text[:500]}")
    return answer


# -- the sections -----------------------------------------------------------------------------
def in_process(loaded, records: Sequence[BugRecord], *, singles: int) -> None:
    model = loaded.model
    X = incidents_frame(r.incident() for r in records)
    model.decide(X.iloc[:20])  # warm-up
    n = len(X)
    print(f"\n1. In-process model cost ({loaded.version}, {n} snapshot incidents)")
    whole_decide = statistics.median(_timed(lambda: model.decide(X)) for _ in range(3))
    whole_proba = statistics.median(_timed(lambda: model.predict_proba(X)) for _ in range(3))
    decisions = model.decide(X)
    whole_explain = _timed(lambda: model.explain(X, [d.tags for d in decisions]))
    _row("decide, whole frame (median of 3)", _rate(n, whole_decide), _ms(whole_decide))
    _row("predict_proba, whole frame (median of 3)", _rate(n, whole_proba), _ms(whole_proba))
    _row("explain of the decided tags, whole frame", _rate(n, whole_explain), _ms(whole_explain))
    picks = _evenly(range(n), singles)
    one = [X.iloc[[i]] for i in picks]
    decide_1 = [_timed(lambda x=x: model.decide(x)) for x in one]
    proba_1 = [_timed(lambda x=x: model.predict_proba(x)) for x in one]
    explain_1 = [_timed(lambda x=x, i=i: model.explain(x, [decisions[i].tags]))
                 for x, i in zip(one, picks, strict=True)]
    _row(f"decide, one incident (median of {len(one)})", _ms(statistics.median(decide_1)),
         f"p95 {_ms(_pct(decide_1, 95))}")
    _row(f"predict_proba, one incident (median of {len(one)})", _ms(statistics.median(proba_1)),
         f"p95 {_ms(_pct(proba_1, 95))}")
    _row(f"explain, one incident (median of {len(one)})", _ms(statistics.median(explain_1)),
         f"p95 {_ms(_pct(explain_1, 95))}")


def over_http(url: str, payloads: list[dict[str, Any]], *, ready: float, max_batch: int,
              sequential: int, threads: int, aggregate_calls: int, window: tuple[str, str]) -> None:
    print(f"\n2. Over HTTP: `incidents serve` (uvicorn, one process) at {url}, ready in {ready:.1f}s;\n"
          f"   requests.Session with keep-alive; every bug posted has an id, so each call also stores\n"
          f"   the bug and its prediction (the whiteboard is left out, as the model never reads it)")
    with requests.Session() as http:
        for body in payloads[:5]:  # warm-up: first requests, connection, store pages
            _check(http.post(f"{url}/classify", json=body, timeout=HTTP_TIMEOUT))

        bodies = _evenly(payloads, sequential)
        latencies = []
        tick = time.perf_counter()
        for body in bodies:
            start = time.perf_counter()
            _check(http.post(f"{url}/classify", json=body, timeout=HTTP_TIMEOUT))
            latencies.append(time.perf_counter() - start)
        wall = time.perf_counter() - tick
        _spread(f"POST /classify, {len(bodies)} sequential", latencies, (50, 95, 99))
        _row("  throughput, one client", _rate(len(bodies), wall), f"{wall:.1f}s")

        batches = [payloads[i:i + max_batch] for i in range(0, len(payloads), max_batch)]
        batch_times = []
        tick = time.perf_counter()
        for batch in batches:
            start = time.perf_counter()
            answer = _check(http.post(f"{url}/classify/batch", json={"bugs": batch},
                                      timeout=HTTP_TIMEOUT))
            batch_times.append(time.perf_counter() - start)
            if answer.json()["count"] != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} answered {answer.json()['count']}")
        wall = time.perf_counter() - tick
        _row(f"POST /classify/batch, {len(payloads)} bugs in {len(batches)} batches",
             _rate(len(payloads), wall), f"{wall:.1f}s; {_ms(statistics.median(batch_times))} "
                                         f"median a batch of up to {max_batch}")

    # Each client thread its own session and its own bugs (no two threads store the same bug).
    shares = [bodies[k::threads] for k in range(threads)]

    def client(share: list[dict[str, Any]]) -> list[float]:
        out = []
        with requests.Session() as own:
            for body in share:
                start = time.perf_counter()
                _check(own.post(f"{url}/classify", json=body, timeout=HTTP_TIMEOUT))
                out.append(time.perf_counter() - start)
        return out

    tick = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        concurrent = [t for ts in pool.map(client, shares) for t in ts]
    wall = time.perf_counter() - tick
    _row(f"POST /classify, {len(concurrent)} from {threads} client threads",
         _rate(len(concurrent), wall), f"{wall:.1f}s")
    _spread("  latency under that load", concurrent, (50, 95, 99))

    start, end = window
    with requests.Session() as http:
        query = {"start": start, "end": end}
        table = _check(http.get(f"{url}/aggregate", params=query, timeout=HTTP_TIMEOUT)).json()
        times = []
        for _ in range(aggregate_calls):
            tick = time.perf_counter()
            _check(http.get(f"{url}/aggregate", params=query, timeout=HTTP_TIMEOUT))
            times.append(time.perf_counter() - tick)
    _spread(f"GET /aggregate {start}..{end}, {aggregate_calls} calls", times, (50, 95))
    _row("  (the window's table)", f"{table['total']} incidents",
         f"{len(table['rows'])} rows, {table['undated']} undated")


def nightly(settings: Settings, taxonomy: Taxonomy, registry: ModelRegistry) -> None:
    print("\n3. Nightly relabel (training.relabel.relabel, in process, the server stopped)")
    tick = time.perf_counter()
    report = relabel(settings=settings, taxonomy=taxonomy, registry=registry)
    wall = time.perf_counter() - tick
    _row(f"relabel {report.done} of {report.total} stored incidents", _rate(report.done, wall),
         f"{wall:.1f}s wall, chunks of {settings.relabel_chunk_size}")


# -- the run --------------------------------------------------------------------------------
def speed(base: Settings, workdir: Path, args: argparse.Namespace) -> int:
    clock = time.perf_counter()
    settings = base.model_copy(update={"database_url": f"sqlite:///{workdir / 'store.db'}",
                                       "models_dir": workdir / "models"})
    service = ServiceSettings.of(settings)
    taxonomy = Taxonomy.load(settings.taxonomy_file)
    registry = ModelRegistry(settings.models_dir)
    print(f"machine: {os.cpu_count()} cores ({platform.machine()}, {platform.system()}); "
          f"Python {platform.python_version()}; scikit-learn {sklearn.__version__}; "
          f"numpy {np.__version__}")

    tick = time.perf_counter()
    records = read_snapshot(settings.snapshot_dir, taxonomy)
    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        upsert_bugs(session=session, records=records)
    print(f"store: {len(records)} snapshot bugs from {settings.snapshot_dir} into a temporary "
          f"SQLite store ({time.perf_counter() - tick:.1f}s)", flush=True)

    tick = time.perf_counter()
    with session_scope(settings.database_url) as session:
        dataset = load_dataset(session=session)
    version, _ = train_version(dataset, settings=settings, taxonomy=taxonomy, registry=registry)
    print(f"model: {version} trained on {len(dataset)} labelled incidents, n_jobs={settings.n_jobs} "
          f"({time.perf_counter() - tick:.1f}s, not part of the figures)", flush=True)

    in_process(registry.load(), records, singles=args.singles)

    payloads, refused = _payloads(records)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "serve.log"
    # Reads without a token, as by default, whatever this shell says.
    env = {**os.environ, "INCIDENTS_DATABASE_URL": settings.database_url,
           "INCIDENTS_MODELS_DIR": str(settings.models_dir),
           "INCIDENTS_REQUIRE_TOKEN_FOR_READS": "false"}
    with open(log, "wb") as out:
        process = subprocess.Popen(_serve_command(port), cwd=PROJECT_ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        ready = _wait_ready(process, url, log)
        if refused:
            print(f"   ({refused} snapshot bugs left out: the service's schema refuses them)")
        over_http(url, payloads, ready=ready, max_batch=service.max_batch, sequential=args.requests,
                  threads=args.threads, aggregate_calls=args.aggregate_calls,
                  window=(args.start, args.end))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)

    nightly(settings, taxonomy, registry)
    print(f"\ntotal {time.perf_counter() - clock:.0f}s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks speed",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2, help="joblib workers of the training fit")
    parser.add_argument("--singles", type=int, default=200, help="one-incident model calls timed")
    parser.add_argument("--requests", type=int, default=300, help="sequential POST /classify calls")
    parser.add_argument("--threads", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--aggregate-calls", type=int, default=50, help="GET /aggregate calls timed")
    parser.add_argument("--start", default="2023-01-01", help="briefing window start")
    parser.add_argument("--end", default="2023-12-31", help="briefing window end")
    args = parser.parse_args(argv)
    return run_in_workdir("speed", args.n_jobs, lambda base, workdir: speed(base, workdir, args))
