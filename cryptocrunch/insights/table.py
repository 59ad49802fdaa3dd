"""The dashboard's markets table at any number of markets: every market's latest tick with its
figures over a window, filtered, sorted and paged here rather than in the browser; and short
downsampled price series of many markets at once, for the sparklines of the rows shown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select, true
from sqlalchemy.orm import Session, aliased

from ..analysis import stats
from ..clock import HOUR
from ..errors import BadRequest
from ..models import Exchange, Market, Tick
from ..storage import markets, ticks
from ..storage.bulk import fetch_rows
from . import markets as ranking
from .params import (
    MAX_PER_PAGE,
    MAX_SPARKLINE_POINTS,
    MAX_SPARKLINES,
    SORTS,
    Window,
    split_pair,
)

_TICK_COLUMNS = ("ts", "last", "bid", "ask", "base_volume", "quote_volume")
#: What the table's figures need of a window summary: pct_change and volatility (``stats.figures``).
_SUMMARY = ("market_id", *stats.BASE_COLUMNS, *stats.GROUPS["returns"])
_ROW_COLUMNS = ("exchange", "pair", *_TICK_COLUMNS, "n", "pct_change", "volatility", "volatility_rank")
_WHOLE = frozenset({"ts", "n", "volatility_rank"})

#: A column of the table: one value per market, every column in the same (market id) order.
Columns = dict[str, np.ndarray]


def latest(session: Session) -> Columns:
    """Every market's newest tick as columns: market_id, exchange, pair (object arrays of str),
    then ts, last, bid, ask, base_volume, quote_volume as float64 (exact for every ms timestamp;
    a missing bid, ask or volume is NaN); by market id. One index seek per market on (market, ts),
    so the cost follows the number of markets, not of ticks."""
    newest = aliased(Tick)
    latest_first = select(newest.ts).where(newest.market_id == Market.id).order_by(newest.ts.desc()).limit(1)
    names = select(Market.id, Exchange.name, Market.pair).select_from(Market)
    names = names.join(Exchange, Exchange.id == Market.exchange_id).order_by(Market.id)
    if session.connection().dialect.name == "postgresql":
        # LATERAL reads the newest row in the one backward index scan; PostgreSQL would run the
        # correlated subquery below twice per market (once per partition it prunes)
        picked = latest_first.with_only_columns(*(getattr(newest, c) for c in _TICK_COLUMNS)).lateral()
        query = names.add_columns(*(picked.c[c] for c in _TICK_COLUMNS)).join(picked, true())
    else:  # SQLite has no LATERAL: the newest ts by one index seek, then its row by another
        on = (Tick.market_id == Market.id) & (Tick.ts == latest_first.scalar_subquery())
        query = names.add_columns(*(getattr(Tick, c) for c in _TICK_COLUMNS)).join(Tick, on)
    rows = fetch_rows(session, query)
    # Column by column from the cursor's tuples: a DataFrame of them costs more than the query.
    cells = list(zip(*rows, strict=True)) if rows else [()] * (3 + len(_TICK_COLUMNS))
    columns: Columns = {"market_id": np.array(cells[0], dtype="int64")}
    for name, values in zip(("exchange", "pair"), cells[1:3], strict=True):
        column = np.empty(len(rows), dtype=object)
        column[:] = values
        columns[name] = column
    for name, values in zip(_TICK_COLUMNS, cells[3:], strict=True):
        columns[name] = np.array(values, dtype="float64")  # None: NaN
    return columns


def _figures(session: Session, window: Window, market_ids: np.ndarray) -> Columns:
    """n, pct_change, volatility and volatility_rank over ``window`` of each of ``market_ids``
    (sorted), in their order: 0 ticks and NaN for a market without ticks in the window, NaN
    figures and no rank below ``stats.MIN_POINTS`` ticks. Ranks are over every market, as
    ``markets.rankings`` gives them (1 = most volatile, ties by market)."""
    summaries = ranking.summaries(session, window, _SUMMARY).reset_index(drop=True)
    figures = stats.figures(summaries)
    volatility = figures["volatility"].to_numpy(dtype="float64")
    counts = summaries["n"].to_numpy(dtype="float64")
    order = ranking.ranked(volatility, counts)
    rank = np.full(len(summaries), np.nan)
    rank[order] = np.arange(1, len(order) + 1)
    found = {
        "n": counts,
        "pct_change": figures["pct_change"].to_numpy(dtype="float64"),
        "volatility": volatility,
        "volatility_rank": rank,
    }
    summary_ids = summaries["market_id"].to_numpy(dtype="int64")
    at = np.minimum(np.searchsorted(summary_ids, market_ids), max(len(summary_ids) - 1, 0))
    present = summary_ids[at] == market_ids if len(summary_ids) else np.zeros(len(market_ids), bool)
    out = {}
    for name, values in found.items():
        column = np.full(len(market_ids), 0.0 if name == "n" else np.nan)
        column[present] = values[at[present]]
        out[name] = column
    return out


def _matching(columns: Columns, q: str | None, exchange: str | None, quote: str | None) -> np.ndarray:
    """Positions of the markets whose pair or exchange contains ``q`` (any case), on
    ``exchange``, in ``quote`` (any case)."""
    pairs, exchanges = columns["pair"], columns["exchange"]
    keep = np.ones(len(pairs), dtype=bool)
    if exchange:
        keep &= exchanges == exchange
    if quote:
        suffix = f"/{quote.upper()}"
        keep &= np.fromiter((p.endswith(suffix) for p in pairs), dtype=bool, count=len(pairs))
    if q and q.strip():
        needle = q.strip().casefold()
        found = (
            needle in p.casefold() or needle in e.casefold() for p, e in zip(pairs, exchanges, strict=True)
        )
        keep &= np.fromiter(found, dtype=bool, count=len(pairs))
    return np.flatnonzero(keep)


def _text_rank(values: np.ndarray) -> np.ndarray:
    """Each string's place among the distinct ``values``, any case (equal ones share it)."""
    # as fixed-width unicode, which numpy sorts in C, in code point order as Python compares str
    folded = np.array([v.casefold() for v in values.tolist()], dtype=str)
    return np.unique(folded, return_inverse=True)[1].reshape(-1)


