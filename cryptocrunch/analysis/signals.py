"""EMA crossover signals of candle closes: pure, arrays in, crossovers out. No Flask, no database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd


def ema(values: np.ndarray, span: int) -> np.ndarray:
    """Exponential moving average with alpha = 2 / (span + 1), seeded with the first value
    (pandas ``ewm(span=span, adjust=False)``)."""
    if span < 1:
        raise ValueError(f"an EMA span must be at least 1, got {span}")
    return pd.Series(values, dtype="float64").ewm(span=span, adjust=False).mean().to_numpy()


@dataclass(frozen=True, slots=True)
class Cross:
    """The fast EMA crossing the slow one: ``golden`` upwards, ``death`` downwards."""

    kind: str
    ts: int
    price: float
    fast: float
    slow: float


def crossovers(
    ts: Sequence[int],
    close: Sequence[float] | npt.NDArray[np.float64],
    quick: np.ndarray,
    steady: np.ndarray,
) -> list[Cross]:
    """Every candle at which the fast EMA ``quick`` minus the slow EMA ``steady`` changes sign
    (from the candle before it)."""
    prices = np.asarray(close, dtype="float64")
    side = np.sign(quick - steady)
    found = []
    for index in np.flatnonzero((side[1:] != side[:-1]) & (side[1:] != 0)) + 1:
        i = int(index)
        # a touch (difference exactly 0) then a move keeps the side it left from
        before = side[:i][side[:i] != 0]
        if not len(before) or before[-1] == side[i]:
            continue
        found.append(
            Cross(
                "golden" if side[i] > 0 else "death",
                int(ts[i]),
                float(prices[i]),
                float(quick[i]),
                float(steady[i]),
            )
        )
    return found
