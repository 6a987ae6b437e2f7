"""`python -m benchmarks`: the replay of corrections and gated retraining, quarter by quarter."""

from benchmarks.replay import main

raise SystemExit(main())
