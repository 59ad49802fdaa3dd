"""Pure statistics over price series: pandas in, numbers out. No Flask, no database.

Everything is built from *summaries*: per group (a market, a time bucket, the raw
ticks at a window's edge) the count, first/last, min/max, mean and sum of squared
deviations (M2) of prices, the same for the log returns inside the group, and the
largest consecutive moves. Summaries of consecutive groups combine exactly
(Chan et al.'s pairwise update, with the returns across group edges added), so a
long window is answered from stored bucket summaries plus the raw ticks at its two
edges, and equals a plain computation over every tick to ~1e-12 relative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Columns of a summary frame (besides the group keys).
SUMMARY_COLUMNS = (
    "n",
    "first_ts",
    "first",
    "last_ts",
    "last",
    "min",
    "max",
    "mean",
    "m2",
    "rn",
    "rmean",
    "rm2",
    "delta",
    "delta_from",
    "delta_to",
    "pct",
    "pct_from",
    "pct_to",
)

#: Fewest ticks a window needs: the volatility is a sample deviation of at least two returns.
MIN_POINTS = 3


@dataclass(frozen=True, slots=True)
class Move:
    """A consecutive price move: signed size and the timestamps (ms) of both ticks."""

    value: float
    ts_from: int
    ts_to: int


@dataclass(frozen=True, slots=True)
class Stats:
    """Statistics of one market over a window (definitions in the README)."""

    n: int
    first_ts: int
    last_ts: int
    first: float
    last: float
    min: float
    max: float
    stdev: float
    volatility: float
    largest_delta: Move
    largest_pct_move: Move
    pct_change: float


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start index, size and group number of each row for rows sorted by ``keys`` (one row per key set)."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    change = np.any(keys[1:] != keys[:-1], axis=1)
    starts = np.concatenate([[0], np.flatnonzero(change) + 1])
    sizes = np.diff(np.concatenate([starts, [len(keys)]]))
    return starts, sizes, np.repeat(np.arange(len(starts)), sizes)


def _largest(
    value: np.ndarray, ts_from: np.ndarray, ts_to: np.ndarray, starts: np.ndarray, group: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group, the candidate with the largest |value| (NaN = no candidate); ties go to the earliest.

    Candidates must be in time order within each group.
    """
    size = np.where(np.isnan(value), -1.0, np.abs(value))
    best = np.maximum.reduceat(size, starts)
    hits = np.flatnonzero((size == best[group]) & (size >= 0))
    chosen = np.full(len(starts), -1)
    groups, first = np.unique(group[hits], return_index=True)
    chosen[groups] = hits[first]
    found = chosen >= 0
    pick = np.where(found, chosen, 0)
    nan = np.full(len(starts), np.nan)
    return (
        np.where(found, value[pick], nan),
        np.where(found, ts_from[pick], nan),
        np.where(found, ts_to[pick], nan),
    )


def _frame(keys: pd.DataFrame, starts: np.ndarray, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The group keys of each group's first row and its summary ``columns``, built at once (a
    column added at a time copies the frame each time)."""
    data = {name: keys[name].to_numpy()[starts] for name in keys.columns}
    data.update((name, columns[name]) for name in SUMMARY_COLUMNS if name in columns)
    return pd.DataFrame(data)


#: The columns every summary has; each of the other groups may be left out (``combine`` then
#: leaves it out too): a ranking by one figure reads only the columns that figure needs.
BASE_COLUMNS = ("n", "first_ts", "first", "last_ts", "last")
GROUPS = {
    "range": ("min", "max"),
    "prices": ("mean", "m2"),
    "returns": ("rn", "rmean", "rm2"),
    "delta": ("delta", "delta_from", "delta_to"),
    "pct": ("pct", "pct_from", "pct_to"),
}


def summarize(ticks: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Summaries per group of ``ticks`` (columns ``*by, ts, price``, sorted by ``*by, ts``)."""
    keys = ticks[list(by)]
    starts, n, group = _groups(keys.to_numpy())
    if not len(starts):
        return pd.DataFrame(columns=[*by, *SUMMARY_COLUMNS])
    p = ticks["price"].to_numpy(dtype="float64")
    ts = ticks["ts"].to_numpy(dtype="float64")  # exact for every ms timestamp
    ends = starts + n - 1
    mean = np.add.reduceat(p, starts) / n
    deviation = p - mean[group]

    # Moves and log returns between consecutive ticks of the same group; the first tick of a group has none.
    inside = np.ones(len(p), dtype=bool)
    inside[starts] = False
    previous = np.concatenate([[np.nan], p[:-1]])
    previous_ts = np.concatenate([[np.nan], ts[:-1]])
    delta = np.where(inside, p - previous, np.nan)
    returns = np.where(inside, np.log(np.where(inside, p, 1.0) / np.where(inside, previous, 1.0)), 0.0)
    rn = n - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        rmean = np.where(rn > 0, np.add.reduceat(returns, starts) / rn, np.nan)
    return_deviation = np.where(inside, returns - np.nan_to_num(rmean)[group], 0.0)
    delta_move = _largest(delta, previous_ts, ts, starts, group)
    pct_move = _largest(100 * delta / previous, previous_ts, ts, starts, group)
    return _frame(
        keys,
        starts,
        {
            "n": n,
            "first_ts": ts[starts],
            "first": p[starts],
            "last_ts": ts[ends],
            "last": p[ends],
            "min": np.minimum.reduceat(p, starts),
            "max": np.maximum.reduceat(p, starts),
            "mean": mean,
            "m2": np.add.reduceat(deviation * deviation, starts),
            "rn": rn,
            "rmean": rmean,
            "rm2": np.add.reduceat(return_deviation * return_deviation, starts),
            "delta": delta_move[0],
            "delta_from": delta_move[1],
            "delta_to": delta_move[2],
            "pct": pct_move[0],
            "pct_from": pct_move[1],
            "pct_to": pct_move[2],
        },
    )


