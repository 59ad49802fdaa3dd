"""stats.py against a plain numpy computation over every tick: equal to 1e-9 relative."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptocrunch.analysis.stats import MIN_POINTS, combine, compute, figures, finish, summarize


def reference(ts, prices):
    """The definitions in the README, written the plain way."""
    p = np.asarray(prices, dtype="float64")
    ts = np.asarray(ts)
    delta = p[1:] - p[:-1]
    pct = 100 * delta / p[:-1]
    i, j = int(np.argmax(np.abs(delta))), int(np.argmax(np.abs(pct)))
    return {
        "n": len(p),
        "stdev": float(np.std(p, ddof=1)),
        "volatility": float(np.std(np.log(p[1:] / p[:-1]), ddof=1)),
        "largest_delta": (float(delta[i]), int(ts[i]), int(ts[i + 1])),
        "largest_pct_move": (float(pct[j]), int(ts[j]), int(ts[j + 1])),
        "pct_change": float(100 * (p[-1] - p[0]) / p[0]),
        "min": float(p.min()),
        "max": float(p.max()),
    }


def assert_matches(stats, ts, prices):
    ref = reference(ts, prices)
    scale = max(abs(x) for x in prices)
    assert stats.n == ref["n"]
    assert (stats.first_ts, stats.last_ts) == (ts[0], ts[-1])
    assert (stats.min, stats.max) == (ref["min"], ref["max"])
    assert math.isclose(stats.stdev, ref["stdev"], rel_tol=1e-9, abs_tol=1e-14 * scale)
    assert math.isclose(stats.volatility, ref["volatility"], rel_tol=1e-9, abs_tol=1e-15)
    assert math.isclose(stats.pct_change, ref["pct_change"], rel_tol=1e-9, abs_tol=1e-12)
    assert (stats.largest_delta.value, stats.largest_delta.ts_from, stats.largest_delta.ts_to) == ref[
        "largest_delta"
    ]
    assert (
        stats.largest_pct_move.value,
        stats.largest_pct_move.ts_from,
        stats.largest_pct_move.ts_to,
    ) == ref["largest_pct_move"]


prices = st.lists(
    st.floats(min_value=1e-8, max_value=1e6, allow_nan=False, allow_infinity=False),
    min_size=MIN_POINTS,
    max_size=300,
)


@settings(max_examples=150, deadline=None)
@given(prices=prices)
def test_compute_equals_the_plain_computation(prices):
    ts = [1_700_000_000_000 + 60_000 * i for i in range(len(prices))]
    assert_matches(compute(ts, prices), ts, prices)


@settings(max_examples=150, deadline=None)
@given(prices=prices, data=st.data())
def test_combining_summaries_of_consecutive_segments_is_exact(prices, data):
    ts = [1_700_000_000_000 + 60_000 * i for i in range(len(prices))]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(prices) - 1), max_size=len(prices) - 1)))
    segment = np.searchsorted(cuts, np.arange(len(prices)), side="right")
    ticks = pd.DataFrame({"market": 7, "segment": segment, "ts": ts, "price": prices})
    summaries = summarize(ticks, ["market", "segment"]).sort_values(["market", "first_ts"])
    [row] = combine(summaries, ["market"]).to_dict("records")
    assert_matches(finish(row), ts, prices)


def test_many_markets_combine_independently():
    rng = np.random.default_rng(3)
    frames, expected = [], {}
    for market in range(5):
        n = 50 + 10 * market
        ts = np.arange(n) * 60_000 + 1_700_000_000_000
        p = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        frames.append(pd.DataFrame({"market": market, "bucket": ts // 600_000, "ts": ts, "price": p}))
        expected[market] = (ts, p)
    ticks = pd.concat(frames, ignore_index=True)
    combined = combine(summarize(ticks, ["market", "bucket"]), ["market"])
    for row in combined.to_dict("records"):
        ts, p = expected[row["market"]]
        assert_matches(finish(row), list(ts), list(p))


def test_figures_are_finish_for_every_row_at_once():
    rng = np.random.default_rng(4)
    frames = []
    for market, n in enumerate([1, 2, 3, 40, 200]):
        ts = np.arange(n) * 60_000
        p = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        frames.append(pd.DataFrame({"market": market, "ts": ts, "price": p}))
    summaries = summarize(pd.concat(frames, ignore_index=True), ["market"])
    got = figures(summaries)
    for i, row in enumerate(summaries.to_dict("records")):
        if row["n"] < MIN_POINTS:
            assert got.iloc[i].isna().all()
            continue
        stats = finish(row)
        expected = [stats.pct_change, stats.largest_pct_move.value, stats.volatility, stats.stdev]
        assert got.iloc[i].tolist() == expected


def test_a_stablecoin_series_keeps_its_precision():
    p = 1 + np.random.default_rng(1).normal(0, 1e-6, 1000)
    ts = list(range(1000))
    assert_matches(compute(ts, list(p)), ts, list(p))


@pytest.mark.parametrize("n", [0, 1, 2])
def test_too_few_points_is_a_clear_error(n):
    with pytest.raises(ValueError, match=f"{n} ticks? in the window; statistics need at least 3"):
        compute(list(range(n)), [1.0] * n)
