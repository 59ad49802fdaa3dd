"""/metrics, read back with prometheus_client's own parser: ticks, runs, jobs, alerts, request
latency, database size; METRICS_TOKEN; and gunicorn's workers plus flask worker added up in
multiprocess mode."""

from __future__ import annotations

import subprocess
import sys

import requests
from prometheus_client.parser import text_string_to_metric_families
from test_collect_process import FLASK, collector  # noqa: F401 (fixture)
from test_serving import ROOT, free_port, wait_for


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_what_happened(make_app, fake):
    app = make_app()
    client = app.test_client()
    before = samples(client.get("/metrics").get_data(as_text=True))
    fake.set_ticker("binance", "BTC/USDT", 100)
    assert app.test_cli_runner().invoke(args=["collect", "--exchange", "binance"]).exit_code == 0
    for _ in range(3):
        assert client.get("/api/v1/markets").status_code == 200
    assert client.get("/api/v1/markets/nowhere/BTC-USD/stats").status_code == 404
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.content_type.startswith("text/plain; version=0.0.4")
    after = samples(answer.get_data(as_text=True))
    ticks = "cryptocrunch_ticks_stored_total"
    assert value(after, ticks, source="binance") - value(before, ticks, source="binance") == 2
    runs = "cryptocrunch_run_seconds_count"
    assert value(after, runs, source="binance") - value(before, runs, source="binance") == 1
    latency = "cryptocrunch_http_request_seconds_count"
    ok = {"endpoint": "/api/v1/markets", "method": "GET", "status": "200"}
    assert value(after, latency, **ok) - value(before, latency, **ok) == 3
    missing = {"endpoint": "/api/v1/markets/<exchange>/<pair:pair>/stats", "method": "GET", "status": "404"}
    assert value(after, latency, **missing) - value(before, latency, **missing) == 1
    assert value(after, "cryptocrunch_database_bytes") > 0


def test_a_metrics_token_keeps_metrics_to_its_bearer(make_app):
    app = make_app(METRICS_TOKEN="scrape-me-please")
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    good = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
    assert good.status_code == 200 and "cryptocrunch_database_bytes" in good.get_data(as_text=True)
    open_app = make_app(REQUIRE_LOGIN=True)  # a private instance still answers its monitors
    assert open_app.test_client().get("/metrics").status_code == 200
    assert open_app.test_client().get("/healthz").status_code in (200, 503)


def test_gunicorn_workers_and_flask_worker_add_up_in_multiprocess_mode(collector, tmp_path):  # noqa: F811
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {**collector.env, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    job = subprocess.run(
        [*FLASK, "worker", "--once", "collect"], env=env, capture_output=True, text=True, timeout=60
    )
    assert job.returncode == 0, job.stderr
    port = free_port()
    server = subprocess.Popen(
        [
            f"{sys.prefix}/bin/gunicorn",
            "--worker-class",
            "gthread",
            "--workers",
            "2",
            "--threads",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "-c",
            "python:cryptocrunch.gunicorn_conf",
            "cryptocrunch:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", ok=lambda r: r.status_code in (200, 503))
        for _ in range(20):  # spread over both workers
            assert requests.get(f"http://127.0.0.1:{port}/api/v1/markets", timeout=10).status_code == 200
        found = samples(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    latency = {"endpoint": "/api/v1/markets", "method": "GET", "status": "200"}
    assert value(found, "cryptocrunch_http_request_seconds_count", **latency) == 20
    assert value(found, "cryptocrunch_job_runs_total", job="collect", status="ok") == 1  # from flask worker
    assert value(found, "cryptocrunch_ticks_stored_total", source="binance") == 2
    assert len({p.name.split("_")[-1] for p in folder.iterdir()}) >= 2  # more than one process wrote
