"""A fake kraken / coinbase / bitstamp / binance / CoinGecko HTTP server for tests.

``FakeExchange`` is a real ``ThreadingHTTPServer`` on 127.0.0.1 (free port, daemon thread) that answers the
public REST endpoints sync ccxt 4.5 calls for ``load_markets``, ``fetch_tickers``, ``fetch_ticker`` and
``fetch_order_book`` in each exchange's own wire format, plus CoinGecko ``/coins/markets``. Listings come from
``tests/fixtures/<exchange>/`` unless ``set_listing`` replaces them (other pairs, halted ones, bitstamp
perpetuals: listed only, never ticked); ticker and book payloads are generated from in-memory state
(``set_ticker`` / ``set_book``). ``exchange_options()`` gives the ccxt constructor options (every
``urls.api`` entry re-rooted on this server, binance spot only). Unknown paths get a 404 JSON body
(``{"fake_exchange": "no route", ...}``) and are listed in ``unhandled``; every request is in ``requests``.

Thousands of markets: ``add_markets(exchange, count)`` lists ``count`` synthetic spot markets more
(``S00000/USDT``, ``S00001/USD``, ...; the i-th with a 24 h quote volume of about 1e9 / (i + 1): ``ranking``
gives the order) with a ticker each, in the markets endpoint and every ticker endpoint of the exchange, on the
four above and on the ``VENUES`` that speak their formats or okx's and bybit's (binanceus; okx, myokx, okxus;
bybit, bybiteu), which list only such markets; batched ticker entries are built once per ticker state, so a
whole-exchange answer of thousands stays fast. ``set_latency(exchange, seconds)`` answers each request to that
exchange that much later (concurrent requests wait side by side). The module function
``exchange_options(base_url)`` gives every served exchange's ccxt options for a fake another process runs
(bench/collect.py).

Endpoints ccxt hits (relative to ``base_url + "/<id>"``)::

    kraken    load_markets  /0/public/Assets, /0/public/AssetPairs
              tickers       /0/public/Ticker?pair=XXBTZUSD,XETHZUSD,XBTUSDT   (one request for all pairs)
              ticker        /0/public/Ticker?pair=XXBTZUSD
              book          /0/public/Depth?pair=XXBTZUSD&count=N
    coinbase  load_markets  /v2/currencies, /v2/currencies/crypto, /v2/exchange-rates,
                            /api/v3/brokerage/market/products, .../products?product_type=FUTURE (-> [])
              tickers       /api/v3/brokerage/market/products
                              ?product_ids=BTC-USD&product_ids=ETH-USD&product_type=SPOT
              ticker        /api/v3/brokerage/market/products/BTC-USD/ticker?limit=1
              book          /api/v3/brokerage/market/product_book?product_id=BTC-USD&limit=N
    bitstamp  load_markets  /api/v2/markets/
              tickers       /api/v2/ticker/                 (all pairs; ccxt filters)
              ticker        /api/v2/ticker/btcusd/
              book          /api/v2/order_book/btcusd/      (no limit on the wire: the whole book comes back)
    binance   load_markets  /api/v3/exchangeInfo            (no sapi/fapi/dapi: spot only, no keys)
              tickers       /api/v3/ticker/24hr?symbols=["BTCUSDT","ETHUSDT"]
              ticker        /api/v3/ticker/24hr?symbol=BTCUSDT
              book          /api/v3/depth?symbol=BTCUSDT&limit=N
    coingecko               /api/v3/coins/markets?vs_currency=usd&ids=bitcoin,ethereum  (and /api/v3/ping)
    binanceus               as binance
    okx, myokx, okxus       load_markets  /api/v5/public/instruments?instType=SPOT   (other types: none)
                            tickers       /api/v5/market/tickers?instType=SPOT       (all; ccxt filters)
                            ticker        /api/v5/market/ticker?instId=BTC-USDT
    bybit, bybiteu          load_markets  /v5/market/instruments-info?category=spot  (other categories: none)
                            tickers       /v5/market/tickers?category=spot           (all; ccxt filters)
                            ticker        /v5/market/tickers?category=spot&symbol=BTCUSDT

OHLCV candles (``set_candles``; timeframes in ``TIMEFRAMES``) for ``fetch_ohlcv(symbol, tf, since, limit)``::

    kraken    /0/public/OHLC?pair=XXBTZUSD&interval=1&since=S    candles with time > S (unix s), oldest first,
              at most 720 (ccxt never sends ``limit``: it cuts the 720 client-side); no ``since``: newest 720.
              ``result.last`` = time of the last candle returned (``since`` / 0 on an empty page). ccxt sends
              since = since_ms / 1000 - one interval. [time, o, h, l, c, vwap, volume, count]; strings.
              No always-present "current, uncommitted" candle (real Kraken adds one; older than 720 candles
              back real Kraken has nothing, whatever ``since`` says).
    coinbase  /api/v3/brokerage/market/products/BTC-USD/candles?granularity=ONE_MINUTE&start=S&end=E
              (optional &limit<=350) start <= time < end (unix s), NEWEST first, {start, low, high, open,
              close, volume} strings; more than 350 candles in [start, end) -> 400 INVALID_ARGUMENT.
              ccxt caps ``limit`` at 300 and sends end = start + 300 * interval.
    bitstamp  /api/v2/ohlc/btcusd/?step=60&limit=N&start=S&end=E   oldest first, N in 1..1000 (else 400).
              With ``end`` (ccxt sends one whenever ``since`` is given): the last N candles with time <= E --
              ``start`` is IGNORED (Bitstamp documents this); only ``start``: the first N with time >= S;
              neither: the newest N.
              ccxt sends end = start + N * interval - 1 and drops candles before ``since`` itself, so past the
              last candle the wire page is NOT empty (the newest N) but ccxt returns [].
    binance   /api/v3/klines?symbol=BTCUSDT&interval=1m&limit=N&startTime=T   oldest first, N default 500,
              capped at 1000; startTime/endTime in ms, inclusive; endTime alone / neither: the newest N.
              12-field rows [openTime, o, h, l, c, volume, closeTime, quoteVolume, trades, ...]; strings.

What the unified ccxt ticker carries (verified by tests/test_fake_exchange.py)::

                      last  bid/ask  baseVolume  timestamp
    kraken            yes   yes      yes         None (Kraken sends none)
    coinbase tickers  yes   None     yes         None (products list has no bid/ask/time)
    coinbase ticker   yes   yes      None        time of the last trade (ms)
    bitstamp          yes   yes      yes         unix seconds * 1000
    binance           yes   yes      yes         closeTime (ms)

BEHAVIOUR TABLE: what ccxt 4.5.90 (sync) does with bad answers. "raises X" = exception class.

HTTP faults (same for load_markets / fetch_tickers / fetch_ticker / fetch_order_book; text/plain bodies)::

    "429"   kraken, coinbase, bitstamp: raises RateLimitExceeded; binance: raises DDoSProtection
            (both subclass NetworkError, neither subclasses the other); ``exchange.last_response_headers``
            carries ``Retry-After`` (written with ``:g``, so 0.3 -> "0.3", 2 -> "2").
    "500", "503"  all: raises ExchangeNotAvailable (a NetworkError).
    "slow" (delay > timeout)  all: raises RequestTimeout (a NetworkError). The fault is consumed.

200 with a spoiled body -- "malformed_json" (first half of the real JSON), "html" (text/html page) and "empty"
behave identically: ccxt never raises a ccxt error for them; it hands the raw text to the parser::

                      load_markets*   fetch_tickers          fetch_ticker         fetch_order_book
    kraken            {} (no raise)   {}                     dict, all None**     bids=[] asks=[]
    coinbase          {} (no raise)   {}                     dict, all None**     bids=[] asks=[]
    bitstamp          {} (no raise)   raises AttributeError  dict, all None**     raises ExchangeError
                                      ('str' has no .keys)                        ("missing microtimestamp")
    binance           {} (no raise)   raises AttributeError  dict, all None**     bids=[] asks=[]

    *  when the markets endpoint is spoiled (AssetPairs / market/products / markets/ / exchangeInfo); an empty
       ``markets`` makes the next ``market(symbol)`` raise BadSymbol. Spoiling only kraken's /Assets or
       coinbase's /v2/* currency calls does not matter: markets still load.
    ** symbol set, last/bid/ask/baseVolume/timestamp None; info None (kraken), {} (coinbase) or the raw text.

Ticker values (set_ticker; same for fetch_tickers and fetch_ticker unless noted)::

    last=None   kraken, bitstamp, coinbase: last None (bid/ask still there)
                binance: NOT None -- ccxt rebuilds last = openPrice + priceChange (here: the previous good
                price); only ``ticker["info"]["lastPrice"]`` (None) shows it. Check info for binance.
    last="NaN"  kraken, bitstamp, binance: raises ValueError (plain Python, from ccxt Precise: "invalid
                literal for int()") as an open price is present; coinbase: last = float("nan") (no raise)
    last=0      kraken, bitstamp, coinbase: last None (ccxt omit_zero); binance: rebuilt as for None
    last=-1     all: last == -1.0 (no check)
    ask < bid   all: returned unchanged (bid 101.0, ask 100.5; no check); coinbase fetch_tickers: bid/ask None
    bid/ask None -> None; "NaN" -> float("nan") (no raise); volume None -> baseVolume None.
    CoinGecko (plain ``requests``): values are written as JSON as given (None -> null, "NaN" -> "NaN" string);
    spoiled bodies make ``response.json()`` raise ``requests.exceptions.JSONDecodeError`` (a ValueError).
"""

from __future__ import annotations

import bisect
import copy
import functools
import json
import math
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"

