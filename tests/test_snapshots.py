"""Ranking snapshots: a ranking over a standard window answers from the snapshot while it is exact
(the same window start and ticks), equal to the live computation; new ticks, a later minute or
ticks removed by retention make it stale, and the ranking is computed live."""

from __future__ import annotations

import numpy as np
import pytest

from cryptocrunch.clock import HOUR, MINUTE, WINDOWS
from cryptocrunch.db import db
from cryptocrunch.insights import markets as insights
from cryptocrunch.insights.params import METRICS, Window, resolve_window
from cryptocrunch.models import Snapshot
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage import prune, snapshots
from cryptocrunch.storage.ticks import store_ticks

START = 1_700_000_000_000 // HOUR * HOUR
MINUTES = 3 * 24 * 60  # three days of one tick a minute
NOW = START + MINUTES * MINUTE


def write(app, first: int, last: int, markets: int = 12) -> None:
    rng = np.random.default_rng(first)
    with app.app_context():
        ticks = [
            Tick(f"ex{m % 3}", f"C{m}/USD", START + i * MINUTE, float(100 + m + rng.normal(0, 1)))
            for m in range(markets)
            for i in range(first, last)
        ]
        store_ticks(db.session, ticks)
        db.session.commit()


def ranking(app, name: str, metric: str, **filters) -> list[dict]:
    window = resolve_window(name, None, None, now=NOW)
    with app.app_context():
        return insights.rankings(db.session, metric, window, limit=50, **filters)


def live(app, name: str, metric: str, now: int = NOW, **filters) -> list[dict]:
    """The same window asked as an explicit one: never read from a snapshot."""
    window = resolve_window(name, None, None, now=now)
    with app.app_context():
        return insights.rankings(
            db.session, metric, Window(window.start, window.end - 1, "custom"), limit=50, **filters
        )


def read(app, name: str, now: int = NOW):
    start = resolve_window(name, None, None, now=now).start
    with app.app_context():
        return snapshots.read(db.session, name, start)


def refresh(app, now: int = NOW) -> list[str]:
    with app.app_context():
        done = snapshots.refresh(db.session, WINDOWS, now)
        db.session.commit()
        return done


def test_rankings_from_the_snapshot_equal_the_live_ones(app):
    write(app, 0, MINUTES)
    assert all(read(app, name) is None for name in WINDOWS)  # none computed yet
    assert refresh(app) == list(WINDOWS)
    assert refresh(app) == []  # current: nothing to do
    for name in WINDOWS:
        assert read(app, name) is not None
        for metric in METRICS:
            for filters in ({}, {"exchange": "ex1"}, {"quote": "USD"}, {"order": "asc"}):
                assert ranking(app, name, metric, **filters) == live(app, name, metric, **filters), (
                    name,
                    metric,
                )


def test_new_ticks_a_later_minute_or_retention_make_it_stale(app):
    write(app, 0, MINUTES - 10)
    refresh(app)
    before = ranking(app, "1h", "volatility")
    with app.app_context():  # a ranking over a current snapshot reads it: a changed row shows
        db.session.execute(
            db.update(Snapshot).where(Snapshot.window == "1h", Snapshot.market_id == 1).values(rm2=1e9)
        )
        db.session.commit()
    assert ranking(app, "1h", "volatility")[0]["pair"] == "C0/USD" != before[0]["pair"]
    write(app, MINUTES - 10, MINUTES)  # new ticks: the snapshot no longer holds
    assert read(app, "1h") is None
    assert ranking(app, "1h", "volatility") == live(app, "1h", "volatility") != before

    refresh(app)
    assert read(app, "1h") is not None
    assert read(app, "1h", now=NOW + MINUTE) is None  # a minute later the window starts later
    assert refresh(app, NOW + MINUTE) == ["1h", "24h", "7d", "30d"]  # all's start stays 0
    assert read(app, "1h", now=NOW + MINUTE) is not None

    with app.app_context():
        assert prune.prune(db.session, "tick", START + 60 * MINUTE, 500) > 0
    assert read(app, "all", now=NOW + MINUTE) is None  # ticks went: windows reaching back change


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_collect_cycle_and_the_worker_job_refresh_them(make_app):
    from cryptocrunch.clock import now_ms
    from cryptocrunch.worker.jobs import Sources, run_job

    app = make_app()
    sources = Sources(app)
    minutes = [now_ms() // MINUTE * MINUTE]
    assert run_job(app, "collect", sources).status == "ok"
    minutes.append(now_ms() // MINUTE * MINUTE)
    assert any(read(app, "24h", now=minute) is not None for minute in minutes)  # the cycle's minute
    with app.app_context():
        db.session.execute(
            db.update(db.metadata.tables["state"])
            .where(db.metadata.tables["state"].c.key == "snapshot:24h:start")
            .values(value=0)
        )
        db.session.commit()
    job = run_job(app, "snapshots", sources)
    assert job.status == "ok", job.error
    minute = now_ms() // MINUTE * MINUTE
    assert read(app, "24h", now=minute) is not None or read(app, "24h", now=minute - MINUTE) is not None
