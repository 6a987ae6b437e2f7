"""`python -m benchmarks [replay|speed|soak] [options]`: every benchmark in turn, or the one named.

replay: the replay of corrections and gated retraining, quarter by quarter (benchmarks/replay.py).
speed: model, HTTP and nightly relabel speed (benchmarks/speed.py).
soak: many clients against a real `incidents serve` with a promotion half-way: errors, memory
and every stored answer checked (benchmarks/soak.py).
Options after a name go to that benchmark (`python -m benchmarks replay --since 2022-01-01`;
`python -m benchmarks speed --help`).
"""

import importlib
import sys

NAMES = ("replay", "speed", "soak")


def main(argv: list[str]) -> int:
    if argv and argv[0] in NAMES:
        return importlib.import_module(f"benchmarks.{argv[0]}").main(argv[1:])
    if argv:
        print(__doc__.strip(), file=sys.stderr)
        return 0 if argv[0] in ("-h", "--help") else 2
    codes = []
    for name in NAMES:
        print(f"== {name} ==", flush=True)
        codes.append(importlib.import_module(f"benchmarks.{name}").main([]))
    return max(codes)


raise SystemExit(main(sys.argv[1:]))
