"""``flask worker``: one long-running process that runs every scheduled job of the instance on
APScheduler (coalesced, one instance of a job at a time, a misfire grace), each run recorded as a
run row; ``flask jobs`` lists the jobs with their schedule, next and last run. One worker per
instance and database: the instance's file lock, and on PostgreSQL an advisory lock, so two
machines sharing a database cannot both schedule. SIGTERM lets running jobs finish (within
WORKER_STOP_TIMEOUT), then exits 0."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import with_appcontext
from flask.globals import app_ctx

from .. import events
from ..clock import utc_text
from ..config import ConfigError, add_check, apply_config_file, config_file_option
from ..db import db
from .jobs import DEFAULT_SCHEDULES, PREFIX, check_settings, schedules

log = logging.getLogger(__name__)

#: Seconds a job may start late (the worker was busy or paused) and still run; later, it waits
#: for its next time. Runs missed meanwhile are coalesced into one.
MISFIRE_GRACE = 300
#: The PostgreSQL advisory lock of the one worker of a database (and schema).
_KEY = "hashtext('cryptocrunch worker ' || current_database() || '.' || current_schema())"
ADVISORY_LOCK = f"SELECT pg_try_advisory_lock({_KEY})"
ADVISORY_UNLOCK = f"SELECT pg_advisory_unlock({_KEY})"


#: Seconds between the worker's heartbeats (``runs.WORKER_SEEN``); /healthz calls a worker missing
#: after three of them without one.
HEARTBEAT = 15


def _beat(app: Flask, value: int | None = None) -> None:
    """Record that the worker is alive now (or ``value``: 0 when it stopped)."""
    from ..clock import now_ms
    from ..storage import runs

    with app.app_context():
        try:
            runs.set_state(db.session(), runs.WORKER_SEEN, now_ms() if value is None else value)
            db.session.commit()
        except Exception:  # a missed beat only makes /healthz doubt the worker
            log.exception("worker heartbeat failed")
        finally:
            db.session.remove()


class WorkerBusy(Exception):
    """Another worker holds this instance or database."""


@contextmanager
def one_worker(app: Flask) -> Iterator[None]:
    """Hold the instance's worker lock and, on PostgreSQL, the database's advisory lock."""
    import filelock

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(Path(app.instance_path) / "worker.lock"), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise WorkerBusy(f"another flask worker runs on this instance (lock {lock.lock_file})") from None
    try:
        if db.engine.dialect.name != "postgresql":
            yield
            return
        from sqlalchemy import text

        with db.engine.connect() as held:  # the lock lives as long as this session
            taken = held.execute(text(ADVISORY_LOCK)).scalar()
            held.commit()
            if not taken:
                raise WorkerBusy("another flask worker holds this database (PostgreSQL advisory lock)")
            try:
                yield
            finally:
                held.execute(text(ADVISORY_UNLOCK))
                held.commit()
    finally:
        lock.release()


class _Running:
    """The jobs running now, to wait for at a stop."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.changed = threading.Condition()

    @contextmanager
    def job(self, name: str) -> Iterator[None]:
        with self.changed:
            self.names.add(name)
        try:
            yield
        finally:
            with self.changed:
                self.names.discard(name)
                self.changed.notify_all()

    def wait(self, timeout: float) -> set[str]:
        """Wait until no job runs, at most ``timeout`` seconds; the jobs still running."""
        with self.changed:
            self.changed.wait_for(lambda: not self.names, timeout)
            return set(self.names)


@click.command("worker")
@with_appcontext
@config_file_option
@click.option("--once", "once", multiple=True, help="Run this job once now and exit (repeatable).")
def worker_command(config_file: str | None, once: tuple[str, ...]) -> None:
    """Run every scheduled job of this instance (JOBS) until stopped."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    from ..collector.schedule import stop_on_signals
    from .jobs import Sources, run_job

    app = app_ctx.app
    from ..logs import configure

    configure(app.config)
    try:
        apply_config_file(app, config_file)
        planned = schedules(app.config)
        unknown = [name for name in once if name not in DEFAULT_SCHEDULES]
        if unknown:
            raise ConfigError(f"--once: no job {unknown[0]!r}; the jobs are {', '.join(DEFAULT_SCHEDULES)}")
        sources = Sources(app)
    except (ConfigError, ValueError) as error:
        raise click.UsageError(str(error)) from None
    db.session.remove()
    running = _Running()

    def run(name: str) -> None:
        with running.job(name):
            run_job(app, name, sources)

    try:
        with one_worker(app), stop_on_signals() as stop:
            if once:
                for name in once:
                    run(name)
                return
            scheduler = BackgroundScheduler(
                timezone=UTC,
                executors={"default": ThreadPoolExecutor(4)},
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE},
            )
            now = datetime.now(UTC)
            for name, schedule in planned.items():
                if schedule is None:
                    continue
                # an interval job runs at once, then every interval; a cron job at its next time
                first = {"next_run_time": now} if schedule.seconds is not None else {}
                scheduler.add_job(run, schedule.trigger(now), args=[name], id=name, name=name, **first)
                click.echo(f"{name:<12} {schedule.describe()}")
            scheduler.add_job(
                _beat, "interval", seconds=HEARTBEAT, args=[app], id="heartbeat", next_run_time=now
            )
            scheduler.start()
            click.echo("worker started; SIGTERM or Ctrl-C stops it")
            stop.wait()
            scheduler.shutdown(wait=False)
            timeout = float(app.config["WORKER_STOP_TIMEOUT"])
            left = running.wait(timeout)
            if left:
                click.echo(
                    f"stopping: {', '.join(sorted(left))} still running after {timeout:g} s; exiting",
                    err=True,
                )
                logging.shutdown()
                os._exit(1)  # the job's thread would hold the process open
            _beat(app, 0)
            for _receiver, lines in events.stopping.send(app):
                for line in lines:
                    click.echo(line)
            click.echo("worker stopped")
    except WorkerBusy as busy:
        raise click.ClickException(f"{busy}; stop it first") from None


@click.command("jobs")
@with_appcontext
@config_file_option
def jobs_command(config_file: str | None) -> None:
    """List the jobs: schedule, next run, last run and its status."""
    from ..storage import runs

    app = app_ctx.app
    try:
        apply_config_file(app, config_file)
        planned = schedules(app.config)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    last = {run.source: run for run in runs.latest_runs(db.session()) if run.source.startswith(PREFIX)}
    now = datetime.now(UTC)
    click.echo(f"{'job':<12} {'schedule':<26} {'next run (UTC)':<20} {'last run (UTC)':<20} status")
    for name, schedule in planned.items():
        if schedule is None:
            click.echo(f"{name:<12} {'off':<26}")
            continue
        after = schedule.trigger(now).get_next_fire_time(None, now)
        upcoming = after.strftime("%Y-%m-%d %H:%M:%S") if after else "-"
        run = last.get(PREFIX + name)
        status: Any = "never run"
        if run is not None:
            status = run.status + (f": {run.error}" if run.error else "") + f" (stored {run.stored})"
        started = utc_text(run.started) if run is not None else "-"
        click.echo(f"{name:<12} {schedule.describe():<26} {upcoming:<20} {started:<20} {status}")


def init_app(app: Flask) -> None:
    """The JOBS checks, `flask worker` and `flask jobs`."""
    add_check(app, check_settings)
    app.cli.add_command(worker_command)
    app.cli.add_command(jobs_command)
