"""flask worker: the schedules (with a fixed clock), and a real worker process against the fake
exchange: jobs observed in the run table, one worker per instance, SIGTERM while a job runs,
flask jobs, --once."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime

import pytest
from helpers import fake_config, runs
from test_collect_process import FLASK, collector, wait_for_line  # noqa: F401 (fixture)

from cryptocrunch import create_app
from cryptocrunch.config import ConfigError
from cryptocrunch.db import db
from cryptocrunch.worker.jobs import schedules

ONLY_COLLECT = {
    "collect": {"every": 1},
    "caps": False,
    "listings": False,
    "candles-1h": False,
    "candles-1d": False,
}


def next_times(config, now):
    return {
        name: (s.trigger(now).get_next_fire_time(None, now) if s else None)
        for name, s in schedules(config).items()
    }


def test_the_default_schedules_and_overrides_with_a_fixed_clock():
    now = datetime(2026, 1, 1, 0, 10, 0, tzinfo=UTC)
    defaults = next_times({"JOBS": {}, "COLLECT_INTERVAL": 60, "EXPORTS": []}, now)
    assert defaults == {
        "collect": now,  # an interval job runs at once, then every COLLECT_INTERVAL
        "snapshots": now,  # every minute
        "caps": datetime(2026, 1, 1, 1, 0, tzinfo=UTC),  # hourly
        "listings": datetime(2026, 1, 1, 0, 15, tzinfo=UTC),  # daily at 00:15
        "candles-1h": datetime(2026, 1, 1, 0, 30, tzinfo=UTC),  # hourly at :30
        "candles-1d": datetime(2026, 1, 1, 1, 0, tzinfo=UTC),  # daily at 01:00 UTC
        "exports": None,  # off while EXPORTS is empty
        "backup": datetime(2026, 1, 1, 2, 30, tzinfo=UTC),  # daily at 02:30
        "partitions": datetime(2026, 1, 1, 3, 0, tzinfo=UTC),  # daily at 03:00
        "retention": datetime(2026, 1, 1, 3, 30, tzinfo=UTC),  # daily at 03:30
    }
    later = datetime(2026, 1, 1, 1, 0, 0, 1, tzinfo=UTC)
    exporting = {"JOBS": {}, "COLLECT_INTERVAL": 60, "EXPORTS": [{"what": "ticks"}]}
    assert next_times(exporting, now)["exports"] == datetime(2026, 1, 1, 1, 5, tzinfo=UTC)  # hourly at :05
    assert next_times({"JOBS": {}, "COLLECT_INTERVAL": 60, "EXPORTS": []}, later)["candles-1d"] == datetime(
        2026, 1, 2, 1, 0, tzinfo=UTC
    )
    changed = next_times(
        {
            "JOBS": {"caps": {"every": "15m"}, "listings": False, "collect": {"cron": "*/5 * * * *"}},
            "COLLECT_INTERVAL": 60,
            "EXPORTS": [],
        },
        now,
    )
    assert changed["caps"] == now  # an interval now, then every 15 minutes
    caps = schedules({"JOBS": {"caps": {"every": "15m"}}, "COLLECT_INTERVAL": 60, "EXPORTS": []})["caps"]
    assert caps.trigger(now).get_next_fire_time(now, now) == datetime(2026, 1, 1, 0, 25, tzinfo=UTC)
    assert changed["listings"] is None
    assert changed["collect"] == now  # 00:10 is one of */5's times
    collect = schedules(
        {"JOBS": {"collect": {"cron": "*/5 * * * *"}}, "COLLECT_INTERVAL": 60, "EXPORTS": []}
    )["collect"]
    after = datetime(2026, 1, 1, 0, 11, tzinfo=UTC)
    assert collect.trigger(after).get_next_fire_time(None, after) == datetime(2026, 1, 1, 0, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ({"weather": {"every": 60}}, "JOBS: no job 'weather'; the jobs are collect, snapshots, caps"),
        ({"caps": {"every": -1}}, "JOBS['caps']: every must be a positive number of seconds"),
        ({"caps": {"every": "soon"}}, "JOBS['caps']: every: a duration looks like"),
        ({"caps": {"cron": "61 * * * *"}}, "JOBS['caps']: cron '61 * * * *'"),
        ({"caps": {"at": "noon"}}, "JOBS['caps']: {\"every\": 60}"),
        ([], "JOBS must be a JSON object"),
    ],
)
def test_bad_job_settings_are_refused_naming_the_job(fake, tmp_path, jobs, message):
    config = {**fake_config(fake, tmp_path / "instance", f"sqlite:///{tmp_path / 'w.sqlite'}"), "JOBS": jobs}
    with pytest.raises(ConfigError) as refused:
        create_app(config)
    assert message in str(refused.value)


def spawn_worker(collector, *args, jobs=ONLY_COLLECT):  # noqa: F811
    env = {**collector.env, "CRYPTOCRUNCH_JOBS": json.dumps(jobs)}
    return subprocess.Popen(
        [*FLASK, "worker", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def job_runs(app, name):
    return [r for r in runs(app) if r.source == f"job:{name}"]


def wait_until(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_worker_runs_its_jobs_refuses_a_second_and_stops_on_sigterm(collector):  # noqa: F811
    worker = spawn_worker(collector)
    try:
        wait_until(lambda: len([r for r in job_runs(collector.app, "collect") if r.status == "ok"]) >= 2)
        health = collector.app.test_client().get("/healthz")
        assert (health.status_code, health.json["worker"]) == (200, "alive")
        second = spawn_worker(collector)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert "another flask worker runs on this instance" in err
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "collect      every 1 s" in out and "worker stopped" in out
    assert collector.app.test_client().get("/healthz").json["worker"] == "missing"  # said it stopped
    collected = job_runs(collector.app, "collect")
    assert all(r.status == "ok" and r.finished >= r.started for r in collected)
    assert sum(r.stored for r in collected) >= 2  # the ticks each cycle stored
    sources = {r.source for r in runs(collector.app)}
    assert {"binance", "kraken", "job:collect"} <= sources  # the cycle's own runs, and the job's

    listed = subprocess.run([*FLASK, "jobs"], env=collector.env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert "every 60 s" in lines["collect"] and "ok (stored" in lines["collect"]
    assert "cron 30 * * * * (UTC)" in lines["candles-1h"] and "never run" in lines["candles-1h"]


def test_sigterm_lets_the_running_job_finish(collector, fake):  # noqa: F811
    fake.fail("binance", "slow", delay=2.0)  # the first cycle's binance request takes two seconds
    worker = spawn_worker(collector, jobs={**ONLY_COLLECT, "collect": {"every": 3600}})
    wait_for_line(worker, "worker started")
    time.sleep(0.5)  # the collect job is waiting for binance now
    stopped_at = time.time() * 1000
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert job_runs(collector.app, "collect"), (out, err)
    [run] = job_runs(collector.app, "collect")
    assert run.status == "ok" and run.finished > stopped_at  # finished after the signal, then exited


def test_once_runs_a_job_now_and_records_it(collector):  # noqa: F811
    done = subprocess.run(
        [*FLASK, "worker", "--once", "caps"], env=collector.env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    [run] = job_runs(collector.app, "caps")
    assert run.status == "ok" and run.stored > 0
    bad = subprocess.run(
        [*FLASK, "worker", "--once", "weather"], env=collector.env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "--once: no job 'weather'" in bad.stderr


def test_the_collect_job_never_runs_beside_a_flask_collect(collector):  # noqa: F811
    import filelock

    held = filelock.FileLock(str(collector.app.instance_path + "/collect.lock"))
    with held:  # as a running `flask collect --every` holds it
        done = subprocess.run(
            [*FLASK, "worker", "--once", "collect"],
            env=collector.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    [run] = job_runs(collector.app, "collect")
    assert run.status == "error" and "another flask collect holds this instance's collect lock" in run.error
    assert [r for r in runs(collector.app) if not r.source.startswith("job:")] == []  # nothing fetched


def test_two_machines_sharing_a_postgresql_database_cannot_both_schedule(fake, tmp_path, postgres_url):
    """Two instances (their own folders, so no shared file lock) on one database: the advisory lock."""
    from conftest import running_app
    from test_collect_process import process_env

    jobs = {**ONLY_COLLECT, "collect": {"every": 3600}}
    env = {
        side: process_env({**fake_config(fake, tmp_path / side, postgres_url), "JOBS": jobs}) for side in "ab"
    }
    with running_app(fake_config(fake, tmp_path / "setup", postgres_url)):
        first = subprocess.Popen(
            [*FLASK, "worker"], env=env["a"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            wait_for_line(first, "worker started")
            second = subprocess.run(
                [*FLASK, "worker"], env=env["b"], capture_output=True, text=True, timeout=60
            )
            assert second.returncode == 1
            assert "another flask worker holds this database (PostgreSQL advisory lock)" in second.stderr
        finally:
            first.send_signal(signal.SIGTERM)
            first.communicate(timeout=60)
        assert first.returncode == 0
        again = subprocess.run(
            [*FLASK, "worker", "--once", "caps"], env=env["b"], capture_output=True, text=True, timeout=60
        )
        assert again.returncode == 0, again.stderr  # the lock went with the first worker


def test_json_logs_are_one_object_a_line(collector):  # noqa: F811
    env = {**collector.env, "CRYPTOCRUNCH_LOG_FORMAT": '"json"'}
    done = subprocess.run(
        [*FLASK, "worker", "--once", "caps"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]  # every line is one JSON object
    [finished] = [r for r in records if r["message"].startswith("job caps ok")]
    assert (
        finished["level"] == "INFO"
        and finished["logger"] == "cryptocrunch.worker.jobs"
        and "time" in finished
    )
    bad = subprocess.run(
        [*FLASK, "worker", "--once", "caps"],
        env={**collector.env, "CRYPTOCRUNCH_LOG_FORMAT": '"xml"'},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "LOG_FORMAT must be text or json, got 'xml'" in bad.stderr


def test_the_candles_job_backfills_incrementally_and_a_failing_job_tells_the_admins(make_app, fake):
    from test_backfill import walk
    from test_outbox import admin_with_channels

    from cryptocrunch.clock import HOUR, now_ms
    from cryptocrunch.models import AlertEvent
    from cryptocrunch.worker.jobs import Sources, run_job

    app = make_app(CANDLES_SINCE="3d", NOTIFY_FAILURES_IN_ROW=2)
    start = (now_ms() // HOUR - 60) * HOUR
    candles = walk(50, start, step=HOUR)
    fake.set_candles("binance", "BTC/USDT", "1h", candles)
    sources = Sources(app)
    first = run_job(app, "candles-1h", sources)
    assert first.status == "ok" and first.stored >= len(candles)
    again = run_job(app, "candles-1h", sources)
    assert again.status == "ok" and again.stored == 0  # from the newest stored candle on: nothing new

    admin_with_channels(app, "json://127.0.0.1:1/ops")
    fake.fail("coingecko", "500", times=1000)
    for _ in range(2):
        assert run_job(app, "caps", sources).status == "error"
    with app.app_context():
        events = db.session.scalars(db.select(AlertEvent).where(AlertEvent.kind == "system")).all()
        assert [e.title for e in events] == ["cryptocrunch: job:caps failing"]
        assert "job:caps failed 2 runs in a row" in events[0].message
    listed = app.test_client().get("/api/v1/runs").json
    assert "job:caps" in json.dumps(listed) and "job:candles-1h" in json.dumps(listed)


def test_the_listings_job_loads_every_exchange_s_listing(make_app):
    from cryptocrunch.models import Listing
    from cryptocrunch.worker.jobs import Sources, run_job

    app = make_app()
    run = run_job(app, "listings", Sources(app))
    assert run.status == "ok" and run.stored > 0, run.error
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Listing)) == run.stored


def test_the_worker_runs_exports_as_a_job_of_their_own(make_app, tmp_path):
    from cryptocrunch.worker.jobs import Sources, run_job

    folder, blocked = tmp_path / "out", tmp_path / "blocked"
    blocked.write_text("a file where a folder should be")
    app = make_app(EXPORTS=[{"what": "ticks", "window": "all", "to": str(to)} for to in (folder, blocked)])
    sources = Sources(app)
    assert run_job(app, "collect", sources).status == "ok"
    assert not folder.exists()  # the collect job leaves EXPORTS to the exports job
    done = run_job(app, "exports", sources)
    # one export failing fails the run (the admins hear of it), and the other one still ran
    assert done.status == "error" and done.error.startswith("RuntimeError: 1 of 2 exports failed: ticks")
    assert str(blocked) in done.error
    [written] = folder.glob("ticks-*.csv")
    assert len(written.read_text().splitlines()) > 1  # a header and the ticks just collected
