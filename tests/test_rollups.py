"""Rollups kept on write give the same statistics as a plain computation over the raw ticks."""

import itertools
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_stats import assert_matches

from cryptocrunch.analysis.stats import finish
from cryptocrunch.clock import DAY, FIVE_MINUTES, HOUR, MINUTE, WEEK
from cryptocrunch.db import db
from cryptocrunch.models import Market
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage.markets import market_ids
from cryptocrunch.storage.ticks import SPANS, closed_until, cover, read_rollups, store_ticks, window_summaries

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


@pytest.fixture(params=["by market", "by time"])
def read_path(request, monkeypatch):
    """Rollups read through ``ix_rollup_market`` (a few markets, as here) or along the time-first
    key (as for many markets): both give the same rows."""
    from cryptocrunch.storage import ticks

    if request.param == "by time":
        monkeypatch.setattr(ticks, "FEW_MARKETS", 0)
    return request.param


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


def test_window_statistics_equal_the_plain_computation(app, stored, read_path):
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


def test_rollups_hold_every_tick_once_at_every_level(app, stored, read_path):
    """Each level stores the buckets before its watermark (the newest tick's 5 minutes, hour, day,
    week: the batches came shuffled, so most ticks came late) and combines the later ones from the
    level below (the finest: from the ticks) when read."""
    from sqlalchemy import func, select

    from cryptocrunch.models import Rollup

    every = sorted(t for ts, _ in stored.values() for t in ts)
    with app.app_context():
        counts = dict(db.session.execute(select(Rollup.span, func.sum(Rollup.n)).group_by(Rollup.span)).all())
        closed = closed_until(db.session)
        read = {span: read_rollups(db.session, span, dict.fromkeys(stored, (0, 2**62))) for span in SPANS}
    assert SPANS == (FIVE_MINUTES, 15 * MINUTE, HOUR, 6 * HOUR, DAY, WEEK)
    assert closed == {span: every[-1] // span * span for span in SPANS}
    assert counts == {span: sum(t < closed[span] for t in every) for span in SPANS}
    assert 0 < counts[WEEK] < counts[DAY] < counts[HOUR] < counts[FIVE_MINUTES] < len(every)  # open ones
    assert counts[DAY] <= counts[6 * HOUR] <= counts[HOUR] <= counts[15 * MINUTE] <= counts[FIVE_MINUTES]
    for span, rows in read.items():
        assert rows["n"].sum() == len(every)
        assert (rows["start"] % span == 0).all() and (rows["span"] == span).all()
        for market_id, (ts, _) in stored.items():
            mine = rows[rows["market_id"] == market_id]
            buckets = sorted({t // span * span for t in ts})
            assert mine["start"].tolist() == buckets
            assert mine["n"].tolist() == [sum(b <= t < b + span for t in ts) for b in buckets]
            assert mine["last_ts"].tolist() == [max(t for t in ts if b <= t < b + span) for b in buckets]


def test_cover_uses_the_coarsest_whole_buckets_and_raw_ticks_only_at_the_edges():
    five, fifteen, six = FIVE_MINUTES, 15 * MINUTE, 6 * HOUR
    left = 3 * WEEK - 2 * DAY  # a day edge
    right = 5 * WEEK + DAY
    start, end = left - 7 * HOUR - 25 * MINUTE - 7, right + 8 * HOUR + 35 * MINUTE + 9
    pieces = cover(start, end)
    assert pieces == [
        (0, start, left - 7 * HOUR - 25 * MINUTE),
        (five, left - 7 * HOUR - 25 * MINUTE, left - 7 * HOUR - fifteen),
        (fifteen, left - 7 * HOUR - fifteen, left - 7 * HOUR),
        (HOUR, left - 7 * HOUR, left - six),
        (six, left - six, left),
        (DAY, left, 3 * WEEK),
        (WEEK, 3 * WEEK, 5 * WEEK),
        (DAY, 5 * WEEK, right),
        (six, right, right + six),
        (HOUR, right + six, right + 8 * HOUR),
        (fifteen, right + 8 * HOUR, right + 8 * HOUR + 2 * fifteen),
        (five, right + 8 * HOUR + 2 * fifteen, right + 8 * HOUR + 35 * MINUTE),
        (0, right + 8 * HOUR + 35 * MINUTE, end),
    ]
    assert cover(10, 20) == [(0, 10, 20)]
    assert cover(5, 5) == []
    # buckets past a watermark are not built: the finer level stands in for them
    closed = {fifteen: 4 * WEEK + 4 * HOUR, HOUR: 4 * WEEK + 3 * HOUR, six: 4 * WEEK, DAY: 4 * WEEK}
    closed[WEEK] = 4 * WEEK
    assert cover(3 * WEEK, 4 * WEEK + 5 * HOUR + five, closed=closed) == [
        (WEEK, 3 * WEEK, 4 * WEEK),
        (HOUR, 4 * WEEK, 4 * WEEK + 3 * HOUR),
        (fifteen, 4 * WEEK + 3 * HOUR, 4 * WEEK + 4 * HOUR),
        (five, 4 * WEEK + 4 * HOUR, 4 * WEEK + 5 * HOUR + five),
    ]


def test_a_write_builds_the_hour_it_closes_and_rebuilds_a_closed_one_a_late_tick_lands_in(app):
    with app.app_context():
        base = START // DAY * DAY + 10 * HOUR
        store_ticks(db.session, [Tick("kraken", "BTC/USD", base + i * 60_000, 100.0 + i) for i in range(60)])
        assert closed_until(db.session)[HOUR] == base  # its hour is still open
        store_ticks(db.session, [Tick("kraken", "BTC/USD", base + HOUR + 5_000, 50.0)])
        assert closed_until(db.session)[HOUR] == base + HOUR
        [market] = market_ids(db.session, [("kraken", "BTC/USD")]).values()
        stored_hour = read_rollups(db.session, HOUR, {market: (base, base + HOUR)}, closed={})
        assert stored_hour[["n", "first", "last", "min", "max"]].values.tolist() == [[60, 100, 159, 100, 159]]
        store_ticks(db.session, [Tick("kraken", "BTC/USD", base + 30_000, 10.0)])  # late, in the closed hour
        stored_hour = read_rollups(db.session, HOUR, {market: (base, base + HOUR)}, closed={})
        assert stored_hour[["n", "first", "last", "min", "max"]].values.tolist() == [[61, 100, 159, 10, 159]]
        db.session.commit()


def test_five_minute_buckets_are_built_once_over_and_rebuilt_for_a_late_tick(app):
    from cryptocrunch.clock import MINUTE

    with app.app_context():
        base = START // DAY * DAY + 10 * HOUR
        store_ticks(db.session, [Tick("kraken", "BTC/USD", base + i * MINUTE, 100.0 + i) for i in range(4)])
        [market] = market_ids(db.session, [("kraken", "BTC/USD")]).values()
        whole = {market: (base, base + HOUR)}
        assert closed_until(db.session)[FIVE_MINUTES] == base
        assert read_rollups(db.session, FIVE_MINUTES, whole, closed={}).empty  # still open: not stored
        assert read_rollups(db.session, FIVE_MINUTES, whole)["n"].tolist() == [4]  # read from the ticks
        store_ticks(db.session, [Tick("kraken", "BTC/USD", base + 6 * MINUTE, 90.0)])
        assert closed_until(db.session)[FIVE_MINUTES] == base + FIVE_MINUTES
        stored = read_rollups(db.session, FIVE_MINUTES, whole, closed={})
        assert stored[["start", "n", "first", "last", "min", "max"]].values.tolist() == [
            [base, 4, 100, 103, 100, 103]
        ]
        store_ticks(
            db.session, [Tick("kraken", "BTC/USD", base + 4 * MINUTE, 120.0)]
        )  # late, in the built one
        stored = read_rollups(db.session, FIVE_MINUTES, whole, closed={})
        assert stored[["start", "n", "first", "last", "min", "max"]].values.tolist() == [
            [base, 5, 100, 120, 100, 120]
        ]
        both = read_rollups(db.session, FIVE_MINUTES, whole)
        assert both[["start", "n", "last"]].values.tolist() == [[base, 5, 120], [base + FIVE_MINUTES, 1, 90]]
        db.session.commit()


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
