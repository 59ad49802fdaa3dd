"""sources/base.py: every value is checked before it becomes a Tick or a BookTop."""

import math

import pytest

from cryptocrunch.sources.base import Invalid, make_book_top, make_tick

NOW = 1_700_000_000_000


def tick(**overrides):
    values = {
        "ts": NOW - 1000,
        "last": 100.0,
        "bid": 99.5,
        "ask": 100.5,
        "base_volume": 2.0,
        "quote_volume": None,
    }
    values.update(overrides)
    return make_tick("kraken", "BTC/USD", received=NOW, tolerance_ms=60_000, **values)


def test_a_good_tick_keeps_every_value():
    t = tick(base_volume="3.5", quote_volume=350)
    assert (t.ts, t.last, t.bid, t.ask, t.base_volume, t.quote_volume) == (
        NOW - 1000,
        100.0,
        99.5,
        100.5,
        3.5,
        350.0,
    )


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"last": None}, "missing last"),
        ({"last": float("nan")}, "last is not finite"),
        ({"last": "NaN"}, "last is not finite"),
        ({"last": math.inf}, "last is not finite"),
        ({"last": 0}, "last is not positive"),
        ({"last": -5}, "last is not positive"),
        ({"last": "abc"}, "last is not a number"),
        ({"last": True}, "last is not a number"),
        ({"bid": 0}, "bid is not positive"),
        ({"ask": "NaN"}, "ask is not finite"),
        ({"bid": 101.0, "ask": 100.0}, "ask 100.0 < bid 101.0"),
        ({"ts": NOW + 61_000}, "in the future"),
        ({"ts": -1}, "timestamp is not a positive number"),
        ({"base_volume": -1}, "base volume is not a non-negative number"),
        ({"quote_volume": float("nan")}, "quote volume is not a non-negative number"),
    ],
)
def test_bad_values_are_rejected_with_the_reason(overrides, reason):
    with pytest.raises(Invalid, match=reason.replace("(", r"\(")):
        tick(**overrides)


def test_missing_optional_values_are_allowed_and_missing_ts_means_received():
    t = tick(ts=None, bid=None, ask=None, base_volume=None)
    assert (t.ts, t.bid, t.ask, t.base_volume) == (NOW, None, None, None)


def test_a_timestamp_within_the_tolerance_is_kept():
    assert tick(ts=NOW + 59_000).ts == NOW + 59_000


def test_book_top_takes_the_best_levels_and_sums_depth_near_the_mid():
    bids = [[100.0, 1.0], [99.6, 2.0], [99.4, 4.0], [98.0, 8.0]]
    asks = [[100.2, 0.5], [100.5, 1.5], [100.9, 3.0], [103.0, 9.0]]
    top = make_book_top("binance", "BTC/USDT", ts=NOW, bids=bids, asks=asks, received=NOW, tolerance_ms=0)
    mid = 100.1
    assert (top.bid, top.bid_size, top.ask, top.ask_size) == (100.0, 1.0, 100.2, 0.5)
    assert top.bid_depth_05 == sum(s for p, s in bids if p >= mid * 0.995) == 3.0
    assert top.bid_depth_1 == sum(s for p, s in bids if p >= mid * 0.99) == 7.0
    assert top.ask_depth_05 == sum(s for p, s in asks if p <= mid * 1.005) == 2.0
    assert top.ask_depth_1 == sum(s for p, s in asks if p <= mid * 1.01) == 5.0


@pytest.mark.parametrize(
    ("bids", "asks", "reason"),
    [
        ([], [[1.0, 1.0]], "empty side"),
        ([[2.0, 1.0]], [[1.0, 1.0]], "crossed book"),
        ([[None, 1.0]], [[1.0, 1.0]], "missing bid price"),
        ([[1.0]], [[2.0, 1.0]], "malformed bid level"),
    ],
)
def test_bad_books_are_rejected(bids, asks, reason):
    with pytest.raises(Invalid, match=reason):
        make_book_top("x", "A/B", ts=None, bids=bids, asks=asks, received=NOW, tolerance_ms=0)
