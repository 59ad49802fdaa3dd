# Quick start: `make run` (the worker: collect every minute and the other jobs; + serve the UI), `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask
INTERVAL ?= 60
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=
export FLASK_APP := cryptocrunch

.PHONY: run dev test typecheck install assets bench bench-alerts bench-ops bench-api bench-ui bench-import bench-startup bench-collect lint clean

$(VENV)/.installed: setup.py pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[postgres]'
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Browser libraries come from npm (package-lock.json); Flask-Assets bundles them into static/gen.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

assets: $(VENV)/.installed node_modules/.installed
	$(FLASK) assets build

install: $(VENV)/.installed

run: assets
	$(FLASK) init-db
	@echo "Backfilling two days of hourly candles so the charts are not empty (offline: each exchange says so)"
	-$(FLASK) backfill --timeframe 1h --since 2d
	rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR)
	export PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR); \
	CRYPTOCRUNCH_COLLECT_INTERVAL=$(INTERVAL) $(FLASK) worker & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT; \
	$(GUNICORN)

# /metrics adds up the counts of every gunicorn worker and of flask worker (prometheus_client's
# multiprocess mode, PROMETHEUS_MULTIPROC_DIR): their files go here, emptied at each start.
METRICS_DIR ?= $(CURDIR)/instance/prometheus

# The production server (gthread workers: WEB_CONCURRENCY, else 2 per core; THREADS each).
THREADS ?= 4
GUNICORN = $(VENV)/bin/gunicorn --worker-class gthread --workers $${WEB_CONCURRENCY:-$$(( 2 * $$(nproc) ))} \
	--threads $(THREADS) --bind $(HOST):$(PORT) --access-logfile - -c python:cryptocrunch.gunicorn_conf \
	'cryptocrunch:create_app()'

# Development: Flask's reloading debug server, and the worker beside it (/metrics adds both up).
dev: assets
	$(FLASK) init-db
	rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR)
	export PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR); \
	CRYPTOCRUNCH_COLLECT_INTERVAL=$(INTERVAL) $(FLASK) worker & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT; \
	$(FLASK) run --debug --host $(HOST) --port $(PORT)

# mypy (strict, over cryptocrunch/ outside views/) and import-linter (the layers' arrows, no cycles)
typecheck: $(VENV)/.test-installed
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

test: $(VENV)/.test-installed assets
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MAKE) --no-print-directory typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks print their figures and fail when a bar is missed; bench-api needs wrk (apt-get install wrk);
# bench-import times `flask import-candles` on a generated 1M-row CSV against pandas read_csv + executemany.
bench: $(VENV)/.test-installed
	$(PY) bench/startup.py
	$(PY) bench/ingest.py
	$(PY) bench/stats.py

bench-alerts: $(VENV)/.test-installed
	$(PY) bench/alerts.py

bench-ops: $(VENV)/.test-installed
	$(PY) bench/ops.py

bench-startup: $(VENV)/.installed
	$(PY) bench/startup.py

# a collect cycle over 10 exchanges x 2,000 markets from the fake exchange (200-500 ms latency each),
# and storing 20,000 ticks with rollups; BENCH_ARGS=--smoke for a quick run
bench-collect: $(VENV)/.test-installed
	$(PY) bench/collect.py $(BENCH_ARGS)

bench-ui: $(VENV)/.test-installed assets
	$(PY) bench/ui.py

bench-import: $(VENV)/.test-installed
	$(PY) bench/import_candles.py

bench-api: $(VENV)/.test-installed
	@command -v wrk >/dev/null || { echo "bench-api needs wrk: apt-get install wrk"; exit 1; }
	$(PY) bench/api.py

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) node_modules build dist *.egg-info cryptocrunch/static/gen
