"""Candles (stored ones, the rest resampled from ticks) with their EMAs and crossovers, and the
crossover scan of every market: read through ``storage``, computed by ``analysis``."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from ..analysis import signals as ema_signals
from ..errors import BadRequest
from ..storage import candles as candle_table
from ..storage import markets
from .markets import find_market
from .params import MAX_POINTS, Window, minute_now, timeframe_ms


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    # pandas-stubs key a record by Hashable; these frames' columns are names
    return cast("list[dict[str, Any]]", frame.to_dict("records"))


def candles(
    session: Session, exchange: str, pair: str, timeframe: str, window: Window, fast: int = 12, slow: int = 26
) -> list[dict[str, Any]]:
    """Candles of one market: stored ones (backfill, import) where they exist, the rest resampled
    from its ticks on the fly, so every market has candles. ``source`` says which. Each carries
    EMA(fast) and EMA(slow) of the closes from the window's first candle on, and ``cross`` marks the
    candles where the fast EMA crosses the slow one (golden upwards, death downwards)."""
    if fast < 1 or slow < 1:
        raise BadRequest("EMA spans must be at least 1")
    if fast >= slow:
        raise BadRequest(f"fast ({fast}) must be shorter than slow ({slow})")
    step = timeframe_ms(timeframe)
    market_id = find_market(session, exchange, pair)
    end = min(window.end, minute_now() + 60_000)
    frame = candle_table.merged(session, [market_id], timeframe, window.start // step * step, end)
    rows = _records(frame[frame["ts"] >= window.start].drop(columns="market_id"))
    if len(rows) > MAX_POINTS:
        raise BadRequest(
            f"{len(rows)} {timeframe} candles in the window; pick a shorter window or a longer timeframe"
        )
    close = np.array([r["close"] for r in rows], dtype="float64")
    quick, steady = ema_signals.ema(close, fast), ema_signals.ema(close, slow)
    crosses = {c.ts: c.kind for c in ema_signals.crossovers([r["ts"] for r in rows], close, quick, steady)}
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
) -> list[dict[str, Any]]:
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
        for _, exchange, pair in markets.stored_markets(session).itertuples(index=False)
        for c in candles(session, exchange, pair, timeframe, window, fast, slow)
        if c["cross"] and c["ts"] >= since
    ]
    found.sort(key=lambda s: s["ts"], reverse=True)
    return found
