"""One adapter for any ccxt exchange: markets (cached), tickers and order-book tops."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import ccxt

from ..clock import now_ms
from .base import (
    Candle,
    FetchResult,
    Invalid,
    Rejection,
    SourceFailure,
    make_book_top,
    make_candle,
    make_tick,
    positive,
)
from .retry import (
    MALFORMED,
    Attempts,
    RetryPolicy,
    call_with_retry,
    describe_failure,
    parse_retry_after,
    short,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Our defaults per exchange, under the user's EXCHANGE_OPTIONS (which win).
EXCHANGE_DEFAULTS: dict[str, dict[str, Any]] = {
    # Spot only: otherwise load_markets also calls the futures, swap and options APIs.
    **{
        name: {"options": {"fetchMarkets": {"types": ["spot"]}}}
        for name in ("binance", "okx", "myokx", "bybit")
    },
    # bitstamp's currencies and markets both come from /markets/, which ccxt reuses for 1 s only:
    # parsing a long list of currencies took longer, and load_markets asked for it twice.
    "bitstamp": {"options": {"fetchMarkets": {"expires": 60_000}}},
}

#: At most this many symbols are named in one batched tickers request (a few KB of URL); for more,
#: the exchange's every ticker is asked for in one request and ours are picked out.
NAMED_TICKERS_MAX = 100

#: The fields in which exchanges' market lists say whether a market trades (kraken, binance, bybit:
#: status; okx: state; bitstamp: trading; coinbase: trading_disabled). ccxt reads a market whose entry
#: has none of them (kraken's older AssetPairs carry no status) as inactive: it cannot tell, and
#: such a market counts as listed.
STATUS_FIELDS = frozenset(
    {"status", "state", "trading", "trading_disabled", "active", "isActive", "enabled", "disabled"}
)

#: The endpoint named in order-book rejections.
BOOK_ENDPOINT = "order book"

#: Where an exchange puts its own last price in the raw payload, for exchanges on
#: which ccxt rebuilds a missing or zero "last" from other fields (binance: open +
#: change), so that a bad price cannot hide behind the rebuilt one.
RAW_LAST: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "binance": lambda info: info.get("lastPrice"),
}


def _listed(market: Mapping[str, Any]) -> bool:
    """Whether a market counts as listed: not marked inactive by a status its entry carries."""
    if market.get("active") is not False:
        return True
    info = market.get("info")
    return not (isinstance(info, Mapping) and STATUS_FIELDS & info.keys())


def _volume(value: Any) -> bool:
    """A usable volume: a finite number >= 0."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < float("inf")


