"""CoinGecko's aggregate price, stored as exchange ``coingecko``, through requests + backoff."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import requests

from ..clock import now_ms
from .base import CapSnapshot, FetchResult, Invalid, Rejection, make_tick, optional_volume, positive
from .retry import Attempts, RetryPolicy, call_with_retry, describe_failure, parse_retry_after

log = logging.getLogger(__name__)

NAME = "coingecko"
#: The one endpoint read, for prices and market caps alike.
ENDPOINT = "coins/markets"
TRANSIENT_STATUS = {429, 500, 502, 503, 504}


class HTTPStatusError(Exception):
    """CoinGecko answered with an error status."""

    def __init__(self, status: int, retry_after: float | None, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:120]}")
        self.status = status
        self.retry_after = retry_after
        # 429 is the rate limit, 402 a plan out of credit: both mean "wait", not "retry now".
        self.rate_limited = status in (402, 429)


def _transient(error: Exception) -> bool:
    if isinstance(error, HTTPStatusError):
        return error.status in TRANSIENT_STATUS
    return isinstance(error, requests.ConnectionError | requests.Timeout)


def _parse_ts(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"last_updated is not a date: {value!r}")
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except ValueError:
        raise Invalid(f"last_updated is not a date: {value!r}") from None


class CoinGeckoSource:
    """``/coins/markets`` for the configured coin ids, one call per vs currency."""

    name = NAME

    def __init__(
        self,
        *,
        url: str,
        api_key: str | None,
        ids: Sequence[str],
        vs_currencies: Sequence[str],
        policy: RetryPolicy,
        timeout: float,
        min_interval: float,
        tolerance_ms: int,
        cooldown: float,
    ) -> None:
        self.url = url.rstrip("/")
        self.ids = list(ids)
        self.vs_currencies = list(vs_currencies)
        self.policy = policy
        self.timeout = timeout
        self.min_interval = min_interval
        self.tolerance_ms = tolerance_ms
        self.cooldown = cooldown
        self.session = requests.Session()
        if api_key:
            header = "x-cg-pro-api-key" if "pro-api" in self.url else "x-cg-demo-api-key"
            self.session.headers[header] = api_key
        self._last_call = 0.0
        self._lock = threading.Lock()

    def _get(self, path: str, params: Mapping[str, str]) -> Any:
        with self._lock:  # space calls to stay inside the free tier's per-minute limit
            wait = self._last_call + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_call = time.monotonic()
        response = self.session.get(self.url + path, params=params, timeout=self.timeout)
        if response.status_code != 200:
            raise HTTPStatusError(
                response.status_code, parse_retry_after(response.headers.get("Retry-After")), response.text
            )
        return response.json()

    def _coins_markets(self, params: Mapping[str, str], attempts: Attempts) -> list[Any]:
        """``/coins/markets`` with the retry policy; a list, or ValueError naming what came instead."""
        rows = call_with_retry(
            lambda: self._get("/coins/markets", params),
            policy=self.policy,
            transient=_transient,
            retry_after=lambda e: getattr(e, "retry_after", None),
            attempts=attempts,
            label=f"{NAME} /coins/markets",
        )
        if not isinstance(rows, list):
            raise ValueError(f"/coins/markets answered {type(rows).__name__}, expected a list")
        return rows

    def fetch(self, pairs: Sequence[str], books: bool) -> FetchResult:
        """Fetch the aggregate price of every configured coin; ``pairs`` narrows them (empty = all)."""
        attempts = Attempts()
        result = FetchResult()
        try:
            for vs in self.vs_currencies:
                params = {"vs_currency": vs, "ids": ",".join(self.ids), "per_page": "250"}
                self._parse(self._coins_markets(params, attempts), vs, pairs, result)
        except Exception as error:
            raise describe_failure(NAME, error, attempts, self.cooldown, ENDPOINT) from error
        result.retries = attempts.retries
        return result

    def _parse(self, rows: list[Any], vs: str, pairs: Sequence[str], result: FetchResult) -> None:
        received = now_ms()
        for row in rows:
            symbol = row.get("symbol") if isinstance(row, dict) else None
            pair = (
                f"{symbol.upper()}/{vs.upper()}" if isinstance(symbol, str) and symbol else f"?/{vs.upper()}"
            )
            if pairs and pair not in pairs:
                continue
            try:
                if pair.startswith("?"):
                    raise Invalid("row without a symbol")
                result.ticks.append(
                    make_tick(
                        NAME,
                        pair,
                        ts=_parse_ts(row.get("last_updated")),
                        last=row.get("current_price"),
                        quote_volume=row.get("total_volume"),
                        received=received,
                        tolerance_ms=self.tolerance_ms,
                    )
                )
            except Invalid as reason:
                result.rejections.append(Rejection(NAME, ENDPOINT, pair, str(reason)))

    def fetch_caps(self, top: int, vs: str = "usd") -> tuple[list[CapSnapshot], list[Rejection]]:
        """The ``top`` coins by market cap (``/coins/markets`` by cap); raise SourceFailure when it fails."""
        attempts = Attempts()
        try:
            params = {"vs_currency": vs, "order": "market_cap_desc", "per_page": str(top), "page": "1"}
            rows = self._coins_markets(params, attempts)
        except Exception as error:
            raise describe_failure(NAME, error, attempts, self.cooldown, ENDPOINT) from error
        received = now_ms()
        caps, rejections = [], []
        for row in rows:
            coin = row.get("id") if isinstance(row, dict) else None
            try:
                if not isinstance(coin, str) or not coin:
                    raise Invalid("row without an id")
                rank = row.get("market_cap_rank")
                if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
                    raise Invalid(f"market_cap_rank is not a positive whole number: {rank!r}")
                ts = _parse_ts(row.get("last_updated")) or received
                caps.append(
                    CapSnapshot(
                        coin=coin,
                        ts=min(ts, received),
                        symbol=str(row.get("symbol") or "").upper(),
                        name=str(row.get("name") or coin),
                        rank=rank,
                        market_cap=positive("market_cap", row.get("market_cap")),
                        volume=optional_volume("total volume", row.get("total_volume")),
                        supply=optional_volume("circulating supply", row.get("circulating_supply")),
                    )
                )
            except Invalid as reason:
                rejections.append(Rejection(NAME, ENDPOINT, str(coin), f"caps: {reason}"))
        return caps, rejections
