"""flask collect end to end: ccxt and CoinGecko against the fake exchange server, on SQLite and PostgreSQL."""

import json
import time
from pathlib import Path

import pytest
from helpers import fake_options, last_runs, runs, stored_books, stored_ticks

from cryptocrunch import create_app
from cryptocrunch.clock import now_ms
from cryptocrunch.db import db

EXCHANGES = ("kraken", "coinbase", "bitstamp", "binance")


def collect(runner, *args):
    result = runner.invoke(args=["collect", *args], catch_exceptions=False)
    return result


def test_collect_stores_every_configured_market(app, runner, fake):
    ts = now_ms() - 5_000
    expected = {}
    for n, exchange in enumerate(EXCHANGES):
        for m, pair in enumerate(fake.markets[exchange]):
            last = 1000.0 + 100 * n + m
            fake.set_ticker(exchange, pair, last, bid=last - 0.5, ask=last + 0.5, volume=3.25, ts_ms=ts)
            # coinbase's batched products endpoint carries no bid/ask
            spread = (None, None) if exchange == "coinbase" else (last - 0.5, last + 0.5)
            expected[exchange, pair] = (last, *spread, 3.25)
    fake.set_ticker("coingecko", "BTC/USD", 64000.5, ts_ms=ts)
    fake.set_ticker("coingecko", "ETH/USD", 3100.25, ts_ms=ts)

    result = collect(runner)

    assert result.exit_code == 0, result.output
    ticks = stored_ticks(app)
    for key, (last, bid, ask, volume) in expected.items():
        [tick] = ticks[key]
        assert (tick.last, tick.bid, tick.ask, tick.base_volume) == (last, bid, ask, volume), key
    assert ticks["coingecko", "BTC/USD"][0].last == 64000.5
    assert ticks["coingecko", "ETH/USD"][0].last == 3100.25
    lines = result.output.strip().splitlines()
    assert len(lines) == 5
    for source in (*EXCHANGES, "coingecko"):
        [line] = [line for line in lines if line.startswith(source)]
        assert f"stored {len(fake.markets.get(source, ['BTC', 'ETH']))}" in line
        assert last_runs(app)[source].status == "ok"


def test_rerun_stores_nothing_twice(app, runner, fake):
    ts = now_ms() - 5_000
    for exchange in ("bitstamp", "binance"):
        for pair in fake.markets[exchange]:
            fake.set_ticker(exchange, pair, 100.0, ts_ms=ts)
    assert collect(runner, "--exchange", "bitstamp", "--exchange", "binance").exit_code == 0
    before = stored_ticks(app)

    result = collect(runner, "--exchange", "bitstamp", "--exchange", "binance")

    assert result.exit_code == 0, result.output

    def rows(ticks):
        return {key: [(t.ts, t.last) for t in found] for key, found in ticks.items()}

    assert rows(stored_ticks(app)) == rows(before)
    latest = last_runs(app)
    for exchange in ("bitstamp", "binance"):
        assert (latest[exchange].stored, latest[exchange].duplicates) == (0, len(fake.markets[exchange]))


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"last": None}, "missing last"),
        ({"last": -1}, "last is not positive"),
        ({"last": 0}, "last"),
        ({"last": 100.0, "bid": 101.0, "ask": 100.5}, "ask 100.5 < bid 101.0"),
    ],
)
@pytest.mark.parametrize("exchange", ["bitstamp", "binance", "kraken"])
def test_bad_ticker_values_are_rejected_and_the_rest_stored(app, runner, fake, exchange, values, reason):
    bad_pair, good_pair = fake.markets[exchange][:2]
    fake.set_ticker(exchange, bad_pair, **values)

    result = collect(runner, "--exchange", exchange, "-v")

    assert result.exit_code == 0, result.output
    ticks = stored_ticks(app)
    assert (exchange, bad_pair) not in ticks
    assert (exchange, good_pair) in ticks
    run = last_runs(app)[exchange]
    assert (run.status, run.rejected) == ("ok", 1)
    assert f"rejected {bad_pair}: " in result.output
    assert reason in result.output


