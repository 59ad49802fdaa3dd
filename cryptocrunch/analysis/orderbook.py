"""Order-book figures of one market's book tops (what `flask collect --books` stores): best prices,
spreads, depth, the mid-price series and a naive linear trend of the mid. Pure: a frame in, plain
JSON-ready data out."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..clock import HOUR
from .stats import linear_trend

FORECAST_LABEL = "naive linear trend of the mid-price, extrapolated; not advice"
SERIES_COLUMNS = ("ts", "bid", "ask", "mid", "spread", "spread_bps")
DEPTH_COLUMNS = ("bid_depth_05", "ask_depth_05", "bid_depth_1", "ask_depth_1")


def with_spread(frame: pd.DataFrame) -> pd.DataFrame:
    """Book tops (ts, bid, ask, ...) with their mid, spread and spread in basis points of the mid."""
    frame["mid"] = (frame["bid"] + frame["ask"]) / 2
    frame["spread"] = frame["ask"] - frame["bid"]
    frame["spread_bps"] = frame["spread"] / frame["mid"] * 10_000
    return frame


def _at(frame: pd.DataFrame, column: str, index: int) -> dict[str, Any]:
    return {"value": float(frame[column].iloc[index]), "ts": int(frame["ts"].iloc[index])}


def series(frame: pd.DataFrame, points: int) -> list[dict[str, Any]]:
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


def forecast(frame: pd.DataFrame, horizon_ms: int) -> dict[str, Any] | None:
    """A least-squares line through the mids extrapolated ``horizon_ms`` past the last book top;
    None when there is no line (one book top)."""
    hours = (frame["ts"].to_numpy() - frame["ts"].iloc[-1]) / HOUR
    try:
        trend = linear_trend(hours, frame["mid"].to_numpy())
    except ValueError:
        return None
    return {
        "label": FORECAST_LABEL,
        "ts": int(frame["ts"].iloc[-1]) + horizon_ms,
        "horizon_seconds": horizon_ms / 1000,
        "mid": trend.intercept + trend.slope * horizon_ms / HOUR,
        "slope_per_hour": trend.slope,
        "r2": trend.r2,
        "n": trend.n,
    }


def figures(frame: pd.DataFrame, horizon_ms: int, points: int) -> dict[str, Any]:
    """Of book tops with their spread (``with_spread``, at least one, oldest first): the highest bid
    and lowest ask (with their times), the spread (absolute and in basis points of the mid: last,
    mean, max), mean depth within ±0.5 % and ±1 % of the mid, the ``forecast`` and the mid/spread
    ``series`` (at most ``points`` rows). ValueError when there is no book top."""
    if frame.empty:
        raise ValueError("no book top to describe")
    widest = int(frame["spread"].to_numpy().argmax())
    return {
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
        "depth": {c: float(frame[c].mean()) for c in DEPTH_COLUMNS},
        "forecast": forecast(frame, horizon_ms),
        "series": series(frame, points),
    }