class CcxtSource:
    """Tickers and book tops from one ccxt exchange, validated into our own types."""

    def __init__(
        self,
        exchange_id: str,
        *,
        options: Mapping[str, Any],
        policy: RetryPolicy,
        cache_dir: Path,
        cache_ttl: float,
        timeout: float,
        book_limit: int,
        tolerance_ms: int,
        cooldown: float,
    ) -> None:
        self.name = exchange_id
        config = ccxt.Exchange.deep_extend(
            {"enableRateLimit": True, "timeout": int(timeout * 1000)},
            EXCHANGE_DEFAULTS.get(exchange_id, {}),
            dict(options),
        )
        self.exchange: ccxt.Exchange = getattr(ccxt, exchange_id)(config)
        self.policy = policy
        self.book_limit = book_limit
        self.tolerance_ms = tolerance_ms
        self.cooldown = cooldown
        self.cache_ttl = cache_ttl
        # The cache is per API address so a mirror never reuses the real exchange's markets.
        api = json.dumps(self.exchange.urls.get("api"), sort_keys=True, default=str)
        self.cache_path = cache_dir / f"{exchange_id}-{hashlib.sha1(api.encode()).hexdigest()[:10]}.json"

    # -- plumbing ---------------------------------------------------------

    def _retry_after(self, error: Exception) -> float | None:
        if not isinstance(error, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
            return None
        headers = self.exchange.last_response_headers or {}
        return parse_retry_after(headers.get("Retry-After"))

    def _call(self, fn: Callable[[], T], attempts: Attempts, what: str) -> T:
        return call_with_retry(
            fn,
            policy=self.policy,
            transient=lambda e: isinstance(e, ccxt.NetworkError),
            retry_after=self._retry_after,
            attempts=attempts,
            label=f"{self.name} {what}",
        )

    def _cached(self, path: Path) -> dict[str, Any] | None:
        """What ``_save`` wrote to ``path``, while younger than the cache TTL; else None."""
        try:
            cached = json.loads(path.read_text())
            if time.time() - cached["saved"] < self.cache_ttl:
                return cached  # type: ignore[no-any-return]
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("%s: ignoring unreadable cache %s (%s)", self.name, path, error)
        return None

    @staticmethod
    def _save(path: Path, payload: dict[str, Any]) -> None:
        """Write ``payload`` and the time to ``path`` whole or not at all (a reader never sees half)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"saved": time.time(), **payload}, default=str))
        tmp.replace(path)

    def load_markets(self, attempts: Attempts, *, reload: bool = False) -> None:
        """Load markets once per process, from the instance cache while it is fresh; ``reload``
        fetches them from the exchange whatever is cached (and refreshes the cache)."""
        if self.exchange.markets and not reload:
            return
        cached = None if reload else self._cached(self.cache_path)
        if cached is not None:
            self.exchange.set_markets(cached["markets"], cached["currencies"])
            return
        self._call(lambda: self.exchange.load_markets(reload), attempts, "load_markets")
        if not self.exchange.markets:
            raise ccxt.BadResponse(f"{self.name} listed no markets")
        self._save(
            self.cache_path, {"markets": self.exchange.markets, "currencies": self.exchange.currencies}
        )

    def spot_pairs(self, reload: bool = False) -> list[str]:
        """The active spot pairs this exchange lists, unified ``BASE/QUOTE``, sorted; raise
        SourceFailure when its markets cannot be loaded. Markets come through ``load_markets`` (the
        instance cache while fresh; ``reload``: from the exchange). A market whose activity ccxt
        cannot tell (``active`` None, or False from an entry without any ``STATUS_FIELDS``) counts
        as listed; contracts (swaps, futures, options) never do."""
        attempts = Attempts()
        try:
            self.load_markets(attempts, reload=reload)
        except Exception as error:
            raise describe_failure(self.name, error, attempts, self.cooldown) from error
        return sorted(
            {
                f"{market['base']}/{market['quote']}"
                for market in self.exchange.markets.values()
                if market.get("spot") and _listed(market) and market.get("base") and market.get("quote")
            }
        )

    def quote_volumes(self, reload: bool = False) -> tuple[dict[str, float], float]:
        """The 24 h quote volume of every spot market the exchange has a ticker for, by pair, from one
        request for all its tickers, and when they were fetched (epoch s). Kept in the instance
        folder next to the markets for the cache TTL (``reload``: fetched now); raise SourceFailure
        when they cannot be fetched. A ticker without a usable quote volume is left out."""
        path = self.cache_path.with_suffix(".volumes.json")
        cached = None if reload else self._cached(path)
        if cached is not None:
            return cached["volumes"], cached["saved"]
        attempts = Attempts()
        try:
            self.load_markets(attempts)
            tickers = self._call(self._every_ticker, attempts, "fetch_tickers")
            if not isinstance(tickers, dict) or not tickers:
                raise ccxt.BadResponse(f"{self.name} returned no tickers")
        except Exception as error:
            raise describe_failure(self.name, error, attempts, self.cooldown, "tickers") from error
        volumes = {}
        for symbol, ticker in tickers.items():
            market = self.exchange.markets.get(symbol)
            volume: Any = ticker.get("quoteVolume") if isinstance(ticker, dict) else None
            if market and market.get("spot") and _volume(volume):
                volumes[symbol] = float(volume)
        self._save(path, {"volumes": volumes})
        return volumes, time.time()

    # -- fetching ----------------------------------------------------------

    def fetch(self, pairs: Sequence[str], books: bool) -> FetchResult:
        """Fetch tickers (and book tops) for ``pairs``; raise SourceFailure when the exchange fails."""
        attempts = Attempts()
        result = FetchResult()
        endpoint = "markets"  # what a failure was fetching
        try:
            self.load_markets(attempts)
            markets = self.exchange.markets
            listed = [p for p in pairs if p in markets]
            result.rejections += [
                Rejection(self.name, endpoint, p, f"{self.name} does not list {p}")
                for p in pairs
                if p not in markets
            ]
            if listed:
                endpoint = self._tickers_endpoint()
                self._fetch_tickers(listed, attempts, result)
                if books:
                    endpoint = BOOK_ENDPOINT
                    self._fetch_books(listed, attempts, result)
        except Exception as error:
            raise describe_failure(self.name, error, attempts, self.cooldown, endpoint) from error
        result.retries = attempts.retries
        return result

    def _tickers_endpoint(self) -> str:
        """``tickers`` when the exchange answers them in one batched call, else ``ticker`` (per pair)."""
        return "tickers" if self.exchange.has.get("fetchTickers") else "ticker"

    def _every_ticker(self) -> Any:
        """Every spot ticker of the exchange, in one request (spot even where ccxt's default market
        type is another: bybit's is swap)."""
        spot = {} if self.exchange.options.get("defaultType", "spot") == "spot" else {"type": "spot"}
        try:
            return self.exchange.fetch_tickers(None, spot)
        except ccxt.ArgumentsRequired:  # an exchange that answers only for named symbols
            return self.exchange.fetch_tickers(self.spot_pairs(), spot)

    def _fetch_tickers(self, pairs: list[str], attempts: Attempts, result: FetchResult) -> None:
        markets = self.exchange.markets
        if self.exchange.has.get("fetchTickers"):
            # one request: naming the symbols (a short URL; ccxt drops the ones it thinks inactive
            # from kraken's) or, for more, or any ccxt cannot tell is active, the whole exchange's
            named = len(pairs) <= NAMED_TICKERS_MAX and all(markets[p].get("active") is True for p in pairs)
            fetch = functools.partial(self.exchange.fetch_tickers, pairs) if named else self._every_ticker
            tickers = self._call(fetch, attempts, "fetch_tickers")
        else:
            tickers = {
                p: self._call(functools.partial(self.exchange.fetch_ticker, p), attempts, "fetch_ticker")
                for p in pairs
            }
        if not isinstance(tickers, dict) or not tickers:
            raise ccxt.BadResponse(f"{self.name} returned no tickers")
        received = now_ms()
        for pair in pairs:
            ticker = tickers.get(pair)
            try:
                if not isinstance(ticker, dict):
                    raise Invalid("no ticker in the response")
                raw_last = RAW_LAST.get(self.name)
                info = ticker.get("info")
                if raw_last is not None and isinstance(info, Mapping):
                    positive("last", raw_last(info))
                result.ticks.append(
                    make_tick(
                        self.name,
                        pair,
                        ts=ticker.get("timestamp"),
                        last=ticker.get("last"),
                        bid=ticker.get("bid"),
                        ask=ticker.get("ask"),
                        base_volume=ticker.get("baseVolume"),
                        quote_volume=ticker.get("quoteVolume"),
                        received=received,
                        tolerance_ms=self.tolerance_ms,
                    )
                )
            except Invalid as reason:
                result.rejections.append(Rejection(self.name, self._tickers_endpoint(), pair, str(reason)))

    def _fetch_books(self, pairs: list[str], attempts: Attempts, result: FetchResult) -> None:
        for pair in pairs:
            try:
                book = self._call(
                    functools.partial(self.exchange.fetch_order_book, pair, self.book_limit),
                    attempts,
                    "fetch_order_book",
                )
            except ccxt.NetworkError:
                raise  # the exchange is failing, not this book
            except (ccxt.ExchangeError, *MALFORMED) as error:  # an unusable book; the tickers still count
                result.rejections.append(
                    Rejection(self.name, BOOK_ENDPOINT, pair, f"order book: {short(error)}")
                )
                continue
            try:
                if not isinstance(book, dict):
                    raise Invalid("no order book in the response")
                result.books.append(
                    make_book_top(
                        self.name,
                        pair,
                        ts=book.get("timestamp"),
                        bids=book.get("bids") or [],
                        asks=book.get("asks") or [],
                        received=now_ms(),
                        tolerance_ms=self.tolerance_ms,
                    )
                )
            except Invalid as reason:
                result.rejections.append(Rejection(self.name, BOOK_ENDPOINT, pair, f"order book: {reason}"))

    # -- history -----------------------------------------------------------

    def timeframe_ms(self, timeframe: str) -> int:
        """Milliseconds in one candle of ``timeframe`` (ccxt's notation: 1m, 5m, 1h, 1d)."""
        return int(self.exchange.parse_timeframe(timeframe) * 1000)

    def candle_pages(
        self, pair: str, timeframe: str, since: int, until: int
    ) -> Iterator[tuple[list[Candle], list[Rejection], int]]:
        """Yield (candles, rejections, retries) page by page from ``since`` until ``until`` (ms).

        Each page goes through the same retry policy as tickers; a failure raises SourceFailure
        after what was yielded before it, so a caller that stores each page can resume.
        """
        attempts = Attempts()
        try:
            self.load_markets(attempts)
        except Exception as error:
            raise describe_failure(self.name, error, attempts, self.cooldown, "markets") from error
        if pair not in self.exchange.markets:
            raise SourceFailure(f"{self.name} does not list {pair}")
        step = self.timeframe_ms(timeframe)
        endpoint = f"ohlcv {timeframe}"
        cursor = since
        while cursor < until:
            attempts = Attempts()
            try:
                rows = self._call(
                    functools.partial(self.exchange.fetch_ohlcv, pair, timeframe, cursor),
                    attempts,
                    "fetch_ohlcv",
                )
                if not isinstance(rows, list):
                    raise ccxt.BadResponse(f"{self.name} returned no candles")
                if not rows and isinstance(self.exchange.last_http_response, str):
                    # ccxt reads a body that is not JSON (cut short, an HTML page) as no candles,
                    # which would pass for the end of the history: make it the malformed page it is
                    json.loads(self.exchange.last_http_response)
            except Exception as error:
                raise describe_failure(self.name, error, attempts, self.cooldown, endpoint) from error
            candles, rejections = [], []
            received = now_ms()
            for row in rows:
                try:
                    candle = make_candle(self.name, pair, timeframe, row, received=received, tolerance_ms=0)
                except Invalid as reason:
                    rejections.append(Rejection(self.name, endpoint, pair, f"candle: {reason}"))
                    continue
                if cursor <= candle.ts < until:
                    candles.append(candle)
            yield candles, rejections, attempts.retries
            newest = max((c.ts for c in candles), default=None)
            if newest is None:
                break  # an empty page (or none in range): nothing more to fetch
            cursor = newest + step