def test_a_future_timestamp_is_rejected(app, runner, fake):
    fake.set_ticker("binance", "BTC/USDT", 100.0, ts_ms=now_ms() + 3_600_000)
    result = collect(runner, "--exchange", "binance", "-v")
    assert "in the future" in result.output
    assert ("binance", "BTC/USDT") not in stored_ticks(app)
    assert ("binance", "ETH/USDT") in stored_ticks(app)


def test_rate_limit_is_retried_after_the_servers_retry_after(app, runner, fake):
    collect(runner, "--exchange", "bitstamp")  # markets loaded and cached
    fake.set_ticker("bitstamp", "BTC/USD", 100.0, ts_ms=now_ms() - 2_000)  # bitstamp stamps whole seconds
    fake.set_ticker("bitstamp", "ETH/USD", 10.0, ts_ms=now_ms() - 2_000)
    fake.fail("bitstamp", "429", times=2, retry_after=0.3, path_contains="ticker")
    started = time.monotonic()

    result = collect(runner, "--exchange", "bitstamp")

    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 0.6
    run = last_runs(app)["bitstamp"]
    assert (run.status, run.retries, run.stored) == ("ok", 2, 2)


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_errors_are_retried(app, runner, fake, kind):
    fake.fail("kraken", kind, times=2)
    result = collect(runner, "--exchange", "kraken")
    assert result.exit_code == 0, result.output
    run = last_runs(app)["kraken"]
    assert (run.status, run.retries, run.stored) == ("ok", 2, len(fake.markets["kraken"]))


def test_a_response_slower_than_the_timeout_is_retried(app, runner, fake):
    fake.fail("binance", "slow", times=1, delay=1.5)
    result = collect(runner, "--exchange", "binance")
    assert result.exit_code == 0, result.output
    run = last_runs(app)["binance"]
    assert (run.status, run.retries, run.stored) == ("ok", 1, 2)


@pytest.mark.parametrize("kind", ["malformed_json", "html", "empty"])
@pytest.mark.parametrize("exchange", EXCHANGES)
def test_a_broken_exchange_does_not_stop_the_others(app, runner, fake, exchange, kind):
    fake.fail(exchange, kind, times=100)

    result = collect(runner)

    assert result.exit_code == 0, result.output
    latest = last_runs(app)
    assert latest[exchange].status == "error"
    assert latest[exchange].stored == 0
    assert exchange in latest[exchange].error
    assert f"{exchange:<12} ERROR" in result.output
    ticks = stored_ticks(app)
    assert not [key for key in ticks if key[0] == exchange]
    for other in EXCHANGES:
        if other != exchange:
            assert latest[other].status == "ok", latest[other].error
            assert latest[other].stored == len(fake.markets[other])
    assert latest["coingecko"].stored == 2


def test_an_unreachable_exchange_is_reported_once_with_what_to_do(app, runner, fake):
    app.config["EXCHANGE_OPTIONS"]["kraken"]["urls"] = {"api": {"public": "http://127.0.0.1:9/kraken"}}
    result = collect(runner, "--exchange", "kraken", "--exchange", "binance")
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if "kraken" in line]
    assert "no network: kraken unreachable after 4 tries" in line
    assert last_runs(app)["binance"].stored == 2


def test_a_rate_limited_source_cools_down_and_is_skipped(app, runner, fake):
    fake.fail("coingecko", "429", times=100, retry_after=0)
    result = collect(runner, "--exchange", "coingecko", "--exchange", "binance")
    assert "coingecko" in result.output and "rate-limited" in result.output
    first = last_runs(app)["coingecko"]
    assert first.status == "error"
    assert first.cooldown_until >= now_ms() + 290_000
    requests_before = fake.count("coingecko")

    result = collect(runner, "--exchange", "coingecko", "--exchange", "binance")

    assert "on cooldown until" in result.output
    assert fake.count("coingecko") == requests_before
    assert last_runs(app)["coingecko"].status == "cooldown"
    assert last_runs(app)["binance"].status == "ok"


