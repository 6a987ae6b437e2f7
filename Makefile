# One command per task. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8000
HOST   ?= 127.0.0.1
TEST_WORKERS ?= 2
INCIDENTS_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export INCIDENTS_TEST_POSTGRES_URL

.PHONY: setup run model serve test test-fast lint screenshot bench bench-speed clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## Load the snapshot (or, when it is absent, sync from Bugzilla), train a model if none is
## active, classify the stored incidents with it (the review queue is filled from the start),
## and serve on $(HOST):$(PORT).
run: model serve

model: setup
	$(BIN)/incidents sync --auto
	$(BIN)/incidents train --if-no-active
	$(BIN)/incidents relabel

serve: setup
	$(BIN)/incidents serve --host $(HOST) --port $(PORT)

## Every test, on SQLite and on PostgreSQL ($(INCIDENTS_TEST_POSTGRES_URL)).
test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

## Unit tests only: no snapshot, no PostgreSQL, no browser.
test-fast: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal -m "not snapshot and not postgres and not browser"

## docs/ui.png: the maintainers' page in headless Chromium (apt-get install chromium), as its test leaves it.
screenshot: setup
	INCIDENTS_UI_SCREENSHOT=docs/ui.png $(BIN)/python -m pytest -q tests/service/test_ui_browser.py

## ruff over everything, mypy over the packages (both clean; CI runs them too).
lint: setup
	$(BIN)/ruff check classifier core training cli service tests benchmarks
	$(BIN)/mypy

## Every benchmark: the replay, then speed (README "Performance"), then the soak (README "Soak").
bench: setup
	$(BIN)/python -m benchmarks

## Speed only: the service against an echo app under wrk (installed when absent, as .ci/run
## installs chromium), the model in process, relabel/classify/train as the store grows.
## Options: make bench-speed BENCH_ARGS="--sections service --duration 3 --stores sqlite".
bench-speed: setup
	@if [ ! -x /usr/bin/wrk ]; then \
	    sudo=""; if [ "$$(id -u)" != 0 ]; then sudo="sudo"; fi; \
	    $$sudo apt-get update -qq && \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk; \
	fi
	$(BIN)/python -m benchmarks speed $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info incidents.db
