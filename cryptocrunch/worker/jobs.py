"""The scheduled jobs of an instance: their names, default schedules (``JOBS`` overrides them or
turns them off), what each runs, and one run of a job recorded as a run row (source
``job:<name>``, with its status, what it stored and its error).

A schedule is ``{"every": 60}`` (seconds, or a duration like ``"15m"``) or ``{"cron": "30 * * * *"}``
(crontab, UTC); ``false`` turns a job off."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask

from ..clock import now_ms, parse_duration
from ..config import ConfigError
from ..db import db
from ..models import Run
from ..storage import runs

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

log = logging.getLogger(__name__)

#: A job's default schedule; ``every: None`` means COLLECT_INTERVAL seconds.
DEFAULT_SCHEDULES: dict[str, dict[str, Any]] = {
    "collect": {"every": None},
    "snapshots": {"cron": "* * * * *"},
    "caps": {"cron": "0 * * * *"},
    "listings": {"cron": "15 0 * * *"},
    "candles-1h": {"cron": "30 * * * *"},
    "candles-1d": {"cron": "0 1 * * *"},
    "exports": {"cron": "5 * * * *"},
    "backup": {"cron": "30 2 * * *"},
    "partitions": {"cron": "0 3 * * *"},
    "retention": {"cron": "30 3 * * *"},
}
PREFIX = "job:"


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a job runs: every ``seconds``, or at the times of the crontab ``cron`` (UTC)."""

    seconds: float | None = None
    cron: str | None = None

    def describe(self) -> str:
        if self.cron is not None:
            return f"cron {self.cron} (UTC)"
        return f"every {self.seconds:g} s"

    def trigger(self, start: datetime) -> BaseTrigger:
        """The APScheduler trigger; an interval counts from ``start`` (its first run)."""
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.cron is not None:
            return CronTrigger.from_crontab(self.cron, timezone="UTC")
        return IntervalTrigger(seconds=self.seconds, start_date=start, timezone="UTC")


def _schedule(name: str, spec: Any, interval: float) -> Schedule | None:
    if spec is False or spec is None:
        return None
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in ("every", "cron"):
        raise ConfigError(
            f'JOBS[{name!r}]: {{"every": 60}}, {{"every": "15m"}}, {{"cron": "30 * * * *"}} or false'
        )
    if "cron" in spec:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(str(spec["cron"]), timezone="UTC")
        except ValueError as error:
            raise ConfigError(f"JOBS[{name!r}]: cron {spec['cron']!r}: {error}") from None
        return Schedule(cron=str(spec["cron"]))
    every = spec["every"]
    if every is None:
        return Schedule(seconds=interval)
    if isinstance(every, str):
        try:
            return Schedule(seconds=parse_duration(every) / 1000)
        except ValueError as error:
            raise ConfigError(f"JOBS[{name!r}]: every: {error}") from None
    if isinstance(every, bool) or not isinstance(every, int | float) or every <= 0:
        raise ConfigError(f"JOBS[{name!r}]: every must be a positive number of seconds, got {every!r}")
    return Schedule(seconds=float(every))


def schedules(config: Mapping[str, Any]) -> dict[str, Schedule | None]:
    """Every job with its schedule (None: turned off), defaults overridden by JOBS; ``exports`` is
    off while EXPORTS is empty."""
    jobs = config["JOBS"]
    if not isinstance(jobs, Mapping):
        raise ConfigError(
            'JOBS must be a JSON object like {"caps": {"cron": "0 * * * *"}, "listings": false}'
        )
    unknown = [name for name in jobs if name not in DEFAULT_SCHEDULES]
    if unknown:
        raise ConfigError(f"JOBS: no job {unknown[0]!r}; the jobs are {', '.join(DEFAULT_SCHEDULES)}")
    interval = float(config["COLLECT_INTERVAL"])
    found = {
        name: _schedule(name, jobs.get(name, default), interval)
        for name, default in DEFAULT_SCHEDULES.items()
    }
    if not config["EXPORTS"]:
        found["exports"] = None
    return found