def test_exchange_and_pair_narrow_the_cycle(app, runner, fake):
    result = collect(runner, "--exchange", "kraken", "--pair", "BTC-USD")
    assert result.exit_code == 0, result.output
    assert list(stored_ticks(app)) == [("kraken", "BTC/USD")]
    assert {exchange for exchange, _, _ in fake.requests} == {"kraken"}
    assert [run.source for run in runs(app)] == ["kraken"]


def test_an_unknown_exchange_is_a_usage_error(app, runner):
    result = runner.invoke(args=["collect", "--exchange", "krakken"])
    assert result.exit_code == 2
    assert "'krakken' is not configured" in result.output


def test_a_pair_the_exchange_does_not_list_is_rejected(app, runner, fake):
    app.config["MARKETS"]["kraken"] = ["BTC/USD", "DOGE/EUR"]
    result = collect(runner, "--exchange", "kraken", "-v")
    assert "rejected DOGE/EUR: kraken does not list DOGE/EUR" in result.output
    assert last_runs(app)["kraken"].rejected == 1
    assert ("kraken", "BTC/USD") in stored_ticks(app)


def test_books_stores_the_order_book_top(app, runner, fake):
    fake.set_book(
        "binance",
        "BTC/USDT",
        bids=[(100.0, 1.0), (99.7, 2.0), (99.2, 4.0)],
        asks=[(100.2, 0.5), (101.5, 3.0)],
    )
    result = collect(runner, "--exchange", "binance", "--books")
    assert result.exit_code == 0, result.output
    [book] = stored_books(app)["binance", "BTC/USDT"]
    assert (book.bid, book.bid_size, book.ask, book.ask_size) == (100.0, 1.0, 100.2, 0.5)
    assert (book.bid_depth_05, book.bid_depth_1, book.ask_depth_05, book.ask_depth_1) == (3.0, 7.0, 0.5, 0.5)
    assert ("binance", "ETH/USDT") in stored_books(app)


def test_markets_are_cached_in_the_instance_folder(app, runner, fake):
    collect(runner, "--exchange", "binance")
    assert list((Path(app.instance_path) / "markets").glob("binance-*.json"))
    assert fake.count("binance", "exchangeInfo") == 1

    # a new process (a new app) reads the cache instead of downloading exchangeInfo again
    keep = ("SQLALCHEMY_DATABASE_URI", "MARKETS", "EXCHANGE_OPTIONS", "RETRY_BASE")
    again = create_app({**{k: app.config[k] for k in keep}, "INSTANCE_PATH": app.instance_path})
    result = again.test_cli_runner().invoke(args=["collect", "--exchange", "binance"])
    with again.app_context():
        db.engine.dispose()
    assert result.exit_code == 0, result.output
    assert fake.count("binance", "exchangeInfo") == 1
    assert fake.count("binance", "ticker") == 2


def test_config_file_overrides_the_environment(app, runner, fake, tmp_path):
    settings = tmp_path / "collect.json"
    settings.write_text(json.dumps({"MARKETS": {"binance": ["ETH/USDT"]}, "COINGECKO_COINS": None}))
    result = collect(runner, "--config", str(settings))
    assert result.exit_code == 0, result.output
    assert list(stored_ticks(app)) == [("binance", "ETH/USDT")]


def test_runs_prints_the_recent_runs(app, runner, fake):
    assert "no runs yet" in runner.invoke(args=["runs"]).output
    fake.fail("kraken", "html", times=100)
    collect(runner)
    output = runner.invoke(args=["runs", "--limit", "5"]).output.splitlines()
    assert output[0].split()[:3] == ["source", "started", "(UTC)"]
    assert len(output) == 6
    [kraken] = [line for line in runner.invoke(args=["runs", "--source", "kraken"]).output.splitlines()[1:]]
    assert " error " in kraken and "malformed" in kraken


