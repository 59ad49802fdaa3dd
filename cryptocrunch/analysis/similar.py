"""Similar exchanges, the pure part: how much exchanges' listings overlap, the most similar ones,
and the trend of a series (volume samples). Sets and arrays in, plain JSON-ready data out."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TypedDict

import numpy as np

from ..clock import DAY
from ..errors import BadRequest
from .stats import linear_trend


class OverlapRow(TypedDict):
    """How much the listings of exchanges ``a`` and ``b`` (``a`` < ``b``) overlap."""

    a: str
    b: str
    shared: int
    jaccard: float


class SimilarRow(TypedDict):
    """One exchange similar to another: the pairs both list and their Jaccard index."""

    exchange: str
    shared: int
    jaccard: float


def overlap(pair_sets: Mapping[str, AbstractSet[str]]) -> list[OverlapRow]:
    """Every two exchanges' shared pair count and Jaccard index |A ∩ B| / |A ∪ B|, by name.

    Two empty listings have a Jaccard index of 0.
    """
    rows: list[OverlapRow] = []
    for a, b in itertools.combinations(sorted(pair_sets), 2):
        shared = len(pair_sets[a] & pair_sets[b])
        union = len(pair_sets[a] | pair_sets[b])
        rows.append({"a": a, "b": b, "shared": shared, "jaccard": shared / union if union else 0.0})
    return rows


def most_similar(rows: Iterable[OverlapRow], exchange: str, n: int) -> list[SimilarRow]:
    """The ``n`` exchanges whose listings overlap ``exchange``'s most: highest Jaccard index first,
    then most shared pairs, then by name. Exchanges that share no pair are not similar at all."""
    if n < 1:
        raise BadRequest(f"top must be at least 1, got {n}")
    found: list[SimilarRow] = [
        {"exchange": r["b"] if r["a"] == exchange else r["a"], "shared": r["shared"], "jaccard": r["jaccard"]}
        for r in rows
        if exchange in (r["a"], r["b"]) and r["shared"] > 0
    ]
    found.sort(key=lambda r: (-r["jaccard"], -r["shared"], r["exchange"]))
    return found[:n]


def trend(ts: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray) -> dict[str, float | None]:
    """First and last of ``values`` sampled at ``ts`` (epoch ms, increasing), their % change
    100·(last − first)/first (None when first is 0), and the least-squares slope of value against
    time in units per day. Fewer than 2 points raises ValueError."""
    v = np.asarray(values, dtype="float64")
    line = linear_trend(np.asarray(ts, dtype="float64") / DAY, v)
    first, last = float(v[0]), float(v[-1])
    return {
        "first": first,
        "last": last,
        "pct_change": 100 * (last - first) / first if first else None,
        "slope_per_day": line.slope,
    }
