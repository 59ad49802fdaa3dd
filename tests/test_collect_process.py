"""flask collect as a real process: the lock, SIGTERM, and kill -9 mid-cycle."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
from flask import Flask
from helpers import fake_config, runs, stored_ticks

from cryptocrunch import create_app
from cryptocrunch.db import db, init_db

FLASK = [sys.executable, "-m", "flask"]


@dataclass
class Collector:
    """Runs `flask collect` in a subprocess against the fake exchange and a fresh SQLite file."""

    app: Flask
    env: dict[str, str]

    def spawn(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*FLASK, "collect", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def collector(fake, tmp_path) -> Collector:
    config = fake_config(fake, tmp_path / "instance", f"sqlite:///{tmp_path / 'collect.sqlite'}")
    app = create_app(config)
    with app.app_context():
        init_db()
        db.engine.dispose()
    return Collector(app, process_env(config))


def process_env(config: dict) -> dict[str, str]:
    """The environment of a `flask` process with these settings (CRYPTOCRUNCH_*, JSON values)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOCRUNCH_")}
    env["FLASK_APP"] = "cryptocrunch"
    for key, value in config.items():
        env[f"CRYPTOCRUNCH_{key}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def wait_for_line(process, text, timeout=30.0):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} not printed; got {lines!r}, stderr {process.stderr.read()!r}")


def test_a_single_run_exits_zero_and_stores(collector):
    process = collector.spawn("--exchange", "binance")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "binance" in out and "stored 2" in out
    assert len(stored_ticks(collector.app)) == 2


def test_a_second_collector_is_refused_while_one_runs(collector):
    first = collector.spawn("--every", "60", "--exchange", "binance")
    try:
        wait_for_line(first, "binance")
        second = collector.spawn("--exchange", "binance")
        out, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert "another 'flask collect' is running" in err
    finally:
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert "stopped after 1 cycle" in out


def test_sigterm_mid_cycle_finishes_the_cycle_then_exits_zero(collector, fake):
    first = collector.spawn("--every", "60", "--exchange", "binance")
    wait_for_line(first, "binance")
    fake.fail("binance", "slow", times=1, delay=0.8, path_contains="ticker")  # next cycle is slow
    first.send_signal(signal.SIGTERM)  # arrives during the first wait: no second cycle
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert "stopped after 1 cycle" in out

    slow = collector.spawn("--every", "60", "--exchange", "binance")
    deadline = time.monotonic() + 10
    while fake.count("binance", "ticker") < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # the slow ticker request is in flight
    slow.send_signal(signal.SIGTERM)
    out, err = slow.communicate(timeout=60)
    assert slow.returncode == 0, err
    assert "stored 2" in out  # the interrupted cycle still stored its ticks
    assert [run.status for run in runs(collector.app)] == ["ok", "ok"]


def test_kill_9_mid_cycle_leaves_whole_batches_and_no_stale_lock(collector, fake):
    process = collector.spawn("--every", "0.05")
    wait_for_line(process, "binance")
    time.sleep(0.7)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)

    database = collector.env["CRYPTOCRUNCH_SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        ticks = conn.execute("SELECT count(*) FROM tick").fetchone()[0]
        recorded = conn.execute("SELECT coalesce(sum(stored), 0) FROM run").fetchone()[0]
    assert ticks == recorded > 0  # ticks and their run rows commit together or not at all

    again = collector.spawn("--exchange", "binance")  # the killed process's lock does not block
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert "stored 2" in out