def combine(summaries: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Merge consecutive summaries per group (sorted by ``*by, first_ts``) into one summary each,
    of the column groups (``GROUPS``) the summaries have."""
    keys = summaries[list(by)].reset_index(drop=True)
    starts, count, group = _groups(keys.to_numpy())
    present = [c for c in SUMMARY_COLUMNS if c in summaries.columns]
    if not len(starts):
        return pd.DataFrame(columns=[*by, *present])
    col = {name: summaries[name].to_numpy(dtype="float64") for name in present}
    n = col["n"]
    ends = starts + count - 1
    out = {
        "n": np.add.reduceat(n, starts),
        "first_ts": col["first_ts"][starts],
        "first": col["first"][starts],
        "last_ts": col["last_ts"][ends],
        "last": col["last"][ends],
    }
    if "min" in col:
        out["min"] = np.minimum.reduceat(col["min"], starts)
        out["max"] = np.maximum.reduceat(col["max"], starts)
    if "mean" in col:
        out["mean"] = np.add.reduceat(n * col["mean"], starts) / out["n"]
        out["m2"] = np.add.reduceat(col["m2"] + n * (col["mean"] - out["mean"][group]) ** 2, starts)

    edge = np.ones(len(n), dtype=bool)  # a row that continues the group of the row before it
    edge[starts] = False
    previous_last = np.concatenate([[np.nan], col["last"][:-1]])
    previous_last_ts = np.concatenate([[np.nan], col["last_ts"][:-1]])
    if "rn" in col:
        # Returns: each segment's own, plus one across every edge between consecutive segments.
        edge_return = np.where(
            edge, np.log(np.where(edge, col["first"], 1.0) / np.where(edge, previous_last, 1.0)), 0.0
        )
        rn = col["rn"]
        own_mean = np.nan_to_num(col["rmean"])
        rn_total = np.add.reduceat(rn + edge, starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            rmean = np.where(
                rn_total > 0, np.add.reduceat(rn * own_mean + edge_return, starts) / rn_total, np.nan
            )
        centre = np.nan_to_num(rmean)[group]
        spread = rn * (own_mean - centre) ** 2 + np.where(edge, (edge_return - centre) ** 2, 0.0)
        out["rn"], out["rmean"] = rn_total, rmean
        out["rm2"] = np.add.reduceat(np.nan_to_num(col["rm2"]) + spread, starts)

    # Largest moves; candidates in time order: per segment, the move across its left edge, then its own.
    edge_delta = np.where(edge, col["first"] - previous_last, np.nan)
    for name, across in (("delta", edge_delta), ("pct", 100 * edge_delta / previous_last)):
        if name not in col:
            continue
        value = np.column_stack([across, col[name]]).ravel()
        ts_from = np.column_stack([previous_last_ts, col[f"{name}_from"]]).ravel()
        ts_to = np.column_stack([col["first_ts"], col[f"{name}_to"]]).ravel()
        out[name], out[f"{name}_from"], out[f"{name}_to"] = _largest(
            value, ts_from, ts_to, starts * 2, np.repeat(group, 2)
        )
    return _frame(keys, starts, out)


def _too_few(n: int) -> str:
    return f"{n} tick{'s' if n != 1 else ''} in the window; statistics need at least {MIN_POINTS}"


def finish(summary: pd.Series | Mapping[Any, Any]) -> Stats:
    """Statistics from one combined summary; ValueError when it has too few points."""
    n = int(summary["n"])
    if n < MIN_POINTS:
        raise ValueError(_too_few(n))
    return Stats(
        n=n,
        first_ts=int(summary["first_ts"]),
        last_ts=int(summary["last_ts"]),
        first=float(summary["first"]),
        last=float(summary["last"]),
        min=float(summary["min"]),
        max=float(summary["max"]),
        stdev=float(np.sqrt(summary["m2"] / (n - 1))),
        volatility=float(np.sqrt(summary["rm2"] / (summary["rn"] - 1))),
        largest_delta=Move(float(summary["delta"]), int(summary["delta_from"]), int(summary["delta_to"])),
        largest_pct_move=Move(float(summary["pct"]), int(summary["pct_from"]), int(summary["pct_to"])),
        pct_change=float(100 * (summary["last"] - summary["first"]) / summary["first"]),
    )


def figures(summaries: pd.DataFrame) -> pd.DataFrame:
    """``finish``'s pct_change, largest_pct_move (its value), volatility and stdev for every row
    of a frame of combined summaries at once, those whose columns it has; NaN where a row has
    fewer than MIN_POINTS ticks."""
    n = summaries["n"].to_numpy(dtype="float64")
    first, last = summaries["first"].to_numpy(dtype="float64"), summaries["last"].to_numpy(dtype="float64")
    found: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        found["pct_change"] = 100 * (last - first) / first
        if "pct" in summaries:
            found["largest_pct_move"] = summaries["pct"].to_numpy(dtype="float64")
        if "rm2" in summaries:
            rn = summaries["rn"].to_numpy(dtype="float64")
            found["volatility"] = np.sqrt(summaries["rm2"].to_numpy(dtype="float64") / (rn - 1))
        if "m2" in summaries:
            found["stdev"] = np.sqrt(summaries["m2"].to_numpy(dtype="float64") / (n - 1))
    out = pd.DataFrame(found, index=summaries.index)
    out.loc[n < MIN_POINTS] = np.nan
    return out


def compute(ts: Sequence[int] | np.ndarray, prices: Sequence[float] | np.ndarray) -> Stats:
    """Statistics of one series of (ts, price), ordered by ts."""
    frame = pd.DataFrame(
        {"key": 0, "ts": np.asarray(ts, dtype="int64"), "price": np.asarray(prices, dtype="float64")}
    )
    if len(frame) < MIN_POINTS:
        raise ValueError(_too_few(len(frame)))
    return finish(summarize(frame, ["key"]).iloc[0])


def resample(ts: np.ndarray, prices: np.ndarray, timeframe_ms: int) -> pd.DataFrame:
    """Candles (ts = open time, open, high, low, close) of ticks sorted by ts, one per timeframe bucket
    that holds a tick."""
    frame = pd.DataFrame(
        {"bucket": np.asarray(ts, dtype="int64") // timeframe_ms * timeframe_ms, "price": prices}
    )
    grouped = frame.groupby("bucket", sort=True)["price"]
    out = grouped.agg(["first", "max", "min", "last"]).reset_index()
    out.columns = ["ts", "open", "high", "low", "close"]
    return out


@dataclass(frozen=True, slots=True)
class Trend:
    """A least-squares line y = slope * x + intercept, and how much of y's variance it explains."""

    slope: float
    intercept: float
    r2: float
    n: int


def linear_trend(x: np.ndarray, y: np.ndarray) -> Trend:
    """Ordinary least squares of ``y`` on ``x`` (at least 2 distinct x). R² = 1 − SS_res / SS_tot;
    when y is constant it is 1 for an exact fit (as scikit-learn's r2_score)."""
    x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError(f"a trend needs at least 2 points at different times, got {len(x)}")
    # centre x first: slopes over epoch milliseconds would lose digits otherwise
    dx, dy = x - x.mean(), y - y.mean()
    slope = float(np.dot(dx, dy) / np.dot(dx, dx))
    intercept = float(y.mean() - slope * x.mean())
    residual = float(np.sum((dy - slope * dx) ** 2))
    total = float(np.dot(dy, dy))
    r2 = 1 - residual / total if total > 0 else (1.0 if residual == 0 else 0.0)
    return Trend(slope, intercept, r2, len(x))
