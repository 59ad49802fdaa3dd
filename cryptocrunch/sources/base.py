"""The project's own frozen types, and the checks every value passes before it becomes one."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Tick:
    """One price snapshot of a market."""

    exchange: str
    pair: str
    ts: int
    last: float
    bid: float | None = None
    ask: float | None = None
    base_volume: float | None = None
    quote_volume: float | None = None


@dataclass(frozen=True, slots=True)
class BookTop:
    """Best bid/ask (+ size) and the size resting within 0.5 % and 1 % of the mid."""

    exchange: str
    pair: str
    ts: int
    bid: float
    bid_size: float
    ask: float
    ask_size: float
    bid_depth_05: float
    ask_depth_05: float
    bid_depth_1: float
    ask_depth_1: float


@dataclass(frozen=True, slots=True)
class Candle:
    """OHLCV of a market for one timeframe, by open time."""

    exchange: str
    pair: str
    timeframe: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class CapSnapshot:
    """A coin's market cap, rank, volume and circulating supply at one time."""

    coin: str
    ts: int
    symbol: str
    name: str
    rank: int
    market_cap: float
    volume: float | None
    supply: float | None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A value, or a whole payload, that failed validation: never stored as data; counted, logged
    and kept in the validation report. ``endpoint`` is what was being fetched (``tickers``,
    ``order book``, ``ohlcv 1h``, ``coins/markets``, ``import FILE`` ...); ``pair`` is None for a
    payload that was not one pair's (a batch of tickers, the market list)."""

    exchange: str
    endpoint: str
    pair: str | None
    reason: str


@dataclass(slots=True)
class FetchResult:
    """What one source produced in one cycle."""

    ticks: list[Tick] = field(default_factory=list)
    books: list[BookTop] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    retries: int = 0


class SourceFailure(Exception):
    """A source could not deliver this cycle; the message says what to do."""

    def __init__(
        self,
        message: str,
        *,
        retries: int = 0,
        rate_limited: bool = False,
        retry_after: float | None = None,
        endpoint: str | None = None,
        malformed: bool = False,
    ) -> None:
        super().__init__(message)
        self.retries = retries
        self.rate_limited = rate_limited
        self.retry_after = retry_after
        #: What was being fetched, and whether its payload was unreadable (a rejected payload).
        self.endpoint = endpoint
        self.malformed = malformed

    def rejection(self, source: str, pair: str | None = None) -> Rejection | None:
        """The failure as a rejected payload (of one ``pair``, or None: of several), or None when
        the payload was not the problem (timeouts, rate limits, an unreachable host)."""
        if not self.malformed:
            return None
        return Rejection(source, self.endpoint or "?", pair, str(self))

    def cooldown_until(self, cooldown: float, now: int) -> int | None:
        """When a rate-limited source may be asked again (epoch ms): after COOLDOWN s, or the
        server's Retry-After when longer; None when this failure was not a rate limit."""
        if not self.rate_limited:
            return None
        return now + int(max(cooldown, self.retry_after or 0) * 1000)


class Source(Protocol):
    """Anything the collector can pull prices from."""

    name: str

    def fetch(self, pairs: Sequence[str], books: bool) -> FetchResult:
        """Fetch ticks (and book tops when asked) for ``pairs``; raise SourceFailure when it cannot."""
        ...


