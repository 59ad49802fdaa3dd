"""Bulk writes and reads. Callers own the transaction (one per collection cycle)."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import Connection, Table, and_, bindparam, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from . import stats
from .models import BookTop, Candle, Cap, Exchange, Listing, Market, Rejection, Rollup, Run, State, Tick
from .sources.base import BookTop as BookTopValue
from .sources.base import Candle as CandleValue
from .sources.base import CapSnapshot
from .sources.base import Rejection as RejectionValue
from .sources.base import Tick as TickValue

HOUR = 3_600_000
DAY = 86_400_000
WEEK = 7 * DAY
#: Rollup bucket sizes, finest first: each is built from the one before it and divides the next.
SPANS = (HOUR, DAY, WEEK)
ROLLUP_COLUMNS = ("market_id", "span", "start", *stats.SUMMARY_COLUMNS)

TICK_COLUMNS = ("market_id", "ts", "last", "bid", "ask", "base_volume", "quote_volume")
BOOK_COLUMNS = (
    "market_id",
    "ts",
    "bid",
    "bid_size",
    "ask",
    "ask_size",
    "bid_depth_05",
    "ask_depth_05",
    "bid_depth_1",
    "ask_depth_1",
)


@dataclass(frozen=True, slots=True)
class Stored:
    """How many rows a bulk write inserted, and how many it skipped as already stored."""

    stored: int
    duplicates: int


def exchange_ids(session: Session, names: Iterable[str]) -> dict[str, int]:
    """Return the id of each exchange name, creating the missing ones."""
    wanted = set(names)
    exchanges = {name: id_ for name, id_ in session.execute(select(Exchange.name, Exchange.id))}
    for name in sorted(wanted - exchanges.keys()):
        exchange = Exchange(name=name)
        session.add(exchange)
        session.flush()
        exchanges[name] = exchange.id
    return {name: exchanges[name] for name in wanted}


def market_ids(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Return the id of each (exchange, pair), creating missing exchanges and markets."""
    wanted = set(keys)
    if not wanted:
        return {}

    def known() -> dict[tuple[str, str], int]:
        rows = session.execute(select(Exchange.name, Market.pair, Market.id).join(Market.exchange))
        return {(name, pair): market_id for name, pair, market_id in rows}

    ids = known()
    missing = wanted - ids.keys()
    if missing:
        exchanges = exchange_ids(session, {e for e, _ in missing})
        session.add_all(Market(exchange_id=exchanges[e], pair=p) for e, p in sorted(missing))
        session.flush()
        ids = known()
    return {key: ids[key] for key in wanted}


def _insert_sql(conn: Connection, table: Table, columns: Sequence[str], replace: bool) -> tuple[str, bool]:
    """INSERT ... ON CONFLICT DO NOTHING (or DO UPDATE when ``replace``) for this dialect.

    Returns the SQL and whether it takes positional parameters.
    """
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[conn.dialect.name]
    stmt = insert(table).values({c: bindparam(c) for c in columns})
    keys = [c.name for c in table.primary_key]
    if replace:
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={c: stmt.excluded[c] for c in columns if c not in keys}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    compiled = stmt.compile(dialect=conn.dialect)
    return str(compiled), bool(compiled.positional)


def _bulk_insert(
    session: Session, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]], replace: bool = False
) -> Stored:
    # Straight to the driver's executemany: SQLAlchemy's per-row parameter
    # processing would halve the ingest rate, and these rows are plain numbers.
    if not rows:
        return Stored(0, 0)
    conn = session.connection()
    sql, positional = _insert_sql(conn, table, columns, replace)
    params = rows if positional else [dict(zip(columns, row, strict=True)) for row in rows]
    stored = conn.exec_driver_sql(sql, params).rowcount
    return Stored(stored, len(rows) - stored)


def store_ticks(session: Session, ticks: Sequence[TickValue]) -> Stored:
    """Insert ticks in one statement and bring the rollups of the buckets they touch up to date.

    Ticks already stored for (market, ts) are skipped and counted as duplicates.
    """
    ids = market_ids(session, {(t.exchange, t.pair) for t in ticks})
    rows = [
        (ids[t.exchange, t.pair], t.ts, t.last, t.bid, t.ask, t.base_volume, t.quote_volume) for t in ticks
    ]
    result = _bulk_insert(session, Tick.__table__, TICK_COLUMNS, rows)
    if result.stored:
        spans: dict[int, tuple[int, int]] = {}
        for market_id, ts, *_ in rows:
            low, high = spans.get(market_id, (ts, ts))
            spans[market_id] = (min(low, ts), max(high, ts))
        refresh_rollups(session, spans)
        bump_version(session)
    return result


