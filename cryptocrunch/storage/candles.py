"""OHLCV candles (backfill, import): bulk writes and one market's reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Candle, Exchange, Market
from .bulk import Stored, fetch_floats, insert_rows
from .markets import market_ids
from .runs import bump_version

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


def read_candles(session: Session, market_id: int, timeframe: str, low: int, high: int) -> pd.DataFrame:
    """Stored candles (ts, open, high, low, close, volume) of a market with low <= ts < high, by ts."""
    query = (
        select(Candle.ts, Candle.open, Candle.high, Candle.low, Candle.close, Candle.volume)
        .where(
            Candle.market_id == market_id, Candle.timeframe == timeframe, Candle.ts >= low, Candle.ts < high
        )
        .order_by(Candle.ts)
    )
    frame = pd.DataFrame(
        fetch_floats(session, query, 6), columns=["ts", "open", "high", "low", "close", "volume"]
    )
    return frame.astype({"ts": "int64"})


def last_candle_ts(session: Session, exchange: str, pair: str, timeframe: str) -> int | None:
    """Open time of the newest stored candle of a market and timeframe."""
    return session.scalar(
        select(func.max(Candle.ts))
        .join(Market, Market.id == Candle.market_id)
        .join(Market.exchange)
        .where(Exchange.name == exchange, Market.pair == pair, Candle.timeframe == timeframe)
    )
