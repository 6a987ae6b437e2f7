"""The deployment replay on the real snapshot (what `incidents evaluate --replay` runs on a store).

From ``--since`` (2021-01-01: the snapshot's last three years), quarter by quarter: the active
model classifies the quarter's incidents, their tags become known, the product's own gated
retraining runs; beside it, the model frozen at the start and the strong baseline refitted each
quarter. Everything happens in a temporary store and models folder (see training/replay.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks import run_in_workdir
from classifier import Taxonomy
from core.bugzilla import read_snapshot
from core.config import Settings
from training.replay import render, replay
from training.train import parse_day


def _run(base: Settings, workdir: Path, since: str, out: Path | None) -> int:
    taxonomy = Taxonomy.load(base.taxonomy_file)
    records = read_snapshot(base.snapshot_dir, taxonomy)
    report = replay(records, settings=base, taxonomy=taxonomy, start=parse_day(since, "since"),
                    workdir=workdir, progress=lambda line: print(line, flush=True))
    print(render(report), flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1), encoding="utf-8")
        print(f"report: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks replay",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--since", default="2021-01-01", help="first day of the replay")
    parser.add_argument("--n-jobs", type=int, default=2, help="joblib workers of each fit")
    parser.add_argument("--out", type=Path, default=Path("bench-results/replay.json"),
                        help="where the JSON report goes")
    args = parser.parse_args(argv)
    return run_in_workdir("replay", args.n_jobs,
                          lambda base, workdir: _run(base, workdir, args.since, args.out))
