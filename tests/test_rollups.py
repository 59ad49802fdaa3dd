"""Rollups kept on write give the same statistics as a plain computation over the raw ticks."""

import itertools
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_stats import assert_matches

from cryptocrunch.analysis.stats import finish
from cryptocrunch.clock import DAY, HOUR, WEEK
from cryptocrunch.db import db
from cryptocrunch.models import Market
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage.markets import market_ids
from cryptocrunch.storage.ticks import cover, store_ticks, window_summaries

START = 1_700_000_000_000 // DAY * DAY + 5 * HOUR + 17 * 60_000  # not on a bucket edge


def series(seed, n, step_ms):
    rng = np.random.default_rng(seed)
    ts = START + np.cumsum(rng.integers(step_ms // 2, step_ms * 2, n))
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return [int(t) for t in ts], [float(p) for p in prices]


@pytest.fixture
def stored(app):
    """Three markets of ticks over ~15 days, written in shuffled, overlapping batches."""
    markets = {
        ("kraken", "BTC/USD"): series(1, 1100, 20 * 60_000),
        ("binance", "ETH/USDT"): series(2, 400, 15 * 60_000),
    }
    markets["coinbase", "SOL/USD"] = ([START + 10 * 60_000, START + 20 * 60_000], [10.0, 11.0])
    ticks = [
        Tick(e, p, t, v) for (e, p), (ts, prices) in markets.items() for t, v in zip(ts, prices, strict=True)
    ]
    random.Random(4).shuffle(ticks)
    with app.app_context():
        for i in range(0, len(ticks), 97):
            store_ticks(db.session, ticks[i : i + 130])  # batches overlap: some ticks arrive twice
            db.session.commit()
        ids = market_ids(db.session, markets)
    return {ids[key]: value for key, value in markets.items()}


def windows(stored):
    ts = sorted(t for ts, _ in stored.values() for t in ts)
    lo, hi = ts[0], ts[-1]
    rng = random.Random(9)
    edges = [
        lo,
        hi + 1,
        lo // DAY * DAY,
        (lo // HOUR + 3) * HOUR,
        (hi // DAY) * DAY,
        lo // WEEK * WEEK + WEEK,
        0,
        2**62,
    ]
    chosen = [
        (0, 2**62),
        (lo, hi + 1),
        (lo // DAY * DAY + DAY, hi // DAY * DAY),
        (lo // WEEK * WEEK + WEEK, hi),
    ]
    for _ in range(40):
        a, b = sorted(rng.choice([rng.randint(lo - HOUR, hi + HOUR), rng.choice(edges)]) for _ in range(2))
        chosen.append((a, b))
    return chosen


def test_window_statistics_equal_the_plain_computation(app, stored):
    with app.app_context():
        for start, end in windows(stored):
            combined = {
                row["market_id"]: row
                for row in window_summaries(db.session, list(stored), start, end).to_dict("records")
            }
            for market_id, (ts, prices) in stored.items():
                inside = [(t, p) for t, p in zip(ts, prices, strict=True) if start <= t < end]
                if len(inside) < 3:
                    with pytest.raises(ValueError, match="statistics need at least 3"):
                        finish(combined.get(market_id, {"n": 0}))
                    continue
                t_in, p_in = zip(*inside, strict=True)
                assert_matches(finish(combined[market_id]), list(t_in), list(p_in))


def test_rollups_hold_every_tick_once_in_hours_and_days(app, stored):
    from sqlalchemy import func, select

    from cryptocrunch.models import Rollup

    with app.app_context():
        counts = dict(db.session.execute(select(Rollup.span, func.sum(Rollup.n)).group_by(Rollup.span)).all())
    total = sum(len(ts) for ts, _ in stored.values())
    assert counts == {HOUR: total, DAY: total, WEEK: total}


def test_cover_uses_the_coarsest_whole_buckets_and_raw_ticks_only_at_the_edges():
    start, end = 3 * WEEK - 2 * DAY - 5 * HOUR - 7, 5 * WEEK + DAY + 2 * HOUR + 9
    pieces = cover(start, end)
    assert pieces == [
        (0, start, 3 * WEEK - 2 * DAY - 5 * HOUR),
        (HOUR, 3 * WEEK - 2 * DAY - 5 * HOUR, 3 * WEEK - 2 * DAY),
        (DAY, 3 * WEEK - 2 * DAY, 3 * WEEK),
        (WEEK, 3 * WEEK, 5 * WEEK),
        (DAY, 5 * WEEK, 5 * WEEK + DAY),
        (HOUR, 5 * WEEK + DAY, 5 * WEEK + DAY + 2 * HOUR),
        (0, 5 * WEEK + DAY + 2 * HOUR, end),
    ]
    assert cover(10, 20) == [(0, 10, 20)]
    assert cover(5, 5) == []


@pytest.mark.parametrize("points", [3, 10, 50])
def test_long_series_downsample_from_rollups_keeps_every_bucket_extreme(app, stored, points):
    from cryptocrunch.insights.markets import series
    from cryptocrunch.insights.params import resolve_window

    longest = max(stored, key=lambda m: len(stored[m][0]))
    ts, prices = stored[longest]
    with app.app_context():
        market = db.session.get(Market, longest)
        exchange, pair = market.exchange.name, market.pair
        out = series(db.session, exchange, pair, resolve_window("all", None, None), points)
    assert 1 < len(out) <= points
    assert min(p["min"] for p in out) == min(prices)
    assert max(p["max"] for p in out) == max(prices)
    assert (out[-1]["ts"], out[-1]["last"]) == (ts[-1], prices[-1])
    # each bucket's extremes are those of the raw ticks between the previous bucket's last tick and its own
    previous = -1
    for point in out:
        inside = [p for t, p in zip(ts, prices, strict=True) if previous < t <= point["ts"]]
        assert (point["min"], point["max"], point["last"]) == (min(inside), max(inside), inside[-1])
        previous = point["ts"]


_markets = itertools.count()


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(
    prices=st.lists(st.floats(1e-6, 1e6, allow_nan=False), min_size=3, max_size=120),
    data=st.data(),
)
def test_property_database_windows_equal_the_plain_computation(app, prices, data):
    steps = data.draw(
        st.lists(
            st.sampled_from([1_000, 59_000, HOUR - 1, HOUR, 5 * HOUR, DAY + 7, 3 * DAY]),
            min_size=len(prices),
            max_size=len(prices),
        )
    )
    ts = list(itertools.accumulate(steps, initial=START))[1:]
    name = f"P{next(_markets)}/USD"
    ticks = [Tick("hypo", name, t, p) for t, p in zip(ts, prices, strict=True)]
    batch = data.draw(st.integers(1, len(ticks)))
    with app.app_context():
        for i in range(0, len(ticks), batch):
            store_ticks(db.session, ticks[i : i + batch])
            db.session.commit()
        [market_id] = market_ids(db.session, [("hypo", name)]).values()
        lo = data.draw(st.sampled_from([0, ts[0], ts[0] - HOUR, *ts]))
        hi = data.draw(st.sampled_from([2**62, ts[-1] + 1, *[t + 1 for t in ts], *[t + DAY for t in ts]]))
        summaries = window_summaries(db.session, [market_id], lo, hi).to_dict("records")
    inside = [(t, p) for t, p in zip(ts, prices, strict=True) if lo <= t < hi]
    event("compared" if len(inside) >= 3 else "too few ticks in the window")
    if len(inside) < 3:
        return
    t_in, p_in = zip(*inside, strict=True)
    assert_matches(finish(summaries[0]), list(t_in), list(p_in))