@pytest.mark.parametrize("exchange", ["kraken", "bitstamp", "binance"])
def test_a_nan_price_that_ccxt_cannot_parse_fails_only_that_exchange(app, runner, fake, exchange):
    fake.set_ticker(exchange, fake.markets[exchange][0], "NaN")
    result = collect(runner)
    assert result.exit_code == 0, result.output
    latest = last_runs(app)
    assert latest[exchange].status == "error"
    assert f"{exchange} sent a malformed payload (ValueError" in latest[exchange].error
    assert not [key for key in stored_ticks(app) if key[0] == exchange]
    assert all(run.status == "ok" for source, run in latest.items() if source != exchange)


@pytest.mark.parametrize(("exchange", "pair"), [("coinbase", "BTC/USD"), ("coingecko", "BTC/USD")])
@pytest.mark.parametrize(
    ("value", "reason"), [("NaN", "last is not finite"), (None, "missing last"), (-3, "last is not positive")]
)
def test_bad_prices_from_coinbase_and_coingecko_are_rejected(
    app, runner, fake, exchange, pair, value, reason
):
    fake.set_ticker(exchange, pair, value)
    result = collect(runner, "--exchange", exchange, "-v")
    assert f"rejected {pair}: {reason}" in result.output
    assert (exchange, pair) not in stored_ticks(app)
    assert (exchange, "ETH/USD") in stored_ticks(app)
    assert last_runs(app)[exchange].rejected == 1


def test_coingecko_server_errors_are_retried(app, runner, fake):
    fake.fail("coingecko", "503", times=2)
    result = collect(runner, "--exchange", "coingecko")
    assert result.exit_code == 0, result.output
    run = last_runs(app)["coingecko"]
    assert (run.status, run.retries, run.stored) == ("ok", 2, 2)


@pytest.mark.parametrize("kind", ["html", "malformed_json", "empty"])
def test_a_broken_coingecko_answer_is_reported(app, runner, fake, kind):
    fake.fail("coingecko", kind, times=10)
    collect(runner, "--exchange", "coingecko")
    run = last_runs(app)["coingecko"]
    assert run.status == "error"
    assert "coingecko sent a malformed payload" in run.error


def test_an_exchange_without_fetch_tickers_is_asked_per_pair(app, runner, fake):
    app.config["EXCHANGE_OPTIONS"]["kraken"]["has"] = {"fetchTickers": False}
    result = collect(runner, "--exchange", "kraken")
    assert result.exit_code == 0, result.output
    assert fake.count("kraken", "Ticker") == len(fake.markets["kraken"])
    assert not [r for r in fake.requests if "Ticker" in r[1] and "," in r[2]]
    assert last_runs(app)["kraken"].stored == len(fake.markets["kraken"])


# ---------------------------------------------------------------------------- markets by rule

TICKERS = {"binance": "/api/v3/ticker/24hr", "kraken": "/0/public/Ticker", "okx": "/api/v5/market/tickers"}


def ticker_requests(fake):
    return {name: fake.count(name, path) for name, path in TICKERS.items()}


def pairs_of(app, exchange):
    return {pair for (name, pair) in stored_ticks(app) if name == exchange}