#: ccxt ids -> {unified symbol: exchange market id}; "coingecko" maps to CoinGecko coin ids (vs usd).
MARKET_IDS: dict[str, dict[str, str]] = {
    "kraken": {"BTC/USD": "XXBTZUSD", "ETH/USD": "XETHZUSD", "BTC/USDT": "XBTUSDT"},
    "coinbase": {"BTC/USD": "BTC-USD", "ETH/USD": "ETH-USD"},
    "bitstamp": {"BTC/USD": "btcusd", "ETH/USD": "ethusd"},
    "binance": {"BTC/USDT": "BTCUSDT", "ETH/USDT": "ETHUSDT"},
    "coingecko": {"BTC/USD": "bitcoin", "ETH/USD": "ethereum"},
}
#: Default last prices per exchange (slightly different per venue so mix-ups show).
DEFAULT_LAST: dict[str, dict[str, float]] = {
    "kraken": {"BTC/USD": 60000.0, "ETH/USD": 3000.0, "BTC/USDT": 60010.0},
    "coinbase": {"BTC/USD": 60005.0, "ETH/USD": 3000.5},
    "bitstamp": {"BTC/USD": 59995.0, "ETH/USD": 2999.5},
    "binance": {"BTC/USDT": 60020.0, "ETH/USDT": 3001.0},
    "coingecko": {"BTC/USD": 60001.0, "ETH/USD": 3000.25},
}
DEFAULT_VOLUME: dict[str, float] = {"BTC": 125.5, "ETH": 2050.25}
COINGECKO_DEFAULT_VOLUME: dict[str, float] = {"BTC": 22684859765.0, "ETH": 9876543210.0}
FAULT_KINDS = ("429", "500", "503", "slow", "malformed_json", "html", "empty")
#: Candle timeframes served (unified ccxt name -> seconds); all four exchanges have each of them.
TIMEFRAMES: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "1d": 86400}
_COINBASE_GRANULARITY: dict[str, str] = {
    "1m": "ONE_MINUTE",
    "5m": "FIVE_MINUTE",
    "15m": "FIFTEEN_MINUTE",
    "30m": "THIRTY_MINUTE",
    "1h": "ONE_HOUR",
    "1d": "ONE_DAY",
}
#: (open_time_ms, open, high, low, close, volume)
Candle = tuple[int, float, float, float, float, float]