class Invalid(ValueError):
    """A single value failed validation; the message is the rejection reason."""


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise Invalid(f"{name} is not a number: {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Invalid(f"{name} is not a number: {value!r}") from None


def positive(name: str, value: Any) -> float:
    """Return ``value`` as a finite float > 0, or raise Invalid naming the field."""
    if value is None:
        raise Invalid(f"missing {name}")
    number = _number(name, value)
    if not math.isfinite(number):
        raise Invalid(f"{name} is not finite: {value!r}")
    if number <= 0:
        raise Invalid(f"{name} is not positive: {value!r}")
    return number


def optional_positive(name: str, value: Any) -> float | None:
    """Like positive(), but None stays None."""
    return None if value is None else positive(name, value)


def optional_volume(name: str, value: Any) -> float | None:
    """A volume: None, or a finite float >= 0."""
    if value is None:
        return None
    number = _number(name, value)
    if not math.isfinite(number) or number < 0:
        raise Invalid(f"{name} is not a non-negative number: {value!r}")
    return number


def timestamp(value: Any, received: int, tolerance_ms: int) -> int:
    """Epoch ms of a payload, ``received`` when the payload has none; reject the future."""
    if value is None:
        return received
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise Invalid(f"timestamp is not a positive number: {value!r}")
    ts = int(value)
    if ts > received + tolerance_ms:
        raise Invalid(f"timestamp {ts} is {(ts - received) / 1000:.0f} s in the future")
    return ts


def make_tick(
    exchange: str,
    pair: str,
    *,
    ts: Any,
    last: Any,
    bid: Any = None,
    ask: Any = None,
    base_volume: Any = None,
    quote_volume: Any = None,
    received: int,
    tolerance_ms: int,
) -> Tick:
    """Build a validated Tick or raise Invalid with the reason."""
    bid_f = optional_positive("bid", bid)
    ask_f = optional_positive("ask", ask)
    if bid_f is not None and ask_f is not None and ask_f < bid_f:
        raise Invalid(f"ask {ask_f} < bid {bid_f}")
    return Tick(
        exchange=exchange,
        pair=pair,
        ts=timestamp(ts, received, tolerance_ms),
        last=positive("last", last),
        bid=bid_f,
        ask=ask_f,
        base_volume=optional_volume("base volume", base_volume),
        quote_volume=optional_volume("quote volume", quote_volume),
    )


def make_book_top(
    exchange: str,
    pair: str,
    *,
    ts: Any,
    bids: Sequence[Sequence[Any]],
    asks: Sequence[Sequence[Any]],
    received: int,
    tolerance_ms: int,
) -> BookTop:
    """Build a validated BookTop from levels ``[[price, size, ...], ...]`` (best first)."""
    if not bids or not asks:
        raise Invalid("order book has an empty side")
    levels = {}
    for side, rows in (("bid", bids), ("ask", asks)):
        try:
            levels[side] = [
                (positive(f"{side} price", r[0]), optional_volume(f"{side} size", r[1]) or 0.0) for r in rows
            ]
        except (IndexError, TypeError):
            raise Invalid(f"malformed {side} level") from None
    best_bid, bid_size = levels["bid"][0]
    best_ask, ask_size = levels["ask"][0]
    if best_ask < best_bid:
        raise Invalid(f"crossed book: ask {best_ask} < bid {best_bid}")
    mid = (best_bid + best_ask) / 2

    def depth(side: str, pct: float) -> float:
        if side == "bid":
            return sum(size for price, size in levels[side] if price >= mid * (1 - pct / 100))
        return sum(size for price, size in levels[side] if price <= mid * (1 + pct / 100))

    return BookTop(
        exchange=exchange,
        pair=pair,
        ts=timestamp(ts, received, tolerance_ms),
        bid=best_bid,
        bid_size=bid_size,
        ask=best_ask,
        ask_size=ask_size,
        bid_depth_05=depth("bid", 0.5),
        ask_depth_05=depth("ask", 0.5),
        bid_depth_1=depth("bid", 1),
        ask_depth_1=depth("ask", 1),
    )


def make_candle(
    exchange: str, pair: str, timeframe: str, row: Sequence[Any], *, received: int, tolerance_ms: int
) -> Candle:
    """Build a validated Candle from ``[open_time_ms, open, high, low, close, volume]``."""
    if not isinstance(row, list | tuple) or len(row) < 6:
        raise Invalid(f"malformed candle: {row!r}")
    ts = timestamp(row[0], received, tolerance_ms)
    if row[0] is None:
        raise Invalid("candle without an open time")
    o, h, low, c = (
        positive(name, v) for name, v in zip(("open", "high", "low", "close"), row[1:5], strict=True)
    )
    volume = optional_volume("volume", row[5])
    if h < max(o, c, low) or low > min(o, c):
        raise Invalid(f"high {h} / low {low} do not contain open {o} and close {c}")
    return Candle(exchange, pair, timeframe, ts, o, h, low, c, 0.0 if volume is None else volume)