def _sorted(columns: Columns, at: np.ndarray, sort: str, order: str) -> np.ndarray:
    """``at`` (positions) ordered by ``sort`` (``order`` asc or desc), blanks last either way,
    ties by pair, then exchange (any case), then market, so that pages never overlap."""
    pair = _text_rank(columns["pair"][at])
    exchange = _text_rank(columns["exchange"][at])
    key = {"pair": pair, "exchange": exchange}.get(sort)
    if key is None:
        key = columns[sort][at]
    key = key.astype("float64")
    blank = np.isnan(key)
    key = np.where(blank, 0.0, key) * (-1 if order == "desc" else 1)
    return at[np.lexsort((columns["market_id"][at], exchange, pair, key, blank))]


def _cell(name: str, value: Any) -> Any:
    """A table cell as JSON: NaN is None, counts, ranks and timestamps are int."""
    if isinstance(value, float) and value != value:
        return None
    return int(value) if name in _WHOLE else value


def table(
    session: Session,
    window: Window,
    *,
    q: str | None = None,
    exchange: str | None = None,
    quote: str | None = None,
    sort: str = "pair",
    order: str = "asc",
    page: int = 1,
    per_page: int = 50,
) -> dict[str, Any]:
    """One page of the markets table: every market with a tick, its latest tick, and its
    ``pct_change``, ``volatility`` and volatility rank over ``window``; filtered by ``q`` (part
    of the pair or exchange, any case), ``exchange`` and ``quote``; sorted by one of ``SORTS``.
    Also the exchanges and quote currencies there are, for the filters. A page past the last is
    empty."""
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    if order not in ("asc", "desc"):
        raise BadRequest(f"order must be asc or desc, got {order!r}")
    if page < 1:
        raise BadRequest(f"page must be at least 1, got {page}")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise BadRequest(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}")
    columns = latest(session)
    columns.update(_figures(session, window, columns["market_id"]))
    found = _sorted(columns, _matching(columns, q, exchange, quote), sort, order)
    shown = found[(page - 1) * per_page : page * per_page]
    picked = [columns[name][shown].tolist() for name in _ROW_COLUMNS]
    rows = [
        {name: _cell(name, value) for name, value in zip(_ROW_COLUMNS, values, strict=True)}
        for values in zip(*picked, strict=True)
    ]
    total = len(found)
    return {
        "total": total,
        "page": page,
        "per_page": per_page,
        "pages": max(1, -(-total // per_page)),
        "sort": sort,
        "order": order,
        "window": window.name,
        "exchanges": sorted(set(columns["exchange"].tolist())),
        "quotes": sorted({pair.rpartition("/")[2] for pair in columns["pair"].tolist()}),
        "markets": rows,
    }


def parse_markets(text: str) -> list[tuple[str, str]]:
    """``kraken:BTC-USD,binance:ETH-USDT`` as [(exchange, unified pair)], in order, each once;
    a BadRequest naming the ``markets`` parameter for an empty or malformed list, or one longer
    than ``MAX_SPARKLINES``."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise BadRequest("markets: name at least one market as exchange:BASE-QUOTE, e.g. kraken:BTC-USD")
    wanted: dict[tuple[str, str], None] = {}
    for item in items:
        exchange, _, pair = item.partition(":")
        if not exchange or not pair:
            raise BadRequest(f"markets: {item!r} is not exchange:BASE-QUOTE (e.g. kraken:BTC-USD)")
        try:
            wanted[exchange, split_pair(pair)] = None
        except BadRequest as error:
            raise BadRequest(f"markets: {item!r}: {error}") from None
    if len(wanted) > MAX_SPARKLINES:
        raise BadRequest(f"markets: at most {MAX_SPARKLINES} markets per request, got {len(wanted)}")
    return list(wanted)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def sparklines(
    session: Session, wanted: Sequence[tuple[str, str]], window: Window, points: int = 48
) -> dict[str, Any]:
    """The last prices of each of ``wanted`` ((exchange, pair)) over ``window``, at most ``points``
    each, in a few batched reads: exactly the ``last`` column of ``markets.series`` for the same
    market, window and points (raw ticks when they fit, else the last tick of each time bucket;
    buckets of an hour or more come from the hour rollups and the raw ticks at the two edges).
    Markets that are not stored are listed in ``missing`` with the reason."""
    if not 2 <= points <= MAX_SPARKLINE_POINTS:
        raise BadRequest(f"points must be between 2 and {MAX_SPARKLINE_POINTS}, got {points}")
    if len(wanted) > MAX_SPARKLINES:
        raise BadRequest(f"markets: at most {MAX_SPARKLINES} markets per request, got {len(wanted)}")
    ids = markets.known_ids(session, wanted)
    summary = ticks.window_summaries(
        session, list(ids.values()), window.start, window.end, stats.BASE_COLUMNS
    )
    raw: dict[int, tuple[int, int]] = {}  # whole ranges of raw ticks, and the rollups' first edges
    after: dict[int, tuple[int, int]] = {}  # the rollups' last edges
    hours: dict[int, tuple[int, int]] = {}
    grid: dict[int, tuple[int, int]] = {}  # market -> (base, bucket width); width 1: every tick
    for market_id, n, first, last in summary[["market_id", "n", "first_ts", "last_ts"]].itertuples(
        index=False, name=None
    ):
        market_id, first, last = int(market_id), int(first), int(last)
        raw[market_id] = (first, last + 1)
        grid[market_id] = (0, 1)
        if n <= points:
            continue
        width = _ceil_div(last + 1 - first, points)
        grid[market_id] = (first, width)
        if width < HOUR:
            continue
        base = first // HOUR * HOUR
        grid[market_id] = (base, _ceil_div(_ceil_div(last + 1 - base, points), HOUR) * HOUR)
        hour_lo, hour_hi = _ceil_div(first, HOUR) * HOUR, (last + 1) // HOUR * HOUR
        raw[market_id], hours[market_id], after[market_id] = (
            (first, hour_lo),
            (hour_lo, hour_hi),
            (hour_hi, last + 1),
        )
    parts = [ticks.read_prices(session, raw).rename(columns={"price": "last"})]
    if hours:
        parts.append(ticks.read_prices(session, after).rename(columns={"price": "last"}))
        rollups = ticks.read_rollups(session, HOUR, hours, ("market_id", "last_ts", "last"))
        parts.append(rollups.rename(columns={"last_ts": "ts"}))
    frame = pd.concat(parts, ignore_index=True).astype({"market_id": "int64", "ts": "int64"})
    frame = frame.sort_values(["market_id", "ts"], kind="stable")
    grids = pd.DataFrame.from_dict(grid, orient="index", columns=["base", "width"], dtype="int64")
    base_of = grids["base"].reindex(frame["market_id"]).to_numpy(dtype="int64")
    width_of = grids["width"].reindex(frame["market_id"]).to_numpy(dtype="int64")
    frame["bucket"] = (frame["ts"].to_numpy() - base_of) // width_of
    buckets = frame.groupby(["market_id", "bucket"], sort=True)[["ts", "last"]].last().reset_index()
    owner = buckets["market_id"].to_numpy(dtype="int64")
    stamps_of = buckets["ts"].to_numpy(dtype="int64")
    prices_of = buckets["last"].to_numpy(dtype="float64")
    bounds = np.flatnonzero(np.diff(owner)) + 1  # each market's buckets are one run
    by_market = {
        int(ids_[0]): (stamps.tolist(), prices.tolist())
        for ids_, stamps, prices in zip(
            np.split(owner, bounds), np.split(stamps_of, bounds), np.split(prices_of, bounds), strict=True
        )
        if len(ids_)
    }
    found, missing = [], []
    for exchange, pair in wanted:
        market_id = ids.get((exchange, pair))
        if market_id is None:
            missing.append(
                {
                    "exchange": exchange,
                    "pair": pair,
                    "reason": f"no market {pair} on {exchange}: nothing collected yet",
                }
            )
            continue
        stamps, prices = by_market.get(market_id, ([], []))
        found.append({"exchange": exchange, "pair": pair, "ts": stamps, "last": prices})
    return {"window": window.name, "points": points, "sparklines": found, "missing": missing}
