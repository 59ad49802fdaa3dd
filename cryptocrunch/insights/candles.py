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


class TooManyCandles(BadRequest):
    """More candles of one market in the window than an answer may hold (``MAX_POINTS``)."""


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    # pandas-stubs key a record by Hashable; these frames' columns are names
    return cast("list[dict[str, Any]]", frame.to_dict("records"))


def _check(timeframe: str, fast: int, slow: int) -> int:
    """The timeframe's length, once the EMA spans are checked too."""
    if fast < 1 or slow < 1:
        raise BadRequest("EMA spans must be at least 1")
    if fast >= slow:
        raise BadRequest(f"fast ({fast}) must be shorter than slow ({slow})")
    return timeframe_ms(timeframe)


def candles(
    session: Session, exchange: str, pair: str, timeframe: str, window: Window, fast: int = 12, slow: int = 26
) -> list[dict[str, Any]]:
    """Candles of one market: stored ones (backfill, import) where they exist, the rest resampled
    from its ticks on the fly, so every market has candles. ``source`` says which. Each carries
    EMA(fast) and EMA(slow) of the closes from the window's first candle on, and ``cross`` marks the
    candles where the fast EMA crosses the slow one (golden upwards, death downwards). More than
    ``MAX_POINTS`` candles in the window is a ``TooManyCandles``."""
    step = _check(timeframe, fast, slow)
    market_id = find_market(session, exchange, pair)
    end = min(window.end, minute_now() + 60_000)
    frame = candle_table.merged(session, [market_id], timeframe, window.start // step * step, end)
    rows = _records(frame[frame["ts"] >= window.start].drop(columns="market_id"))
    if len(rows) > MAX_POINTS:
        raise TooManyCandles(
            f"{len(rows)} {timeframe} candles in the window, more than {MAX_POINTS:,};"
            " pick a shorter window or a longer timeframe"
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
    session: Session, timeframe: str, window: Window, within: Window, fast: int = 12, slow: int = 26
) -> dict[str, list[dict[str, Any]]]:
    """EMA(fast)/EMA(slow) crossovers of every market's candles over ``window`` that happened
    ``within`` (``params.resolve_within``), newest first, as ``signals``; and, as ``skipped``, the
    markets left out (exchange, pair, reason): those with more than ``MAX_POINTS`` candles in the
    window, so that one long history cannot fail the scan of all the others."""
    _check(timeframe, fast, slow)  # a bad parameter is a 400 even while no market is stored
    found: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for _, exchange, pair in markets.stored_markets(session).itertuples(index=False):
        try:
            rows = candles(session, exchange, pair, timeframe, window, fast, slow)
        except TooManyCandles as reason:
            skipped.append({"exchange": exchange, "pair": pair, "reason": str(reason)})
            continue
        found.extend(
            {
                "exchange": exchange,
                "pair": pair,
                "kind": c["cross"],
                "ts": c["ts"],
                "price": c["close"],
                "fast": c["ema_fast"],
                "slow": c["ema_slow"],
            }
            for c in rows
            if c["cross"] and within.start <= c["ts"] < within.end
        )
    found.sort(key=lambda s: s["ts"], reverse=True)
    return {"signals": found, "skipped": skipped}
