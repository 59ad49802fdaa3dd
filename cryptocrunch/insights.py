"""What users ask of their price history: reads through storage, numbers from stats.

Every page and its JSON twin call these same functions. Bad input raises
``BadRequest`` (a ValueError) with a message naming the parameter; too few
points raises ``stats``' ValueError; an unknown market raises ``NotFound``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import stats, storage
from .models import Exchange, Market
from .sources.base import TIMEFRAMES, now_ms

WINDOWS = {"1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000, "all": None}
METRICS = ("volatility", "pct_change", "largest_pct_move", "stdev")
MAX_POINTS = 10_000
DEFAULT_POINTS = 1_000
MAX_RANGE_MS = 20 * 365 * 86_400_000  # explicit ranges longer than 20 years are refused


class BadRequest(ValueError):
    """A parameter is missing or malformed; the message names it."""


class NotFound(LookupError):
    """No such exchange, pair or market."""


@dataclass(frozen=True, slots=True)
class Window:
    """Ticks with start <= ts < end (epoch ms)."""

    start: int
    end: int
    name: str


def minute_now() -> int:
    """Now, floored to the minute: windows ending now move a minute at a time, so answers
    (and cached responses) are the same all through a minute while the data is."""
    return now_ms() // 60_000 * 60_000


def _parse_time(name: str, value: str) -> int:
    if re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(
            f"{name} must be ISO 8601 (2024-01-01T00:00:00Z) or epoch ms, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        raise BadRequest(f"{name} needs a time zone (e.g. a trailing Z for UTC), got {value!r}")
    return int(parsed.timestamp() * 1000)


def resolve_window(window: str | None, start: str | None, end: str | None, now: int | None = None) -> Window:
    """A named window ending now (default 24h), or an explicit start/end."""
    if start is None and end is None:
        name = window or "24h"
        if name not in WINDOWS:
            raise BadRequest(f"window must be one of {', '.join(WINDOWS)}, got {name!r}")
        length = WINDOWS[name]
        now = minute_now() if now is None else now
        # Relative windows are open at the end: a tick stamped slightly ahead of our clock still counts.
        return Window(0 if length is None else now - length, 2**62, name)
    if window is not None:
        raise BadRequest("give either window or start/end, not both")
    lo = _parse_time("start", start) if start is not None else 0
    hi = _parse_time("end", end) + 1 if end is not None else 2**62
    if lo >= hi:
        raise BadRequest(f"start ({start}) must be before end ({end})")
    if start is not None and end is not None and hi - lo > MAX_RANGE_MS:
        raise BadRequest("start..end may span at most 20 years")
    return Window(lo, hi, "custom")


def split_pair(pair: str) -> str:
    """``BTC-USD`` (URL form) or ``BTC/USD`` to the unified ``BTC/USD``."""
    unified = pair.replace("-", "/").upper()
    if unified.count("/") != 1 or not all(unified.split("/")):
        raise BadRequest(f"pair must look like BTC-USD, got {pair!r}")
    return unified


def find_market(session: Session, exchange: str, pair: str) -> int:
    """The market id of ``pair`` on ``exchange``, or NotFound."""
    market_id = session.scalar(
        select(Market.id)
        .join(Market.exchange)
        .where(Exchange.name == exchange, Market.pair == split_pair(pair))
    )
    if market_id is None:
        raise NotFound(f"no market {split_pair(pair)} on {exchange}: nothing collected yet")
    return market_id


def stored_markets(session: Session, exchange: str | None = None, quote: str | None = None) -> pd.DataFrame:
    query = select(Market.id, Exchange.name, Market.pair).join(Market.exchange).order_by(Market.id)
    if exchange:
        query = query.where(Exchange.name == exchange)
    if quote:
        query = query.where(Market.pair.like(f"%/{quote.upper()}"))
    return pd.DataFrame(session.execute(query).all(), columns=["market_id", "exchange", "pair"])


def stats_dict(value: stats.Stats) -> dict:
    """Stats as plain JSON-ready data."""
    return asdict(value)


def market_stats(session: Session, exchange: str, pair: str, window: Window) -> stats.Stats:
    """Statistics of one market over ``window``."""
    market_id = find_market(session, exchange, pair)
    summaries = storage.window_summaries(session, [market_id], window.start, window.end)
    if summaries.empty:
        raise ValueError(f"0 ticks in the window; statistics need at least {stats.MIN_POINTS}")
    return stats.finish(summaries.iloc[0])


def rankings(
    session: Session,
    metric: str,
    window: Window,
    exchange: str | None = None,
    quote: str | None = None,
    limit: int = 20,
    order: str = "desc",
) -> list[dict]:
    """Markets ranked by ``metric`` over ``window``: rank 1 is the highest value (the largest
    |move| for largest_pct_move); ``order="asc"`` lists from the bottom (losers for pct_change)."""
    if metric not in METRICS:
        raise BadRequest(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if order not in ("desc", "asc"):
        raise BadRequest(f"order must be desc or asc, got {order!r}")
    markets = stored_markets(session, exchange, quote)
    summaries = storage.window_summaries(session, markets["market_id"].tolist(), window.start, window.end)
    rows = []
    for summary in summaries.to_dict("records"):
        try:
            result = stats.finish(summary)
        except ValueError:
            continue  # too few ticks in the window to rank
        value = result.largest_pct_move.value if metric == "largest_pct_move" else getattr(result, metric)
        rows.append(
            {
                "market_id": int(summary["market_id"]),
                "value": value,
                "n": result.n,
                "first_ts": result.first_ts,
                "last_ts": result.last_ts,
            }
        )
    key = (lambda r: abs(r["value"])) if metric == "largest_pct_move" else (lambda r: r["value"])
    rows.sort(key=key, reverse=True)
    names = dict(
        zip(markets["market_id"], zip(markets["exchange"], markets["pair"], strict=True), strict=True)
    )
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
        row["exchange"], row["pair"] = names[row.pop("market_id")]
    if order == "asc":
        rows.reverse()
    return rows[:limit]


def pair_across_exchanges(session: Session, pair: str, window: Window) -> dict:
    """Latest price per exchange, the spread between the highest and lowest, and each exchange's
    pct_change and statistics over ``window`` (or why there are none)."""
    unified = split_pair(pair)
    markets = session.execute(
        select(Market.id, Exchange.name)
        .join(Market.exchange)
        .where(Market.pair == unified)
        .order_by(Exchange.name)
    ).all()
    if not markets:
        raise NotFound(f"no exchange has {unified} yet")
    ids = [m for m, _ in markets]
    latest = {tick.market_id: tick for _, _, tick in storage.latest_ticks(session, ids)}
    summaries = {
        int(row["market_id"]): row
        for row in storage.window_summaries(session, ids, window.start, window.end).to_dict("records")
    }
    exchanges = []
    for market_id, name in markets:
        tick = latest.get(market_id)
        summary = summaries.get(market_id)
        change = stats_of = error = None
        if summary is not None and summary["n"] >= 2:
            change = 100 * (summary["last"] - summary["first"]) / summary["first"]
        try:
            if summary is None:
                raise ValueError(f"0 ticks in the window; statistics need at least {stats.MIN_POINTS}")
            stats_of = stats_dict(stats.finish(summary))
        except ValueError as reason:
            error = str(reason)
        exchanges.append(
            {
                "exchange": name,
                "last": tick.last if tick else None,
                "ts": tick.ts if tick else None,
                "pct_change": change,
                "stats": stats_of,
                "stats_error": error,
            }
        )
    prices = [e["last"] for e in exchanges if e["last"] is not None]
    high, low = max(prices), min(prices)
    return {
        "pair": unified,
        "window": window.name,
        "exchanges": exchanges,
        "spread": {"high": high, "low": low, "absolute": high - low, "pct": 100 * (high - low) / low},
    }


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _buckets(points: pd.DataFrame, base: int, width: int) -> list[dict]:
    """Group rows (ts, last, min, max; sorted by ts) into time buckets of ``width`` ms."""
    grouped = points.groupby((points["ts"] - base) // width, sort=True)
    out = pd.DataFrame(
        {
            "ts": grouped["ts"].last(),
            "last": grouped["last"].last(),
            "min": grouped["min"].min(),
            "max": grouped["max"].max(),
        }
    )
    return [{"ts": int(r.ts), "last": r.last, "min": r.min, "max": r.max} for r in out.itertuples()]


def series(
    session: Session, exchange: str, pair: str, window: Window, points: int = DEFAULT_POINTS
) -> list[dict]:
    """Prices of one market: raw when they fit in ``points``, else one row per time bucket with
    its min, max and last, so spikes survive downsampling. Long ranges read hour rollups."""
    if not 2 <= points <= MAX_POINTS:
        raise BadRequest(f"points must be between 2 and {MAX_POINTS}, got {points}")
    market_id = find_market(session, exchange, pair)
    summary = storage.window_summaries(session, [market_id], window.start, window.end)
    if summary.empty:
        return []
    first, last = int(summary["first_ts"].iloc[0]), int(summary["last_ts"].iloc[0])
    if int(summary["n"].iloc[0]) <= points:
        ticks = storage.read_prices(session, {market_id: (first, last + 1)})
        return [
            {"ts": int(t), "last": p, "min": p, "max": p}
            for t, p in zip(ticks["ts"], ticks["price"], strict=True)
        ]
    width = _ceil_div(last + 1 - first, points)
    if width < storage.HOUR:  # a short range: bucket the raw ticks
        ticks = storage.read_prices(session, {market_id: (first, last + 1)})
        frame = pd.DataFrame(
            {"ts": ticks["ts"], "last": ticks["price"], "min": ticks["price"], "max": ticks["price"]}
        )
        return _buckets(frame, first, width)
    # Whole hours from the rollups, raw ticks only in the partial hours at both ends.
    base = first // storage.HOUR * storage.HOUR
    width = _ceil_div(_ceil_div(last + 1 - base, points), storage.HOUR) * storage.HOUR
    hour_lo, hour_hi = (
        _ceil_div(first, storage.HOUR) * storage.HOUR,
        (last + 1) // storage.HOUR * storage.HOUR,
    )
    hours = storage.read_rollups(
        session, storage.HOUR, {market_id: (hour_lo, hour_hi)}, ("last_ts", "last", "min", "max")
    ).rename(columns={"last_ts": "ts"})
    edges = (
        storage.read_prices(session, {market_id: (first, hour_lo)}),
        storage.read_prices(session, {market_id: (hour_hi, last + 1)}),
    )
    raw = [
        pd.DataFrame({"ts": e["ts"], "last": e["price"], "min": e["price"], "max": e["price"]}) for e in edges
    ]
    frame = pd.concat([raw[0], hours, raw[1]], ignore_index=True).astype({"ts": "int64"})
    return _buckets(frame, base, width)


def gaps(session: Session, exchange: str, pair: str, window: Window, interval: float, k: float = 3) -> dict:
    """Intervals longer than ``k`` x the collection interval with no tick, and coverage % of the window."""
    if k <= 0:
        raise BadRequest(f"k must be positive, got {k}")
    market_id = find_market(session, exchange, pair)
    end = min(window.end, minute_now())
    ticks = storage.read_prices(session, {market_id: (window.start, window.end)})["ts"].to_numpy()
    start = window.start if window.start > 0 else (int(ticks[0]) if len(ticks) else end)
    limit = k * interval * 1000
    edges = np.concatenate([[start], ticks, [max(end, int(ticks[-1]) if len(ticks) else end)]])
    lengths = np.diff(edges)
    found = [
        {"from": int(edges[i]), "to": int(edges[i + 1]), "seconds": float(lengths[i]) / 1000}
        for i in np.flatnonzero(lengths > limit)
    ]
    span = max(edges[-1] - start, 1)
    missing = sum(g["to"] - g["from"] for g in found)
    return {
        "exchange": exchange,
        "pair": split_pair(pair),
        "window": window.name,
        "threshold_seconds": limit / 1000,
        "gaps": found,
        "coverage_pct": 100 * (1 - missing / span),
        "n": len(ticks),
    }


def _timeframe(timeframe: str) -> int:
    if timeframe not in TIMEFRAMES:
        raise BadRequest(f"timeframe must be one of {', '.join(TIMEFRAMES)}, got {timeframe!r}")
    return TIMEFRAMES[timeframe]


def candles(
    session: Session, exchange: str, pair: str, timeframe: str, window: Window, fast: int = 12, slow: int = 26
) -> list[dict]:
    """Candles of one market: stored ones (backfill, import) where they exist, the rest resampled
    from its ticks on the fly, so every market has candles. ``source`` says which. Each carries
    EMA(fast) and EMA(slow) of the closes from the window's first candle on, and ``cross`` marks the
    candles where the fast EMA crosses the slow one (golden upwards, death downwards)."""
    if fast < 1 or slow < 1:
        raise BadRequest("EMA spans must be at least 1")
    if fast >= slow:
        raise BadRequest(f"fast ({fast}) must be shorter than slow ({slow})")
    step = _timeframe(timeframe)
    market_id = find_market(session, exchange, pair)
    end = min(window.end, minute_now() + 60_000)
    stored = storage.read_candles(session, market_id, timeframe, window.start, end)
    ticks = storage.read_prices(session, {market_id: (window.start // step * step, end)})
    derived = stats.resample(ticks["ts"].to_numpy(), ticks["price"].to_numpy(), step)
    derived = derived[~derived["ts"].isin(stored["ts"]) & (derived["ts"] >= window.start)]
    rows = [{**r, "source": "stored"} for r in stored.to_dict("records")]
    rows += [{**r, "volume": None, "source": "ticks"} for r in derived.to_dict("records")]
    rows.sort(key=lambda r: r["ts"])
    if len(rows) > MAX_POINTS:
        raise BadRequest(
            f"{len(rows)} {timeframe} candles in the window; pick a shorter window or a longer timeframe"
        )
    close = np.array([r["close"] for r in rows], dtype="float64")
    quick, steady = stats.ema(close, fast), stats.ema(close, slow)
    crosses = {c.ts: c.kind for c in stats.crossovers([r["ts"] for r in rows], close, quick, steady)}
    return [
        {
            **r,
            "ts": int(r["ts"]),
            "ema_fast": float(f),
            "ema_slow": float(s),
            "cross": crosses.get(int(r["ts"])),
        }
        for r, f, s in zip(rows, quick, steady, strict=True)
    ]


def signals(
    session: Session, timeframe: str, window: Window, within_ms: int, fast: int = 12, slow: int = 26
) -> list[dict]:
    """EMA(fast)/EMA(slow) crossovers of every market's candles over ``window`` that happened in the
    last ``within_ms``, newest first."""
    since = minute_now() - within_ms
    found = [
        {
            "exchange": exchange,
            "pair": pair,
            "kind": c["cross"],
            "ts": c["ts"],
            "price": c["close"],
            "fast": c["ema_fast"],
            "slow": c["ema_slow"],
        }
        for _, exchange, pair in stored_markets(session).itertuples(index=False)
        for c in candles(session, exchange, pair, timeframe, window, fast, slow)
        if c["cross"] and c["ts"] >= since
    ]
    found.sort(key=lambda s: s["ts"], reverse=True)
    return found


def caps(session: Session, window: Window) -> list[dict]:
    """Each coin's latest market-cap snapshot with its rank change since its first snapshot in
    ``window`` (positive = climbed), best rank first."""
    first: dict[str, object] = {}
    latest: dict[str, object] = {}
    for snapshot in storage.read_caps(session, window.start, window.end):
        first.setdefault(snapshot.coin, snapshot)
        latest[snapshot.coin] = snapshot
    rows = [
        {
            "coin": c.coin,
            "symbol": c.symbol,
            "name": c.name,
            "rank": c.rank,
            "rank_change": first[c.coin].rank - c.rank,
            "market_cap": c.market_cap,
            "volume": c.volume,
            "supply": c.supply,
            "ts": c.ts,
        }
        for c in latest.values()
    ]
    return sorted(rows, key=lambda r: r["rank"])


def cap_history(session: Session, coin: str, window: Window) -> list[dict]:
    """Every snapshot of one coin in ``window``, oldest first."""
    history = storage.read_caps(session, window.start, window.end, coin)
    if not history and storage.latest_cap(session, coin) is None:
        raise NotFound(f"no market-cap snapshot of {coin!r} yet: run flask collect --caps")
    return [
        {"ts": c.ts, "rank": c.rank, "market_cap": c.market_cap, "volume": c.volume, "supply": c.supply}
        for c in history
    ]
