"""The fake exchange server, checked with real ccxt (sync) and requests.

These tests also pin the behaviour table in the ``fake_exchange`` docstring: what ccxt does with rate limits,
server errors, timeouts, spoiled bodies and bad ticker values, per exchange.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ccxt
import pytest
import requests
from fake_exchange import MARKET_IDS, FakeExchange, exchange_options

EXCHANGES = FakeExchange.EXCHANGES
VENUES = FakeExchange.VENUES
MARKET_IDS_OF = {name: list(ids) for name, ids in MARKET_IDS.items() if name != "coingecko"}
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "responses"
MARKETS_ENDPOINT = {
    "kraken": "/0/public/AssetPairs",
    "coinbase": "/api/v3/brokerage/market/products",
    "bitstamp": "/api/v2/markets/",
    "binance": "/api/v3/exchangeInfo",
}
# what the unified ticker carries: (bid/ask, baseVolume, timestamp) for fetch_tickers and fetch_ticker
CARRIES = {
    ("kraken", "tickers"): (True, True, False),
    ("kraken", "ticker"): (True, True, False),
    ("coinbase", "tickers"): (False, True, False),
    ("coinbase", "ticker"): (True, False, True),
    ("bitstamp", "tickers"): (True, True, True),
    ("bitstamp", "ticker"): (True, True, True),
    ("binance", "tickers"): (True, True, True),
    ("binance", "ticker"): (True, True, True),
}
COINGECKO_FIELDS = ["id", "symbol", "name", "current_price", "market_cap", "market_cap_rank", "total_volume"]
COINGECKO_FIELDS += ["circulating_supply", "high_24h", "low_24h", "max_supply", "roi", "last_updated"]
RATE_LIMIT_ERROR = {
    "kraken": ccxt.RateLimitExceeded,
    "coinbase": ccxt.RateLimitExceeded,
    "bitstamp": ccxt.RateLimitExceeded,
    "binance": ccxt.DDoSProtection,
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeExchange]:
    with FakeExchange() as fake:
        yield fake


@pytest.fixture
def fx(server: FakeExchange) -> Iterator[FakeExchange]:
    server.reset()
    yield server
    assert server.server_errors == []
    server.reset()


@pytest.fixture
def make(fx: FakeExchange) -> Iterator[Callable[..., Any]]:
    """Build a real ccxt exchange pointed at the fake; sessions are closed afterwards."""
    made: list[Any] = []

    def build(name: str, timeout_ms: int = 2000, **extra: Any) -> Any:
        options = fx.exchange_options(timeout_ms=timeout_ms)[name]
        exchange = getattr(ccxt, name)({**options, "enableRateLimit": False, **extra})
        made.append(exchange)
        return exchange

    yield build
    for exchange in made:
        exchange.session.close()


def outcome(call: Callable[[], Any]) -> Any:
    """What a ccxt call did: ("raises", class name) or its result."""
    try:
        return call()
    except Exception as error:  # noqa: BLE001 - recording which exception is the point
        return ("raises", type(error).__name__)


# ---------------------------------------------------------------------------- options and markets


def test_exchange_options_are_json_and_point_every_api_url_here(fx: FakeExchange, make) -> None:
    assert set(fx.exchange_options()) == set(EXCHANGES)  # a venue once it has markets:
    for name in VENUES:
        fx.add_markets(name, 1)
    options = fx.exchange_options(timeout_ms=1234)
    assert set(options) == {*EXCHANGES, *VENUES} == set(exchange_options(fx.base_url, 1234))
    assert json.loads(json.dumps(options)) == options
    for name in (*EXCHANGES, *VENUES):
        exchange = make(name, timeout_ms=1234)
        assert exchange.timeout == 1234
        urls = [url for url in exchange.urls["api"].values() if isinstance(url, str)]
        assert urls
        leaks = [url for url in urls if not url.startswith(f"{fx.base_url}/{name}")]
        assert leaks == [], f"{name}: ccxt API URLs not re-rooted on the fake"
    binance = make("binance")
    assert binance.options["fetchMarkets"]["types"] == ["spot"]
    assert options["kraken"]["urls"]["api"]["public"] == fx.base_url + "/kraken"
    assert fx.coingecko_url == fx.base_url + "/coingecko/api/v3"


@pytest.mark.parametrize("name", EXCHANGES)
def test_load_markets_lists_exactly_the_served_pairs(fx: FakeExchange, make, name: str) -> None:
    markets = make(name).load_markets()
    assert sorted(markets) == sorted(fx.markets[name])
    assert all(market["spot"] and market["active"] for market in markets.values())
    assert fx.count(name, MARKETS_ENDPOINT[name].rstrip("/")) >= 1
    assert fx.unhandled == []


@pytest.mark.parametrize("name", EXCHANGES)
def test_set_listing_controls_what_load_markets_lists(fx: FakeExchange, make, name: str) -> None:
    served = fx.markets[name][0]
    perpetuals = ["BTC/USD"] if name == "bitstamp" else []
    fx.set_listing(
        name, [served, "SOL/USD", "DOGE/EUR", "ADA/BTC"], inactive=["ADA/BTC"], perpetuals=perpetuals
    )
    exchange = make(name)
    markets = exchange.load_markets()
    spot = {symbol: market["active"] for symbol, market in markets.items() if market["spot"]}
    assert spot == {served: True, "SOL/USD": True, "DOGE/EUR": True, "ADA/BTC": False}
    assert [s for s, m in markets.items() if not m["spot"]] == [f"{p}:USD" for p in perpetuals]
    assert exchange.fetch_ticker(served)["last"] > 0  # a served pair keeps its tickers
    assert (fx.unhandled, fx.server_errors) == ([], [])
    fx.reset()
    assert sorted(make(name).load_markets()) == sorted(fx.markets[name])


def test_set_listing_refuses_what_it_cannot_list(fx: FakeExchange) -> None:
    with pytest.raises(ValueError, match="coingecko lists coins"):
        fx.set_listing("coingecko", ["BTC/USD"])
    with pytest.raises(ValueError, match="upper-case BASE/QUOTE"):
        fx.set_listing("kraken", ["btc/usd"])
    with pytest.raises(ValueError, match="inactive pairs must be listed too"):
        fx.set_listing("kraken", ["BTC/USD"], inactive=["ETH/USD"])
    with pytest.raises(ValueError, match="only bitstamp"):
        fx.set_listing("kraken", ["BTC/USD"], perpetuals=["BTC/USD"])


def test_binance_skips_sapi_and_futures_without_keys_even_with_default_currency_options(fx, make) -> None:
    binance = make("binance", options={"fetchMarkets": {"types": ["spot"]}})
    assert binance.options["fetchCurrencies"] is True  # ccxt's default: skipped anyway without keys
    binance.load_markets()
    assert [path for _, path, _ in fx.requests] == ["/api/v3/exchangeInfo"]


def test_markets_and_default_state(fx: FakeExchange) -> None:
    assert fx.markets == {
        "kraken": ["BTC/USD", "ETH/USD", "BTC/USDT"],
        "coinbase": ["BTC/USD", "ETH/USD"],
        "bitstamp": ["BTC/USD", "ETH/USD"],
        "binance": ["BTC/USDT", "ETH/USDT"],
        "coingecko": ["BTC/USD", "ETH/USD"],
    }
    assert fx.coingecko_ids == {"bitcoin": "BTC", "ethereum": "ETH"}


# ---------------------------------------------------------------------------- tickers and books


def _set_distinct_tickers(fx: FakeExchange, name: str, ts: int) -> dict[str, tuple[float, ...]]:
    expected = {}
    for n, pair in enumerate(fx.markets[name]):
        last = 1234.5 + 1000 * n
        values = (last, last - 0.25, last + 0.75, 7.125 + n)
        fx.set_ticker(name, pair, values[0], bid=values[1], ask=values[2], volume=values[3], ts_ms=ts + n)
        expected[pair] = values
    return expected


def _check_ticker(name: str, kind: str, ticker: dict, values: tuple[float, ...], ts: int) -> None:
    last, bid, ask, volume = values
    has_bid_ask, has_volume, has_ts = CARRIES[name, kind]
    assert ticker["last"] == last
    assert (ticker["bid"], ticker["ask"]) == ((bid, ask) if has_bid_ask else (None, None))
    assert ticker["baseVolume"] == (volume if has_volume else None)
    if not has_ts:
        assert ticker["timestamp"] is None
    elif name == "bitstamp":
        assert ticker["timestamp"] == ts // 1000 * 1000  # Bitstamp sends unix seconds
    else:
        assert ticker["timestamp"] == ts


@pytest.mark.parametrize("name", EXCHANGES)
def test_fetch_tickers_returns_what_set_ticker_set(fx: FakeExchange, make, name: str) -> None:
    ts = 1_700_000_000_123
    expected = _set_distinct_tickers(fx, name, ts)
    tickers = make(name).fetch_tickers(fx.markets[name])
    assert sorted(tickers) == sorted(fx.markets[name])
    for n, (pair, values) in enumerate(expected.items()):
        assert tickers[pair]["symbol"] == pair
        _check_ticker(name, "tickers", tickers[pair], values, ts + n)


@pytest.mark.parametrize("name", EXCHANGES)
def test_fetch_ticker_returns_what_set_ticker_set(fx: FakeExchange, make, name: str) -> None:
    ts = 1_700_000_000_123
    expected = _set_distinct_tickers(fx, name, ts)
    exchange = make(name)
    for n, (pair, values) in enumerate(expected.items()):
        _check_ticker(name, "ticker", exchange.fetch_ticker(pair), values, ts + n)


@pytest.mark.parametrize("name", EXCHANGES)
def test_default_tickers_are_sane_and_fresh(fx: FakeExchange, make, name: str) -> None:
    before = int(time.time() * 1000)
    for pair, ticker in make(name).fetch_tickers(fx.markets[name]).items():
        expected = 60000 if pair.startswith("BTC/") else 3000
        assert abs(ticker["last"] - expected) / expected < 0.01
        if ticker["bid"] is not None:
            assert ticker["bid"] < ticker["last"] < ticker["ask"]
        if ticker["timestamp"] is not None:
            assert ticker["timestamp"] >= before - 1000


def test_bid_and_ask_default_around_last_but_none_is_written(fx: FakeExchange, make) -> None:
    fx.set_ticker("bitstamp", "BTC/USD", 100.0)
    fx.set_ticker("bitstamp", "ETH/USD", 50.0, bid=None)
    tickers = make("bitstamp").fetch_tickers()
    assert tickers["BTC/USD"]["bid"] < 100.0 < tickers["BTC/USD"]["ask"]
    assert tickers["ETH/USD"]["bid"] is None
    assert tickers["ETH/USD"]["ask"] > 50.0


@pytest.mark.parametrize("name", EXCHANGES)
def test_fetch_order_book_returns_the_set_levels(fx: FakeExchange, make, name: str) -> None:
    pair = fx.markets[name][0]
    bids = [(100.0, 1.0), (99.7, 2.0), (99.2, 4.0)]
    asks = [(100.2, 0.5), (101.5, 3.0)]
    fx.set_book(name, pair, bids=bids, asks=asks)
    exchange = make(name)
    book = exchange.fetch_order_book(pair, 10)
    assert [tuple(level[:2]) for level in book["bids"]] == bids  # kraken adds a 3rd item: its timestamp
    assert [tuple(level[:2]) for level in book["asks"]] == asks
    limited = exchange.fetch_order_book(pair, 2)
    expected_bids = bids if name == "bitstamp" else bids[:2]  # bitstamp has no limit on the wire
    assert [tuple(level[:2]) for level in limited["bids"]] == expected_bids


@pytest.mark.parametrize("name", EXCHANGES)
def test_default_book_sits_around_the_ticker(fx: FakeExchange, make, name: str) -> None:
    pair = fx.markets[name][0]
    exchange = make(name)
    book = exchange.fetch_order_book(pair, 5)
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert book["bids"][0][0] < book["asks"][0][0]
    assert [level[0] for level in book["bids"]] == sorted((level[0] for level in book["bids"]), reverse=True)
    assert abs(book["bids"][0][0] - 60000) < 600


# ---------------------------------------------------------------------------- HTTP faults


@pytest.mark.parametrize("name", EXCHANGES)
def test_429_raises_the_rate_limit_error_with_retry_after(fx: FakeExchange, make, name: str) -> None:
    exchange = make(name)
    exchange.load_markets()
    fx.fail(name, "429", retry_after=2)
    with pytest.raises(ccxt.NetworkError) as raised:
        exchange.fetch_tickers(fx.markets[name])
    assert type(raised.value) is RATE_LIMIT_ERROR[name]
    assert exchange.last_response_headers["Retry-After"] == "2"
    assert exchange.fetch_tickers(fx.markets[name])  # one fault only


@pytest.mark.parametrize("kind", ["500", "503"])
@pytest.mark.parametrize("name", EXCHANGES)
def test_5xx_raises_exchange_not_available(fx: FakeExchange, make, name: str, kind: str) -> None:
    exchange = make(name)
    fx.fail(name, kind)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        exchange.load_markets()
    exchange.load_markets()
    fx.fail(name, kind)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        exchange.fetch_ticker(fx.markets[name][0])
    assert exchange.fetch_ticker(fx.markets[name][0])["last"] is not None


@pytest.mark.parametrize("name", EXCHANGES)
def test_slow_answer_beyond_the_timeout_raises_request_timeout(fx: FakeExchange, make, name: str) -> None:
    exchange = make(name, timeout_ms=200)
    exchange.load_markets()
    fx.fail(name, "slow", delay=1.0)
    started = time.monotonic()
    with pytest.raises(ccxt.RequestTimeout):
        exchange.fetch_ticker(fx.markets[name][0])
    assert time.monotonic() - started < 0.9
    assert exchange.fetch_ticker(fx.markets[name][0])["last"] is not None


def test_slow_answer_within_the_timeout_succeeds(fx: FakeExchange, make) -> None:
    exchange = make("binance", timeout_ms=2000)
    fx.fail("binance", "slow", delay=0.15)
    started = time.monotonic()
    assert sorted(exchange.load_markets()) == ["BTC/USDT", "ETH/USDT"]
    assert time.monotonic() - started >= 0.15


def test_path_contains_spares_other_requests_and_faults_queue_in_order(fx: FakeExchange, make) -> None:
    exchange = make("kraken")
    fx.fail("kraken", "500", path_contains="Ticker")
    fx.fail("kraken", "429", path_contains="Ticker")
    assert len(exchange.load_markets()) == 3
    with pytest.raises(ccxt.ExchangeNotAvailable):
        exchange.fetch_ticker("BTC/USD")
    with pytest.raises(ccxt.RateLimitExceeded):
        exchange.fetch_ticker("BTC/USD")
    assert exchange.fetch_ticker("BTC/USD")["last"] == 60000.0
    assert fx.count("kraken", "Ticker") == 3
    assert fx.count("kraken", "pair=XXBTZUSD") == 3  # the query is searched too
    assert fx.count("kraken") == 5


# ---------------------------------------------------------------------------- the behaviour table

SPOILED_CALLS = ("load_markets", "fetch_tickers", "fetch_ticker", "fetch_order_book")
SPOILED = {
    ("kraken", "fetch_tickers"): {},
    ("coinbase", "fetch_tickers"): {},
    ("bitstamp", "fetch_tickers"): ("raises", "AttributeError"),
    ("binance", "fetch_tickers"): ("raises", "AttributeError"),
    ("bitstamp", "fetch_order_book"): ("raises", "ExchangeError"),
}


@pytest.mark.parametrize("call", SPOILED_CALLS)
@pytest.mark.parametrize("kind", ["malformed_json", "html", "empty"])
@pytest.mark.parametrize("name", EXCHANGES)
def test_spoiled_bodies(fx: FakeExchange, make, name: str, kind: str, call: str) -> None:
    exchange = make(name)
    pair = fx.markets[name][0]
    if call == "load_markets":
        fx.fail(name, kind, path_contains=MARKETS_ENDPOINT[name].rstrip("/"))
        assert outcome(exchange.load_markets) == {}
        with pytest.raises(ccxt.BadSymbol):
            exchange.market(pair)
        return
    exchange.load_markets()
    fx.fail(name, kind)
    calls = {
        "fetch_tickers": lambda: exchange.fetch_tickers(fx.markets[name]),
        "fetch_ticker": lambda: exchange.fetch_ticker(pair),
        "fetch_order_book": lambda: exchange.fetch_order_book(pair, 5),
    }
    result = outcome(calls[call])
    if (name, call) in SPOILED:
        assert result == SPOILED[name, call]
    elif call == "fetch_ticker":
        assert result["symbol"] == pair
        assert [result[k] for k in ("last", "bid", "ask", "baseVolume", "timestamp")] == [None] * 5
    else:
        assert (result["bids"], result["asks"]) == ([], [])


def test_spoiled_currency_calls_do_not_stop_kraken_or_coinbase_markets(fx: FakeExchange, make) -> None:
    fx.fail("kraken", "html", path_contains="/Assets")
    fx.fail("coinbase", "empty", times=3, path_contains="/v2/")
    assert len(make("kraken").load_markets()) == 3
    assert len(make("coinbase").load_markets()) == 2


NAN = "nan"
BAD_VALUES: dict[str, dict[str, Any]] = {
    "last_none": {"last": None},
    "last_nan": {"last": "NaN"},
    "last_zero": {"last": 0},
    "last_negative": {"last": -1},
    "ask_below_bid": {"last": 100.0, "bid": 101.0, "ask": 100.5},
}
# (exchange, case) -> what ccxt returns: a (last, bid, ask) triple or ("raises", class); "rebuilt" = the
# previous good price (binance: openPrice + priceChange)
BAD_EXPECTED: dict[tuple[str, str], Any] = {
    **{(name, "last_none"): "last None" for name in ("kraken", "bitstamp", "coinbase")},
    ("binance", "last_none"): "rebuilt",
    **{(name, "last_nan"): ("raises", "ValueError") for name in ("kraken", "bitstamp", "binance")},
    ("coinbase", "last_nan"): "last nan",
    **{(name, "last_zero"): "last None" for name in ("kraken", "bitstamp", "coinbase")},
    ("binance", "last_zero"): "rebuilt",
    **{(name, "last_negative"): "last -1" for name in EXCHANGES},
    **{(name, "ask_below_bid"): "as set" for name in EXCHANGES},
}


@pytest.mark.parametrize("method", ["tickers", "ticker"])
@pytest.mark.parametrize("case", BAD_VALUES)
@pytest.mark.parametrize("name", EXCHANGES)
def test_bad_ticker_values(fx: FakeExchange, make, name: str, case: str, method: str) -> None:
    pair, other = fx.markets[name][:2]
    exchange = make(name)
    previous = exchange.fetch_ticker(pair)["last"]
    fx.set_ticker(name, pair, **BAD_VALUES[case])
    if method == "tickers":
        result = outcome(lambda: exchange.fetch_tickers(fx.markets[name]))
    else:
        result = outcome(lambda: exchange.fetch_ticker(pair))
    expected = BAD_EXPECTED[name, case]
    if isinstance(expected, tuple):
        assert result == expected
        return
    ticker = result[pair] if method == "tickers" else result
    if method == "tickers":
        assert result[other]["last"] is not None  # the good pair is unaffected
    has_bid_ask = CARRIES[name, method][0]
    if expected == "last None":
        assert ticker["last"] is None
    elif expected == "rebuilt":
        assert ticker["last"] == previous
        assert ticker["info"]["lastPrice"] == (None if case == "last_none" else "0")
    elif expected == "last nan":
        assert math.isnan(ticker["last"])
    elif expected == "last -1":
        assert ticker["last"] == -1.0
    else:
        assert ticker["last"] == 100.0
        assert (ticker["bid"], ticker["ask"]) == ((101.0, 100.5) if has_bid_ask else (None, None))
    if case != "ask_below_bid" and has_bid_ask:
        assert ticker["bid"] is not None and ticker["ask"] is not None


def test_nan_bid_and_missing_volume_pass_through(fx: FakeExchange, make) -> None:
    fx.set_ticker("binance", "BTC/USDT", 100.0, bid="NaN", ask=None, volume=None)
    ticker = make("binance").fetch_ticker("BTC/USDT")
    assert math.isnan(ticker["bid"])
    assert ticker["ask"] is None
    assert ticker["baseVolume"] is None


# ---------------------------------------------------------------------------- overrides, log, reset


def test_unknown_paths_get_a_json_404_and_are_recorded(fx: FakeExchange) -> None:
    response = requests.get(fx.base_url + "/kraken/0/public/Nope?x=1", timeout=5)
    assert response.status_code == 404
    assert response.json()["fake_exchange"] == "no route"
    other = requests.get(fx.base_url + "/nowhere", timeout=5)
    assert other.status_code == 404
    assert fx.unhandled == [("kraken", "/0/public/Nope", "x=1"), ("", "/nowhere", "")]
    assert fx.requests == fx.unhandled


def test_serve_body_replays_a_fixed_body(fx: FakeExchange, make) -> None:
    body = {
        "error": [],
        "result": {
            "XXBTZUSD": {
                "a": ["1.5", "1", "1.000"],
                "b": ["1.4", "1", "1.000"],
                "c": ["1.45", "0.1"],
                "v": ["3", "4"],
                "p": ["1", "1"],
                "t": [1, 2],
                "l": ["1", "1"],
                "h": ["2", "2"],
                "o": "1.2",
            }
        },
    }
    fx.serve_body("kraken", "/0/public/Ticker", json.dumps(body))
    ticker = make("kraken").fetch_ticker("BTC/USD")
    assert (ticker["last"], ticker["bid"], ticker["ask"], ticker["baseVolume"]) == (1.45, 1.4, 1.5, 4.0)
    fx.serve_body("bitstamp", "api/v2/markets", b"[]", status=503)  # no leading or trailing slash needed
    with pytest.raises(ccxt.ExchangeNotAvailable):
        make("bitstamp").load_markets()
    fx.serve_body("coingecko", "/coins/markets", "[]")
    assert requests.get(fx.coingecko_url + "/coins/markets?vs_currency=usd", timeout=5).json() == []


def test_reset_restores_everything(fx: FakeExchange, make) -> None:
    fx.set_ticker("binance", "BTC/USDT", 1.0)
    fx.set_book("binance", "BTC/USDT", bids=[(1.0, 1.0)], asks=[(2.0, 1.0)])
    fx.fail("binance", "500", times=5)
    fx.serve_body("binance", "/api/v3/exchangeInfo", "{}")
    requests.get(fx.base_url + "/nowhere", timeout=5)
    fx.reset()
    assert (fx.requests, fx.unhandled) == ([], [])
    exchange = make("binance")
    assert len(exchange.load_markets()) == 2
    assert exchange.fetch_ticker("BTC/USDT")["last"] == 60020.0
    assert len(exchange.fetch_order_book("BTC/USDT")["bids"]) == 5


def test_invalid_arguments_are_refused(fx: FakeExchange) -> None:
    with pytest.raises(ValueError, match="unknown exchange"):
        fx.set_ticker("krakken", "BTC/USD", 1.0)
    with pytest.raises(ValueError, match="does not list"):
        fx.set_ticker("binance", "BTC/USD", 1.0)
    with pytest.raises(ValueError, match="unknown fault kind"):
        fx.fail("kraken", "timeout")
    with pytest.raises(ValueError, match="no order books"):
        fx.set_book("coingecko", "BTC/USD", [], [])


def test_concurrent_requests_are_all_logged(fx: FakeExchange) -> None:
    fx.fail("binance", "slow", times=4, delay=0.3, path_contains="ping")
    urls = [fx.base_url + "/binance/api/v3/ping"] * 4 + [fx.base_url + "/binance/api/v3/time"] * 8
    results: list[int] = []

    def get(url: str) -> None:
        results.append(requests.get(url, timeout=5).status_code)

    threads = [threading.Thread(target=get, args=(url,)) for url in urls]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 12
    assert time.monotonic() - started < 0.9  # in parallel (serially: 1.2 s)
    assert fx.count("binance") == 12
    assert fx.count("binance", "ping") == 4


def test_both_import_paths_work() -> None:
    code = (
        "from tests.fake_exchange import FakeExchange as A\n"
        "import sys; sys.path.insert(0, 'tests')\n"
        "from fake_exchange import FakeExchange as B\n"
        "with A() as a: print(a.base_url.startswith('http://127.0.0.1:'), B.EXCHANGES)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True ('kraken', 'coinbase', 'bitstamp', 'binance')"


def test_start_stop_restart_and_stop_wakes_slow_requests() -> None:
    fake = FakeExchange()
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    fake.start()
    fake.fail("binance", "slow", delay=30)
    thread = threading.Thread(
        target=lambda: outcome(lambda: requests.get(fake.base_url + "/binance/api/v3/ping", timeout=10))
    )
    thread.start()
    while fake.count("binance") == 0:
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2
    thread.join(5)
    with fake:
        assert requests.get(fake.base_url + "/binance/api/v3/time", timeout=5).status_code == 200


# ---------------------------------------------------------------------------- coingecko


def test_coingecko_coins_markets_has_the_real_layout(fx: FakeExchange) -> None:
    fx.set_ticker("coingecko", "BTC/USD", 64000.5, volume=2.5e10, ts_ms=1_700_000_000_123)
    response = requests.get(
        fx.coingecko_url + "/coins/markets",
        params={"vs_currency": "usd", "ids": "bitcoin,ethereum"},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    coins = response.json()
    assert [coin["id"] for coin in coins] == ["bitcoin", "ethereum"]
    btc, eth = coins
    assert set(COINGECKO_FIELDS) <= set(btc)
    assert (btc["symbol"], btc["name"], btc["market_cap_rank"]) == ("btc", "Bitcoin", 1)
    assert (btc["current_price"], btc["total_volume"]) == (64000.5, 2.5e10)
    assert btc["last_updated"] == "2023-11-14T22:13:20.123Z"
    assert btc["market_cap"] == round(64000.5 * btc["circulating_supply"])
    assert abs(eth["current_price"] - 3000) < 30
    assert eth["last_updated"].endswith("Z")
    only = requests.get(fx.coingecko_url + "/coins/markets?vs_currency=usd&ids=ethereum", timeout=5).json()
    assert [coin["id"] for coin in only] == ["ethereum"]
    assert fx.count("coingecko", "coins/markets") == 2
    assert fx.requests[0] == ("coingecko", "/api/v3/coins/markets", "vs_currency=usd&ids=bitcoin%2Cethereum")


def test_coingecko_bad_values_and_faults(fx: FakeExchange) -> None:
    url = fx.coingecko_url + "/coins/markets?vs_currency=usd&ids=bitcoin"
    fx.set_ticker("coingecko", "BTC/USD", None)
    assert requests.get(url, timeout=5).json()[0]["current_price"] is None
    fx.set_ticker("coingecko", "BTC/USD", "NaN")
    assert requests.get(url, timeout=5).json()[0]["current_price"] == "NaN"
    fx.fail("coingecko", "429", retry_after=0.3)
    limited = requests.get(url, timeout=5)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "0.3")
    for kind in ("malformed_json", "html", "empty"):
        fx.fail("coingecko", kind)
        with pytest.raises(requests.exceptions.JSONDecodeError):
            requests.get(url, timeout=5).json()
    assert requests.get(fx.coingecko_url + "/coins/markets", timeout=5).status_code == 400
    assert requests.get(fx.coingecko_url + "/ping", timeout=5).json() == {"gecko_says": "(V3) To the Moon!"}


# ---------------------------------------------------------------------------- real recordings


def _real(name: str) -> str:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"real recording {path} not available")
    return path.read_text()


def test_fake_payloads_have_the_real_fields(fx: FakeExchange) -> None:
    def get(path: str) -> Any:
        return requests.get(fx.base_url + path, timeout=5).json()

    real_kraken = json.loads(_real("kraken/Ticker_XBTUSDT_2024-03-13.json"))["result"]["XBTUSDT"]
    assert set(get("/kraken/0/public/Ticker?pair=XBTUSDT")["result"]["XBTUSDT"]) == set(real_kraken)
    real_pair = json.loads(_real("kraken/AssetPairs_XBTUSDT_2025-11-11.json"))["result"]["XBTUSDT"]
    fake_pair = get("/kraken/0/public/AssetPairs")["result"]["XBTUSDT"]
    assert set(fake_pair) <= set(real_pair)
    real_binance = json.loads(_real("binance/ticker_24hr_all_2019-08-22.json"))[0]
    assert set(get("/binance/api/v3/ticker/24hr?symbol=BTCUSDT")) == set(real_binance)
    real_bitstamp = json.loads(_real("bitstamp/ticker_btcusdt_2024-03-13.json"))
    assert set(get("/bitstamp/api/v2/ticker/btcusd/")) == set(real_bitstamp)
    real_products = json.loads(_real("coinbase_advanced/market_products_2026-04-07.json"))["products"][0]
    fake_products = get("/coinbase/api/v3/brokerage/market/products")["products"][0]
    assert set(fake_products) <= set(real_products)
    real_ticker = json.loads(_real("coinbase_advanced/market_products_BTC-USD_ticker_2026-04-07.json"))
    assert set(get("/coinbase/api/v3/brokerage/market/products/BTC-USD/ticker")) == set(real_ticker)
    real_book = json.loads(_real("coinbase_advanced/market_product_book_BTC-USD_2026-04-07.json"))
    assert set(get("/coinbase/api/v3/brokerage/market/product_book?product_id=BTC-USD")["pricebook"]) == set(
        real_book["pricebook"]
    )
    real_coin = json.loads(_real("coingecko/coins_markets_usd.json"))[0]
    assert set(get("/coingecko/api/v3/coins/markets?vs_currency=usd")[0]) == set(real_coin)


def test_real_recordings_replay_through_ccxt(fx: FakeExchange, make) -> None:
    fx.serve_body("kraken", "/0/public/AssetPairs", _real("kraken/AssetPairs_XBTUSDT_2025-11-11.json"))
    fx.serve_body("kraken", "/0/public/Ticker", _real("kraken/Ticker_XBTUSDT_2024-03-13.json"))
    fx.serve_body("kraken", "/0/public/Depth", _real("kraken/Depth_XBTUSDT_2025-11-11.json"))
    kraken = make("kraken")
    assert list(kraken.load_markets()) == ["BTC/USDT"]
    assert kraken.fetch_ticker("BTC/USDT")["last"] == 73380.6
    assert kraken.fetch_order_book("BTC/USDT")["bids"][0][:2] == [105944.2, 0.002]

    fx.serve_body("binance", "/api/v3/exchangeInfo", _real("binance/exchangeInfo_BTCUSDT_2022-12-11.json"))
    fx.serve_body("binance", "/api/v3/depth", _real("binance/depth_BTCUSDT_2021-10-22.json"))
    binance = make("binance")
    assert list(binance.load_markets()) == ["BTC/USDT"]
    assert binance.fetch_order_book("BTC/USDT")["bids"][0] == [60650.0, 0.00213]

    fx.serve_body("bitstamp", "/api/v2/ticker/btcusd/", _real("bitstamp/ticker_btcusd_2017-10-03.json"))
    ticker = make("bitstamp").fetch_ticker("BTC/USD")
    assert (ticker["last"], ticker["bid"], ticker["timestamp"]) == (4402.16, 4401.37, 1507003445000)

    fx.serve_body(
        "coinbase",
        "/api/v3/brokerage/market/products",
        _real("coinbase_advanced/market_products_2026-04-07.json"),
    )
    fx.serve_body(
        "coinbase",
        "/api/v3/brokerage/market/products/BTC-USD/ticker",
        _real("coinbase_advanced/market_products_BTC-USD_ticker_2026-04-07.json"),
    )
    coinbase = make("coinbase")
    assert sorted(coinbase.load_markets()) == ["BTC/USD", "BTC/USDC"]
    ticker = coinbase.fetch_ticker("BTC/USD")
    assert (ticker["last"], ticker["bid"], ticker["ask"]) == (68923.67, 68923.66, 68923.67)


# ---------------------------------------------------------------------------- OHLCV candles

MINUTE = 60_000
DAY0 = 1_699_920_000_000  # 2023-11-14 00:00 UTC: aligned to every timeframe
OHLCV_PATH = {
    "kraken": "/0/public/OHLC",
    "coinbase": "/candles",
    "bitstamp": "/api/v2/ohlc/",
    "binance": "/api/v3/klines",
}
OHLCV_PAGE = {"kraken": 720, "coinbase": 300, "bitstamp": 1000, "binance": 1000}  # what ccxt can get per call


def _walk(count: int, step_ms: int, seed: int, start: float = 60000.0) -> list[tuple]:
    """``count`` candles from DAY0: a seeded random walk, low <= open/close <= high, 2-decimal prices."""
    rng = random.Random(seed)
    candles, price = [], start
    for n in range(count):
        close = round(max(1.0, price + rng.uniform(-40, 40)), 2)
        high = round(max(price, close) + rng.uniform(0, 15), 2)
        low = round(min(price, close) - rng.uniform(0, 15), 2)
        candles.append((DAY0 + n * step_ms, price, high, low, close, round(rng.uniform(0, 20), 8)))
        price = close
    return candles


def _page_through(exchange: Any, pair: str, timeframe: str, since: int, limit: int, on_page=None) -> list:
    """ccxt ``fetch_ohlcv`` pages from ``since`` (last open time + 1 timeframe) until an empty page."""
    step = exchange.parse_timeframe(timeframe) * 1000
    pages: list[list] = []
    while True:
        page = exchange.fetch_ohlcv(pair, timeframe, since=since, limit=limit)
        if not page:
            return pages
        pages.append(page)
        assert len(pages) < 50, "pagination does not end"
        since = page[-1][0] + step
        if on_page is not None:
            on_page(len(pages))


@pytest.mark.parametrize("name", EXCHANGES)
def test_fetch_ohlcv_pages_through_all_candles_and_survives_a_429(fx: FakeExchange, make, name: str) -> None:
    pair = fx.markets[name][0]
    candles = _walk(2500, MINUTE, seed=len(name))
    shuffled = list(reversed(candles))  # any order in, exchange order out
    fx.set_candles(name, pair, "1m", shuffled)
    fx.set_candles(name, pair, "5m", _walk(10, 5 * MINUTE, seed=9))  # other timeframes do not leak in
    exchange = make(name)
    limit = OHLCV_PAGE[name]

    def rate_limit_then_resume(done: int) -> None:
        if done == 1:  # mid-pagination: the next call is refused once
            fx.fail(name, "429", retry_after=0.2, path_contains=OHLCV_PATH[name])
            with pytest.raises(ccxt.NetworkError) as raised:
                exchange.fetch_ohlcv(pair, "1m", since=DAY0 + limit * MINUTE, limit=limit)
            assert type(raised.value) is RATE_LIMIT_ERROR[name]
            assert exchange.last_response_headers["Retry-After"] == "0.2"

    pages = _page_through(exchange, pair, "1m", DAY0, limit, on_page=rate_limit_then_resume)
    got = [tuple(row) for page in pages for row in page]
    assert got == [tuple(float(x) if i else x for i, x in enumerate(c)) for c in candles]
    assert [len(page) for page in pages] == [limit] * (2500 // limit) + [2500 % limit]
    assert fx.count(name, OHLCV_PATH[name]) == len(pages) + 2  # + the empty page + the 429
    assert fx.unhandled == []


def test_ohlcv_wire_parameters_show_how_ccxt_asks(fx: FakeExchange, make) -> None:
    for name in EXCHANGES:
        pair = fx.markets[name][0]
        fx.set_candles(name, pair, "1m", _walk(5, MINUTE, seed=1))
        assert len(make(name).fetch_ohlcv(pair, "1m", since=DAY0 + MINUTE, limit=OHLCV_PAGE[name])) == 4
    queries = {
        name: query for name, path, query in fx.requests if any(p in path for p in OHLCV_PATH.values())
    }
    s = DAY0 // 1000 + 60
    assert queries["kraken"] == f"pair=XXBTZUSD&interval=1&since={s - 60}"  # one interval earlier, no limit
    assert queries["coinbase"] == f"granularity=ONE_MINUTE&start={s}&end={s + 300 * 60}"  # limit 300
    assert queries["bitstamp"] == f"step=60&start={s}&end={s + 1000 * 60 - 1}&limit=1000"
    assert queries["binance"] == f"interval=1m&limit=1000&symbol=BTCUSDT&startTime={s * 1000}"


def test_ohlcv_raw_pages_follow_each_exchange(fx: FakeExchange) -> None:
    candles = _walk(1200, MINUTE, seed=3)
    for name in EXCHANGES:
        fx.set_candles(name, fx.markets[name][0], "1m", candles)
    s = DAY0 // 1000

    def get(path: str) -> Any:
        return requests.get(fx.base_url + path, timeout=5).json()

    kraken = get(f"/kraken/0/public/OHLC?pair=XBTUSD&interval=1&since={s}")["result"]  # altname accepted
    assert len(kraken["XXBTZUSD"]) == 720 and kraken["XXBTZUSD"][0][0] == s + 60  # time > since
    assert kraken["last"] == kraken["XXBTZUSD"][-1][0] == s + 720 * 60
    assert kraken["XXBTZUSD"][0][1] == str(candles[1][1])
    newest = get("/kraken/0/public/OHLC?pair=XXBTZUSD&interval=1")["result"]["XXBTZUSD"]
    assert [row[0] for row in newest] == [c[0] // 1000 for c in candles[-720:]]
    beyond = get(f"/kraken/0/public/OHLC?pair=XXBTZUSD&interval=1&since={s + 1199 * 60}")["result"]
    assert (beyond["XXBTZUSD"], beyond["last"]) == ([], s + 1199 * 60)

    base = "/coinbase/api/v3/brokerage/market/products/BTC-USD/candles?granularity=ONE_MINUTE"
    coinbase = get(f"{base}&start={s}&end={s + 350 * 60}")["candles"]
    assert [int(c["start"]) for c in coinbase] == [s + 60 * n for n in range(349, -1, -1)]  # newest first
    too_many = requests.get(fx.base_url + f"{base}&start={s}&end={s + 351 * 60}", timeout=5)
    assert (too_many.status_code, too_many.json()["error"]) == (400, "INVALID_ARGUMENT")

    bitstamp = get(f"/bitstamp/api/v2/ohlc/btcusd/?step=60&limit=10&start={s}&end={s + 99 * 60}")["data"]
    assert [int(c["timestamp"]) for c in bitstamp["ohlc"]] == [s + 60 * n for n in range(90, 100)]  # end wins
    only_start = get(f"/bitstamp/api/v2/ohlc/btcusd/?step=60&limit=3&start={s + 60}")["data"]["ohlc"]
    assert [int(c["timestamp"]) for c in only_start] == [s + 60, s + 120, s + 180]
    assert (
        requests.get(fx.base_url + "/bitstamp/api/v2/ohlc/btcusd/?step=60&limit=1001", timeout=5).ok is False
    )

    binance = get(f"/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={DAY0}&limit=5000")
    assert len(binance) == 1000 and binance[0][0] == DAY0 and binance[0][6] == DAY0 + MINUTE - 1
    assert len(get("/binance/api/v3/klines?symbol=BTCUSDT&interval=1m")) == 500
    assert get(f"/binance/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={DAY0 + 1200 * MINUTE}") == []


@pytest.mark.parametrize(("timeframe", "count"), [("1h", 1200), ("1d", 400)])
def test_binance_fetch_ohlcv_hourly_and_daily(fx: FakeExchange, make, timeframe: str, count: int) -> None:
    step = {"1h": 60 * MINUTE, "1d": 1440 * MINUTE}[timeframe]
    candles = _walk(count, step, seed=step % 97)
    fx.set_candles("binance", "BTC/USDT", timeframe, candles)
    exchange = make("binance")
    pages = _page_through(exchange, "BTC/USDT", timeframe, DAY0, 1000)
    assert [tuple(row) for page in pages for row in page] == [tuple(c) for c in candles]
    assert [len(page) for page in pages] == ([1000, count - 1000] if count > 1000 else [count])
    assert f"interval={timeframe}" in fx.requests[-1][2]
    assert exchange.fetch_ohlcv("BTC/USDT", "1m", since=DAY0) == []  # nothing set for 1m


def test_real_ohlcv_recordings_match_the_fake_layout(fx: FakeExchange, make) -> None:
    fx.set_candles("kraken", "BTC/USDT", "1m", _walk(2, MINUTE, seed=5))
    fx.set_candles("binance", "BTC/USDT", "1m", _walk(2, MINUTE, seed=5))
    fx.set_candles("bitstamp", "BTC/USD", "1h", _walk(2, 60 * MINUTE, seed=5))
    fx.set_candles("coinbase", "BTC/USD", "1h", _walk(2, 60 * MINUTE, seed=5))
    s = DAY0 // 1000

    def get(path: str) -> Any:
        return requests.get(fx.base_url + path, timeout=5).json()

    real = json.loads(_real("kraken/OHLC_XBTUSDT_1m_2025-11-10.json"))["result"]
    fake = get("/kraken/0/public/OHLC?pair=XBTUSDT&interval=1")["result"]
    assert set(fake) == set(real) and [type(x) for x in fake["XBTUSDT"][0]] == [
        type(x) for x in real["XBTUSDT"][0]
    ]
    real = json.loads(_real("binance/klines_BTCUSDT_1m_2021-10-22.json"))[0]
    assert [type(x) for x in get("/binance/api/v3/klines?symbol=BTCUSDT&interval=1m")[0]] == [
        type(x) for x in real
    ]
    real = json.loads(_real("bitstamp/ohlc_btcusdt_1h_2024-03-13.json"))
    fake = get("/bitstamp/api/v2/ohlc/btcusd/?step=3600&limit=5")
    assert set(fake["data"]) == set(real["data"]) and list(fake["data"]["ohlc"][0]) == list(
        real["data"]["ohlc"][0]
    )
    real = json.loads(_real("coinbase_advanced/market_products_BTC-USD_candles_1h_2024-04-04.json"))
    path = "/coinbase/api/v3/brokerage/market/products/BTC-USD/candles?granularity=ONE_HOUR"
    fake = get(f"{path}&start={s}&end={s + 7200}")
    assert list(fake["candles"][0]) == list(real["candles"][0])
    assert int(fake["candles"][0]["start"]) > int(fake["candles"][1]["start"])  # newest first, as recorded

    fx.serve_body("binance", "/api/v3/klines", _real("binance/klines_BTCUSDT_1m_2021-10-22.json"))
    row = make("binance").fetch_ohlcv("BTC/USDT", "1m")[0]
    assert row == [1634943780000, 60685.22, 60729.84, 60670.9, 60719.27, 21.63272]


def test_set_candles_refuses_bad_input_and_reset_clears(fx: FakeExchange, make) -> None:
    with pytest.raises(ValueError, match="unknown timeframe"):
        fx.set_candles("binance", "BTC/USDT", "2m", [])
    with pytest.raises(ValueError, match="not an int multiple"):
        fx.set_candles("kraken", "BTC/USD", "1m", [(DAY0 + 1, 1.0, 1.0, 1.0, 1.0, 1.0)])
    with pytest.raises(ValueError, match="duplicate"):
        fx.set_candles("bitstamp", "BTC/USD", "1m", [(DAY0, 1, 1, 1, 1, 1)] * 2)
    with pytest.raises(ValueError, match="no candles"):
        fx.set_candles("coingecko", "BTC/USD", "1m", [])
    with pytest.raises(ValueError, match="does not list"):
        fx.set_candles("coinbase", "BTC/USDT", "1m", [])
    fx.set_candles("binance", "BTC/USDT", "1m", _walk(3, MINUTE, seed=2))
    exchange = make("binance")
    assert len(exchange.fetch_ohlcv("BTC/USDT", "1m", since=DAY0)) == 3
    fx.reset()
    assert exchange.fetch_ohlcv("BTC/USDT", "1m", since=DAY0) == []


# ---------------------------------------------------------------------------- thousands of synthetic markets

SERVED = (*EXCHANGES, *VENUES)
TIMESTAMPED = {"bitstamp", "binance", "binanceus", "okx", "myokx", "okxus"}  # the others' tickers carry none


def _spot(exchange: Any) -> dict[str, str]:
    """ccxt params for spot tickers (bybit's default market type is swap)."""
    return {} if exchange.options.get("defaultType", "spot") == "spot" else {"type": "spot"}


@pytest.mark.parametrize("name", SERVED)
def test_add_markets_lists_thousands_with_tickers_in_the_exchange_s_own_layout(
    fx: FakeExchange, make, name
) -> None:
    added = fx.add_markets(name, 3000)
    assert len(added) == 3000
    assert added[:5] == ["S00000/USDT", "S00001/USD", "S00002/EUR", "S00003/BTC", "S00004/USDT"]
    exchange = make(name)

    markets = exchange.load_markets()
    assert set(markets) == set(fx.markets[name]) == set(MARKET_IDS_OF.get(name, [])) | set(added)
    assert all(markets[p]["spot"] and markets[p]["active"] for p in added)
    assert (markets["S00002/EUR"]["base"], markets["S00002/EUR"]["quote"]) == ("S00002", "EUR")

    before = len(fx.requests)
    tickers = exchange.fetch_tickers(None, _spot(exchange))
    assert len(fx.requests) - before == 1  # the whole exchange in one answer
    assert set(tickers) == set(fx.markets[name])
    assert sorted(tickers, key=lambda s: (-tickers[s]["quoteVolume"], s)) == fx.ranking(name)
    ticker = tickers["S00007/BTC"]
    if name == "coinbase":  # its products list carries no bid/ask (see CARRIES)
        assert (ticker["bid"], ticker["ask"]) == (None, None)
    else:
        assert ticker["bid"] < ticker["last"] < ticker["ask"]
    assert ticker["quoteVolume"] == pytest.approx(1e9 / 8, rel=1e-6)
    assert ticker["baseVolume"] * ticker["last"] == pytest.approx(ticker["quoteVolume"], rel=1e-6)
    if name in TIMESTAMPED:
        assert abs(ticker["timestamp"] - time.time() * 1000) < 5000
    else:
        assert ticker["timestamp"] is None

    before = len(fx.requests)
    named = exchange.fetch_tickers(added[100:103])
    assert len(fx.requests) - before == 1
    assert sorted(named) == sorted(added[100:103])

    fx.set_ticker(name, "S00007/BTC", 12.5, volume=2.0)  # a new ticker state, not the cached answer
    again = exchange.fetch_tickers(None, _spot(exchange))["S00007/BTC"]
    assert (again["last"], again["quoteVolume"]) == (12.5, 25.0)
    assert (fx.unhandled, fx.server_errors) == ([], [])
    fx.reset()
    if name in VENUES:
        assert name not in fx.exchange_options()
    else:
        assert sorted(make(name).load_markets()) == sorted(MARKET_IDS_OF[name])


def test_synthetic_markets_have_books_and_single_tickers_where_the_fake_serves_them(fx, make) -> None:
    for name in ("kraken", "coinbase", "bitstamp", "binance", "binanceus"):
        [pair] = fx.add_markets(name, 1, start=42)
        exchange = make(name)
        assert exchange.fetch_ticker(pair)["last"] == pytest.approx(0.5 + 42 * 7919 % 20000 / 10)
        book = exchange.fetch_order_book(pair, 5)
        assert book["bids"][0][0] < book["asks"][0][0]
    for name in ("okx", "bybit"):
        [pair] = fx.add_markets(name, 1, start=42)
        assert make(name).fetch_ticker(pair)["last"] == pytest.approx(0.5 + 42 * 7919 % 20000 / 10)
    assert (fx.unhandled, fx.server_errors) == ([], [])


def test_set_latency_delays_every_answer_of_that_exchange_only(fx: FakeExchange) -> None:
    def timed(path: str) -> float:
        started = time.monotonic()
        requests.get(fx.base_url + path, timeout=5).raise_for_status()
        return time.monotonic() - started

    fx.set_latency("binance", 0.3)
    assert timed("/kraken/0/public/Time") < 0.25
    took: list[float] = []
    threads = [threading.Thread(target=lambda: took.append(timed("/binance/api/v3/time"))) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(took) == 4 and all(0.3 <= t < 0.55 for t in took), took
    assert time.monotonic() - started < 0.55  # answered side by side, not one after another
    fx.reset()
    assert timed("/binance/api/v3/time") < 0.25


def test_add_markets_and_set_latency_refuse_bad_input(fx: FakeExchange) -> None:
    with pytest.raises(ValueError, match="coingecko lists coins"):
        fx.add_markets("coingecko", 10)
    with pytest.raises(ValueError, match="unknown exchange 'krakken'"):
        fx.add_markets("krakken", 10)
    with pytest.raises(ValueError, match="count must be >= 1"):
        fx.add_markets("kraken", 0)
    with pytest.raises(ValueError, match="upper-case currency codes"):
        fx.add_markets("kraken", 10, quotes=["usd"])
    fx.add_markets("okx", 10)
    with pytest.raises(ValueError, match="okx already lists S00000/USDT; give another start"):
        fx.add_markets("okx", 10)
    assert fx.add_markets("okx", 2, start=10) == ["S00010/EUR", "S00011/BTC"]
    with pytest.raises(ValueError, match="okx lists only the markets add_markets gives it"):
        fx.set_listing("okx", ["BTC/USDT"])
    with pytest.raises(ValueError, match="latency must be a number of seconds >= 0"):
        fx.set_latency("kraken", -1)
