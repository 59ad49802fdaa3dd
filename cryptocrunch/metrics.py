"""Prometheus metrics (``prometheus_client``): what the collector, the worker's jobs, the alerts and
the web requests count, and ``/metrics`` in the text format. Under gunicorn, and beside
``flask worker``, set PROMETHEUS_MULTIPROC_DIR to one folder for all of them (``make run`` does):
each process writes its own files there and ``/metrics`` adds them up. Imported where it is used,
so start-up does not pay for prometheus_client."""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

TICKS = Counter("cryptocrunch_ticks_stored_total", "Ticks stored, by source.", ["source"])
REJECTED = Counter("cryptocrunch_ticks_rejected_total", "Payload values rejected, by source.", ["source"])
RUN_SECONDS = Histogram(
    "cryptocrunch_run_seconds",
    "How long a source's collect run took.",
    ["source"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60),
)
JOB_RUNS = Counter(
    "cryptocrunch_job_runs_total", "Runs of the worker's jobs, by job and status.", ["job", "status"]
)
ALERTS = Counter(
    "cryptocrunch_alerts_total", "Alert rules fired, and deliveries sent or failed for good.", ["outcome"]
)
RESPONSE_CACHE = Counter(
    "cryptocrunch_response_cache_total",
    "API answers looked up in the response cache: hit, miss, or error (Redis failed: answered uncached).",
    ["result"],
)
REQUESTS = Histogram(
    "cryptocrunch_http_request_seconds",
    "Web request latency, by endpoint, method and status.",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def count_runs(reports: Iterable[Any]) -> None:
    """A collect cycle's source reports (stored, rejected, seconds)."""
    for report in reports:
        TICKS.labels(report.source).inc(report.stored)
        REJECTED.labels(report.source).inc(report.rejected)
        RUN_SECONDS.labels(report.source).observe(report.seconds)


class _DatabaseSize(Collector):
    """The database's size, read at each scrape."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from sqlalchemy import text

        from .db import db

        with self.app.app_context():
            engine = db.engine
            if engine.dialect.name == "postgresql":
                with engine.connect() as conn:
                    size = float(
                        conn.execute(text("SELECT pg_database_size(current_database())")).scalar() or 0
                    )
            else:
                path = Path(engine.url.database or "")
                size = float(sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file()))
        yield GaugeMetricFamily(
            "cryptocrunch_database_bytes", "Size of the database (SQLite: with its WAL).", size
        )


def metrics() -> Response:
    """Every metric in Prometheus' text format (with METRICS_TOKEN: for its bearer only)."""
    token = current_app.config["METRICS_TOKEN"]
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), str(token).encode()):
            return Response("a bearer token is needed (METRICS_TOKEN)\n", 401, {"WWW-Authenticate": "Bearer"})
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    body = generate_latest(registry) + generate_latest(_size_registry(current_app))
    return Response(body, 200, {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def _size_registry(app: Flask) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(_DatabaseSize(app))
    return registry


def started() -> None:
    """Before a request: note when it began."""
    g.metrics_started = time.perf_counter()


def finished(response: Response) -> Response:
    """After a request: observe its latency under its endpoint (the URL rule, not the URL)."""
    begun = g.pop("metrics_started", None)
    if begun is not None and request.endpoint != "health.metrics":
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        REQUESTS.labels(endpoint, request.method, str(response.status_code)).observe(
            time.perf_counter() - begun
        )
    return response
