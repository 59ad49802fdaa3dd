"""Order-book insights of one market over a window, from the book tops `flask collect --books` stores:
best prices, spreads, depth, the mid-price series and a naive linear trend of the mid."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from . import stats, storage
from .insights import DEFAULT_POINTS, MAX_POINTS, BadRequest, Window, find_market, split_pair

FORECAST_LABEL = "naive linear trend of the mid-price, extrapolated; not advice"
SERIES_COLUMNS = ("ts", "bid", "ask", "mid", "spread", "spread_bps")


class NoBook(ValueError):
    """No book top stored for the market in the window."""


def _at(frame: pd.DataFrame, column: str, index: int) -> dict:
    return {"value": float(frame[column].iloc[index]), "ts": int(frame["ts"].iloc[index])}


def _series(frame: pd.DataFrame, points: int) -> list[dict]:
    """The rows when they fit in ``points``, else per time bucket its last bid/ask/mid and its widest
    spread (so spread spikes survive)."""
    if len(frame) > points:
        first, last = int(frame["ts"].iloc[0]), int(frame["ts"].iloc[-1])
        width = -(-(last + 1 - first) // points)
        grouped = frame.groupby((frame["ts"] - first) // width, sort=True)
        frame = grouped[["ts", "bid", "ask", "mid"]].last().join(grouped[["spread", "spread_bps"]].max())
    return [
        {c: (int(v) if c == "ts" else float(v)) for c, v in zip(SERIES_COLUMNS, row, strict=True)}
        for row in frame[list(SERIES_COLUMNS)].itertuples(index=False)
    ]


def book_frame(session: Session, market_id: int, window: Window) -> pd.DataFrame:
    """One market's stored book tops in the window, oldest first, with their mid, spread and spread
    in basis points of the mid."""
    frame = storage.read_book_tops(session, market_id, window.start, window.end)
    frame["mid"] = (frame["bid"] + frame["ask"]) / 2
    frame["spread"] = frame["ask"] - frame["bid"]
    frame["spread_bps"] = frame["spread"] / frame["mid"] * 10_000
    return frame


def book(
    session: Session,
    exchange: str,
    pair: str,
    window: Window,
    horizon_ms: int,
    points: int = DEFAULT_POINTS,
) -> dict:
    """Highest bid and lowest ask (with their times), the spread (absolute and in basis points of the
    mid: last, mean, max), mean depth within ±0.5 % and ±1 % of the mid, the mid/spread series
    (at most ``points`` rows) and a least-squares line through the mids extrapolated ``horizon_ms``
    past the last book top. Raise NoBook when the window holds none."""
    if not 2 <= points <= MAX_POINTS:
        raise BadRequest(f"points must be between 2 and {MAX_POINTS}, got {points}")
    if horizon_ms <= 0:
        raise BadRequest(f"horizon must be positive, got {horizon_ms} ms")
    market_id = find_market(session, exchange, pair)
    frame = book_frame(session, market_id, window)
    if frame.empty:
        raise NoBook(
            f"no order-book top of {exchange} {split_pair(pair)} in the window: run flask collect --books"
        )
    widest = int(frame["spread"].to_numpy().argmax())
    forecast = None
    hours = (frame["ts"].to_numpy() - frame["ts"].iloc[-1]) / storage.HOUR
    try:
        trend = stats.linear_trend(hours, frame["mid"].to_numpy())
    except ValueError:  # one book top: no line
        pass
    else:
        forecast = {
            "label": FORECAST_LABEL,
            "ts": int(frame["ts"].iloc[-1]) + horizon_ms,
            "horizon_seconds": horizon_ms / 1000,
            "mid": trend.intercept + trend.slope * horizon_ms / storage.HOUR,
            "slope_per_hour": trend.slope,
            "r2": trend.r2,
            "n": trend.n,
        }
    return {
        "exchange": exchange,
        "pair": split_pair(pair),
        "window": window.name,
        "n": len(frame),
        "first_ts": int(frame["ts"].iloc[0]),
        "last_ts": int(frame["ts"].iloc[-1]),
        "highest_bid": _at(frame, "bid", int(frame["bid"].to_numpy().argmax())),
        "lowest_ask": _at(frame, "ask", int(frame["ask"].to_numpy().argmin())),
        "spread": {
            "last": float(frame["spread"].iloc[-1]),
            "last_bps": float(frame["spread_bps"].iloc[-1]),
            "mean": float(frame["spread"].mean()),
            "mean_bps": float(frame["spread_bps"].mean()),
            "max": float(frame["spread"].iloc[widest]),
            "max_bps": float(frame["spread_bps"].iloc[widest]),
            "max_ts": int(frame["ts"].iloc[widest]),
        },
        "depth": {
            c: float(frame[c].mean()) for c in ("bid_depth_05", "ask_depth_05", "bid_depth_1", "ask_depth_1")
        },
        "forecast": forecast,
        "series": _series(frame, points),
    }
