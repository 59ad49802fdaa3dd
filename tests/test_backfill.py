"""flask backfill: candles through ccxt fetch_ohlcv against the fake exchange, paginated and resumable."""

import numpy as np
import pytest
import sqlalchemy as sa

from cryptocrunch.clock import now_ms
from cryptocrunch.collector.backfill import parse_since
from cryptocrunch.db import db
from cryptocrunch.models import Candle, Exchange, Market, Run
from cryptocrunch.sources.base import Invalid, make_candle

MINUTE = 60_000
NOW = 1_700_000_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", NOW - 30 * 86_400_000),
        ("12h", NOW - 12 * 3_600_000),
        ("90m", NOW - 90 * MINUTE),
        ("2w", NOW - 14 * 86_400_000),
        ("2024-01-01", 1_704_067_200_000),
        ("2024-01-01T12:00:00+00:00", 1_704_110_400_000),
    ],
)
def test_since_accepts_durations_and_dates(text, expected):
    assert parse_since(text, NOW) == expected


def test_a_bad_since_names_the_option():
    with pytest.raises(ValueError, match="--since must look like 30d"):
        parse_since("last week", NOW)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ([NOW, 1, 0.5, 0.4, 0.45, 1], "do not contain"),
        ([NOW, 1, 2, 1.5, 1.2, 1], "do not contain"),
        ([NOW, "x", 2, 0.5, 1, 1], "open is not a number"),
        ([NOW, 1, 2, 0.5, 1, -1], "volume"),
        ([None, 1, 2, 0.5, 1, 1], "open time"),
        ([NOW + 3_600_000, 1, 2, 0.5, 1, 1], "in the future"),
        ([NOW, 1, 2], "malformed"),
    ],
)
def test_bad_candles_are_rejected(row, reason):
    with pytest.raises(Invalid, match=reason):
        make_candle("x", "A/B", "1m", row, received=NOW, tolerance_ms=0)


def walk(n, start, step=MINUTE, seed=1):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    rows = []
    for i in range(n):
        o = close[i - 1] if i else close[0]
        c = close[i]
        rows.append(
            (
                start + i * step,
                float(o),
                float(max(o, c) * 1.001),
                float(min(o, c) * 0.999),
                float(c),
                1.0 + i % 5,
            )
        )
    return rows


def stored_candles(app, exchange, pair, timeframe="1m"):
    with app.app_context():
        return [
            (c.ts, c.open, c.high, c.low, c.close, c.volume)
            for c in db.session.scalars(
                sa.select(Candle)
                .join(Market, Market.id == Candle.market_id)
                .join(Market.exchange)
                .where(Exchange.name == exchange, Market.pair == pair, Candle.timeframe == timeframe)
                .order_by(Candle.ts)
            )
        ]