def test_rules_collect_what_they_resolve_to_with_one_tickers_request_per_exchange(make_app, fake):
    fake.add_markets("binance", 2000)
    fake.add_markets("kraken", 1200)
    fake.add_markets("okx", 800, quotes=["USDT", "EUR"])
    markets = {
        "binance": {"quote": ["USDT", "USD"], "top": 50},
        "kraken": "*",
        "okx": {"quote": ["EUR"]},
        "bitstamp": ["BTC/USD"],
    }
    options = fake_options(fake, timeout_ms=15_000)  # thousands of tickers an answer
    app = make_app(MARKETS=markets, COINGECKO_COINS=None, EXCHANGE_OPTIONS=options)
    runner = app.test_cli_runner()

    result = collect(runner)

    assert result.exit_code == 0, result.output
    top = [p for p in fake.ranking("binance") if p.split("/")[1] in ("USDT", "USD")][:50]
    assert pairs_of(app, "binance") == set(top)
    assert pairs_of(app, "kraken") == set(fake.markets["kraken"])
    assert pairs_of(app, "okx") == {p for p in fake.markets["okx"] if p.endswith("/EUR")}
    assert pairs_of(app, "bitstamp") == {"BTC/USD"}
    [tick] = stored_ticks(app)["kraken", "S00005/USD"]
    assert (tick.last, tick.bid, tick.ask) == (1960.0, 1959.9, 1960.1)
    assert {run.source: run.stored for run in runs(app)} == {
        "binance": 50,
        "kraken": 1203,
        "okx": 400,
        "bitstamp": 1,
    }
    # binance: its tickers once to rank them, then its 50 by name; kraken and okx: every ticker at once
    assert ticker_requests(fake) == {"binance": 2, "kraken": 1, "okx": 1}
    assert fake.count("binance", "ticker/24hr?symbols=") == 1
    assert fake.count("kraken", "Ticker?pair=") == 0

    before, markets_requests = ticker_requests(fake), len([r for r in fake.requests if "Ticker" not in r[1]])
    result = collect(runner)  # the next cycle: markets and ranking cached, one request per exchange

    assert result.exit_code == 0, result.output
    assert {name: n - before[name] for name, n in ticker_requests(fake).items()} == {
        "binance": 1,
        "kraken": 1,
        "okx": 1,
    }
    assert fake.count("bitstamp", "ticker") == 2
    assert (
        len([r for r in fake.requests if "Ticker" not in r[1]]) - markets_requests == 3
    )  # binance, okx, bitstamp
    assert fake.count("binance", "exchangeInfo") == fake.count("okx", "instruments") == 1
    assert [run.stored for run in runs(app) if run.source == "kraken"] == [1203, 1203]


def test_the_volume_ranking_is_refreshed_with_the_listings_not_at_each_cycle(make_app, fake):
    from cryptocrunch.worker.jobs import Sources, run_job

    fake.add_markets("binance", 300, quotes=["USDT"])
    app = make_app(MARKETS={"binance": {"top": 3}}, COINGECKO_COINS=None)
    runner = app.test_cli_runner()
    assert collect(runner).exit_code == 0
    assert pairs_of(app, "binance") == {"S00000/USDT", "S00001/USDT", "S00002/USDT"}
    fake.set_ticker("binance", "S00299/USDT", 1.0, volume=1e12)  # the largest by far from now on

    assert collect(runner).exit_code == 0  # ranked as before: not asked again
    assert "S00299/USDT" not in pairs_of(app, "binance")
    assert fake.count("binance", "ticker/24hr") - fake.count("binance", "symbols=") == 1

    run = run_job(app, "listings", Sources(app))  # the worker's daily listings job

    assert (run.status, run.error) == ("ok", None)
    assert fake.count("binance", "ticker/24hr") - fake.count("binance", "symbols=") == 2
    assert fake.count("binance", "exchangeInfo") == 2
    assert collect(runner).exit_code == 0
    assert [t.last for t in stored_ticks(app)["binance", "S00299/USDT"]] == [1.0]


def test_a_rule_that_resolves_to_nothing_fails_that_exchange_only_saying_why(make_app, fake):
    app = make_app(MARKETS={"kraken": {"quote": ["JPY"]}, "binance": ["BTC/USDT"]}, COINGECKO_COINS=None)

    result = collect(app.test_cli_runner())

    assert result.exit_code == 0, result.output
    latest = last_runs(app)
    assert latest["kraken"].status == "error"
    assert latest["kraken"].error == (
        "MARKETS['kraken']: every active spot market quoted in JPY: "
        "none among the 3 active spot markets kraken lists"
    )
    assert (latest["binance"].status, latest["binance"].stored) == ("ok", 1)


def test_pair_narrows_a_rule_to_the_markets_it_resolves_to(make_app, fake):
    fake.add_markets("kraken", 10)
    fake.add_markets("binance", 10)
    app = make_app(MARKETS={"kraken": "*", "binance": {"top": 1}}, COINGECKO_COINS=None)

    result = collect(app.test_cli_runner(), "--pair", "S00001-USD")

    assert result.exit_code == 0, result.output
    assert list(stored_ticks(app)) == [("kraken", "S00001/USD")]
    assert [run.source for run in runs(app)] == ["kraken"]  # binance's top 1 is S00000/USDT: nothing to do
