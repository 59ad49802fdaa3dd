"""flask retention: rows older than RETENTION go in small batches while the API answers; the
statistics of windows that reach before the cut still come from the rollups."""

from __future__ import annotations

import threading

import pytest
from helpers import fake_config
from sqlalchemy import func, select

from cryptocrunch import create_app
from cryptocrunch.clock import DAY, HOUR, MINUTE, now_ms
from cryptocrunch.config import ConfigError
from cryptocrunch.db import db
from cryptocrunch.models import BookTop, Rollup, Run, Tick
from cryptocrunch.sources.base import BookTop as BookTopValue
from cryptocrunch.sources.base import Tick as TickValue
from cryptocrunch.storage import runs
from cryptocrunch.storage.books import store_book_tops
from cryptocrunch.storage.ticks import FINEST, store_ticks


def history(app, days=100, step=HOUR // 2):
    """Two markets with a tick every half hour over ``days``, a book top a day, a run a day."""
    now = now_ms() // HOUR * HOUR
    stamps = range(now - days * DAY, now, step)
    with app.app_context():
        for pair in ("BTC/USD", "ETH/USD"):
            store_ticks(db.session, [TickValue("kraken", pair, t, 100 + (t // step) % 13) for t in stamps])
            store_book_tops(
                db.session,
                [
                    BookTopValue("kraken", pair, t, 99.0, 1.0, 101.0, 1.0, 0, 0, 0, 0)
                    for t in stamps[:: DAY // step]
                ],
            )
        runs.add_runs(
            db.session,
            [Run(source="kraken", started=t, finished=t + 1, status="ok") for t in stamps[:: DAY // step]],
        )
        db.session.commit()
    return now


def count(app, model, before=None, span=None):
    with app.app_context():
        column = {Run: Run.started, Rollup: Rollup.start}.get(model, getattr(model, "ts", None))
        query = select(func.count()).select_from(model)
        if before is not None:
            query = query.where(column < before)
        if span is not None:
            query = query.where(Rollup.span == span)
        return db.session.scalar(query)


def test_old_rows_go_in_batches_while_the_api_answers_and_windows_keep_their_statistics(make_app):
    app = make_app(RETENTION={"tick": "90d", "book_top": "30d", "run": "30d"}, RETENTION_BATCH=200)
    now = history(app)
    api = app.test_client()
    stats = "/api/v1/markets/kraken/BTC-USD/stats?window={}"
    before = {w: api.get(stats.format(w)).json for w in ("all", "30d", "7d")}
    ticks_before = count(app, Tick)
    hours_before = count(app, Rollup, before=now - 90 * DAY, span=HOUR)
    finest_after = count(app, Rollup, span=FINEST) - count(app, Rollup, before=now - 90 * DAY, span=FINEST)
    quarters = count(app, Rollup, span=15 * MINUTE)
    quarters_after = quarters - count(app, Rollup, before=now - 90 * DAY, span=15 * MINUTE)
    six_hours = count(app, Rollup, span=6 * HOUR)
    failures, answered, stop = [], [0], threading.Event()

    def reader():  # the API under load while retention deletes
        client = app.test_client()
        while not stop.is_set():
            for url in (stats.format("all"), "/api/v1/rankings?window=7d", stats.format("24h")):
                response = client.get(url)
                answered[0] += 1
                if response.status_code != 200:
                    failures.append((url, response.status_code, response.json))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        result = app.test_cli_runner().invoke(args=["retention"])
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert result.exit_code == 0, result.output
    assert failures == [] and answered[0] > 0
    cut = (now - 90 * DAY) // HOUR * HOUR
    assert count(app, Tick, before=cut) == 0
    assert count(app, Tick) == ticks_before - 2 * 10 * DAY // (HOUR // 2)  # ten days of two markets
    assert count(app, BookTop, before=now - 30 * DAY) == 0 and count(app, BookTop) > 0
    assert count(app, Run, before=now - 30 * DAY) == 0 and count(app, Run) > 0
    assert f"tick         deleted {2 * 480:,} rows" in result.output
    # the 5- and 15-minute rollups go with the ticks (their hours hold them); the hours stay
    assert count(app, Rollup, before=cut, span=FINEST) == 0
    assert count(app, Rollup, span=FINEST) == finest_after > 0
    assert count(app, Rollup, before=cut, span=15 * MINUTE) == 0
    assert count(app, Rollup, span=15 * MINUTE) == quarters_after < quarters
    assert count(app, Rollup, span=6 * HOUR) == six_hours > 0
    assert count(app, Rollup, before=now - 90 * DAY, span=HOUR) == hours_before == 2 * 10 * 24
    # from the rollups: every figure of a window that starts before the cut, as before
    assert api.get(stats.format("all")).json == before["all"]
    assert api.get(stats.format("30d")).json == before["30d"]
    assert api.get(stats.format("7d")).json == before["7d"]
    again = app.test_cli_runner().invoke(args=["retention"])
    assert "tick         deleted 0 rows" in again.output


def test_a_dry_run_deletes_nothing(make_app):
    app = make_app(RETENTION={"tick": "90d", "candle": None})
    history(app, days=95)
    ticks = count(app, Tick)
    result = app.test_cli_runner().invoke(args=["retention", "--dry-run"])
    assert result.exit_code == 0 and "tick         would delete rows before" in result.output
    assert "candle" not in result.output and count(app, Tick) == ticks


@pytest.mark.parametrize(
    ("retention", "message"),
    [
        ({"rollup": "30d"}, "RETENTION: no table 'rollup' to prune; the tables are tick"),
        ({"tick": "soon"}, "RETENTION['tick']: a duration looks like"),
        ([], "RETENTION must be a JSON object"),
    ],
)
def test_bad_retention_settings_are_refused(fake, tmp_path, retention, message):
    config = {
        **fake_config(fake, tmp_path / "i", f"sqlite:///{tmp_path / 'r.sqlite'}"),
        "RETENTION": retention,
    }
    with pytest.raises(ConfigError) as refused:
        create_app(config)
    assert message in str(refused.value)
