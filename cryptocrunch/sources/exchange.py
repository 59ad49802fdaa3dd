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
    # Spot only: otherwise load_markets also calls the futures and options APIs.
    "binance": {"options": {"fetchMarkets": {"types": ["spot"]}}},
}

#: The endpoint named in order-book rejections.
BOOK_ENDPOINT = "order book"

#: Where an exchange puts its own last price in the raw payload, for exchanges on
#: which ccxt rebuilds a missing or zero "last" from other fields (binance: open +
#: change), so that a bad price cannot hide behind the rebuilt one.
RAW_LAST: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "binance": lambda info: info.get("lastPrice"),
}


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

    def load_markets(self, attempts: Attempts, *, reload: bool = False) -> None:
        """Load markets once per process, from the instance cache while it is fresh; ``reload``
        fetches them from the exchange whatever is cached (and refreshes the cache)."""
        if self.exchange.markets and not reload:
            return
        try:
            if not reload:
                cached = json.loads(self.cache_path.read_text())
                if time.time() - cached["saved"] < self.cache_ttl:
                    self.exchange.set_markets(cached["markets"], cached["currencies"])
                    return
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("%s: ignoring unreadable markets cache %s (%s)", self.name, self.cache_path, error)
        self._call(lambda: self.exchange.load_markets(reload), attempts, "load_markets")
        if not self.exchange.markets:
            raise ccxt.BadResponse(f"{self.name} listed no markets")
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_suffix(f".{os.getpid()}.tmp")
        payload = {
            "saved": time.time(),
            "markets": self.exchange.markets,
            "currencies": self.exchange.currencies,
        }
        tmp.write_text(json.dumps(payload, default=str))
        tmp.replace(self.cache_path)

    def spot_pairs(self, reload: bool = False) -> list[str]:
        """The active spot pairs this exchange lists, unified ``BASE/QUOTE``, sorted; raise
        SourceFailure when its markets cannot be loaded. Markets come through ``load_markets`` (the
        instance cache while fresh; ``reload``: from the exchange). A market whose ``active`` ccxt
        cannot tell (None) counts as listed; contracts (swaps, futures, options) never do."""
        attempts = Attempts()
        try:
            self.load_markets(attempts, reload=reload)
        except Exception as error:
            raise describe_failure(self.name, error, attempts, self.cooldown) from error
        return sorted(
            {
                f"{market['base']}/{market['quote']}"
                for market in self.exchange.markets.values()
                if market.get("spot")
                and market.get("active") is not False
                and market.get("base")
                and market.get("quote")
            }
        )

    # -- fetching ----------------------------------------------------------

    def fetch(self, pairs: Sequence[str], books: bool) -> FetchResult:
        """Fetch tickers (and book tops) for ``pairs``; raise SourceFailure when the exchange fails."""
        attempts = Attempts()
        result = FetchResult()
        endpoint = "markets"  # what a failure was fetching
        try:
            self.load_markets(attempts)
            listed = [p for p in pairs if p in self.exchange.markets]
            result.rejections += [
                Rejection(self.name, endpoint, p, f"{self.name} does not list {p}")
                for p in pairs
                if p not in listed
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

    def _fetch_tickers(self, pairs: list[str], attempts: Attempts, result: FetchResult) -> None:
        if self.exchange.has.get("fetchTickers"):
            tickers = self._call(lambda: self.exchange.fetch_tickers(pairs), attempts, "fetch_tickers")
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