def store_book_tops(session: Session, books: Sequence[BookTopValue]) -> Stored:
    """Insert book tops in one statement; those already stored for (market, ts) are skipped."""
    ids = market_ids(session, {(b.exchange, b.pair) for b in books})
    rows = [(ids[b.exchange, b.pair], *(getattr(b, c) for c in BOOK_COLUMNS[1:])) for b in books]
    result = _bulk_insert(session, BookTop.__table__, BOOK_COLUMNS, rows)
    if result.stored:
        bump_version(session)
    return result


def has_book_tops(session: Session, market_id: int) -> bool:
    """Whether any book top of the market is stored."""
    return session.scalar(select(BookTop.ts).where(BookTop.market_id == market_id).limit(1)) is not None


def read_book_tops(session: Session, market_id: int, low: int, high: int) -> pd.DataFrame:
    """One market's book tops with low <= ts < high, oldest first (``BOOK_COLUMNS`` but the market)."""
    columns = [getattr(BookTop, c) for c in BOOK_COLUMNS[1:]]
    query = (
        select(*columns)
        .where(BookTop.market_id == market_id, BookTop.ts >= low, BookTop.ts < high)
        .order_by(BookTop.ts)
    )
    frame = pd.DataFrame(_fetch_floats(session, query, len(columns)), columns=list(BOOK_COLUMNS[1:]))
    return frame.astype({"ts": "int64"})


CANDLE_COLUMNS = ("market_id", "timeframe", "ts", "open", "high", "low", "close", "volume")


def _insert_candles(session: Session, rows: list[tuple[Any, ...]]) -> Stored:
    result = _bulk_insert(session, Candle.__table__, CANDLE_COLUMNS, rows)
    if result.stored:
        bump_version(session)
    return result


def store_candles(session: Session, candles: Sequence[CandleValue]) -> Stored:
    """Insert candles in one statement; those already stored for (market, timeframe, ts) are skipped."""
    ids = market_ids(session, {(c.exchange, c.pair) for c in candles})
    return _insert_candles(
        session,
        [
            (ids[c.exchange, c.pair], c.timeframe, c.ts, c.open, c.high, c.low, c.close, c.volume)
            for c in candles
        ],
    )


def store_candle_arrays(
    session: Session, exchange: str, pair: str, timeframe: str, ts: np.ndarray, ohlcv: np.ndarray
) -> Stored:
    """``store_candles`` for one market's many candles held as arrays (``ohlcv``: n × 5), without a
    Python object per candle."""
    market = market_ids(session, {(exchange, pair)})[exchange, pair]
    n = len(ts)
    columns = [[market] * n, [timeframe] * n, ts.tolist(), *ohlcv.T.tolist()]
    return _insert_candles(session, list(zip(*columns, strict=True)))


def read_candles(session: Session, market_id: int, timeframe: str, low: int, high: int) -> pd.DataFrame:
    """Stored candles (ts, open, high, low, close, volume) of a market with low <= ts < high, by ts."""
    query = (
        select(Candle.ts, Candle.open, Candle.high, Candle.low, Candle.close, Candle.volume)
        .where(
            Candle.market_id == market_id, Candle.timeframe == timeframe, Candle.ts >= low, Candle.ts < high
        )
        .order_by(Candle.ts)
    )
    frame = pd.DataFrame(
        _fetch_floats(session, query, 6), columns=["ts", "open", "high", "low", "close", "volume"]
    )
    return frame.astype({"ts": "int64"})


def last_candle_ts(session: Session, exchange: str, pair: str, timeframe: str) -> int | None:
    """Open time of the newest stored candle of a market and timeframe."""
    return session.scalar(
        select(func.max(Candle.ts))
        .join(Market, Market.id == Candle.market_id)
        .join(Market.exchange)
        .where(Exchange.name == exchange, Market.pair == pair, Candle.timeframe == timeframe)
    )


CAP_COLUMNS = ("coin", "ts", "symbol", "name", "rank", "market_cap", "volume", "supply")


def store_caps(session: Session, caps: Sequence[CapSnapshot]) -> Stored:
    """Insert market-cap snapshots; one already stored for (coin, ts) is skipped."""
    rows = [tuple(getattr(c, name) for name in CAP_COLUMNS) for c in caps]
    result = _bulk_insert(session, Cap.__table__, CAP_COLUMNS, rows)
    if result.stored:
        bump_version(session)
    return result


