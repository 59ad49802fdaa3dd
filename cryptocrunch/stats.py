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

from collections.abc import Sequence
from dataclasses import dataclass

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


def _largest(
    frame: pd.DataFrame, value: pd.Series, by: Sequence[str], columns: tuple[str, str, str]
) -> pd.DataFrame:
    """Per group, the row of ``frame`` with the largest |value|; ties go to the earliest."""
    name, ts_from, ts_to = columns
    candidates = pd.DataFrame(
        {**{key: frame[key] for key in by}, name: value, ts_from: frame[ts_from], ts_to: frame[ts_to]}
    ).dropna(subset=[name])
    candidates["_abs"] = candidates[name].abs()
    candidates = candidates.sort_values([*by, "_abs", ts_from], ascending=[True] * len(by) + [False, True])
    return candidates.drop_duplicates(subset=list(by)).set_index(list(by))[[name, ts_from, ts_to]]


def summarize(ticks: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Summaries per group of ``ticks`` (columns ``*by, ts, price``, sorted by ``*by, ts``)."""
    by = list(by)
    keys = ticks[by]
    price = ticks["price"].astype("float64")
    ts = ticks["ts"]
    grouped = price.groupby([keys[k] for k in by], sort=False)
    out = grouped.agg(["size", "first", "last", "min", "max", "mean"])
    out.columns = ["n", "first", "last", "min", "max", "mean"]
    ts_grouped = ts.groupby([keys[k] for k in by], sort=False)
    out["first_ts"] = ts_grouped.first()
    out["last_ts"] = ts_grouped.last()
    deviation = price - grouped.transform("mean")
    out["m2"] = (deviation * deviation).groupby([keys[k] for k in by], sort=False).sum()

    same = (keys == keys.shift()).all(axis=1)
    previous = price.shift().where(same)
    ret = np.log(price / previous)
    ret_grouped = ret.groupby([keys[k] for k in by], sort=False)
    out["rn"] = ret_grouped.count()
    out["rmean"] = ret_grouped.mean()
    ret_dev = ret - ret_grouped.transform("mean")
    out["rm2"] = (ret_dev * ret_dev).groupby([keys[k] for k in by], sort=False).sum()

    moves = pd.DataFrame({**{k: keys[k] for k in by}, "from": ts.shift().where(same), "to": ts})
    delta = price - previous
    out = out.join(
        _largest(moves, delta, by, ("delta", "from", "to")).rename(
            columns={"from": "delta_from", "to": "delta_to"}
        )
    )
    out = out.join(
        _largest(moves, 100 * delta / previous, by, ("pct", "from", "to")).rename(
            columns={"from": "pct_from", "to": "pct_to"}
        )
    )
    return out.reset_index()[[*by, *SUMMARY_COLUMNS]]


def combine(summaries: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Merge consecutive summaries per group (sorted by ``*by, first_ts``) into one summary each."""
    by = list(by)
    s = summaries.reset_index(drop=True)
    keys = s[by]
    groups = [keys[k] for k in by]
    g = s.groupby(groups, sort=False)
    out = pd.DataFrame(
        {
            "n": g["n"].sum(),
            "first_ts": g["first_ts"].first(),
            "first": g["first"].first(),
            "last_ts": g["last_ts"].last(),
            "last": g["last"].last(),
            "min": g["min"].min(),
            "max": g["max"].max(),
        }
    )
    n_total = g["n"].transform("sum")
    mean = (s["n"] * s["mean"]).groupby(groups, sort=False).transform("sum") / n_total
    out["mean"] = mean.groupby(groups, sort=False).first()
    out["m2"] = (s["m2"] + s["n"] * (s["mean"] - mean) ** 2).groupby(groups, sort=False).sum()

    # Returns: each segment's own, plus one across every edge between consecutive segments.
    same = (keys == keys.shift()).all(axis=1)
    prev_last = s["last"].shift().where(same)
    edge = np.log(s["first"] / prev_last)
    rn = s["rn"].astype("float64")
    rsum = rn * s["rmean"].fillna(0.0) + edge.fillna(0.0)
    rcount = rn + edge.notna()
    rn_total = rcount.groupby(groups, sort=False).transform("sum")
    rmean = rsum.groupby(groups, sort=False).transform("sum") / rn_total
    spread = rn * (s["rmean"].fillna(0.0) - rmean) ** 2 + ((edge - rmean) ** 2).fillna(0.0)
    out["rn"] = rn_total.groupby(groups, sort=False).first().astype("int64")
    out["rmean"] = rmean.groupby(groups, sort=False).first()
    out["rm2"] = (s["rm2"].fillna(0.0) + spread).groupby(groups, sort=False).sum()

    edge_delta = s["first"] - prev_last
    edges = pd.DataFrame(
        {**{k: keys[k] for k in by}, "from": s["last_ts"].shift().where(same), "to": s["first_ts"]}
    )
    for name, edge_value in (("delta", edge_delta), ("pct", 100 * edge_delta / prev_last)):
        inner = s[[*by, name, f"{name}_from", f"{name}_to"]].rename(
            columns={f"{name}_from": "from", f"{name}_to": "to"}
        )
        across = edges.assign(**{name: edge_value})
        both = pd.concat([inner, across], ignore_index=True)
        best = _largest(both, both[name], by, (name, "from", "to"))
        out = out.join(best.rename(columns={"from": f"{name}_from", "to": f"{name}_to"}))
    return out.reset_index()[[*by, *SUMMARY_COLUMNS]]


def _too_few(n: int) -> str:
    return f"{n} tick{'s' if n != 1 else ''} in the window; statistics need at least {MIN_POINTS}"


def finish(summary: pd.Series | dict) -> Stats:
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


def compute(ts: Sequence[int] | np.ndarray, prices: Sequence[float] | np.ndarray) -> Stats:
    """Statistics of one series of (ts, price), ordered by ts."""
    frame = pd.DataFrame(
        {"key": 0, "ts": np.asarray(ts, dtype="int64"), "price": np.asarray(prices, dtype="float64")}
    )
    if len(frame) < MIN_POINTS:
        raise ValueError(_too_few(len(frame)))
    return finish(summarize(frame, ["key"]).iloc[0])
