"""The rows of each kind of export, from the same ``insights`` functions as the API, as frames with
exactly the API's columns and types (an empty export keeps its schema)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from ..analysis.similar import overlap
from ..errors import NotFound
from ..insights import books, candles, markets
from ..insights.params import Window, resolve_window
from ..storage import listings, ticks
from ..storage import markets as market_table
from ..storage.books import BOOK_COLUMNS
from .specs import ExportOptions


def _window(options: ExportOptions) -> Window:
    return resolve_window(options.window, options.start, options.end)


def _frame(rows: list[dict[str, Any]], dtypes: Mapping[str, str]) -> pd.DataFrame:
    """Rows as a frame with exactly these columns and types (an empty export keeps its schema)."""
    return pd.DataFrame(rows, columns=list(dtypes)).astype(dict(dtypes))


def _markets(session: Session, options: ExportOptions) -> pd.DataFrame:
    """The stored markets (market_id, exchange, pair) that the exchange, pair and quote filters
    select, by exchange and pair; NotFound when there are none."""
    found = market_table.stored_markets(session, options.exchange, options.quote)
    if options.pair:
        found = found[found["pair"] == options.pair]
    if found.empty:
        wanted = " ".join(
            part for part in ("market", options.pair, options.quote and f"quoted in {options.quote}") if part
        )
        raise NotFound(
            f"no {wanted} on {options.exchange or 'any exchange'} has been collected"
            " (GET /api/v1/markets lists the stored markets)"
        )
    return found.sort_values(["exchange", "pair"], kind="stable")


TICK_TYPES = {
    "exchange": "string",
    "pair": "string",
    "ts": "int64",
    "last": "float64",
    "bid": "float64",
    "ask": "float64",
    "base_volume": "float64",
    "quote_volume": "float64",
}


def ticks_frame(session: Session, options: ExportOptions) -> pd.DataFrame:
    """Every stored tick of the matching markets in the window, by exchange, pair and ts."""
    window = _window(options)
    selected = _markets(session, options)
    ranges = dict.fromkeys(selected["market_id"].tolist(), (window.start, window.end))
    rows = selected.merge(ticks.read_ticks(session, ranges), on="market_id")
    rows = rows.sort_values(["exchange", "pair", "ts"], kind="stable", ignore_index=True)
    return rows[list(TICK_TYPES)].astype(TICK_TYPES)


# The API's candle columns (CandleOut), after the market's.
CANDLE_TYPES = {
    "exchange": "string",
    "pair": "string",
    "ts": "int64",
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "float64",
    "source": "string",
    "ema_fast": "float64",
    "ema_slow": "float64",
    "cross": "string",
}


def candles_frame(session: Session, options: ExportOptions) -> pd.DataFrame:
    """Candles of the matching markets as ``/api/v1/markets/.../candles`` serves them (with
    EMA(fast), EMA(slow) and the crossovers), market by market; markets with more candles in the
    window than the API serves are left out and listed in ``frame.attrs["skipped"]``."""
    window = _window(options)
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for exchange, pair in _markets(session, options)[["exchange", "pair"]].itertuples(index=False):
        try:
            found = candles.candles(
                session, exchange, pair, options.timeframe, window, options.fast, options.slow
            )
        except candles.TooManyCandles as reason:
            skipped.append(f"{exchange} {pair}: {reason}")
            continue
        rows.extend({"exchange": exchange, "pair": pair, **candle} for candle in found)
    frame = _frame(rows, CANDLE_TYPES)
    frame.attrs["skipped"] = skipped
    return frame


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested statistics (``largest_delta.value``) as flat columns (``largest_delta_value``)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}_"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


_MOVE_TYPES = {"value": "float64", "ts_from": "int64", "ts_to": "int64"}

# The API's statistics (StatsOut), nested moves flattened.
STATS_TYPES = {
    "exchange": "string",
    "pair": "string",
    "window": "string",
    "n": "int64",
    "first_ts": "int64",
    "last_ts": "int64",
    **dict.fromkeys(("first", "last", "min", "max", "stdev", "volatility"), "float64"),
    **{f"largest_delta_{k}": v for k, v in _MOVE_TYPES.items()},
    **{f"largest_pct_move_{k}": v for k, v in _MOVE_TYPES.items()},
    "pct_change": "float64",
}


def stats_frame(session: Session, options: ExportOptions) -> pd.DataFrame:
    """One row of statistics per matching market; markets with too few ticks in the window are left
    out and listed in ``frame.attrs["skipped"]``."""
    window = _window(options)
    rows, skipped = [], []
    for exchange, pair in _markets(session, options)[["exchange", "pair"]].itertuples(index=False):
        try:
            result = markets.market_stats(session, exchange, pair, window)
        except ValueError as reason:  # too few ticks in the window
            skipped.append(f"{exchange} {pair}: {reason}")
            continue
        stats = _flat(markets.stats_dict(result))
        rows.append({"exchange": exchange, "pair": pair, "window": window.name, **stats})
    frame = _frame(rows, STATS_TYPES)
    frame.attrs["skipped"] = skipped
    return frame


# The API's ranking columns (RankingRow).
RANKING_TYPES = {
    "rank": "int64",
    "exchange": "string",
    "pair": "string",
    "value": "float64",
    "n": "int64",
    "first_ts": "int64",
    "last_ts": "int64",
}


def rankings_frame(session: Session, options: ExportOptions) -> pd.DataFrame:
    """Markets ranked as ``/api/v1/rankings`` ranks them (metric, order, quote, limit)."""
    if options.exchange or options.quote:
        _markets(session, options)  # an unknown exchange is an error, not an empty file
    rows = markets.rankings(
        session,
        options.metric,
        _window(options),
        exchange=options.exchange,
        quote=options.quote,
        limit=options.limit,
        order=options.order,
    )
    return _frame(rows, RANKING_TYPES)


BOOK_TYPES = {
    "exchange": "string",
    "pair": "string",
    **{c: ("int64" if c == "ts" else "float64") for c in BOOK_COLUMNS[1:]},
    "mid": "float64",
    "spread": "float64",
    "spread_bps": "float64",
}


def book_frame(session: Session, options: ExportOptions) -> pd.DataFrame:
    """Every stored order-book top of the matching markets in the window (best bid/ask, sizes,
    depth within ±0.5 % and ±1 %), with mid, spread and spread in basis points."""
    window = _window(options)
    frames = [
        books.book_frame(session, market_id, window).assign(exchange=exchange, pair=pair)
        for market_id, exchange, pair in _markets(session, options).itertuples(index=False)
    ]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(BOOK_TYPES))
    return frame[list(BOOK_TYPES)].astype(BOOK_TYPES)


SIMILAR_TYPES = {"exchange": "string", "other": "string", "shared": "int64", "jaccard": "float64"}


def similar_frame(session: Session, options: ExportOptions) -> pd.DataFrame:
    """Pair-set overlap (shared pairs, Jaccard) of every two exchanges with a stored listing (both
    ways round), or of ``--exchange`` with each other, most similar first."""
    stored = listings.read_listings(session)
    if options.exchange and options.exchange not in stored:
        raise NotFound(f"no listing of {options.exchange} stored: run flask similar")
    shared = overlap({name: listing.pairs for name, listing in stored.items()})
    rows: list[dict[str, Any]] = [
        {"exchange": a, "other": b, "shared": r["shared"], "jaccard": r["jaccard"]}
        for r in shared
        for a, b in ((r["a"], r["b"]), (r["b"], r["a"]))
        if options.exchange in (None, a)
    ]
    rows.sort(key=lambda r: (r["exchange"], -r["jaccard"], -r["shared"], r["other"]))
    return _frame(rows, SIMILAR_TYPES)


#: The builder of each kind in ``specs.KINDS``.
BUILDERS: dict[str, Callable[[Session, ExportOptions], pd.DataFrame]] = {
    "ticks": ticks_frame,
    "candles": candles_frame,
    "stats": stats_frame,
    "rankings": rankings_frame,
    "similar": similar_frame,
    "book": book_frame,
}