def read_caps(session: Session, low: int, high: int, coin: str | None = None) -> list[Cap]:
    """Snapshots with low <= ts < high (of one coin, or all), oldest first."""
    query = select(Cap).where(Cap.ts >= low, Cap.ts < high).order_by(Cap.ts, Cap.rank)
    if coin is not None:
        query = query.where(Cap.coin == coin)
    return list(session.scalars(query))


def latest_cap(session: Session, coin: str) -> Cap | None:
    """One coin's newest snapshot, if any."""
    return session.scalars(select(Cap).where(Cap.coin == coin).order_by(Cap.ts.desc()).limit(1)).first()


def add_runs(session: Session, runs: Sequence[Run]) -> None:
    """Record collection runs (their health is part of what readers see)."""
    session.add_all(runs)
    bump_version(session)


def store_rejections(session: Session, rejections: Sequence[RejectionValue], ts: int, keep: int) -> None:
    """Keep rejected values and payloads (rejected at ``ts``) for the validation report, in the
    caller's transaction, then delete all but the newest ``keep`` of each source they came from."""
    if not rejections:
        return
    table = Rejection.__table__
    session.execute(
        sa.insert(table),
        [
            {"source": r.exchange, "endpoint": r.endpoint, "pair": r.pair, "reason": r.reason, "ts": ts}
            for r in rejections
        ],
    )
    newest_first = func.row_number().over(
        partition_by=table.c.source, order_by=(table.c.ts.desc(), table.c.id.desc())
    )
    ranked = (
        select(table.c.id, newest_first.label("place"))
        .where(table.c.source.in_(sorted({r.exchange for r in rejections})))
        .subquery()
    )
    session.execute(sa.delete(table).where(table.c.id.in_(select(ranked.c.id).where(ranked.c.place > keep))))
    bump_version(session)


def rejection_counts(session: Session, sources: Iterable[str], since: int) -> dict[str, int]:
    """How many rejections of each of ``sources`` are kept with ts >= ``since``."""
    rows = session.execute(
        select(Rejection.source, func.count())
        .where(Rejection.source.in_(list(sources)), Rejection.ts >= since)
        .group_by(Rejection.source)
    )
    return {source: count for source, count in rows}


def read_rejections(session: Session, source: str | None = None, limit: int = 100) -> list[Rejection]:
    """The newest kept rejections first (of one source, or all)."""
    query = select(Rejection).order_by(Rejection.ts.desc(), Rejection.id.desc()).limit(limit)
    if source:
        query = query.where(Rejection.source == source)
    return list(session.scalars(query))


def rejection_sources(session: Session) -> list[str]:
    """Sources with kept rejections, by name."""
    return list(session.scalars(select(Rejection.source).distinct().order_by(Rejection.source)))


#: Numbers and quoted values in a rejection reason: masked so reasons that differ only in the
#: offending value (``last is not positive: -1`` / ``: -3``, a timestamp, a line number) group.
_VALUE = re.compile(r"'[^']*'|\"[^\"]*\"|(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")


def reason_group(reason: str) -> str:
    """The reason with its values masked as ``…``: the key rejections are grouped by."""
    return _VALUE.sub("…", reason)


def rejection_summary(session: Session, source: str | None = None) -> list[dict[str, Any]]:
    """Kept rejections grouped by source, endpoint and reason (values masked: ``reason_group``), each
    with its count, newest time and newest example (pair and full reason); by source, then the
    largest group first."""
    count, newest = func.count().label("count"), func.max(Rejection.ts).label("last_ts")
    query = select(Rejection.source, Rejection.endpoint, Rejection.reason, Rejection.pair, count, newest)
    if source:
        query = query.where(Rejection.source == source)
    query = query.group_by(Rejection.source, Rejection.endpoint, Rejection.reason, Rejection.pair)
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    query = query.order_by(newest.desc(), func.max(Rejection.id).desc())
    for name, endpoint, reason, pair, n, last_ts in session.execute(query):
        key = (name, endpoint, reason_group(reason))
        group = groups.get(key)
        if group is None:  # newest first: the first row of a group is its example
            groups[key] = {
                "source": name,
                "endpoint": endpoint,
                "reason": key[2],
                "count": n,
                "last_ts": last_ts,
                "example_pair": pair,
                "example_reason": reason,
            }
        else:
            group["count"] += n
    return sorted(groups.values(), key=lambda g: (g["source"], -g["count"], -g["last_ts"], g["reason"]))