def check_settings(config: Mapping[str, Any]) -> None:
    """Check JOBS, WORKER_STOP_TIMEOUT and COLLECT_BOOKS."""
    schedules(config)
    if not isinstance(config["COLLECT_BOOKS"], bool):
        raise ConfigError(f"COLLECT_BOOKS must be true or false, got {config['COLLECT_BOOKS']!r}")
    timeout = config["WORKER_STOP_TIMEOUT"]
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError(f"WORKER_STOP_TIMEOUT must be a positive number of seconds, got {timeout!r}")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one run of a job did: rows stored, and the lines it printed."""

    stored: int
    lines: list[str]


class Sources:
    """The instance's sources, built once for the worker's life (ccxt loads each exchange's
    markets once, not at every run)."""

    def __init__(self, app: Flask) -> None:
        from pathlib import Path

        from ..collector.cycle import build_sources, coingecko_source

        self.all = build_sources(app.config, Path(app.instance_path) / "markets")
        self.caps = coingecko_source(app.config)


def _collect(app: Flask, sources: Sources) -> Outcome:
    import filelock

    from ..collector import collect_lock

    try:
        with collect_lock(app.instance_path):
            return _cycle(app, sources)
    except filelock.Timeout:
        raise RuntimeError("another flask collect holds this instance's collect lock") from None


def _cycle(app: Flask, sources: Sources) -> Outcome:
    from ..collector import run_cycle

    every = float(app.config["COLLECT_INTERVAL"])  # long-running: delivery in the background
    books = bool(app.config["COLLECT_BOOKS"])
    stored, lines = run_cycle(app, sources.all, sources.caps, books=books, every=every, exports=False)
    return Outcome(stored, lines)


def _snapshots(app: Flask, _sources: Sources) -> Outcome:
    from ..collector import refresh_snapshots

    done = refresh_snapshots(db.session())
    return Outcome(0, [f"snapshots refreshed: {', '.join(done) or 'none (current)'}"])


def _caps(app: Flask, sources: Sources) -> Outcome:
    from ..collector.cycle import snapshot_caps

    line = snapshot_caps(
        db.session(), sources.caps, int(app.config["CAPS_TOP"]), app.config["REJECTIONS_KEEP"]
    )
    if " ERROR " in line:
        raise RuntimeError(line.split(" ERROR ", 1)[1])
    return Outcome(int(line.split("stored ")[1].split()[0]), [line])


def _listings(app: Flask, sources: Sources) -> Outcome:
    from ..collector.listings import refresh_listings
    from ..sources.exchange import CcxtSource

    ccxt = {name: source for name, (source, _) in sources.all.items() if isinstance(source, CcxtSource)}
    ranked = [name for name, (_, rule) in sources.all.items() if rule.top is not None]
    reports = refresh_listings(db.session(), ccxt, max_age=0, force=True, ranked=ranked)
    failed = [r for r in reports if r.status == "error"]
    if failed and len(failed) == len(reports):
        raise RuntimeError("; ".join(f"{r.exchange}: {r.error}" for r in failed))
    return Outcome(sum(r.pairs for r in reports if r.status != "error"), [r.describe() for r in reports])


def _candles(timeframe: str) -> Callable[[Flask, Sources], Outcome]:
    def run(app: Flask, sources: Sources) -> Outcome:
        from ..collector.backfill import backfill_configured, parse_since

        end = now_ms()
        start = parse_since(str(app.config["CANDLES_SINCE"]), end)
        stored, lines, errors = 0, [], []
        done = backfill_configured(
            db.session(), sources.all, timeframe, start, end, keep_rejections=app.config["REJECTIONS_KEEP"]
        )
        for exchange, pair, report in done:
            if isinstance(report, str):
                lines.append(f"{exchange} {pair} {report}")
                continue
            stored += report.stored
            if report.error:
                errors.append(f"{exchange} {pair}: {report.error}")
            lines.append(f"{exchange} {pair} stored {report.stored}")
        if errors and not stored:
            raise RuntimeError("; ".join(errors))
        return Outcome(stored, lines)

    return run


def _exports(app: Flask, _sources: Sources) -> Outcome:
    from ..exports.command import run_configured

    lines = list(run_configured(db.session(), app.config, app.instance_path))
    failed = [line.split(maxsplit=1)[1] for line in lines if " ERROR " in line]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(lines)} exports failed: " + "; ".join(failed))
    return Outcome(0, lines)


def _backup(app: Flask, _sources: Sources) -> Outcome:
    from ..backups import backup

    made = backup(app, None, int(app.config["BACKUP_KEEP"]))
    return Outcome(0, [made.describe()])


def _partitions(app: Flask, _sources: Sources) -> Outcome:
    from ..retention import cuts

    if db.engine.dialect.name != "postgresql":
        return Outcome(0, ["partitions   SQLite: tick is not partitioned"])
    from ..storage import partitions  # psycopg: the postgres extra's

    now = now_ms()
    return Outcome(0, partitions.maintain(db.session(), now, keep_after=cuts(app.config, now).get("tick")))


def _retention(app: Flask, _sources: Sources) -> Outcome:
    from ..retention import run_retention

    deleted, lines = run_retention(app)
    return Outcome(deleted, lines)


JOBS: dict[str, Callable[[Flask, Sources], Outcome]] = {
    "collect": _collect,
    "snapshots": _snapshots,
    "caps": _caps,
    "listings": _listings,
    "candles-1h": _candles("1h"),
    "candles-1d": _candles("1d"),
    "exports": _exports,
    "backup": _backup,
    "partitions": _partitions,
    "retention": _retention,
}


def run_job(app: Flask, name: str, sources: Sources) -> Run:
    """Run job ``name`` once in an app context and record its run (ok, or error with the reason;
    an exception never escapes: the scheduler goes on)."""
    from .. import events

    with app.app_context():
        session = db.session()
        started, clock = now_ms(), time.monotonic()
        status, error, stored = "ok", None, 0
        try:
            outcome = JOBS[name](app, sources)
            stored = outcome.stored
        except Exception as failure:
            session.rollback()
            status, error = "error", f"{type(failure).__name__}: {failure}"
            log.exception("job %s failed", name)
        run = Run(
            source=PREFIX + name,
            started=started,
            finished=now_ms(),
            status=status,
            stored=stored,
            error=error,
        )
        runs.add_runs(session, [run])
        session.commit()
        log.info(
            "job %s %s in %.2f s%s", name, status, time.monotonic() - clock, f": {error}" if error else ""
        )
        from ..metrics import JOB_RUNS

        JOB_RUNS.labels(name, status).inc()
        events.job_finished.send(app, session=session, job=name)
        session.refresh(run)  # loaded, then detached: the caller may read it after the context
        session.expunge(run)
        db.session.remove()
        return run
