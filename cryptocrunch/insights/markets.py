"""One market's prices, statistics and gaps, one pair across exchanges, and markets ranked by a
statistic: read through ``storage.ticks`` (rollups and raw edges), computed by ``analysis.stats``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from ..analysis import stats
from ..clock import HOUR
from ..errors import BadRequest, NotFound
from ..storage import markets, snapshots, ticks
from .params import (
    DEFAULT_POINTS,
    METRICS,
    OPEN_END,
    WINDOWS,
    Window,
    check_points,
    minute_now,
    split_pair,
)


def find_market(session: Session, exchange: str, pair: str) -> int:
    """The market id of ``pair`` on ``exchange``, or NotFound."""
    unified = split_pair(pair)
    found = markets.market_id(session, exchange, unified)
    if found is None:
        raise NotFound(f"no market {unified} on {exchange}: nothing collected yet")
    return found


def stats_dict(value: stats.Stats) -> dict[str, Any]:
    """Stats as plain JSON-ready data."""
    return asdict(value)


def market_stats(session: Session, exchange: str, pair: str, window: Window) -> stats.Stats:
    """Statistics of one market over ``window``."""
    market_id = find_market(session, exchange, pair)
    summaries = ticks.window_summaries(session, [market_id], window.start, window.end)
    if summaries.empty:
        raise ValueError(f"0 ticks in the window; statistics need at least {stats.MIN_POINTS}")
    return stats.finish(summaries.iloc[0])


#: The summary columns a ranking by each metric reads besides ``stats.BASE_COLUMNS``.
METRIC_COLUMNS = {
    "volatility": stats.GROUPS["returns"],
    "pct_change": (),
    "largest_pct_move": stats.GROUPS["pct"],
    "stdev": stats.GROUPS["prices"],
}


def summaries(
    session: Session, window: Window, columns: Sequence[str], allowed: np.ndarray | None = None
) -> pd.DataFrame:
    """Every market's (or the ``allowed`` ids') summary ``columns`` over ``window``, by market:
    the ranking snapshot while it is exact (a standard window ending now), else computed from the
    rollups and the raw edges."""
    if window.name in WINDOWS and window.end == OPEN_END:
        found = snapshots.read(session, window.name, window.start, columns)
        if found is not None:
            return found if allowed is None else found[found["market_id"].isin(allowed)]
    ids = markets.all_ids(session) if allowed is None else allowed.tolist()
    return ticks.window_summaries(session, ids, window.start, window.end, columns)


def ranked(keys: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Positions of the markets with at least ``stats.MIN_POINTS`` ticks (``counts``), the highest
    ``keys`` first, ties in market order (a stable sort): rank 1 is the first."""
    listed = np.flatnonzero(counts >= stats.MIN_POINTS)  # too few ticks: unranked
    return listed[np.argsort(-keys[listed], kind="stable")]