DATA_VERSION = "data_version"


def bump_version(session: Session) -> None:
    """Mark, in the writer's transaction, that what readers can see has changed."""
    if not session.execute(
        sa.update(State).where(State.key == DATA_VERSION).values(value=State.value + 1)
    ).rowcount:
        # Seeded with the clock so a recreated database never repeats an earlier version.
        session.add(State(key=DATA_VERSION, value=time.time_ns() // 1_000_000))


def data_version(session: Session) -> int:
    """A number that changes whenever stored ticks, book tops or runs change."""
    return session.scalar(select(State.value).where(State.key == DATA_VERSION)) or 0


def active_cooldowns(session: Session, now: int) -> dict[str, int]:
    """Sources whose latest cooldown has not ended yet, with when it ends (epoch ms)."""
    rows = session.execute(
        select(Run.source, func.max(Run.cooldown_until)).where(Run.cooldown_until > now).group_by(Run.source)
    )
    return {source: until for source, until in rows}


def recent_runs(session: Session, limit: int = 20, source: str | None = None) -> list[Run]:
    """The newest runs first."""
    query = select(Run).order_by(Run.started.desc(), Run.id.desc()).limit(limit)
    if source:
        query = query.where(Run.source == source)
    return list(session.scalars(query))


def latest_runs(session: Session) -> list[Run]:
    """The newest run of every source, by source name."""
    newest = select(Run.source, func.max(Run.id).label("id")).group_by(Run.source).subquery()
    return list(session.scalars(select(Run).join(newest, Run.id == newest.c.id).order_by(Run.source)))


def latest_ticks(session: Session, market_ids: Sequence[int] | None = None) -> list[tuple[str, str, Tick]]:
    """(exchange, pair, newest tick) for every market that has one, or for ``market_ids``."""
    newest = select(Tick.market_id, func.max(Tick.ts).label("ts")).group_by(Tick.market_id)
    if market_ids is not None:
        newest = newest.where(Tick.market_id.in_(market_ids))
    newest = newest.subquery()
    query = (
        select(Exchange.name, Market.pair, Tick)
        .join(Market.exchange)
        .join(newest, newest.c.market_id == Market.id)
        .join(Tick, (Tick.market_id == newest.c.market_id) & (Tick.ts == newest.c.ts))
        .order_by(Market.pair, Exchange.name)
    )
    return [tuple(row) for row in session.execute(query)]


@dataclass(frozen=True, slots=True)
class StoredListing:
    """The pairs one exchange lists and when that listing was taken (epoch ms)."""

    refreshed: int
    pairs: frozenset[str]


LISTING_COLUMNS = ("exchange_id", "pair", "refreshed")
#: The width of the pair columns (``Market.pair``, ``Listing.pair``).
PAIR_WIDTH = 64


def store_listing(session: Session, exchange: str, pairs: Iterable[str], refreshed: int) -> int:
    """Replace the pairs stored as listed by ``exchange`` with ``pairs``; return how many were stored.

    A pair too long for the pair column (no exchange we know has one) is left out.
    """
    exchange_id = exchange_ids(session, [exchange])[exchange]
    rows = [(exchange_id, pair, refreshed) for pair in sorted(set(pairs)) if len(pair) <= PAIR_WIDTH]
    session.execute(sa.delete(Listing).where(Listing.exchange_id == exchange_id))
    _bulk_insert(session, Listing.__table__, LISTING_COLUMNS, rows)
    bump_version(session)
    return len(rows)


def read_listings(session: Session, exchanges: Iterable[str] | None = None) -> dict[str, StoredListing]:
    """Stored listings by exchange name (of ``exchanges``, or all)."""
    query = select(Exchange.name, Listing.pair, Listing.refreshed).join(
        Exchange, Exchange.id == Listing.exchange_id
    )
    if exchanges is not None:
        query = query.where(Exchange.name.in_(list(exchanges)))
    pairs: dict[str, set[str]] = {}
    refreshed: dict[str, int] = {}
    for name, pair, when in session.execute(query):
        pairs.setdefault(name, set()).add(pair)
        refreshed[name] = min(when, refreshed.get(name, when))
    return {name: StoredListing(refreshed[name], frozenset(found)) for name, found in sorted(pairs.items())}


def read_hourly_volumes(session: Session, market_ids: Sequence[int], low: int, high: int) -> pd.DataFrame:
    """The last tick carrying a volume in each UTC hour, per market, with low <= ts < high: a frame
    (market_id, ts, base_volume, quote_volume) sorted by market and ts; a missing volume is NaN."""
    if not market_ids:
        return pd.DataFrame(columns=["market_id", "ts", "base_volume", "quote_volume"])
    newest = (
        select(Tick.market_id, func.max(Tick.ts).label("ts"))
        .where(
            Tick.market_id.in_(list(market_ids)),
            Tick.ts >= low,
            Tick.ts < high,
            or_(Tick.base_volume.is_not(None), Tick.quote_volume.is_not(None)),
        )
        .group_by(Tick.market_id, Tick.ts // HOUR)
        .subquery()
    )
    query = (
        select(Tick.market_id, Tick.ts, Tick.base_volume, Tick.quote_volume)
        .join(newest, and_(Tick.market_id == newest.c.market_id, Tick.ts == newest.c.ts))
        .order_by(Tick.market_id, Tick.ts)
    )
    data = _fetch_floats(session, query, 4)
    return pd.DataFrame(
        {
            "market_id": data[:, 0].astype("int64"),
            "ts": data[:, 1].astype("int64"),
            "base_volume": data[:, 2],
            "quote_volume": data[:, 3],
        }
    )


def _floor(ts: int, span: int) -> int:
    return ts // span * span


def _ranges(
    market: sa.ColumnElement, ts: sa.ColumnElement, ranges: dict[int, tuple[int, int]], width: int
) -> sa.ColumnElement[bool]:
    """market in ranges and low <= ts <= high - width, for each market's [low, high).

    Markets that share one range become a single IN list, which compiles and
    plans far faster than one OR branch per market.
    """
    by_range: dict[tuple[int, int], list[int]] = {}
    for market_id, bounds in ranges.items():
        by_range.setdefault(bounds, []).append(market_id)
    return or_(
        *(
            and_(market.in_(ids) if len(ids) > 1 else market == ids[0], ts >= lo, ts <= hi - width)
            for (lo, hi), ids in by_range.items()
        )
    )


def _fetch_floats(session: Session, query: sa.Select, width: int) -> np.ndarray:
    """Run ``query`` on the session's connection and return its rows as a float64 array.

    Goes through the DBAPI cursor: wrapping each of many numeric rows in a
    SQLAlchemy Row costs more than the query itself.
    """
    conn = session.connection()
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return np.array(rows, dtype="float64").reshape(-1, width)


def read_prices(session: Session, ranges: dict[int, tuple[int, int]]) -> pd.DataFrame:
    """Ticks as a frame (market_id, ts, price) for each market's [low, high), sorted by market and ts."""
    data = np.zeros((0, 3))
    if ranges:
        query = (
            select(Tick.market_id, Tick.ts, Tick.last)
            .where(_ranges(Tick.market_id, Tick.ts, ranges, 1))
            .order_by(Tick.market_id, Tick.ts)
        )
        data = _fetch_floats(session, query, 3)
    return pd.DataFrame(
        {"market_id": data[:, 0].astype("int64"), "ts": data[:, 1].astype("int64"), "price": data[:, 2]}
    )


def read_ticks(session: Session, ranges: dict[int, tuple[int, int]]) -> pd.DataFrame:
    """Whole ticks (``TICK_COLUMNS``) for each market's [low, high), sorted by market and ts; a
    missing bid, ask or volume is NaN."""
    data = np.zeros((0, len(TICK_COLUMNS)))
    if ranges:
        columns = [getattr(Tick, c) for c in TICK_COLUMNS]
        where = _ranges(Tick.market_id, Tick.ts, ranges, 1)
        query = select(*columns).where(where).order_by(Tick.market_id, Tick.ts)
        data = _fetch_floats(session, query, len(columns))
    return pd.DataFrame(data, columns=list(TICK_COLUMNS)).astype({"market_id": "int64", "ts": "int64"})


def read_rollups(
    session: Session,
    span: int,
    ranges: dict[int, tuple[int, int]],
    columns: Sequence[str] = ROLLUP_COLUMNS,
) -> pd.DataFrame:
    """Rollup rows of one span whose bucket lies within each market's [low, high), by market and start.

    Values come back as float64, which holds every ms timestamp and count
    exactly; None (a bucket without returns) becomes NaN.
    """
    query = (
        select(*(getattr(Rollup, c) for c in columns))
        .where(Rollup.span == span, _ranges(Rollup.market_id, Rollup.start, ranges, span))
        .order_by(Rollup.market_id, Rollup.start)
    )
    return pd.DataFrame(_fetch_floats(session, query, len(columns)), columns=list(columns))


_INTEGER = frozenset(
    c.name for c in Rollup.__table__.columns if isinstance(c.type, sa.BigInteger | sa.Integer)
)


def _write_rollups(session: Session, span: int, summaries: pd.DataFrame) -> None:
    frame = summaries.assign(span=span)[list(ROLLUP_COLUMNS)]
    converters = [int if c in _INTEGER else float for c in ROLLUP_COLUMNS]
    rows = [
        tuple(None if v != v else convert(v) for convert, v in zip(converters, row, strict=True))
        for row in frame.itertuples(index=False, name=None)
    ]
    _bulk_insert(session, Rollup.__table__, ROLLUP_COLUMNS, rows, replace=True)


def refresh_rollups(session: Session, spans: dict[int, tuple[int, int]]) -> None:
    """Recompute every rollup bucket that holds a tick in each market's [first, last] ts.

    Buckets are rebuilt from what is stored (the finest from ticks, the next from
    the finest), so duplicates and out-of-order writes cannot make them drift.
    """
    ranges = {m: (_floor(lo, HOUR), _floor(hi, HOUR) + HOUR) for m, (lo, hi) in spans.items()}
    ticks = read_prices(session, ranges)
    ticks["start"] = ticks["ts"] // HOUR * HOUR
    finer = stats.summarize(ticks[["market_id", "start", "ts", "price"]], ["market_id", "start"])
    _write_rollups(session, HOUR, finer)
    for fine, coarse in itertools.pairwise(SPANS):
        ranges = {m: (_floor(lo, coarse), _floor(hi - 1, coarse) + coarse) for m, (lo, hi) in ranges.items()}
        parts = read_rollups(session, fine, ranges)
        parts["bucket"] = parts["start"] // coarse * coarse
        merged = stats.combine(parts, ["market_id", "bucket"]).rename(columns={"bucket": "start"})
        _write_rollups(session, coarse, merged)


def cover(start: int, end: int, spans: Sequence[int] = SPANS) -> list[tuple[int, int, int]]:
    """Cut [start, end) into (span, low, high) pieces: the coarsest whole buckets that fit, finer
    ones towards the edges, and span 0 (raw ticks) only inside the finest partial buckets."""
    if start >= end:
        return []
    if not spans:
        return [(0, start, end)]
    span = spans[-1]
    low, high = -(-start // span) * span, end // span * span
    if low >= high:
        return cover(start, end, spans[:-1])
    return [*cover(start, low, spans[:-1]), (span, low, high), *cover(high, end, spans[:-1])]


def window_summaries(session: Session, market_ids: Sequence[int], start: int, end: int) -> pd.DataFrame:
    """One combined summary per market over its ticks with start <= ts < end (``stats.finish`` -> Stats).

    Reads whole buckets from the rollups and raw ticks only in the partial hours
    at the two edges, so the cost hardly grows with the window.
    """
    if not market_ids:
        return pd.DataFrame(columns=["market_id", *stats.SUMMARY_COLUMNS])
    parts = []
    for span, low, high in cover(start, end):
        ranges = dict.fromkeys(market_ids, (low, high))
        if span:
            parts.append(read_rollups(session, span, ranges))
        else:
            ticks = read_prices(session, ranges)
            if len(ticks):
                parts.append(stats.summarize(ticks, ["market_id"]))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=["market_id", *stats.SUMMARY_COLUMNS])
    segments = pd.concat([p[["market_id", *stats.SUMMARY_COLUMNS]] for p in parts], ignore_index=True)
    segments = segments.astype("float64").sort_values(["market_id", "first_ts"], kind="stable")
    combined = stats.combine(segments, ["market_id"])
    return combined.astype({"market_id": "int64"})


def rebuild_missing_rollups(session: Session) -> int:
    """Build the rollups of markets that have ticks but none (ticks stored before rollups existed)."""
    without = select(Market.id).where(~sa.exists().where(Rollup.market_id == Market.id))
    spans = {
        market_id: (low, high)
        for market_id, low, high in session.execute(
            select(Tick.market_id, func.min(Tick.ts), func.max(Tick.ts))
            .where(Tick.market_id.in_(without))
            .group_by(Tick.market_id)
        )
    }
    if spans:
        refresh_rollups(session, spans)
        bump_version(session)
    return len(spans)
