"""Production serving: `make run` starts gunicorn beside `flask worker` and Ctrl-C stops both; the
systemd units in deploy/ are parsed and their ExecStart commands run."""

from __future__ import annotations

import configparser
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from test_collect_process import collector  # noqa: F401 (fixture)

from cryptocrunch.config import DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 60.0, ok=lambda r: True) -> requests.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = requests.get(url, timeout=5)
            if ok(response):
                return response
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or still starting
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer as expected within {timeout} s")


@pytest.mark.parametrize(("target", "server"), [("run", "gunicorn"), ("dev", "Werkzeug")])
def test_make_serves_beside_the_worker_and_ctrl_c_stops_both(collector, target, server):  # noqa: F811
    """make run: gunicorn; make dev: Flask's debug server; both beside flask worker, /metrics
    adding up the worker's counts."""
    port = free_port()
    env = {k: v for k, v in collector.env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["WEB_CONCURRENCY"] = "2"
    # the package and the browser bundles are installed already: make must not redo them here
    make = subprocess.Popen(
        [
            "make",
            "--no-print-directory",
            target,
            f"VENV={VENV}",
            f"PORT={port}",
            f"METRICS_DIR={collector.app.instance_path}/prometheus",
            "INTERVAL=1",
            "-o",
            f"{VENV}/.installed",
            "-o",
            "node_modules/.installed",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        home = wait_for(f"http://127.0.0.1:{port}/", timeout=120)
        assert home.status_code == 200 and home.headers["Server"].startswith(server)
        health = wait_for(f"http://127.0.0.1:{port}/healthz", ok=lambda r: r.status_code == 200).json()
        assert health["worker"] == "alive" and health["database"] == "ok"
        # the worker's counts, added up (its heartbeat can come before its first collect run ends)
        collected = 'cryptocrunch_job_runs_total{job="collect",status="ok"}'
        wait_for(f"http://127.0.0.1:{port}/metrics", ok=lambda r: collected in r.text)
        processes = subprocess.run(
            ["pgrep", "-g", str(make.pid), "-a"], capture_output=True, text=True
        ).stdout
        assert ("gunicorn" if target == "run" else "flask run --debug") in processes
        assert "flask worker" in processes
    finally:
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole foreground group
        out, _ = make.communicate(timeout=120)
    assert "worker stopped" in out, out

    def left() -> list[str]:
        return subprocess.run(["pgrep", "-g", str(make.pid)], capture_output=True, text=True).stdout.split()

    deadline = time.monotonic() + 15  # Ctrl-C reached every process; the reloader's child may be exiting
    while left() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left() == [], (
        subprocess.run(["ps", "-o", "pid,args", "-g", str(make.pid)], capture_output=True, text=True).stdout
        + out
    )


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read(ROOT / "deploy" / name)
    return parser


def command(service: configparser.ConfigParser) -> list[str]:
    """The unit's ExecStart with the install prefix replaced by this checkout's virtualenv."""
    return [
        part.replace("/opt/cryptocrunch/.venv", str(VENV))
        for part in shlex.split(service["Service"]["ExecStart"])
    ]


def test_the_deploy_units_run(collector):  # noqa: F811
    web, worker = unit("cryptocrunch-web.service"), unit("cryptocrunch-worker.service")
    for service in (web, worker):
        assert service["Service"]["EnvironmentFile"] == "/etc/cryptocrunch.env"
        assert service["Install"]["WantedBy"] == "multi-user.target"
        assert Path(command(service)[0]).exists()
    port = free_port()
    served = [p if p != "127.0.0.1:8000" else f"127.0.0.1:{port}" for p in command(web)]
    env = {
        **collector.env,
        **{k.split("=", 1)[0]: k.split("=", 1)[1] for k in worker["Service"].get("Environment", "").split()},
        "CRYPTOCRUNCH_LOG_FORMAT": "json",
    }
    jobs = subprocess.Popen(
        command(worker), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    server = subprocess.Popen(
        served, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        assert (
            wait_for(f"http://127.0.0.1:{port}/healthz", ok=lambda r: r.status_code == 200).json()["worker"]
            == "alive"
        )
    finally:
        for process in (server, jobs):
            process.send_signal(signal.SIGTERM)  # KillSignal=SIGTERM
        logs = [
            process.communicate(timeout=int(worker["Service"]["TimeoutStopSec"]))[1]
            for process in (server, jobs)
        ]
    assert jobs.returncode == 0 and server.returncode == 0
    # LOG_FORMAT=json: gunicorn's own lines and its access log are JSON objects too, one a line
    lines = [json.loads(line) for line in logs[0].splitlines()]
    loggers = {line["logger"] for line in lines}
    assert {"gunicorn.error", "gunicorn.access"} <= loggers, loggers
    assert any("GET /healthz" in line["message"] for line in lines if line["logger"] == "gunicorn.access")
    assert all(json.loads(line)["level"] for line in logs[1].splitlines())


def test_the_example_environment_names_only_real_settings():
    lines = (ROOT / "deploy" / "cryptocrunch.env.example").read_text().splitlines()
    names = [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]
    known = {f"CRYPTOCRUNCH_{key}" for key in DEFAULTS} | {
        "CRYPTOCRUNCH_SQLALCHEMY_DATABASE_URI",
        "CRYPTOCRUNCH_SECRET_KEY",
        "CRYPTOCRUNCH_INSTANCE_PATH",
        "CRYPTOCRUNCH_PREFERRED_URL_SCHEME",
    }
    assert names and set(names) <= known, set(names) - known
