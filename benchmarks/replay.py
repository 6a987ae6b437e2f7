"""Replay history as maintainers would live it: classify a quarter, correct it, retrain, go on.

The store starts with the bugs filed before 2021 labelled and every later bug stripped of its
whiteboard (filed, not yet tagged). Then quarter by quarter: the quarter's bugs are classified by
the active model and scored at category level against their true tags, those tags are imported
as corrections, and ``retrain`` (the real, gated one) runs. The same quarters are also scored by
the model frozen at the start. Everything happens in a temporary store and models folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import run_in_workdir
from classifier import Taxonomy, WhiteboardTags
from core.bugzilla import read_snapshot
from core.classification import classify, correct_incident
from core.config import Settings
from core.db import session_scope, upgrade
from core.registry import LoadedModel, ModelRegistry
from core.store import row_incident, upsert_bugs
from core.tables import IncidentRow
from training.metrics import label_scores
from training.retrain import retrain

START = datetime(2021, 1, 1, tzinfo=UTC)


def quarters(first: datetime, last_year: int) -> list[tuple[str, datetime, datetime]]:
    out = []
    for year in range(first.year, last_year + 1):
        for q in range(4):
            start = datetime(year, 1 + 3 * q, 1, tzinfo=UTC)
            end = datetime(year + (q == 3), 1 + 3 * ((q + 1) % 4), 1, tzinfo=UTC)
            out.append((f"{year}Q{q + 1}", start, end))
    return out


def _scores(truth: list[list[str]], pred: list[list[str]], taxonomy: Taxonomy) -> tuple[float, float]:
    s = label_scores([taxonomy.categories_of(t) for t in truth],
                     [taxonomy.categories_of(p) for p in pred], list(taxonomy.categories))
    return s["micro_f1"], s["macro_f1"]


def _predict(loaded: LoadedModel, url: str, ids: list[int], taxonomy: Taxonomy) -> list[list[str]]:
    with session_scope(url) as session:
        incidents = [row_incident(session.get(IncidentRow, i)) for i in ids]
    return [r.tags for r in classify(loaded, incidents, taxonomy)]


def replay(base: Settings, workdir: Path, last_year: int = 2023) -> int:
    settings = base.model_copy(update={"database_url": f"sqlite:///{workdir / 'store.db'}",
                                       "models_dir": workdir / "models"})
    taxonomy = Taxonomy.load(settings.taxonomy_file)
    registry = ModelRegistry(settings.models_dir)
    records = read_snapshot(settings.snapshot_dir, taxonomy)
    truth = {r.id: list(r.tags.types) for r in records}
    filed = {r.id: r.creation_time for r in records}
    # Bugs filed from 2021 on arrive untagged: the model never sees their tags until corrected.
    stripped = [r if r.creation_time is not None and r.creation_time < START
                else dataclasses.replace(r, whiteboard="", tags=WhiteboardTags()) for r in records]
    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        upsert_bugs(session=session, records=stripped)

    clock = time.perf_counter()
    first = retrain(settings=settings, taxonomy=taxonomy, registry=registry, requested_by="bench")
    frozen = registry.load(first.challenger)
    print(f"start: {first.challenger} on {frozen.card['training_data']['size']} incidents filed "
          f"before {START:%Y-%m-%d} ({time.perf_counter() - clock:.0f}s)", flush=True)

    header = (f"{'quarter':<8} {'bugs':>5}  {'retrained micro':>15} {'macro':>6}  "
              f"{'frozen micro':>12} {'macro':>6}  {'active':>6}  decision  {'secs':>5}")
    print(header)
    all_truth: list[list[str]] = []
    all_live: list[list[str]] = []
    all_frozen: list[list[str]] = []
    for name, start, end in quarters(START, last_year):
        ids = sorted(i for i, t in truth.items()
                     if t and filed[i] is not None and start <= filed[i] < end)
        if not ids:
            continue
        tick = time.perf_counter()
        live_model = registry.load()
        live = _predict(live_model, settings.database_url, ids, taxonomy)
        still = _predict(frozen, settings.database_url, ids, taxonomy)
        true = [truth[i] for i in ids]
        all_truth += true
        all_live += live
        all_frozen += still
        with session_scope(settings.database_url) as session:
            for i in ids:
                correct_incident(session=session, taxonomy=taxonomy, bug_id=i, tags=truth[i],
                               note=f"replay {name}", author="bench", active_version=live_model.version)
        decision = retrain(settings=settings, taxonomy=taxonomy, registry=registry,
                           requested_by="bench")
        lm, lM = _scores(true, live, taxonomy)
        fm, fM = _scores(true, still, taxonomy)
        verdict = f"{'promoted' if decision.promoted else 'kept'} {decision.challenger}"
        print(f"{name:<8} {len(ids):>5}  {lm:>15.3f} {lM:>6.3f}  {fm:>12.3f} {fM:>6.3f}  "
              f"{live_model.version:>6}  {verdict:<9} {time.perf_counter() - tick:>5.0f}", flush=True)
    lm, lM = _scores(all_truth, all_live, taxonomy)
    fm, fM = _scores(all_truth, all_frozen, taxonomy)
    print(f"{'overall':<8} {len(all_truth):>5}  {lm:>15.3f} {lM:>6.3f}  {fm:>12.3f} {fM:>6.3f}")
    print(f"total {time.perf_counter() - clock:.0f}s; recipe: the shipped model, n_jobs={settings.n_jobs}, "
          f"tolerance {settings.retrain_tolerance:g}, holdout {settings.retrain_holdout_fraction:g}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks replay", description=__doc__.splitlines()[0])
    parser.add_argument("--last-year", type=int, default=2023, help="replay up to this year's Q4")
    parser.add_argument("--n-jobs", type=int, default=2, help="joblib workers of each fit")
    args = parser.parse_args(argv)
    return run_in_workdir("bench", args.n_jobs, lambda base, workdir: replay(base, workdir, args.last_year))
