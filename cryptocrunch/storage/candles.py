"""OHLCV candles (backfill, import): bulk writes and one market's reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import HOUR, TIMEFRAMES
from ..models import Candle, Exchange, Market
from .bulk import Stored, fetch_floats, insert_rows
from .markets import market_ids
from .runs import bump_version
from .ticks import read_prices, read_rollups

if TYPE_CHECKING:
    from ..sources.base import Candle as CandleValue

CANDLE_COLUMNS = ("market_id", "timeframe", "ts", "open", "high", "low", "close", "volume")


def _insert_candles(session: Session, rows: list[tuple[Any, ...]]) -> Stored:
    result = insert_rows(session, Candle, CANDLE_COLUMNS, rows)
    if result.stored:
        bump_version(session)
    return result


def store_candles(session: Session, candles: Sequence[CandleValue]) -> Stored:
    """Insert candles in one statement; those already stored for (market, timeframe, ts) are skipped."""
    ids = market_ids(session, {(c.exchange, c.pair) for c in candles})
    return _insert_candles(
        session,
        [
            (ids[c.exchange, c.pair], c.timeframe, c.ts, c.open, c.high, c.low, c.close, c.volume)
            for c in candles
        ],
    )


def store_candle_arrays(
    session: Session, exchange: str, pair: str, timeframe: str, ts: np.ndarray, ohlcv: np.ndarray
) -> Stored:
    """``store_candles`` for one market's many candles held as arrays (``ohlcv``: n × 5), without a
    Python object per candle."""
    market = market_ids(session, {(exchange, pair)})[exchange, pair]
    n = len(ts)
    columns = [[market] * n, [timeframe] * n, ts.tolist(), *ohlcv.T.tolist()]
    return _insert_candles(session, list(zip(*columns, strict=True)))


def read_candles(
    session: Session, market_ids: Sequence[int], timeframe: str, low: int, high: int
) -> pd.DataFrame:
    """Stored candles (market_id, ts, open, high, low, close, volume) of markets with low <= ts <
    high, by market and ts."""
    query = (
        select(Candle.market_id, Candle.ts, Candle.open, Candle.high, Candle.low, Candle.close, Candle.volume)
        .where(
            Candle.market_id.in_(list(market_ids)),
            Candle.timeframe == timeframe,
            Candle.ts >= low,
            Candle.ts < high,
        )
        .order_by(Candle.market_id, Candle.ts)
    )
    columns = ["market_id", "ts", "open", "high", "low", "close", "volume"]
    frame = pd.DataFrame(fetch_floats(session, query, 7), columns=columns)
    return frame.astype({"market_id": "int64", "ts": "int64"})


def last_candle_ts(session: Session, exchange: str, pair: str, timeframe: str) -> int | None:
    """Open time of the newest stored candle of a market and timeframe."""
    return session.scalar(
        select(func.max(Candle.ts))
        .join(Market, Market.id == Candle.market_id)
        .join(Market.exchange)
        .where(Exchange.name == exchange, Market.pair == pair, Candle.timeframe == timeframe)
    )


def _derived(session: Session, market_ids: Sequence[int], step: int, low: int, high: int) -> pd.DataFrame:
    """Candles (market_id, ts, open, high, low, close) of ``step`` resampled from what was
    collected in [low, high): for timeframes of whole hours from the hourly rollups (first, max,
    min, last), raw ticks only in a partial last hour; for shorter ones from the ticks."""
    whole = high // HOUR * HOUR if step % HOUR == 0 else low
    ranges = dict.fromkeys(market_ids, (max(low, whole), high))
    prices = read_prices(session, ranges)
    prices["ts"] = prices["ts"] // (HOUR if whole > low else step) * (HOUR if whole > low else step)
    grouped = prices.groupby(["market_id", "ts"], sort=True)["price"]
    parts = [grouped.agg(open="first", high="max", low="min", close="last").reset_index()]
    if whole > low:
        hours = read_rollups(
            session,
            HOUR,
            dict.fromkeys(market_ids, (low, whole)),
            ("market_id", "start", "first", "max", "min", "last"),
        )
        names = {"start": "ts", "first": "open", "max": "high", "min": "low", "last": "close"}
        parts.insert(0, hours.rename(columns=names).astype({"market_id": "int64", "ts": "int64"}))
    frame = pd.concat([p for p in parts if len(p)] or parts[-1:], ignore_index=True)
    frame["ts"] = frame["ts"] // step * step
    grouped_ = frame.groupby(["market_id", "ts"], sort=True)
    out = grouped_.agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last")
    )
    return out.reset_index()


def merged(session: Session, market_ids: Sequence[int], timeframe: str, low: int, high: int) -> pd.DataFrame:
    """Markets' candles opening in [low, high) (``low`` on a candle boundary): stored ones
    (backfill, import) where they exist, the rest resampled from what was collected, so every
    market has candles. Columns market_id, ts, open, high, low, close, volume (None where
    derived), source (``stored`` or ``ticks``), ordered by market and ts; the last candle may
    still be open."""
    stored = read_candles(session, market_ids, timeframe, low, high).assign(source="stored")
    derived = _derived(session, market_ids, TIMEFRAMES[timeframe], low, high)
    have = pd.MultiIndex.from_frame(stored[["market_id", "ts"]])
    fresh = ~pd.MultiIndex.from_frame(derived[["market_id", "ts"]]).isin(have)
    derived = derived[fresh].assign(volume=None, source="ticks")
    frames = [f for f in (stored, derived) if len(f)]
    if not frames:
        return stored
    both = pd.concat(frames, ignore_index=True)
    return both.sort_values(["market_id", "ts"], kind="stable").reset_index(drop=True)