#: Real API base URLs of each ccxt class (``describe()["urls"]["api"]``, ccxt 4.5) -> re-rooted on the fake.
_REAL_API_URLS: dict[str, dict[str, str]] = {
    "kraken": {
        "public": "https://api.kraken.com",
        "private": "https://api.kraken.com",
        "zendesk": "https://kraken.zendesk.com/api/v2/help_center/en-us/articles",
    },
    "coinbase": {"rest": "https://api.coinbase.com"},
    "bitstamp": {"public": "https://www.bitstamp.net/api", "private": "https://www.bitstamp.net/api"},
    "binance": {
        "sapi": "https://api.binance.com/sapi/v1",
        "sapiV2": "https://api.binance.com/sapi/v2",
        "sapiV3": "https://api.binance.com/sapi/v3",
        "sapiV4": "https://api.binance.com/sapi/v4",
        "dapiPublic": "https://dapi.binance.com/dapi/v1",
        "dapiPrivate": "https://dapi.binance.com/dapi/v1",
        "eapiPublic": "https://eapi.binance.com/eapi/v1",
        "eapiPrivate": "https://eapi.binance.com/eapi/v1",
        "dapiPrivateV2": "https://dapi.binance.com/dapi/v2",
        "dapiData": "https://dapi.binance.com/futures/data",
        "fapiPublic": "https://fapi.binance.com/fapi/v1",
        "fapiPublicV2": "https://fapi.binance.com/fapi/v2",
        "fapiPublicV3": "https://fapi.binance.com/fapi/v3",
        "fapiPrivate": "https://fapi.binance.com/fapi/v1",
        "fapiPrivateV2": "https://fapi.binance.com/fapi/v2",
        "fapiPrivateV3": "https://fapi.binance.com/fapi/v3",
        "fapiData": "https://fapi.binance.com/futures/data",
        "public": "https://api.binance.com/api/v3",
        "private": "https://api.binance.com/api/v3",
        "v1": "https://api.binance.com/api/v1",
        "papi": "https://papi.binance.com/papi/v1",
        "papiV2": "https://papi.binance.com/papi/v2",
    },
}
#: Constructor ``options`` per exchange (deep-merged by ccxt into ``describe()["options"]``).
_CCXT_OPTIONS: dict[str, dict[str, Any]] = {
    # spot only: no fapi/dapi exchangeInfo; no sapi margin pairs / capital config (those need keys anyway)
    "binance": {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchMargins": False,
        "fetchCurrencies": False,
    },
    # spot instruments only (okx: no futures/swap/option lists; bybit: no linear/inverse/option lists)
    "okx": {"fetchMarkets": {"types": ["spot"]}},
    "bybit": {"fetchMarkets": {"types": ["spot"]}},
}
#: More ccxt ids served, in the wire format of the exchange they share it with: they list only the
#: synthetic markets ``add_markets`` gives them (binanceus is ccxt's subclass of binance; okx, myokx
#: (OKX EEA) and okxus are one API on three hosts, as are bybit and bybiteu).
VENUES: dict[str, str] = {
    "binanceus": "binance",
    "okx": "okx",
    "myokx": "okx",
    "okxus": "okx",
    "bybit": "bybit",
    "bybiteu": "bybit",
}
#: The wire format each served exchange speaks.
FORMATS: dict[str, str] = {**{name: name for name in MARKET_IDS}, **VENUES}
#: Where a batched ticker entry carries its time, re-stamped on each answer of a "now" ticker.
_RESTAMP: dict[str, Callable[[dict[str, Any], int], None]] = {
    "binance": lambda entry, ts: entry.update(openTime=ts - 86_400_000, closeTime=ts),
    "bitstamp": lambda entry, ts: entry.update(timestamp=str(ts // 1000)),
    "okx": lambda entry, ts: entry.update(ts=str(ts)),
}
#: How each wire format spells the market id of BASE/QUOTE (the synthetic markets' ids).
_MARKET_ID: dict[str, Callable[[str, str], str]] = {
    "kraken": lambda base, quote: base + quote,
    "coinbase": lambda base, quote: f"{base}-{quote}",
    "bitstamp": lambda base, quote: (base + quote).lower(),
    "binance": lambda base, quote: base + quote,
    "okx": lambda base, quote: f"{base}-{quote}",
    "bybit": lambda base, quote: base + quote,
}


@functools.cache
def _real_api_urls(name: str) -> dict[str, str]:
    """The real API base URLs of ccxt's class ``name`` (the venues' from ccxt itself)."""
    if name in _REAL_API_URLS:
        return _REAL_API_URLS[name]
    import ccxt  # only for the venues: the four are written out above

    api = getattr(ccxt, name)().urls["api"]
    return {key: url for key, url in api.items() if isinstance(url, str)}


def exchange_options(base_url: str, timeout_ms: int = 2000) -> dict[str, dict[str, Any]]:
    """ccxt constructor options for every exchange a fake at ``base_url`` serves (the four and the
    ``VENUES``): every API URL re-rooted there, spot only, ``timeout_ms``. A module function, so a
    process can point ccxt at a fake another process runs."""
    result: dict[str, dict[str, Any]] = {}
    for name in (*MARKET_IDS, *VENUES):
        if name == "coingecko":
            continue
        api = {
            key: f"{base_url}/{name}{urlsplit(real).path.rstrip('/')}"
            for key, real in _real_api_urls(name).items()
        }
        options: dict[str, Any] = {"urls": {"api": api}, "timeout": int(timeout_ms)}
        own = _CCXT_OPTIONS.get(name, _CCXT_OPTIONS.get(FORMATS[name]))
        if own is not None:
            options["options"] = copy.deepcopy(own)
        result[name] = options
    return result


#: Kraken's own asset codes where they differ from ccxt's unified ones (ccxt maps them back).
_KRAKEN_ASSETS: dict[str, str] = {"BTC": "XXBT", "ETH": "XETH", "USD": "ZUSD", "EUR": "ZEUR", "GBP": "ZGBP"}

_UNSET: Any = object()  # "argument not given" (None is a legitimate payload value)

_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Just a moment...</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>The web server reported a bad gateway error.</p></body></html>\n"
)


def _load(name: str) -> Any:
    """Parse one JSON fixture from ``tests/fixtures``."""
    return json.loads((FIXTURES / name).read_text())


def _num_str(value: Any) -> Any:
    """A value as an exchange that sends numbers as strings would: floats as plain decimals."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return format(Decimal(repr(value)), "f")
    return str(value)


def _is_good(value: Any) -> bool:
    """True for a finite positive number (not bool)."""
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


def _iso(ts_ms: int, digits: int = 3) -> str:
    """ISO 8601 UTC with ``digits`` (3 or 6) fractional digits and a ``Z``."""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[: len(text) - (6 - digits)] + "Z"


def _now_ms() -> int:
    """Wall clock in milliseconds."""
    return int(time.time() * 1000)


def _first(query: dict[str, list[str]], key: str) -> str | None:
    """First value of a query parameter, or None."""
    values = query.get(key)
    return values[0] if values else None


def _int_or_none(text: str | None) -> int | None:
    """``int(text)`` or None when absent or not an integer."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


@dataclass
class _Ticker:
    """What the next ticker responses carry for one market."""

    last: Any
    bid: Any
    ask: Any
    volume: Any
    ts_ms: int | None  # None: "now" when the response is built
    ref: float  # last good price: used for the fields set_ticker does not control (open/high/low/vwap)


@dataclass(frozen=True)
class _Listed:
    """One market in a listing set with ``set_listing``."""

    pair: str
    active: bool = True
    perpetual: bool = False


@dataclass
class _Fault:
    """One queued fault."""

    kind: str
    remaining: int
    retry_after: float | None
    delay: float
    path_contains: str | None


@dataclass
class _Response:
    """One HTTP answer."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json(data: Any, status: int = 200) -> _Response:
    """A JSON response."""
    return _Response(status, json.dumps(data).encode())


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its FakeExchange."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # listen backlog: the default 5 drops bursts of connects (1 s SYN retry)
    fake: FakeExchange

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Record unexpected handler errors instead of printing them; ignore clients that hung up."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        with self.fake._lock:
            self.fake.server_errors.append(f"handler error from {client_address}: {error!r}")


class _Handler(BaseHTTPRequestHandler):
    """Routes every request to ``FakeExchange._handle``."""

    server: _Server
    protocol_version = "HTTP/1.0"
    server_version = "FakeExchange/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        """Answer a GET."""
        self.server.fake._handle(self)

    def do_POST(self) -> None:
        """Answer a POST (no route takes one: 404 after reading the body)."""
        length = _int_or_none(self.headers.get("Content-Length")) or 0
        if length:
            self.rfile.read(length)
        self.server.fake._handle(self)

    do_DELETE = do_GET
    do_PUT = do_POST


class FakeExchange:
    """Real HTTP server on 127.0.0.1 speaking the public REST formats ccxt reads (4 exchanges + CoinGecko,
    and the ``VENUES`` that share their formats or speak okx's and bybit's, for synthetic markets).

    Every exchange lives under ``base_url + "/<ccxt id>"``; CoinGecko v3 under ``coingecko_url``.
    State (tickers, books, faults, overrides, request log) is shared by all server threads behind one lock.
    """

    EXCHANGES = ("kraken", "coinbase", "bitstamp", "binance")
    SOURCES = (*EXCHANGES, "coingecko")
    VENUES = tuple(VENUES)
    SERVED = (*SOURCES, *VENUES)

    def __init__(self) -> None:
        """Create a stopped server with default markets, tickers and books."""
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.markets: dict[str, list[str]] = {}  # filled by reset()
        self.coingecko_ids: dict[str, str] = {"bitcoin": "BTC", "ethereum": "ETH"}
        self.requests: list[tuple[str, str, str]] = []
        self.unhandled: list[tuple[str, str, str]] = []  # requests that got the fake's 404 (no route)
        self.server_errors: list[str] = []  # exceptions raised while building a response (fake bugs)
        self._tickers: dict[tuple[str, str], _Ticker] = {}
        self._books: dict[tuple[str, str], tuple[list[tuple[Any, Any]], list[tuple[Any, Any]]]] = {}
        self._candles: dict[tuple[str, str, str], list[Candle]] = {}  # (exchange, pair, timeframe), by time
        self._faults: dict[str, list[_Fault]] = {}
        self._overrides: dict[tuple[str, str], _Response] = {}
        self._listings: dict[str, list[_Listed]] = {}  # set_listing; absent: the fixture's markets
        # every served market: pair -> exchange market id, and back (lower-case id -> pair)
        self._ids: dict[str, dict[str, str]] = {}
        self._by_id: dict[str, dict[str, str]] = {}
        self._synthetic: dict[str, list[str]] = {}  # add_markets' pairs per exchange, in order
        self._latency: dict[str, float] = {}  # set_latency: seconds before each answer
        # batched ticker entries by (exchange, pair), kept while the pair's _Ticker is the same object
        self._wire: dict[tuple[str, str], tuple[_Ticker, dict[str, Any]]] = {}
        self._listing_wire: dict[str, list[Any]] = {}  # the synthetic markets' listing entries
        self._update_id = 1000
        self._fixtures: dict[str, Any] = {
            "kraken/AssetPairs": _load("kraken/AssetPairs.json"),
            "kraken/Assets": _load("kraken/Assets.json"),
            "kraken/Ticker": _load("kraken/Ticker_template.json"),
            "coinbase/products": _load("coinbase/market_products.json"),
            "coinbase/ticker": _load("coinbase/market_ticker_template.json"),
            "coinbase/currencies": _load("coinbase/v2_currencies.json"),
            "coinbase/currencies_crypto": _load("coinbase/v2_currencies_crypto.json"),
            "coinbase/exchange_rates": _load("coinbase/v2_exchange_rates.json"),
            "bitstamp/markets": _load("bitstamp/markets.json"),
            "bitstamp/ticker": _load("bitstamp/ticker_template.json"),
            "binance/exchangeInfo": _load("binance/exchangeInfo.json"),
            "binance/ticker": _load("binance/ticker_24hr_template.json"),
            "coingecko/coins": _load("coingecko/coins_markets_template.json"),
        }
        self.reset()

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FakeExchange:
        """Listen on a free port of 127.0.0.1 and serve from a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-exchange", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (wakes up "slow" requests first) and close the socket."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeExchange:
        """Start."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop."""
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (only while started)."""
        if self._server is None:
            raise RuntimeError("FakeExchange is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def coingecko_url(self) -> str:
        """Base URL of the fake CoinGecko v3 API."""
        return self.base_url + "/coingecko/api/v3"

    def exchange_options(self, timeout_ms: int = 2000) -> dict[str, dict[str, Any]]:
        """ccxt constructor options per served exchange (the four, and each of the ``VENUES`` once
        ``add_markets`` gave it markets): every API URL re-rooted here, spot only, timeout."""
        with self._lock:
            venues = {name for name in self.VENUES if self._synthetic.get(name)}
        options = exchange_options(self.base_url, timeout_ms)
        return {name: value for name, value in options.items() if name in self.EXCHANGES or name in venues}

    # ----------------------------------------------------------------- state

    def reset(self) -> None:
        """Clear faults, overrides, listings, candles and the request log; restore default tickers, books."""
        with self._lock:
            self._faults = {}
            self._overrides = {}
            self._listings = {}
            self._books = {}
            self._candles = {}
            self.requests.clear()
            self.unhandled.clear()
            self.server_errors.clear()
            self.markets.clear()
            self.markets.update({name: list(ids) for name, ids in MARKET_IDS.items()})
            self._ids = {name: dict(MARKET_IDS.get(name, {})) for name in self.SERVED}
            self._by_id = {
                name: {mid.lower(): pair for pair, mid in ids.items()} for name, ids in self._ids.items()
            }
            self._synthetic = {}
            self._latency = {}
            self._wire = {}
            self._listing_wire = {}
            self._tickers = {}
            for name, prices in DEFAULT_LAST.items():
                for pair, last in prices.items():
                    base = pair.split("/")[0]
                    volume = COINGECKO_DEFAULT_VOLUME[base] if name == "coingecko" else DEFAULT_VOLUME[base]
                    bid, ask = self._spread(last)
                    self._tickers[name, pair] = _Ticker(last, bid, ask, volume, None, last)

    def _check(self, exchange: str, pair: str | None = None) -> None:
        """Raise ValueError for an exchange / pair this server does not serve."""
        if exchange not in self.SERVED:
            raise ValueError(f"unknown exchange {exchange!r}; served: {self.SERVED}")
        if pair is not None and pair not in self._ids[exchange]:
            listed = list(self._ids[exchange])
            shown = listed if len(listed) <= 10 else [*listed[:10], f"... {len(listed) - 10} more"]
            raise ValueError(f"{exchange} does not list {pair!r}; it lists {shown}")

    @staticmethod
    def _spread(price: float) -> tuple[float, float]:
        """Default (bid, ask) around ``price``: 1 bp wide, at least 1 cent."""
        half = max(round(price * 0.00005, 2), 0.01)
        return round(price - half, 8), round(price + half, 8)

    def set_ticker(
        self,
        exchange: str,
        pair: str,
        last: Any,
        bid: Any = _UNSET,
        ask: Any = _UNSET,
        volume: Any = 1.5,
        ts_ms: int | None = None,
    ) -> None:
        """Set what the next ticker responses carry for ``pair`` (values go into the payload as given).

        ``bid``/``ask`` not given: ``last`` -/+ half a basis point (around the previous good price when
        ``last`` is not a positive number); passing ``None`` writes null. ``ts_ms`` None: "now" at response
        time. ``exchange`` may be "coingecko" (pair "BTC/USD" or "ETH/USD"; ``volume`` -> total_volume).
        """
        self._check(exchange, pair)
        with self._lock:
            current = self._tickers[exchange, pair]
            ref = float(last) if _is_good(last) else current.ref
            default_bid, default_ask = self._spread(ref)
            self._tickers[exchange, pair] = _Ticker(
                last=last,
                bid=default_bid if bid is _UNSET else bid,
                ask=default_ask if ask is _UNSET else ask,
                volume=volume,
                ts_ms=ts_ms,
                ref=ref,
            )

    def set_listing(
        self,
        exchange: str,
        pairs: Sequence[str],
        *,
        inactive: Sequence[str] = (),
        perpetuals: Sequence[str] = (),
    ) -> None:
        """Make ``exchange``'s markets endpoint list exactly ``pairs`` (unified ``BASE/QUOTE``) from now on.

        A served pair keeps its fixture entry (and its tickers); any other pair gets an entry in the
        exchange's own layout, built from a fixture entry, and is listed only (no tickers, books or candles).
        ``inactive`` pairs (some of ``pairs``) are listed as halted the exchange's way (kraken ``status``
        ``cancel_only``, coinbase ``trading_disabled``, bitstamp ``trading`` ``Disabled``, binance ``status``
        ``BREAK``); ccxt marks them ``active: False``. ``perpetuals`` (bitstamp only) adds linear perpetual
        contracts on those pairs (ccxt: ``BASE/QUOTE:QUOTE``, not spot). ``reset()`` restores the fixtures.
        """
        self._check(exchange)
        if exchange == "coingecko":
            raise ValueError("coingecko lists coins, not markets")
        if exchange in self.VENUES:
            raise ValueError(f"{exchange} lists only the markets add_markets gives it")
        bad = [
            p for p in (*pairs, *perpetuals) if p.count("/") != 1 or p != p.upper() or not all(p.split("/"))
        ]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an upper-case BASE/QUOTE pair")
        if not set(inactive) <= set(pairs):
            raise ValueError(f"inactive pairs must be listed too: {sorted(set(inactive) - set(pairs))}")
        if perpetuals and exchange != "bitstamp":
            raise ValueError("only bitstamp lists perpetuals here")
        listed = [_Listed(p, active=p not in inactive) for p in dict.fromkeys(pairs)]
        listed += [_Listed(p, perpetual=True) for p in dict.fromkeys(perpetuals)]
        with self._lock:
            self._listings[exchange] = listed

    def add_markets(
        self,
        exchange: str,
        count: int,
        *,
        quotes: Sequence[str] = ("USDT", "USD", "EUR", "BTC"),
        start: int = 0,
    ) -> list[str]:
        """List ``count`` more (synthetic) spot markets on ``exchange``, each with a ticker; return them.

        The pairs are ``S00000/USDT``, ``S00001/USD``, ... (bases numbered from ``start``, ``quotes`` in
        turn); the i-th has a 24 h quote volume of about 1e9 / (i + 1), so the list returned is also their
        ranking by quote volume, largest first (``ranking`` ranks every served pair). They are in the markets
        endpoint's answer next to the fixture's (or ``set_listing``'s) markets and in every ticker answer
        (the whole exchange, by name, one by one) in the exchange's own layout, with books; ``set_ticker``
        and ``set_candles`` take them. Any served exchange but coingecko; ``reset()`` removes them.
        """
        self._check(exchange)
        if exchange == "coingecko":
            raise ValueError("coingecko lists coins, not markets")
        if count < 1 or start < 0:
            raise ValueError("count must be >= 1 and start >= 0")
        if not quotes or not all(q.isalnum() and q == q.upper() for q in quotes):
            raise ValueError(f"quotes must be upper-case currency codes, got {list(quotes)!r}")
        made: dict[str, tuple[str, _Ticker]] = {}
        for i in range(start, start + count):
            base, quote = f"S{i:05d}", quotes[i % len(quotes)]
            last = round(0.5 + (i * 7919 % 20000) / 10, 4)
            bid, ask = self._spread(last)
            volume = round(1e9 / (i + 1) / last, 6)
            made[f"{base}/{quote}"] = (
                _MARKET_ID[FORMATS[exchange]](base, quote),
                _Ticker(last, bid, ask, volume, None, last),
            )
        with self._lock:
            taken = [pair for pair in made if pair in self._ids[exchange]]
            if taken:
                raise ValueError(f"{exchange} already lists {taken[0]}; give another start")
            for pair, (market_id, ticker) in made.items():
                self._ids[exchange][pair] = market_id
                self._by_id[exchange][market_id.lower()] = pair
                self._tickers[exchange, pair] = ticker
            self._synthetic.setdefault(exchange, []).extend(made)
            self.markets.setdefault(exchange, []).extend(made)
        return list(made)

    def set_latency(self, exchange: str, seconds: float) -> None:
        """Answer every request to ``exchange`` ``seconds`` late from now on (0: at once; ``reset()``)."""
        self._check(exchange)
        if not (isinstance(seconds, int | float) and 0 <= seconds < math.inf):
            raise ValueError(f"latency must be a number of seconds >= 0, got {seconds!r}")
        with self._lock:
            self._latency[exchange] = float(seconds)

    def ranking(self, exchange: str) -> list[str]:
        """Every pair ``exchange`` serves a ticker for, by the 24 h quote volume its tickers carry (base
        volume x price), largest first; pairs without a numeric volume last; ties by pair."""
        self._check(exchange)
        with self._lock:
            volumes = {
                pair: self._quote_volume(
                    self._tickers[exchange, pair].volume, self._tickers[exchange, pair].ref
                )
                for pair in self._ids[exchange]
            }
        number = {
            p: v if isinstance(v, int | float) and math.isfinite(v) else -1.0 for p, v in volumes.items()
        }
        return sorted(number, key=lambda pair: (-number[pair], pair))

    def _listing(self, exchange: str) -> list[_Listed] | None:
        """What ``set_listing`` set for ``exchange`` (None: serve the fixture's markets)."""
        with self._lock:
            listing = self._listings.get(exchange)
        return None if listing is None else list(listing)

    def set_book(
        self,
        exchange: str,
        pair: str,
        bids: list[tuple[float, float]],
        asks: list[tuple[float, float]],
    ) -> None:
        """Set the order book levels ``[(price, size)]`` (best first) served for ``pair``."""
        self._check(exchange, pair)
        if exchange == "coingecko":
            raise ValueError("coingecko has no order books")
        with self._lock:
            self._books[exchange, pair] = ([tuple(level) for level in bids], [tuple(level) for level in asks])

    def set_candles(self, exchange: str, pair: str, timeframe: str, candles: list[Candle]) -> None:
        """Set the OHLCV candles ``[(open_time_ms, open, high, low, close, volume)]`` (any order) served for
        ``pair`` / ``timeframe`` (a key of ``TIMEFRAMES``), replacing earlier ones.

        Open times must be distinct multiples of the timeframe (exchanges align candles; kraken, coinbase and
        bitstamp send unix seconds). Values go on the wire as given (strings where the exchange uses them).
        """
        self._check(exchange, pair)
        if exchange == "coingecko":
            raise ValueError("coingecko has no candles")
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"unknown timeframe {timeframe!r}; served: {list(TIMEFRAMES)}")
        step = TIMEFRAMES[timeframe] * 1000
        rows: list[Candle] = []
        for candle in candles:
            if len(candle) != 6:
                raise ValueError(
                    f"a candle is (open_time_ms, open, high, low, close, volume), not {candle!r}"
                )
            ts = candle[0]
            if not isinstance(ts, int) or isinstance(ts, bool) or ts % step:
                raise ValueError(f"open time {ts!r} is not an int multiple of {timeframe} ({step} ms)")
            rows.append((ts, *candle[1:]))  # type: ignore[arg-type]
        rows.sort(key=lambda row: row[0])
        if len({row[0] for row in rows}) != len(rows):
            raise ValueError("duplicate candle open times")
        with self._lock:
            self._candles[exchange, pair, timeframe] = rows

    def fail(
        self,
        exchange: str,
        kind: str,
        times: int = 1,
        *,
        retry_after: float | None = None,
        delay: float = 0.0,
        path_contains: str | None = None,
    ) -> None:
        """Queue ``kind`` for the next ``times`` requests to ``exchange`` (optionally only matching ones).

        ``path_contains`` is matched against the path relative to the exchange prefix plus ``?query``.
        Kinds: 429 (Retry-After when ``retry_after`` given), 500, 503 (text/plain bodies), slow (sleep
        ``delay`` s, then answer normally), malformed_json (200, the normal JSON cut in half),
        html (200, text/html page), empty (200, empty body). Faults queued earlier are used first.
        """
        self._check(exchange)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {FAULT_KINDS}")
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            fault = _Fault(kind, times, retry_after, delay, path_contains)
            self._faults.setdefault(exchange, []).append(fault)

    def serve_body(
        self,
        exchange: str,
        path: str,
        body: bytes | str,
        status: int = 200,
        content_type: str = "application/json",
    ) -> None:
        """Answer ``path`` (relative to the exchange prefix, no query) with a fixed body from now on.

        For coingecko a path not starting with ``/api/`` is taken relative to ``coingecko_url``.
        Trailing slashes are ignored when matching.
        """
        self._check(exchange)
        key = self._route_key(exchange, path)
        data = body.encode() if isinstance(body, str) else bytes(body)
        with self._lock:
            self._overrides[exchange, key] = _Response(status, data, content_type)

    @staticmethod
    def _route_key(exchange: str, path: str) -> str:
        """Normalised override key for a relative path."""
        if not path.startswith("/"):
            path = "/" + path
        if exchange == "coingecko" and not path.startswith("/api/"):
            path = "/api/v3" + path
        return path.rstrip("/") or "/"

    def count(self, exchange: str, path_contains: str = "") -> int:
        """How many requests to ``exchange`` had ``path_contains`` in ``path?query``."""
        with self._lock:
            return sum(
                1
                for name, path, query in self.requests
                if name == exchange and path_contains in (f"{path}?{query}" if query else path)
            )

    # ----------------------------------------------------------------- request handling

    def _take_fault(self, exchange: str, target: str) -> _Fault | None:
        """Pop (decrement) the first queued fault of ``exchange`` that matches ``target``."""
        with self._lock:
            queue = self._faults.get(exchange, [])
            for fault in queue:
                if fault.path_contains is None or fault.path_contains in target:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        queue.remove(fault)
                    return fault
        return None

    def _handle(self, handler: _Handler) -> None:
        """Log, apply faults / overrides, route, write the answer."""
        split = urlsplit(handler.path)
        parts = split.path.split("/", 2)
        exchange = parts[1] if len(parts) > 1 else ""
        if exchange not in self.SERVED:
            exchange, rel = "", split.path
        else:
            rel = "/" + (parts[2] if len(parts) > 2 else "")
        query = split.query
        with self._lock:
            self.requests.append((exchange, rel, query))
        target = f"{rel}?{query}" if query else rel
        with self._lock:
            latency = self._latency.get(exchange, 0.0)
        if latency:
            self._stopping.wait(latency)
        fault = self._take_fault(exchange, target) if exchange else None
        try:
            if fault is not None and fault.kind in ("429", "500", "503"):
                response = self._fault_response(fault)
            else:
                if fault is not None and fault.kind == "slow":
                    self._stopping.wait(fault.delay)
                response = self._route(
                    handler.command, exchange, rel, parse_qs(query, keep_blank_values=True)
                )
                if response is None:
                    with self._lock:
                        self.unhandled.append((exchange, rel, query))
                    response = _json(
                        {"fake_exchange": "no route", "exchange": exchange, "path": rel, "query": query}, 404
                    )
                if fault is not None and fault.kind in ("malformed_json", "html", "empty"):
                    response = self._fault_response(fault, response)
        except Exception as error:  # noqa: BLE001 - a bug in the fake must answer, not kill the thread
            with self._lock:
                self.server_errors.append(f"{exchange} {target}: {error!r}")
            response = _json({"fake_exchange": "internal error", "detail": repr(error)}, 599)
        self._write(handler, response)

    @staticmethod
    def _fault_response(fault: _Fault, normal: _Response | None = None) -> _Response:
        """The HTTP answer for a fault (``normal``: the answer it spoils)."""
        if fault.kind == "429":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            return _Response(429, b"429 Too Many Requests\n", "text/plain; charset=utf-8", headers)
        if fault.kind == "500":
            return _Response(500, b"500 Internal Server Error\n", "text/plain; charset=utf-8")
        if fault.kind == "503":
            return _Response(503, b"503 Service Unavailable\n", "text/plain; charset=utf-8")
        if fault.kind == "malformed_json":
            body = normal.body if normal is not None else b'{"result": {"x": 1}}'
            return _Response(200, body[: max(1, len(body) // 2)])
        if fault.kind == "html":
            return _Response(200, _HTML_PAGE, "text/html; charset=utf-8")
        return _Response(200, b"")  # empty

    def _write(self, handler: _Handler, response: _Response) -> None:
        """Send ``response``; a client that already hung up (timeout) is ignored."""
        try:
            handler.send_response(response.status)
            handler.send_header("Content-Type", response.content_type)
            handler.send_header("Content-Length", str(len(response.body)))
            for key, value in response.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(response.body)
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            pass

    def _route(self, method: str, exchange: str, rel: str, query: dict[str, list[str]]) -> _Response | None:
        """Dispatch to the exchange's routes; None means 404."""
        key = rel.rstrip("/") or "/"
        with self._lock:
            override = self._overrides.get((exchange, key))
        if override is not None:
            return override
        if method != "GET" or not exchange:
            return None
        if exchange in self.VENUES:
            return getattr(self, f"_{FORMATS[exchange]}_api")(exchange, key, query)  # type: ignore[no-any-return]
        route = getattr(self, f"_{exchange}", None)
        return route(key, query) if route is not None else None

    # ----------------------------------------------------------------- payload helpers

    def _state(self, exchange: str, pair: str) -> tuple[_Ticker, int]:
        """Copy of one ticker state and its timestamp (ms)."""
        with self._lock:
            ticker = copy.copy(self._tickers[exchange, pair])
        return ticker, ticker.ts_ms if ticker.ts_ms is not None else _now_ms()

    def _levels(self, exchange: str, pair: str) -> tuple[list[tuple[Any, Any]], list[tuple[Any, Any]]]:
        """Book levels set with set_book, else 5 levels per side around the current ticker."""
        with self._lock:
            book = self._books.get((exchange, pair))
            ticker = self._tickers[exchange, pair]
        if book is not None:
            return book
        bid = ticker.bid if _is_good(ticker.bid) else self._spread(ticker.ref)[0]
        ask = ticker.ask if _is_good(ticker.ask) else self._spread(ticker.ref)[1]
        step = max(round(ticker.ref * 0.0001, 2), 0.01)
        bids = [(round(bid - i * step, 8), round(0.5 * (i + 1), 8)) for i in range(5)]
        asks = [(round(ask + i * step, 8), round(0.4 * (i + 1), 8)) for i in range(5)]
        return bids, asks

    @staticmethod
    def _quote_volume(volume: Any, ref: float) -> Any:
        """``volume * ref`` when volume is a number, else the volume as given."""
        if isinstance(volume, int | float) and not isinstance(volume, bool) and math.isfinite(volume):
            return round(volume * ref, 4)
        return volume

    def _pair_by_id(self, exchange: str, market_id: str) -> str | None:
        """Unified pair for an exchange market id (case-insensitive), or None."""
        with self._lock:
            return self._by_id[exchange].get(market_id.lower())

    def _batched(self, exchange: str, pair: str, build: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """``build(pair)``, one ticker entry of a batched answer, built once per ticker state (``set_ticker``
        makes a new one) so thousands of markets answer fast; a "now" timestamp is stamped afresh."""
        with self._lock:
            state = self._tickers[exchange, pair]
            hit = self._wire.get((exchange, pair))
        if hit is None or hit[0] is not state:
            hit = (state, build(pair))
            with self._lock:
                self._wire[exchange, pair] = hit
        entry = dict(hit[1])
        restamp = _RESTAMP.get(FORMATS[exchange])
        if state.ts_ms is None and restamp is not None:
            restamp(entry, _now_ms())
        return entry

    def _synthetic_listing(self, exchange: str, build: Callable[[str], Any]) -> list[Any]:
        """The markets endpoint's entries of ``add_markets``' pairs (``build(pair)`` each), built once."""
        with self._lock:
            pairs = list(self._synthetic.get(exchange, []))
            cached = self._listing_wire.get(exchange)
        if cached is None or len(cached) != len(pairs):
            cached = [build(pair) for pair in pairs]
            with self._lock:
                self._listing_wire[exchange] = cached
        return cached

    def _candle_window(
        self,
        exchange: str,
        pair: str,
        timeframe: str,
        first_ms: int | None,
        last_ms: int | None,
        limit: int,
        newest: bool = False,
    ) -> list[Candle]:
        """Stored candles with ``first_ms <= open time <= last_ms`` (None: unbounded), oldest first: the
        first ``limit`` of them, or the last ``limit`` when ``newest``."""
        with self._lock:
            rows = self._candles.get((exchange, pair, timeframe), [])
        times = [row[0] for row in rows]
        lo = 0 if first_ms is None else bisect.bisect_left(times, first_ms)
        hi = len(rows) if last_ms is None else bisect.bisect_right(times, last_ms)
        window = rows[lo:hi]
        if limit <= 0:
            return []
        return window[-limit:] if newest else window[:limit]

    # ----------------------------------------------------------------- kraken

    def _kraken(self, path: str, query: dict[str, list[str]]) -> _Response | None:
        """Kraken REST v0 public endpoints."""
        if path == "/0/public/AssetPairs":
            return _json(self._kraken_asset_pairs())
        if path == "/0/public/Assets":
            return _json(self._fixtures["kraken/Assets"])
        if path == "/0/public/Time":
            now = _now_ms() // 1000
            rfc = datetime.fromtimestamp(now, tz=UTC).strftime("%a, %d %b %y %H:%M:%S +0000")
            return _json({"error": [], "result": {"unixtime": now, "rfc1123": rfc}})
        if path == "/0/public/SystemStatus":
            return _json(
                {"error": [], "result": {"status": "online", "timestamp": _iso(_now_ms())[:19] + "Z"}}
            )
        if path == "/0/public/OHLC":
            return self._kraken_ohlc(query)
        if path in ("/0/public/Ticker", "/0/public/Depth"):
            wanted = _first(query, "pair")
            ids = self._ids["kraken"]
            pairs = self._kraken_pairs(wanted) if wanted else list(ids)
            if pairs is None:
                return _json({"error": ["EQuery:Unknown asset pair"]})
            if path == "/0/public/Ticker":
                result = {ids[pair]: self._batched("kraken", pair, self._kraken_ticker) for pair in pairs}
            else:
                count = _int_or_none(_first(query, "count"))
                result = {ids[pair]: self._kraken_book(pair, count) for pair in pairs}
            return _json({"error": [], "result": result})
        return None

    def _kraken_entry(self, pair: str) -> tuple[str, dict[str, Any]]:
        """(market id, ``AssetPairs`` entry) for a pair the fixture does not list: id ``BASEQUOTE``."""
        base, quote = pair.split("/")
        market_id = base + quote
        entry = copy.deepcopy(self._fixtures["kraken/AssetPairs"]["result"]["XXBTZUSD"])
        entry.update(
            altname=market_id,
            wsname=pair,
            base=_KRAKEN_ASSETS.get(base, base),
            quote=_KRAKEN_ASSETS.get(quote, quote),
            fee_volume_currency=_KRAKEN_ASSETS.get(quote, quote),
        )
        return market_id, entry

    def _kraken_asset_pairs(self) -> dict[str, Any]:
        """``AssetPairs``: the fixture, or what ``set_listing`` set (new pairs as id ``BASEQUOTE``)."""
        fixture = self._fixtures["kraken/AssetPairs"]
        listing = self._listing("kraken")
        synthetic = dict(self._synthetic_listing("kraken", self._kraken_entry))
        if listing is None and not synthetic:
            return fixture
        if listing is None:
            return {"error": [], "result": {**fixture["result"], **synthetic}}
        result = {}
        for item in listing:
            market_id = MARKET_IDS["kraken"].get(item.pair)
            if market_id is not None:
                entry = copy.deepcopy(fixture["result"][market_id])
            else:
                market_id, entry = self._kraken_entry(item.pair)
            entry["status"] = "online" if item.active else "cancel_only"
            result[market_id] = entry
        return {"error": [], "result": {**synthetic, **result}}

    def _kraken_pairs(self, wanted: str) -> list[str] | None:
        """Unified pairs for Kraken's comma-separated ``pair`` (ids or altnames); None if one is unknown."""
        with self._lock:
            names = {market_id.upper(): pair for pair, market_id in self._ids["kraken"].items()}
        for market_id, info in self._fixtures["kraken/AssetPairs"]["result"].items():
            pair = self._pair_by_id("kraken", market_id)
            if pair is not None:
                names[info["altname"].upper()] = pair
        result = []
        for name in wanted.split(","):
            pair = names.get(name.strip().upper())
            if pair is None:
                return None
            result.append(pair)
        return result

    def _kraken_ohlc(self, query: dict[str, list[str]]) -> _Response:
        """``OHLC``: up to 720 candles with time > ``since`` (unix s), oldest first, plus ``last``."""
        pairs = self._kraken_pairs(_first(query, "pair") or "")
        if not pairs or len(pairs) != 1:
            return _json({"error": ["EQuery:Unknown asset pair"]})
        minutes = _int_or_none(_first(query, "interval") or "1")
        timeframe = next(
            (tf for tf, sec in TIMEFRAMES.items() if minutes is not None and sec == minutes * 60), None
        )
        since_text = _first(query, "since")
        since = _int_or_none(since_text.split(".")[0]) if since_text else None
        if timeframe is None or (since_text and since is None):
            return _json({"error": ["EGeneral:Invalid arguments"]})
        pair = pairs[0]
        if since is None:
            rows = self._candle_window("kraken", pair, timeframe, None, None, 720, newest=True)
        else:
            rows = self._candle_window("kraken", pair, timeframe, (since + 1) * 1000, None, 720)
        entries = []
        for ts, o, h, low, c, v in rows:
            vwap = round((h + low + c) / 3, 8) if all(_is_good(x) for x in (h, low, c)) else c
            count = 1 if _is_good(v) else 0
            entries.append([ts // 1000, *(_num_str(x) for x in (o, h, low, c, vwap, v)), count])
        last = rows[-1][0] // 1000 if rows else (since or 0)
        return _json({"error": [], "result": {self._ids["kraken"][pair]: entries, "last": last}})

    def _kraken_ticker(self, pair: str) -> dict[str, Any]:
        """One Kraken ticker entry (no timestamp: Kraken sends none)."""
        t, _ = self._state("kraken", pair)
        entry = copy.deepcopy(self._fixtures["kraken/Ticker"])
        ref = t.ref
        entry["a"][0] = _num_str(t.ask)
        entry["b"][0] = _num_str(t.bid)
        entry["c"][0] = _num_str(t.last)
        entry["v"] = [_num_str(t.volume), _num_str(t.volume)]
        entry["p"] = [_num_str(ref), _num_str(ref)]
        entry["l"] = [_num_str(round(ref * 0.98, 2))] * 2
        entry["h"] = [_num_str(round(ref * 1.02, 2))] * 2
        entry["o"] = _num_str(round(ref * 0.99, 2))
        return entry

    def _kraken_book(self, pair: str, count: int | None) -> dict[str, Any]:
        """Kraken Depth entry: ``[price, volume, unix seconds]`` levels."""
        bids, asks = self._levels("kraken", pair)
        if count:
            bids, asks = bids[:count], asks[:count]
        now = _now_ms() // 1000
        return {
            "asks": [[_num_str(p), _num_str(s), now] for p, s in asks],
            "bids": [[_num_str(p), _num_str(s), now] for p, s in bids],
        }

    # ----------------------------------------------------------------- coinbase (Advanced Trade + v2)

    def _coinbase(self, path: str, query: dict[str, list[str]]) -> _Response | None:
        """Coinbase v2 public + Advanced Trade ``/api/v3/brokerage/market`` endpoints."""
        if path == "/v2/currencies":
            return _json(self._fixtures["coinbase/currencies"])
        if path == "/v2/currencies/crypto":
            return _json(self._fixtures["coinbase/currencies_crypto"])
        if path == "/v2/exchange-rates":
            return _json(self._fixtures["coinbase/exchange_rates"])
        if path == "/v2/time":
            now = _now_ms()
            return _json({"data": {"iso": _iso(now)[:19] + "Z", "epoch": now // 1000}})
        prefix = "/api/v3/brokerage/market"
        if path == prefix + "/products":
            product_type = _first(query, "product_type")
            if product_type not in (None, "SPOT"):
                return _json({"products": [], "num_products": 0, "pagination": None})
            ids = set(query.get("product_ids") or ())
            products = [p for p in self._coinbase_products() if not ids or p["product_id"] in ids]
            return _json({"products": products, "num_products": len(products), "pagination": None})
        if path.startswith(prefix + "/products/"):
            rest = path[len(prefix + "/products/") :].split("/")
            pair = self._pair_by_id("coinbase", rest[0])
            if pair is None:
                return self._coinbase_not_found(rest[0])
            if len(rest) == 1:
                templates = [
                    *self._fixtures["coinbase/products"]["products"],
                    *(t for _, t in self._synthetic_listing("coinbase", self._coinbase_new_product)),
                ]
                [product] = [p for p in templates if p["product_id"] == rest[0]]
                return _json(self._coinbase_product(product))
            if rest[1:] == ["ticker"]:
                return _json(self._coinbase_ticker(pair))
            if rest[1:] == ["candles"]:
                return self._coinbase_candles(pair, query)
            return None
        if path == prefix + "/product_book":
            product_id = _first(query, "product_id") or ""
            pair = self._pair_by_id("coinbase", product_id)
            if pair is None:
                return self._coinbase_not_found(product_id)
            return _json(self._coinbase_book(pair, _int_or_none(_first(query, "limit"))))
        return None

    @staticmethod
    def _coinbase_not_found(product_id: str) -> _Response:
        """Coinbase's 404 for an unknown product."""
        message = f"ProductID {product_id} could not be found"
        return _json({"error": "NOT_FOUND", "error_details": message, "message": message}, 404)

    def _coinbase_candles(self, pair: str, query: dict[str, list[str]]) -> _Response:
        """``products/{id}/candles``: start <= time < end (unix s), newest first, at most 350."""
        granularity = _first(query, "granularity")
        timeframe = next((tf for tf, name in _COINBASE_GRANULARITY.items() if name == granularity), None)
        start, end = _int_or_none(_first(query, "start")), _int_or_none(_first(query, "end"))
        limit = _int_or_none(_first(query, "limit")) if _first(query, "limit") else 350
        problem = None
        if timeframe is None:
            problem = f"invalid granularity {granularity!r}"
        elif start is None or end is None:
            problem = "start and end are required unix timestamps (seconds)"
        elif limit is None or not 0 < limit <= 350:
            problem = "limit must be between 1 and 350"
        elif -(-(end - start) // TIMEFRAMES[timeframe]) > 350:
            problem = "number of candles requested should be less than or equal to 350"
        if problem is not None:
            return _json({"error": "INVALID_ARGUMENT", "error_details": problem, "message": problem}, 400)
        assert timeframe is not None and start is not None and end is not None and limit is not None
        rows = self._candle_window("coinbase", pair, timeframe, start * 1000, end * 1000 - 1, limit)
        candles = [
            {
                "start": str(ts // 1000),
                "low": _num_str(low),
                "high": _num_str(h),
                "open": _num_str(o),
                "close": _num_str(c),
                "volume": _num_str(v),
            }
            for ts, o, h, low, c, v in reversed(rows)
        ]
        return _json({"candles": candles})

    def _coinbase_products(self) -> list[dict[str, Any]]:
        """Spot products: the fixture's, or what ``set_listing`` set (new ones without prices)."""
        fixture = {p["product_id"]: p for p in self._fixtures["coinbase/products"]["products"]}
        listing = self._listing("coinbase")
        products = []
        if listing is None:
            products = [self._coinbase_product(product) for product in fixture.values()]
        for item in listing or ():
            product_id = MARKET_IDS["coinbase"].get(item.pair)
            if product_id is not None:
                product = self._coinbase_product(fixture[product_id])
            else:
                product = self._coinbase_new_product(item.pair)[1]
            product["trading_disabled"] = not item.active
            product["status"] = "online" if item.active else "offline"
            products.append(product)
        listed = {product["product_id"] for product in products}
        for pair, template in self._synthetic_listing("coinbase", self._coinbase_new_product):
            if template["product_id"] not in listed:
                products.append(
                    self._batched("coinbase", pair, lambda _, t=template: self._coinbase_product(t))
                )
        return products

    def _coinbase_new_product(self, pair: str) -> tuple[str, dict[str, Any]]:
        """(pair, product entry) for a pair the fixture does not list, from its BTC-USD entry."""
        base, quote = pair.split("/")
        [template] = [
            p for p in self._fixtures["coinbase/products"]["products"] if p["product_id"] == "BTC-USD"
        ]
        product = copy.deepcopy(template)
        product.update(
            product_id=f"{base}-{quote}",
            display_name=f"{base}-{quote}",
            base_currency_id=base,
            quote_currency_id=quote,
            base_display_symbol=base,
            quote_display_symbol=quote,
            base_name=base,
            quote_name=quote,
            alias_to=[],
        )
        return pair, product

    def _coinbase_product(self, template: dict[str, Any]) -> dict[str, Any]:
        """One product entry with price / volume from the ticker state."""
        pair = self._pair_by_id("coinbase", template["product_id"])
        assert pair is not None
        t, _ = self._state("coinbase", pair)
        product = copy.deepcopy(template)
        product["price"] = _num_str(t.last)
        product["volume_24h"] = _num_str(t.volume)
        product["approximate_quote_24h_volume"] = _num_str(self._quote_volume(t.volume, t.ref))
        product["best_bid_price"] = _num_str(t.bid)
        product["best_ask_price"] = _num_str(t.ask)
        return product

    def _coinbase_ticker(self, pair: str) -> dict[str, Any]:
        """``products/{id}/ticker``: last trade(s) + best bid/ask."""
        t, ts = self._state("coinbase", pair)
        payload = copy.deepcopy(self._fixtures["coinbase/ticker"])
        trade = payload["trades"][0]
        trade["product_id"] = self._ids["coinbase"][pair]
        trade["price"] = _num_str(t.last)
        trade["time"] = _iso(ts, 6) if isinstance(ts, int) else ts
        payload["best_bid"] = _num_str(t.bid)
        payload["best_ask"] = _num_str(t.ask)
        return payload

    def _coinbase_book(self, pair: str, limit: int | None) -> dict[str, Any]:
        """``product_book``: ``{"pricebook": {bids, asks: [{price, size}]}}``."""
        bids, asks = self._levels("coinbase", pair)
        if limit:
            bids, asks = bids[:limit], asks[:limit]
        t, _ = self._state("coinbase", pair)
        return {
            "pricebook": {
                "product_id": self._ids["coinbase"][pair],
                "bids": [{"price": _num_str(p), "size": _num_str(s)} for p, s in bids],
                "asks": [{"price": _num_str(p), "size": _num_str(s)} for p, s in asks],
                "time": _iso(_now_ms(), 6),
            },
            "last": _num_str(t.last),
        }

    # ----------------------------------------------------------------- bitstamp

    def _bitstamp(self, path: str, query: dict[str, list[str]]) -> _Response | None:
        """Bitstamp API v2 public endpoints (paths end in ``/`` on the wire)."""
        if path == "/api/v2/markets":
            return _json(self._bitstamp_markets())
        if path == "/api/v2/ticker":
            pairs = list(self._ids["bitstamp"])
            return _json([self._batched("bitstamp", pair, self._bitstamp_batch_ticker) for pair in pairs])
        if path.startswith("/api/v2/ohlc/"):
            pair = self._pair_by_id("bitstamp", path[len("/api/v2/ohlc/") :])
            return None if pair is None else self._bitstamp_ohlc(pair, query)
        for prefix in ("/api/v2/ticker/", "/api/v2/order_book/"):
            if path.startswith(prefix):
                pair = self._pair_by_id("bitstamp", path[len(prefix) :])
                if pair is None:
                    return None
                if prefix == "/api/v2/ticker/":
                    return _json(self._bitstamp_ticker(pair))
                return _json(self._bitstamp_book(pair))
        return None

    def _bitstamp_markets(self) -> list[dict[str, Any]]:
        """``markets/``: the fixture, or what ``set_listing`` set (perpetuals as ``PERPETUAL``)."""
        fixture = {m["market_symbol"]: m for m in self._fixtures["bitstamp/markets"]}
        listing = self._listing("bitstamp")
        synthetic = self._synthetic_listing("bitstamp", self._bitstamp_new_market)
        if listing is None:
            return [*fixture.values(), *synthetic]
        markets = []
        for item in listing:
            base, quote = item.pair.split("/")
            market_id = MARKET_IDS["bitstamp"].get(item.pair)
            if market_id is not None and not item.perpetual:
                entry = copy.deepcopy(fixture[market_id])
            else:
                entry = self._bitstamp_new_market(item.pair)
            if item.perpetual:
                entry.update(
                    name=f"{item.pair}-PERP",
                    market_symbol=f"{base}{quote}-perp".lower(),
                    market_type="PERPETUAL",
                    payoff_type="Linear",
                )
            entry["trading"] = "Enabled" if item.active else "Disabled"
            markets.append(entry)
        listed = {entry["market_symbol"] for entry in markets}
        return [*markets, *(entry for entry in synthetic if entry["market_symbol"] not in listed)]

    def _bitstamp_new_market(self, pair: str) -> dict[str, Any]:
        """A ``markets/`` entry for a pair the fixture does not list, from its btcusd entry."""
        base, quote = pair.split("/")
        [template] = [m for m in self._fixtures["bitstamp/markets"] if m["market_symbol"] == "btcusd"]
        entry = copy.deepcopy(template)
        entry.update(
            name=pair,
            market_symbol=f"{base}{quote}".lower(),
            base_currency=base,
            counter_currency=quote,
            description=f"{base} / {quote}",
        )
        return entry

    def _bitstamp_batch_ticker(self, pair: str) -> dict[str, Any]:
        """One entry of ``ticker/`` (every pair's ticker, each naming its pair)."""
        return self._bitstamp_ticker(pair, with_pair=True)

    def _bitstamp_ticker(self, pair: str, with_pair: bool = False) -> dict[str, Any]:
        """Bitstamp ticker (timestamp in unix seconds, as a string)."""
        t, ts = self._state("bitstamp", pair)
        entry = copy.deepcopy(self._fixtures["bitstamp/ticker"])
        ref = t.ref
        entry.update(
            {
                "timestamp": str(ts // 1000) if isinstance(ts, int) else ts,
                "open": _num_str(round(ref * 0.99, 2)),
                "high": _num_str(round(ref * 1.02, 2)),
                "low": _num_str(round(ref * 0.98, 2)),
                "last": _num_str(t.last),
                "volume": _num_str(t.volume),
                "vwap": _num_str(ref),
                "bid": _num_str(t.bid),
                "ask": _num_str(t.ask),
                "open_24": _num_str(round(ref * 0.99, 2)),
            }
        )
        if with_pair:
            entry["pair"] = pair
        return entry

    def _bitstamp_ohlc(self, pair: str, query: dict[str, list[str]]) -> _Response:
        """``ohlc/{pair}/``: ``limit`` candles oldest first; ``end`` wins over ``start`` (Bitstamp's rule)."""
        step = _int_or_none(_first(query, "step"))
        timeframe = next((tf for tf, sec in TIMEFRAMES.items() if sec == step), None)
        limit = _int_or_none(_first(query, "limit"))
        start, end = _int_or_none(_first(query, "start")), _int_or_none(_first(query, "end"))
        errors = []
        if timeframe is None:
            errors.append({"field": "step", "message": "Invalid step.", "code": "invalid_choice"})
        if limit is None or not 1 <= limit <= 1000:
            errors.append({"field": "limit", "message": "Must be between 1 and 1000.", "code": "invalid"})
        if errors:
            return _json({"errors": errors}, 400)
        assert timeframe is not None and limit is not None
        if end is not None:
            rows = self._candle_window("bitstamp", pair, timeframe, None, end * 1000, limit, newest=True)
        elif start is not None:
            rows = self._candle_window("bitstamp", pair, timeframe, start * 1000, None, limit)
        else:
            rows = self._candle_window("bitstamp", pair, timeframe, None, None, limit, newest=True)
        ohlc = [
            {
                "timestamp": str(ts // 1000),
                "open": _num_str(o),
                "high": _num_str(h),
                "low": _num_str(low),
                "close": _num_str(c),
                "volume": _num_str(v),
            }
            for ts, o, h, low, c, v in rows
        ]
        return _json({"data": {"pair": pair, "ohlc": ohlc}})

    def _bitstamp_book(self, pair: str) -> dict[str, Any]:
        """Bitstamp order_book (no depth limit on the wire)."""
        bids, asks = self._levels("bitstamp", pair)
        now = _now_ms()
        return {
            "timestamp": str(now // 1000),
            "microtimestamp": str(now * 1000),
            "bids": [[_num_str(p), _num_str(s)] for p, s in bids],
            "asks": [[_num_str(p), _num_str(s)] for p, s in asks],
        }

    # ----------------------------------------------------------------- binance

    def _binance(self, path: str, query: dict[str, list[str]]) -> _Response | None:
        """Binance spot ``/api/v3`` public endpoints."""
        return self._binance_api("binance", path, query)

    def _binance_api(self, exchange: str, path: str, query: dict[str, list[str]]) -> _Response | None:
        """Binance's spot ``/api/v3`` endpoints, for binance or a venue in its format (binanceus)."""
        if path == "/api/v3/exchangeInfo":
            info = copy.deepcopy(self._fixtures["binance/exchangeInfo"])
            info["serverTime"] = _now_ms()
            fixture = info["symbols"]
            listing = self._listing(exchange)
            if listing is not None:
                info["symbols"] = [self._binance_symbol(item, fixture) for item in listing]
            elif exchange != "binance":
                info["symbols"] = []  # a venue lists only its synthetic markets
            listed = {entry["symbol"] for entry in info["symbols"]}
            new = self._synthetic_listing(exchange, lambda pair: self._binance_symbol(_Listed(pair), fixture))
            info["symbols"] += [entry for entry in new if entry["symbol"] not in listed]
            return _json(info)
        if path == "/api/v3/ping":
            return _json({})
        if path == "/api/v3/time":
            return _json({"serverTime": _now_ms()})
        if path == "/api/v3/ticker/24hr":
            symbol, symbols = _first(query, "symbol"), _first(query, "symbols")
            if symbol is not None:
                pair = self._pair_by_id(exchange, symbol)
                if pair is None or symbol != symbol.upper():
                    return self._binance_invalid_symbol()
                return _json(self._binance_ticker(pair, exchange))
            if symbols is not None:
                try:
                    wanted = json.loads(symbols)
                except ValueError:
                    return _json(
                        {"code": -1100, "msg": "Illegal characters found in parameter 'symbols'."}, 400
                    )
                pairs = [self._pair_by_id(exchange, str(s)) for s in wanted]
                if None in pairs:
                    return self._binance_invalid_symbol()
            else:
                pairs = list(self._ids[exchange])
            build = functools.partial(self._binance_ticker, exchange=exchange)
            return _json([self._batched(exchange, pair, build) for pair in pairs if pair is not None])
        if path == "/api/v3/klines":
            return self._binance_klines(query, exchange)
        if path == "/api/v3/depth":
            pair = self._pair_by_id(exchange, _first(query, "symbol") or "")
            if pair is None:
                return self._binance_invalid_symbol()
            return _json(self._binance_book(pair, _int_or_none(_first(query, "limit")) or 100, exchange))
        return None

    @staticmethod
    def _binance_symbol(item: _Listed, fixture: list[dict[str, Any]]) -> dict[str, Any]:
        """One ``exchangeInfo`` symbol for a listed pair (a served one keeps its fixture entry)."""
        market_id = MARKET_IDS["binance"].get(item.pair)
        base, quote = item.pair.split("/")
        if market_id is not None:
            [entry] = [copy.deepcopy(s) for s in fixture if s["symbol"] == market_id]
        else:
            entry = copy.deepcopy(fixture[0])
            entry.update(symbol=base + quote, baseAsset=base, quoteAsset=quote)
        entry["status"] = "TRADING" if item.active else "BREAK"
        return entry

    @staticmethod
    def _binance_invalid_symbol() -> _Response:
        """Binance's answer to an unknown symbol."""
        return _json({"code": -1121, "msg": "Invalid symbol."}, 400)

    def _binance_klines(self, query: dict[str, list[str]], exchange: str = "binance") -> _Response:
        """``klines``: ``limit`` (default 500, capped at 1000) rows from startTime, oldest first."""
        pair = self._pair_by_id(exchange, _first(query, "symbol") or "")
        if pair is None:
            return self._binance_invalid_symbol()
        timeframe = _first(query, "interval")
        if timeframe not in TIMEFRAMES:
            return _json({"code": -1120, "msg": "Invalid interval."}, 400)
        limit = min(_int_or_none(_first(query, "limit")) or 500, 1000)
        start, end = _int_or_none(_first(query, "startTime")), _int_or_none(_first(query, "endTime"))
        rows = self._candle_window(exchange, pair, timeframe, start, end, limit, newest=start is None)
        span = TIMEFRAMES[timeframe] * 1000
        klines = []
        for ts, o, h, low, c, v in rows:
            quote = self._quote_volume(v, c) if _is_good(c) else v
            trades = 1 if _is_good(v) else 0
            taker = [_num_str(round(v / 2, 8)) if _is_good(v) else _num_str(v)]
            taker.append(_num_str(round(quote / 2, 8)) if _is_good(quote) else _num_str(quote))
            klines.append(
                [
                    ts,
                    *(_num_str(x) for x in (o, h, low, c, v)),
                    ts + span - 1,
                    _num_str(quote),
                    trades,
                    *taker,
                    "0",
                ]
            )
        return _json(klines)

    def _binance_ticker(self, pair: str, exchange: str = "binance") -> dict[str, Any]:
        """Binance 24hr ticker (``closeTime`` is the timestamp ccxt uses)."""
        t, ts = self._state(exchange, pair)
        entry = copy.deepcopy(self._fixtures["binance/ticker"])
        ref = t.ref
        entry.update(
            {
                "symbol": self._ids[exchange][pair],
                "priceChange": _num_str(round(ref - round(ref * 0.99, 2), 2)),
                "priceChangePercent": "1.010",
                "weightedAvgPrice": _num_str(ref),
                "prevClosePrice": _num_str(round(ref * 0.99, 2)),
                "lastPrice": _num_str(t.last),
                "bidPrice": _num_str(t.bid),
                "askPrice": _num_str(t.ask),
                "openPrice": _num_str(round(ref * 0.99, 2)),
                "highPrice": _num_str(round(ref * 1.02, 2)),
                "lowPrice": _num_str(round(ref * 0.98, 2)),
                "volume": _num_str(t.volume),
                "quoteVolume": _num_str(self._quote_volume(t.volume, ref)),
                "openTime": ts - 86_400_000 if isinstance(ts, int) else ts,
                "closeTime": ts,
            }
        )
        return entry

    def _binance_book(self, pair: str, limit: int, exchange: str = "binance") -> dict[str, Any]:
        """Binance depth: ``lastUpdateId`` + ``[price, qty]`` string levels."""
        bids, asks = self._levels(exchange, pair)
        with self._lock:
            self._update_id += 1
            update_id = self._update_id
        return {
            "lastUpdateId": update_id,
            "bids": [[_num_str(p), _num_str(s)] for p, s in bids[:limit]],
            "asks": [[_num_str(p), _num_str(s)] for p, s in asks[:limit]],
        }

    # ----------------------------------------------------------------- okx (okx, myokx, okxus)

    def _okx_api(self, exchange: str, path: str, query: dict[str, list[str]]) -> _Response | None:
        """OKX v5 public endpoints: spot instruments and tickers (no contracts are listed)."""
        if path == "/api/v5/public/time":
            return _json({"code": "0", "msg": "", "data": [{"ts": str(_now_ms())}]})
        if path in ("/api/v5/public/instruments", "/api/v5/market/tickers"):
            inst_type = _first(query, "instType")
            if not inst_type:
                return _json(
                    {"code": "50014", "msg": "Parameter instType can not be empty.", "data": []}, 400
                )
            if inst_type != "SPOT":
                return _json({"code": "0", "msg": "", "data": []})
            if path == "/api/v5/public/instruments":
                data = self._synthetic_listing(exchange, self._okx_instrument)
            else:
                build = functools.partial(self._okx_ticker, exchange=exchange)
                data = [self._batched(exchange, pair, build) for pair in list(self._ids[exchange])]
            return _json({"code": "0", "msg": "", "data": data})
        if path == "/api/v5/market/ticker":
            pair = self._pair_by_id(exchange, _first(query, "instId") or "")
            if pair is None:
                return _json({"code": "51001", "msg": "Instrument ID does not exist", "data": []})
            return _json({"code": "0", "msg": "", "data": [self._okx_ticker(pair, exchange)]})
        return None

    @staticmethod
    def _okx_instrument(pair: str) -> dict[str, Any]:
        """One ``public/instruments?instType=SPOT`` entry (the fields of OKX's v5 documentation)."""
        base, quote = pair.split("/")
        return {
            "alias": "",
            "baseCcy": base,
            "category": "1",
            "ctMult": "",
            "ctType": "",
            "ctVal": "",
            "ctValCcy": "",
            "expTime": "",
            "instFamily": "",
            "instId": f"{base}-{quote}",
            "instType": "SPOT",
            "lever": "",
            "listTime": "1606468572000",
            "lotSz": "0.00000001",
            "maxIcebergSz": "9999999999.0000000000000000",
            "maxLmtAmt": "1000000",
            "maxLmtSz": "9999999999",
            "maxMktAmt": "1000000",
            "maxMktSz": "",
            "maxStopSz": "",
            "maxTriggerSz": "9999999999",
            "maxTwapSz": "9999999999",
            "minSz": "0.00001",
            "optType": "",
            "quoteCcy": quote,
            "ruleType": "normal",
            "settleCcy": "",
            "state": "live",
            "stk": "",
            "tickSz": "0.0001",
            "uly": "",
        }

    def _okx_ticker(self, pair: str, exchange: str) -> dict[str, Any]:
        """One ``market/tickers`` entry: strings, ``ts`` in ms, ``volCcy24h`` the quote volume (spot)."""
        t, ts = self._state(exchange, pair)
        ref = t.ref
        return {
            "instType": "SPOT",
            "instId": self._ids[exchange][pair],
            "last": _num_str(t.last),
            "lastSz": "0.1",
            "askPx": _num_str(t.ask),
            "askSz": "1.5",
            "bidPx": _num_str(t.bid),
            "bidSz": "2.5",
            "open24h": _num_str(round(ref * 0.99, 6)),
            "high24h": _num_str(round(ref * 1.02, 6)),
            "low24h": _num_str(round(ref * 0.98, 6)),
            "volCcy24h": _num_str(self._quote_volume(t.volume, ref)),
            "vol24h": _num_str(t.volume),
            "ts": str(ts) if isinstance(ts, int) else ts,
            "sodUtc0": _num_str(round(ref * 0.995, 6)),
            "sodUtc8": _num_str(round(ref * 0.996, 6)),
        }

    # ----------------------------------------------------------------- bybit (bybit, bybiteu)

    def _bybit_api(self, exchange: str, path: str, query: dict[str, list[str]]) -> _Response | None:
        """Bybit v5 public endpoints: spot instruments and tickers (no contracts are listed)."""
        if path == "/v5/market/time":
            now = _now_ms()
            return _json(
                self._bybit_answer({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)})
            )
        if path not in ("/v5/market/instruments-info", "/v5/market/tickers"):
            return None
        category = _first(query, "category")
        if category not in ("spot", "linear", "inverse", "option"):
            return _json({"retCode": 10001, "retMsg": "params error: category is invalid", "result": {}})
        entries: list[dict[str, Any]] = []
        if category == "spot" and path == "/v5/market/instruments-info":
            entries = self._synthetic_listing(exchange, self._bybit_instrument)
        elif category == "spot":
            symbol = _first(query, "symbol")
            pairs = [self._pair_by_id(exchange, symbol)] if symbol else list(self._ids[exchange])
            if None in pairs:
                return _json({"retCode": 10001, "retMsg": "Not supported symbols", "result": {}})
            build = functools.partial(self._bybit_ticker, exchange=exchange)
            entries = [self._batched(exchange, pair, build) for pair in pairs if pair is not None]
        result: dict[str, Any] = {"category": category, "list": entries}
        if path == "/v5/market/instruments-info":
            result["nextPageCursor"] = ""
        return _json(self._bybit_answer(result))

    @staticmethod
    def _bybit_answer(result: dict[str, Any]) -> dict[str, Any]:
        """Bybit's v5 envelope (its ``time`` in ms; spot ticker entries carry none of their own)."""
        return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": _now_ms()}

    @staticmethod
    def _bybit_instrument(pair: str) -> dict[str, Any]:
        """One ``instruments-info?category=spot`` entry (the fields of Bybit's v5 documentation)."""
        base, quote = pair.split("/")
        return {
            "symbol": base + quote,
            "baseCoin": base,
            "quoteCoin": quote,
            "innovation": "0",
            "status": "Trading",
            "marginTrading": "none",
            "stTag": "0",
            "lotSizeFilter": {
                "basePrecision": "0.000001",
                "quotePrecision": "0.00000001",
                "minOrderQty": "0.000048",
                "maxOrderQty": "71.73956243",
                "minOrderAmt": "1",
                "maxOrderAmt": "2000000",
            },
            "priceFilter": {"tickSize": "0.0001"},
            "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
        }

    def _bybit_ticker(self, pair: str, exchange: str) -> dict[str, Any]:
        """One spot ``tickers`` entry: strings, ``turnover24h`` the quote volume."""
        t, _ = self._state(exchange, pair)
        ref = t.ref
        return {
            "symbol": self._ids[exchange][pair],
            "bid1Price": _num_str(t.bid),
            "bid1Size": "2.5",
            "ask1Price": _num_str(t.ask),
            "ask1Size": "1.5",
            "lastPrice": _num_str(t.last),
            "prevPrice24h": _num_str(round(ref * 0.99, 6)),
            "price24hPcnt": "0.0101",
            "highPrice24h": _num_str(round(ref * 1.02, 6)),
            "lowPrice24h": _num_str(round(ref * 0.98, 6)),
            "turnover24h": _num_str(self._quote_volume(t.volume, ref)),
            "volume24h": _num_str(t.volume),
            "usdIndexPrice": _num_str(ref),
        }

    # ----------------------------------------------------------------- coingecko

    def _coingecko(self, path: str, query: dict[str, list[str]]) -> _Response | None:
        """CoinGecko v3: ``/coins/markets`` and ``/ping``."""
        if path == "/api/v3/ping":
            return _json({"gecko_says": "(V3) To the Moon!"})
        if path != "/api/v3/coins/markets":
            return None
        vs_currency = _first(query, "vs_currency")
        if not vs_currency:
            return _json({"error": "Missing parameter vs_currency"}, 400)
        if vs_currency.lower() != "usd":
            return _json({"error": "invalid vs_currency"}, 400)
        ids_param = _first(query, "ids")
        wanted = None if ids_param is None else {i.strip() for i in ids_param.split(",")}
        coins = []
        for template in self._fixtures["coingecko/coins"]:
            if wanted is None or template["id"] in wanted:
                coins.append(self._coingecko_coin(template))
        return _json(coins)

    def _coingecko_coin(self, template: dict[str, Any]) -> dict[str, Any]:
        """One ``/coins/markets`` entry (numbers as JSON numbers, ``last_updated`` ISO 8601)."""
        pair = self._pair_by_id("coingecko", template["id"])
        assert pair is not None
        t, ts = self._state("coingecko", pair)
        coin = copy.deepcopy(template)
        ref = t.ref
        supply = coin["circulating_supply"]
        max_supply = coin["max_supply"] or coin["total_supply"]
        coin.update(
            {
                "current_price": t.last,
                "market_cap": round(ref * supply),
                "fully_diluted_valuation": round(ref * max_supply) if max_supply else None,
                "total_volume": t.volume,
                "high_24h": round(ref * 1.02, 2),
                "low_24h": round(ref * 0.98, 2),
                "price_change_24h": round(ref * 0.01, 6),
                "price_change_percentage_24h": 1.0101,
                "market_cap_change_24h": round(ref * supply * 0.01),
                "market_cap_change_percentage_24h": 1.0101,
                "ath_change_percentage": round((ref - coin["ath"]) / coin["ath"] * 100, 5),
                "atl_change_percentage": round((ref - coin["atl"]) / coin["atl"] * 100, 5),
                "last_updated": _iso(ts) if isinstance(ts, int) else ts,
            }
        )
        return coin