def rankings(
    session: Session,
    metric: str,
    window: Window,
    exchange: str | None = None,
    quote: str | None = None,
    limit: int = 20,
    order: str = "desc",
) -> list[dict[str, Any]]:
    """Markets ranked by ``metric`` over ``window``: rank 1 is the highest value (the largest
    |move| for largest_pct_move); ``order="asc"`` lists from the bottom (losers for pct_change).
    A standard window ending now reads the ranking snapshot while it is exact, else every
    market's summary is computed from its rollups and raw edges; either way the figures are
    computed for every market at once and only the ``limit`` listed become rows."""
    if metric not in METRICS:
        raise BadRequest(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if order not in ("desc", "asc"):
        raise BadRequest(f"order must be desc or asc, got {order!r}")
    if exchange or quote:
        allowed = markets.stored_markets(session, exchange, quote)["market_id"].to_numpy()
    else:
        allowed = None  # every market
    found = summaries(session, window, ("market_id", *stats.BASE_COLUMNS, *METRIC_COLUMNS[metric]), allowed)
    values = stats.figures(found)[metric].to_numpy(dtype="float64")
    keys = np.abs(values) if metric == "largest_pct_move" else values
    ordered = ranked(keys, found["n"].to_numpy())
    ranks = np.arange(1, len(ordered) + 1)
    if order == "asc":
        ordered, ranks = ordered[::-1], ranks[::-1]
    shown = found.iloc[ordered[:limit]]
    names = markets.names(session, shown["market_id"].astype("int64").tolist())
    rows = []
    for (_, summary), at, rank in zip(shown.iterrows(), ordered[:limit], ranks[:limit], strict=True):
        exchange_name, pair = names[int(summary["market_id"])]
        rows.append(
            {
                "value": float(values[at]),
                "n": int(summary["n"]),
                "first_ts": int(summary["first_ts"]),
                "last_ts": int(summary["last_ts"]),
                "rank": int(rank),
                "exchange": exchange_name,
                "pair": pair,
            }
        )
    return rows


def pair_across_exchanges(session: Session, pair: str, window: Window) -> dict[str, Any]:
    """Latest price per exchange, the spread between the highest and lowest, and each exchange's
    pct_change and statistics over ``window`` (or why there are none)."""
    unified = split_pair(pair)
    listed = markets.markets_of_pair(session, unified)
    if not listed:
        raise NotFound(f"no exchange has {unified} yet")
    ids = [m for m, _ in listed]
    latest = {tick.market_id: tick for _, _, tick in ticks.latest_ticks(session, ids)}
    summaries = {
        int(row["market_id"]): row
        for row in ticks.window_summaries(session, ids, window.start, window.end).to_dict("records")
    }
    exchanges: list[dict[str, Any]] = []
    for market_id, name in listed:
        tick = latest.get(market_id)
        summary = summaries.get(market_id)
        change: float | None = None
        stats_of: dict[str, Any] | None = None
        error: str | None = None
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
    prices = [tick.last for tick in latest.values()]
    high, low = max(prices), min(prices)
    return {
        "pair": unified,
        "window": window.name,
        "exchanges": exchanges,
        "spread": {"high": high, "low": low, "absolute": high - low, "pct": 100 * (high - low) / low},
    }


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _buckets(points: pd.DataFrame, base: int, width: int) -> list[dict[str, Any]]:
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
    columns = zip(
        out["ts"].tolist(), out["last"].tolist(), out["min"].tolist(), out["max"].tolist(), strict=True
    )
    return [{"ts": int(ts), "last": last, "min": low, "max": high} for ts, last, low, high in columns]


def series(
    session: Session, exchange: str, pair: str, window: Window, points: int = DEFAULT_POINTS
) -> list[dict[str, Any]]:
    """Prices of one market: raw when they fit in ``points``, else one row per time bucket with
    its min, max and last, so spikes survive downsampling. Long ranges read hour rollups."""
    check_points(points)
    market_id = find_market(session, exchange, pair)
    summary = ticks.window_summaries(session, [market_id], window.start, window.end, stats.BASE_COLUMNS)
    if summary.empty:
        return []
    first, last = int(summary["first_ts"].iloc[0]), int(summary["last_ts"].iloc[0])
    if int(summary["n"].iloc[0]) <= points:
        raw = ticks.read_prices(session, {market_id: (first, last + 1)})
        return [
            {"ts": int(t), "last": p, "min": p, "max": p}
            for t, p in zip(raw["ts"], raw["price"], strict=True)
        ]
    width = _ceil_div(last + 1 - first, points)
    if width < HOUR:  # a short range: bucket the raw ticks
        raw = ticks.read_prices(session, {market_id: (first, last + 1)})
        frame = pd.DataFrame(
            {"ts": raw["ts"], "last": raw["price"], "min": raw["price"], "max": raw["price"]}
        )
        return _buckets(frame, first, width)
    # Whole hours from the rollups, raw ticks only in the partial hours at both ends.
    base = first // HOUR * HOUR
    width = _ceil_div(_ceil_div(last + 1 - base, points), HOUR) * HOUR
    hour_lo, hour_hi = (
        _ceil_div(first, HOUR) * HOUR,
        (last + 1) // HOUR * HOUR,
    )
    hours = ticks.read_rollups(
        session, HOUR, {market_id: (hour_lo, hour_hi)}, ("last_ts", "last", "min", "max")
    ).rename(columns={"last_ts": "ts"})
    edges = (
        ticks.read_prices(session, {market_id: (first, hour_lo)}),
        ticks.read_prices(session, {market_id: (hour_hi, last + 1)}),
    )
    before, after = (
        pd.DataFrame({"ts": e["ts"], "last": e["price"], "min": e["price"], "max": e["price"]}) for e in edges
    )
    frame = pd.concat([before, hours, after], ignore_index=True).astype({"ts": "int64"})
    return _buckets(frame, base, width)


def gaps(
    session: Session, exchange: str, pair: str, window: Window, interval: float, k: float = 3
) -> dict[str, Any]:
    """Intervals longer than ``k`` x the collection interval with no tick, and coverage % of the window."""
    if k <= 0:
        raise BadRequest(f"k must be positive, got {k}")
    market_id = find_market(session, exchange, pair)
    end = min(window.end, minute_now())
    stamps = ticks.read_prices(session, {market_id: (window.start, window.end)})["ts"].to_numpy()
    start = window.start if window.start > 0 else (int(stamps[0]) if len(stamps) else end)
    limit = k * interval * 1000
    edges = np.concatenate([[start], stamps, [max(end, int(stamps[-1]) if len(stamps) else end)]])
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
        "n": len(stamps),
    }