@pytest.mark.parametrize("exchange", ["binance", "kraken", "bitstamp", "coinbase"])
def test_backfill_pages_through_the_history_and_a_rerun_stores_nothing_twice(app, runner, fake, exchange):
    pair = fake.markets[exchange][0]
    start = (now_ms() // MINUTE - 2_000) * MINUTE
    candles = walk(1_500, start)
    fake.set_candles(exchange, pair, "1m", candles)

    result = runner.invoke(
        args=["backfill", "--timeframe", "1m", "--since", "2000m", "--exchange", exchange, "--pair", pair]
    )

    assert result.exit_code == 0, result.output
    assert f"stored {len(candles)}" in result.output
    assert stored_candles(app, exchange, pair) == [tuple(pytest.approx(v) for v in c) for c in candles]
    again = runner.invoke(
        args=["backfill", "--timeframe", "1m", "--since", "2000m", "--exchange", exchange, "--pair", pair]
    )
    assert "stored 0" in again.output
    assert "resumed from" in again.output
    assert len(stored_candles(app, exchange, pair)) == len(candles)


def test_a_failure_mid_backfill_keeps_the_pages_stored_and_the_next_run_resumes(app, runner, fake):
    start = (now_ms() // MINUTE - 3_000) * MINUTE
    candles = walk(2_500, start)
    fake.set_candles("binance", "BTC/USDT", "1m", candles)
    app.config["RETRY_MAX_TRIES"] = 2
    # ccxt asks binance for 500 candles a page: the second page keeps failing
    fake.fail("binance", "503", times=1000, path_contains=f"startTime={start + 500 * MINUTE}")
    args = [
        "backfill",
        "--timeframe",
        "1m",
        "--since",
        "3000m",
        "--exchange",
        "binance",
        "--pair",
        "BTC/USDT",
    ]

    first = runner.invoke(args=args)

    assert "ERROR binance unavailable after 2 tries" in first.output
    assert "stored 500" in first.output
    assert len(stored_candles(app, "binance", "BTC/USDT")) == 500
    fake.reset()
    fake.set_candles("binance", "BTC/USDT", "1m", candles)
    second = runner.invoke(args=args)
    assert second.exit_code == 0, second.output
    assert "resumed from" in second.output and "stored 2000" in second.output
    assert stored_candles(app, "binance", "BTC/USDT") == [tuple(pytest.approx(v) for v in c) for c in candles]


def test_backfill_reports_an_unlisted_pair_and_bad_options(app, runner, fake):
    app.config["MARKETS"]["binance"] = ["DOGE/EUR"]
    result = runner.invoke(args=["backfill", "--exchange", "binance"])
    assert "ERROR binance does not list DOGE/EUR" in result.output
    assert runner.invoke(args=["backfill", "--since", "soon"]).exit_code == 2
    assert runner.invoke(args=["backfill", "--timeframe", "2m"]).exit_code == 2


def test_an_unreachable_exchange_is_reported_once_and_its_other_pairs_skipped(app, runner, fake):
    app.config["EXCHANGE_OPTIONS"]["kraken"]["urls"] = {"api": {"public": "http://127.0.0.1:9/kraken"}}
    app.config["RETRY_MAX_TRIES"] = 2
    result = runner.invoke(args=["backfill", "--exchange", "kraken", "--since", "2d"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("kraken") and ": " in line]
    assert "ERROR no network: kraken unreachable after 2 tries" in lines[0]
    assert all("skipped: kraken could not be reached" in line for line in lines[1:])
    assert len(lines) == len(fake.markets["kraken"])


def test_a_rate_limit_puts_the_exchange_on_cooldown_for_backfill_and_collect(app, runner, fake):
    start = (now_ms() // MINUTE - 1_200) * MINUTE
    fake.set_candles("binance", "BTC/USDT", "1m", walk(1_100, start))
    app.config["MARKETS"]["binance"] = ["BTC/USDT", "ETH/USDT"]
    app.config["RETRY_MAX_TRIES"] = 2
    # the second page is rate-limited whatever the retries do
    fake.fail("binance", "429", times=100, retry_after=0, path_contains=f"startTime={start + 500 * MINUTE}")
    args = ["backfill", "--timeframe", "1m", "--since", "1200m", "--exchange", "binance"]

    first = runner.invoke(args=args)

    assert first.exit_code == 0, first.output
    assert "BTC/USDT   ERROR binance rate-limited us" in first.output and "stored 500" in first.output
    assert "ETH/USDT   skipped: binance on cooldown until" in first.output
    with app.app_context():
        run = db.session.scalars(sa.select(Run).where(Run.source == "binance")).one()
    assert run.status == "error" and run.error.startswith("backfill BTC/USDT: binance rate-limited us")
    assert run.cooldown_until >= now_ms() + 290_000 and run.stored == 500
    requests = fake.count("binance")

    again = runner.invoke(args=args)
    collected = runner.invoke(args=["collect", "--exchange", "binance"])

    assert "BTC/USDT   skipped: binance on cooldown until" in again.output
    assert "on cooldown until" in collected.output
    assert fake.count("binance") == requests
