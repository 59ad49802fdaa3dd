"""Candles from ticks, EMA crossovers and the signals scan."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptocrunch.analysis.signals import crossovers, ema
from cryptocrunch.analysis.stats import resample
from cryptocrunch.clock import TIMEFRAMES, now_ms
from cryptocrunch.db import db
from cryptocrunch.sources.base import Candle, Tick
from cryptocrunch.storage.candles import merged, store_candles
from cryptocrunch.storage.markets import market_ids
from cryptocrunch.storage.ticks import store_ticks

HOUR = 3_600_000


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.floats(1e-6, 1e6, allow_nan=False), min_size=1, max_size=200),
    span=st.integers(1, 60),
)
def test_ema_is_the_plain_recursion(values, span):
    alpha = 2 / (span + 1)
    expected = [values[0]]
    for v in values[1:]:
        expected.append(alpha * v + (1 - alpha) * expected[-1])
    np.testing.assert_allclose(ema(np.array(values), span), expected, rtol=1e-9)
    np.testing.assert_allclose(
        ema(np.array(values), span), pd.Series(values).ewm(span=span, adjust=False).mean(), rtol=1e-9
    )


def test_crossovers_find_golden_and_death_crosses():
    close = np.r_[np.linspace(10, 5, 40), np.linspace(5, 12, 40), np.linspace(12, 4, 40)]
    ts = [1000 * i for i in range(len(close))]
    quick, steady = ema(close, 3), ema(close, 8)
    found = crossovers(ts, close, quick, steady)
    assert [c.kind for c in found] == ["golden", "death"]
    for cross in found:
        i = ts.index(cross.ts)
        assert np.sign(quick[i] - steady[i]) != np.sign(quick[i - 1] - steady[i - 1])
        assert (cross.price, cross.fast, cross.slow) == (close[i], quick[i], steady[i])


def test_resample_makes_ohlc_per_bucket():
    ts = np.array([0, 10, 59_999, 60_000, 185_000])
    prices = np.array([5.0, 7.0, 4.0, 6.0, 9.0])
    out = resample(ts, prices, 60_000)
    assert out.to_dict("list") == {
        "ts": [0, 60_000, 180_000],
        "open": [5.0, 6.0, 9.0],
        "high": [7.0, 6.0, 9.0],
        "low": [4.0, 6.0, 9.0],
        "close": [4.0, 6.0, 9.0],
    }


def test_candles_from_the_rollups_are_the_candles_of_the_ticks(app):
    """Whole hours come from the hourly rollups, the partial hour at the end from raw ticks: the
    same candles as resampling every tick, for every timeframe and any end."""
    rng = np.random.default_rng(7)
    start = 1_700_000_000_000 // (4 * HOUR) * (4 * HOUR)
    stamps = np.unique(start + rng.integers(0, 3 * 24 * HOUR, 3000))
    prices = 100 + rng.standard_normal(len(stamps)).cumsum()
    with app.app_context():
        store_ticks(
            db.session,
            [Tick("kraken", "BTC/USD", int(t), float(p)) for t, p in zip(stamps, prices, strict=True)],
        )
        db.session.commit()
        market = market_ids(db.session, {("kraken", "BTC/USD")})["kraken", "BTC/USD"]
        for timeframe, step in TIMEFRAMES.items():
            for end in (start + 2 * 24 * HOUR, start + 2 * 24 * HOUR + 1_234_567, int(stamps[-1]) + 1):
                low = (start + 5 * HOUR + 17) // step * step
                got = merged(db.session, [market], timeframe, low, end)
                keep = (stamps >= low) & (stamps < end)
                expected = resample(stamps[keep], prices[keep], step)
                pd.testing.assert_frame_equal(
                    got[["ts", "open", "high", "low", "close"]], expected, check_dtype=False
                )
                assert set(got["source"]) == {"ticks"}


def test_stored_candles_take_precedence_over_candles_from_ticks(app, client):
    start = (now_ms() // HOUR - 5) * HOUR
    with app.app_context():
        store_ticks(
            db.session, [Tick("kraken", "BTC/USD", start + i * 600_000, 100.0 + i) for i in range(30)]
        )
        store_candles(db.session, [Candle("kraken", "BTC/USD", "1h", start + HOUR, 1, 2, 0.5, 1.5, 42)])
        db.session.commit()
    rows = client.get("/api/v1/markets/kraken/BTC-USD/candles?timeframe=1h&window=24h").get_json()
    assert [r["source"] for r in rows] == ["ticks", "stored", "ticks", "ticks", "ticks"]
    assert rows[0] == {
        "ts": start,
        "open": 100.0,
        "high": 105.0,
        "low": 100.0,
        "close": 105.0,
        "volume": None,
        "source": "ticks",
        "ema_fast": 105.0,
        "ema_slow": 105.0,
        "cross": None,
    }
    assert rows[1]["volume"] == 42
    csv = client.get("/api/v1/markets/kraken/BTC-USD/candles?timeframe=1h&format=csv").get_data(as_text=True)
    assert csv.splitlines()[0] == "ts,open,high,low,close,volume,source,ema_fast,ema_slow,cross"


def test_signals_scan_every_market(app, client):
    start = (now_ms() // HOUR - 120) * HOUR
    up_then_down = np.r_[np.linspace(50, 100, 80), np.linspace(100, 60, 40)]
    flat = np.full(120, 10.0)
    with app.app_context():
        for pair, series in (("UP/USD", up_then_down), ("FLAT/USD", flat)):
            store_candles(
                db.session,
                [Candle("kraken", pair, "1h", start + i * HOUR, v, v, v, v, 1) for i, v in enumerate(series)],
            )
            store_ticks(db.session, [Tick("kraken", pair, start, float(series[0]))])
        db.session.commit()
    body = client.get("/api/v1/signals?timeframe=1h&window=7d&within=7d&fast=3&slow=8").get_json()
    assert body["skipped"] == []
    rows = body["signals"]
    assert [(r["pair"], r["kind"]) for r in rows] == [("UP/USD", "death")]
    quick, steady = ema(up_then_down, 3), ema(up_then_down, 8)
    expected = crossovers([start + i * HOUR for i in range(120)], up_then_down, quick, steady)[-1]
    assert (rows[0]["ts"], rows[0]["price"]) == (expected.ts, expected.price)
    assert client.get("/api/v1/signals?fast=30&slow=10").status_code == 400


def test_candles_carry_their_emas_and_crossovers(app, client):
    start = (now_ms() // HOUR - 120) * HOUR
    rng = np.random.default_rng(7)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 120)))
    with app.app_context():
        store_candles(
            db.session,
            [
                Candle("kraken", "WALK/USD", "1h", start + i * HOUR, c, c, c, c, 1)
                for i, c in enumerate(closes)
            ],
        )
        db.session.commit()
    rows = client.get(
        "/api/v1/markets/kraken/WALK-USD/candles?timeframe=1h&window=7d&fast=5&slow=20"
    ).get_json()
    frame = pd.Series(closes)
    np.testing.assert_allclose(
        [r["ema_fast"] for r in rows], frame.ewm(span=5, adjust=False).mean(), rtol=1e-9
    )
    np.testing.assert_allclose(
        [r["ema_slow"] for r in rows], frame.ewm(span=20, adjust=False).mean(), rtol=1e-9
    )
    side = np.sign(frame.ewm(span=5, adjust=False).mean() - frame.ewm(span=20, adjust=False).mean())
    # a cross is a change from the last side taken (both EMAs start equal: no side yet)
    flips, before = {}, 0
    for i, now in enumerate(side):
        if now and before and now != before:
            flips[i] = "golden" if now > 0 else "death"
        before = now or before
    assert flips, "the random walk should cross at least once"
    assert {i: r["cross"] for i, r in enumerate(rows) if r["cross"]} == flips
    bad = client.get("/api/v1/markets/kraken/WALK-USD/candles?fast=26&slow=12")
    assert (
        bad.status_code == 400
        and "fast (26) must be shorter than slow (12)" in bad.get_json()["error"]["message"]
    )


def store_closes(app, pair, start, closes):
    """Hourly candles of kraken ``pair`` from ``start`` with these closes, as an import stores them."""
    with app.app_context():
        store_candles(
            db.session,
            [Candle("kraken", pair, "1h", start + i * HOUR, c, c, c, c, 1) for i, c in enumerate(closes)],
        )
        db.session.commit()


def test_one_market_past_the_candle_cap_is_skipped_not_failing_the_scan(app, client, runner, tmp_path):
    """An imported hourly history longer than MAX_POINTS candles is listed as skipped, with the
    reason; every other market is still scanned, by the API (JSON and CSV), the page and the export."""
    now_hour = now_ms() // HOUR * HOUR
    store_closes(app, "LONG/USD", now_hour - 10_050 * HOUR, np.linspace(1, 2, 10_050))
    up_then_down = np.r_[np.linspace(50, 100, 80), np.linspace(100, 60, 40)]
    store_closes(app, "UP/USD", now_hour - 120 * HOUR, up_then_down)
    reason = "10050 1h candles in the window, more than 10,000; pick a shorter window or a longer timeframe"

    body = client.get("/api/v1/signals?timeframe=1h&window=all&within=30d&fast=3&slow=8").get_json()

    assert body["skipped"] == [{"exchange": "kraken", "pair": "LONG/USD", "reason": reason}]
    assert [(r["pair"], r["kind"]) for r in body["signals"]] == [("UP/USD", "death")]
    csv = client.get("/api/v1/signals?timeframe=1h&window=all&within=30d&fast=3&slow=8&format=csv")
    lines = csv.get_data(as_text=True).splitlines()
    assert csv.status_code == 200 and lines[0] == "exchange,pair,kind,ts,price,fast,slow"
    assert [line.split(",")[:3] for line in lines[1:]] == [["kraken", "UP/USD", "death"]]
    page = client.get("/signals?timeframe=1h&window=all&within=30d&fast=3&slow=8").get_data(as_text=True)
    assert "<td>death</td>" in page
    assert f'<a href="/markets/kraken/LONG-USD">LONG/USD</a> on kraken: {reason}</li>' in page
    # one market alone is still refused: its candles are the answer
    alone = client.get("/api/v1/markets/kraken/LONG-USD/candles?timeframe=1h&window=all")
    assert alone.status_code == 400 and alone.get_json()["error"]["message"] == reason
    exported = runner.invoke(
        args=["export", "candles", "--exchange", "kraken", "--window", "all", "--to", str(tmp_path)]
    )
    assert exported.exit_code == 0, exported.output
    assert "candles: 120 rows written" in exported.output and "(skipped 1 market)" in exported.output
    assert f"skipped kraken LONG/USD: {reason}" in exported.output
    # a shorter window scans it
    recent = client.get("/api/v1/signals?timeframe=1h&window=30d&within=30d&fast=3&slow=8").get_json()
    assert recent["skipped"] == []


def test_within_takes_any_duration_or_a_range_so_imported_history_is_listed(app, client):
    """A crossover in imported history years ago: none of the last 30 days, but within=<any
    duration> back far enough, or a within_start/within_end range around it, lists it."""
    start = 1_600_000_000_000 // HOUR * HOUR  # September 2020
    closes = np.r_[np.linspace(50, 100, 80), np.linspace(100, 60, 40)]
    store_closes(app, "OLD/USD", start, closes)
    quick, steady = ema(closes, 3), ema(closes, 8)
    [cross] = crossovers([start + i * HOUR for i in range(120)], closes, quick, steady)
    days = (now_ms() - start) // (24 * HOUR) + 2

    def listed(query):
        response = client.get(f"/api/v1/signals?timeframe=1h&window=all&fast=3&slow=8&{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return [(r["pair"], r["kind"], r["ts"]) for r in response.get_json()["signals"]]

    found = [("OLD/USD", "death", cross.ts)]
    assert listed("within=30d") == listed("") == []
    assert listed(f"within={days}d") == listed(f"within={days // 7 + 1}w") == found
    assert listed(f"within_start={cross.ts}&within_end={cross.ts}") == found
    assert listed("within_start=2020-09-01T00:00:00Z&within_end=2020-12-31T23:59:59Z") == found
    assert listed("within_start=2020-09-01T00:00:00Z") == found
    assert listed(f"within_end={cross.ts - 1}") == listed(f"within_start={cross.ts + 1}") == []

    for query, message in (
        ("within=all", "within: a duration looks like 90m, 24h, 7d or 2w, got 'all'"),
        ("within=0h", "within: a duration looks like"),
        ("within=7d&within_start=0", "give either within or within_start/within_end, not both"),
        ("within_start=yesterday", "within_start must be ISO 8601"),
        ("within_end=2021-01-01", "within_end needs a time zone"),
        ("within_start=2021-01-02T00:00:00Z&within_end=2021-01-01T00:00:00Z", "within_start (2021-01-02"),
    ):
        response = client.get(f"/api/v1/signals?{query}")
        assert response.status_code == 400, query
        assert message in response.get_json()["error"]["message"], query


def test_recent_durations_count_back_from_now(app, client):
    now_hour = now_ms() // HOUR * HOUR
    closes = np.r_[np.linspace(50, 100, 80), np.linspace(100, 60, 40)]
    store_closes(app, "UP/USD", now_hour - 119 * HOUR, closes)
    quick, steady = ema(closes, 3), ema(closes, 8)
    [cross] = crossovers([now_hour - (119 - i) * HOUR for i in range(120)], closes, quick, steady)
    hours_ago = (now_ms() - cross.ts) // HOUR  # the cross is between hours_ago and hours_ago + 1 back
    assert hours_ago > 1

    def kinds(within):
        body = client.get(f"/api/v1/signals?timeframe=1h&window=7d&fast=3&slow=8&within={within}")
        return [r["kind"] for r in body.get_json()["signals"]]

    assert kinds(f"{hours_ago + 1}h") == kinds(f"{(hours_ago + 1) * 60}m") == ["death"]
    assert kinds(f"{hours_ago * 60 - 2}m") == []  # minutes to spare: within counts from the minute
