"""Ticks and their rollups: bulk writes that keep the rollups exact in the writer's
transaction, and window reads that combine whole buckets with raw ticks at the edges.

Rollups come in 5-minute, 15-minute, hour, 6-hour, day and week buckets, each built from the
level below (the 5-minute ones from the ticks) once its time is over: every span's watermark
moves on with the writes, building the buckets it passes for every market at once, and a bucket
already built is rebuilt only when a late tick lands in it. So most writes store their ticks and
nothing else, and a read takes a built bucket where there is one and the level below where there
is not yet (raw ticks past the 5-minute watermark): every figure stays exact."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import TableClause

from .. import events
from ..analysis import stats
from ..clock import DAY, FIFTEEN_MINUTES, FIVE_MINUTES, HOUR, SIX_HOURS, WEEK, now_ms
from ..models import Exchange, Market, Rollup, State, Tick
from .bulk import Stored, fetch_floats, in_ranges, insert_rows
from .markets import all_ids, market_ids
from .runs import TICKS_VERSION, bump_version, set_state

if TYPE_CHECKING:
    from ..sources.base import Tick as TickValue

#: Rollup bucket sizes, finest first: each is built from the one before it (the finest from the
#: ticks) and divides the next, once its time is over (``closed_until``). Each step is a small
#: factor (3 to 7), so a window's ends take few buckets of each level and closing a bucket reads
#: few of the level below.
SPANS = (FIVE_MINUTES, FIFTEEN_MINUTES, HOUR, SIX_HOURS, DAY, WEEK)
FINEST = SPANS[0]
#: The levels finer than an hour: retention deletes them with the ticks (``storage.prune``).
SUBHOUR = tuple(span for span in SPANS if span < HOUR)

#: ``State`` key of a span's watermark (``closed_until``).
_CLOSED = "rollup:{}:closed"

ROLLUP_COLUMNS = ("market_id", "span", "start", *stats.SUMMARY_COLUMNS)

#: Up to this many markets, a rollup read seeks each one's rows (``ix_rollup_market``); more read
#: the level's buckets over the time range along the key, every market side by side.
FEW_MARKETS = 32

TICK_COLUMNS = ("market_id", "ts", "last", "bid", "ask", "base_volume", "quote_volume")

# The tables' Core columns for the hot reads: a Core select compiles in half the time of one
# over the ORM attributes (0.29 against 0.54 ms), and a one-market read is a handful of them.
_TICK = Tick.__table__.c
_ROLLUP = Rollup.__table__.c


class _ByMarket(TableClause):
    """The rollup table read through ``ix_rollup_market``: SQLite without statistics would take
    the time-first key for a few markets' rows too and scan every market's (``INDEXED BY``)."""

    inherit_cache = True


@compiles(_ByMarket, "sqlite")
def _indexed_by(element: _ByMarket, compiler: SQLCompiler, **kw: Any) -> str:
    text = compiler.visit_table(element, **kw)  # type: ignore[no-untyped-call]
    return f"{text} INDEXED BY ix_rollup_market" if kw.get("asfrom") else text


_BY_MARKET = _ByMarket("rollup", *(sa.column(c.name, c.type) for c in Rollup.__table__.columns))


def store_ticks(session: Session, ticks: Sequence[TickValue]) -> Stored:
    """Insert ticks in one statement and bring the rollups of the buckets they touch up to date.

    Ticks already stored for (market, ts) are skipped and counted as duplicates.
    """
    ids = market_ids(session, {(t.exchange, t.pair) for t in ticks})
    rows = [
        (ids[t.exchange, t.pair], t.ts, t.last, t.bid, t.ask, t.base_volume, t.quote_volume) for t in ticks
    ]
    result = insert_rows(session, Tick, TICK_COLUMNS, rows)
    if result.stored:
        spans = _spans(rows)
        refresh_rollups(session, spans)
        bump_version(session)
        bump_version(session, TICKS_VERSION)
        events.ticks_stored.send(session, spans=spans)
    return result


def _spans(rows: Sequence[tuple[int, int, *tuple[object, ...]]]) -> dict[int, tuple[int, int]]:
    """(first ts, last ts) of each market in ``rows`` (market_id, ts, ...)."""
    markets = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    ts = np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows))
    order = np.lexsort((ts, markets))
    markets, ts = markets[order], ts[order]
    change = markets[1:] != markets[:-1]
    first, last = np.r_[True, change], np.r_[change, True]
    return dict(
        zip(markets[first].tolist(), zip(ts[first].tolist(), ts[last].tolist(), strict=True), strict=True)
    )


def latest_ticks(session: Session, market_ids: Sequence[int] | None = None) -> list[tuple[str, str, Tick]]:
    """(exchange, pair, newest tick) for every market that has one, or for ``market_ids``."""
    grouped = select(Tick.market_id, func.max(Tick.ts).label("ts")).group_by(Tick.market_id)
    if market_ids is not None:
        grouped = grouped.where(Tick.market_id.in_(market_ids))
    newest = grouped.subquery()
    query = (
        select(Exchange.name, Market.pair, Tick)
        .join(Market.exchange)
        .join(newest, newest.c.market_id == Market.id)
        .join(Tick, (Tick.market_id == newest.c.market_id) & (Tick.ts == newest.c.ts))
        .order_by(Market.pair, Exchange.name)
    )
    return [(name, pair, tick) for name, pair, tick in session.execute(query)]


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
    data = fetch_floats(session, query, 4)
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


def read_prices(session: Session, ranges: dict[int, tuple[int, int]]) -> pd.DataFrame:
    """Ticks as a frame (market_id, ts, price) for each market's [low, high), sorted by market and ts."""
    data = np.zeros((0, 3))
    if ranges:
        query = (
            select(_TICK.market_id, _TICK.ts, _TICK.last)
            .where(in_ranges(_TICK.market_id, _TICK.ts, ranges, 1))
            .order_by(_TICK.market_id, _TICK.ts)
        )
        data = fetch_floats(session, query, 3)
    return pd.DataFrame(
        {"market_id": data[:, 0].astype("int64"), "ts": data[:, 1].astype("int64"), "price": data[:, 2]}
    )


def latest_before(session: Session, market_ids: Sequence[int], ts: int) -> pd.DataFrame:
    """Each market's newest tick at or before ``ts`` as (market_id, ts, price): one index seek per
    market."""
    earlier = aliased(Tick)
    newest = (
        select(earlier.ts)
        .where(earlier.market_id == Market.id, earlier.ts <= ts)
        .order_by(earlier.ts.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(Tick.market_id, Tick.ts, Tick.last)
        .select_from(Market)
        .join(Tick, (Tick.market_id == Market.id) & (Tick.ts == newest))
        .where(Market.id.in_(sorted(set(market_ids))))
        .order_by(Tick.market_id)
    )
    data = fetch_floats(session, query, 3) if len(market_ids) else np.zeros((0, 3))
    return pd.DataFrame(
        {"market_id": data[:, 0].astype("int64"), "ts": data[:, 1].astype("int64"), "price": data[:, 2]}
    )


def read_ticks(session: Session, ranges: dict[int, tuple[int, int]]) -> pd.DataFrame:
    """Whole ticks (``TICK_COLUMNS``) for each market's [low, high), sorted by market and ts; a
    missing bid, ask or volume is NaN."""
    data = np.zeros((0, len(TICK_COLUMNS)))
    if ranges:
        where = in_ranges(_TICK.market_id, _TICK.ts, ranges, 1)
        query = select(*(_TICK[c] for c in TICK_COLUMNS)).where(where).order_by(_TICK.market_id, _TICK.ts)
        data = fetch_floats(session, query, len(TICK_COLUMNS))
    return pd.DataFrame(data, columns=list(TICK_COLUMNS)).astype({"market_id": "int64", "ts": "int64"})


def closed_until(session: Session) -> dict[int, int]:
    """Each span's watermark: its buckets that end at or before it are built (exact), the later
    ones are not stored yet and are combined from the level below when read; 0 before the first
    write."""
    keys = {_CLOSED.format(span): span for span in SPANS}
    values = dict(session.execute(select(State.key, State.value).where(State.key.in_(keys))).all())
    return {span: int(values.get(key) or 0) for key, span in keys.items()}


def _summary_columns(columns: Sequence[str]) -> list[str]:
    """The summary columns ``combine`` needs to give ``columns``: the base ones and whole groups."""
    wanted = set(stats.BASE_COLUMNS)
    for group in stats.GROUPS.values():
        if not set(group).isdisjoint(columns):
            wanted.update(group)
    return [c for c in stats.SUMMARY_COLUMNS if c in wanted]


def read_rollups(
    session: Session,
    span: int,
    ranges: dict[int, tuple[int, int]],
    columns: Sequence[str] = ROLLUP_COLUMNS,
    closed: Mapping[int, int] | None = None,
) -> pd.DataFrame:
    """Rollup rows of one span whose bucket lies within each market's [low, high), by market and start.

    Buckets beyond the span's watermark (``closed_until``; not stored yet) are combined from the
    level below, so every bucket that holds a tick is there (``closed`` without the span: the
    stored rows alone). Values come back as float64, which holds every ms timestamp and count
    exactly; None (a bucket without returns) becomes NaN.
    """
    closed = closed_until(session) if closed is None else closed
    limit = closed.get(span)
    upper = 2**62 if limit is None else limit  # a multiple of span
    stored = _map(ranges, lambda lo, hi: (lo, min(hi, upper)) if min(hi, upper) - lo >= span else None)
    data = np.zeros((0, len(columns)))
    if stored:
        # no ORDER BY: the database reads along whichever key fits (time first for many markets,
        # ``ix_rollup_market`` for a few) and the rows are sorted here, by market and start (or
        # by first tick, which orders a market's buckets as their starts do: no extra column)
        when = "first_ts" if "first_ts" in columns and "start" not in columns else "start"
        selected = [*columns, *(k for k in ("market_id", when) if k not in columns)]
        table = _ROLLUP if len(stored) > FEW_MARKETS else _BY_MARKET.c
        query = select(*(table[c] for c in selected)).where(
            table.span == span, in_ranges(table.market_id, table.start, stored, span)
        )
        data = fetch_floats(session, query, len(selected))
        order = np.lexsort((data[:, selected.index(when)], data[:, selected.index("market_id")]))
        data = data[order, : len(columns)]
    frame = pd.DataFrame(data, columns=list(columns))
    if limit is None:
        return frame
    later = _map(ranges, lambda lo, hi: _whole(max(lo, upper), hi, span))  # from the watermark on
    if not later:
        return frame
    built = _build(session, span, later, closed, _summary_columns(columns))
    if not len(built):
        return frame
    built = built.assign(span=float(span))[list(columns)].astype("float64")
    both = pd.concat([f for f in (frame, built) if len(f)], ignore_index=True)
    return both.sort_values(["market_id", "start"], kind="stable", ignore_index=True)


def _whole(lo: int, hi: int, span: int) -> tuple[int, int] | None:
    """The edges of the whole ``span`` buckets within [lo, hi), None when there are none."""
    bounds = (-(-lo // span) * span, hi // span * span)
    return bounds if bounds[0] < bounds[1] else None


def _map(
    ranges: Mapping[int, tuple[int, int]], change: Callable[[int, int], tuple[int, int] | None]
) -> dict[int, tuple[int, int]]:
    """Each market's range through ``change`` (None leaves the market out), computed once per
    distinct range: a window's markets mostly share one."""
    done: dict[tuple[int, int], tuple[int, int] | None] = {}
    out = {}
    for market_id, bounds in ranges.items():
        if bounds not in done:
            done[bounds] = change(*bounds)
        changed = done[bounds]
        if changed is not None:
            out[market_id] = changed
    return out


def _build(
    session: Session,
    span: int,
    ranges: dict[int, tuple[int, int]],
    closed: Mapping[int, int],
    columns: Sequence[str] = stats.SUMMARY_COLUMNS,
) -> pd.DataFrame:
    """The ``span`` buckets in each market's [low, high) (bucket edges) from the level below, the
    raw ticks for the finest: a frame (market_id, start, ``columns``) by market and start."""
    if span == FINEST:
        ticks = read_prices(session, ranges)
        ticks["start"] = ticks["ts"] // span * span
        built = stats.summarize(ticks[["market_id", "start", "ts", "price"]], ["market_id", "start"])
    else:
        fine = SPANS[SPANS.index(span) - 1]
        parts = read_rollups(session, fine, ranges, ["market_id", "start", *columns], closed)
        parts["bucket"] = parts["start"] // span * span
        built = stats.combine(parts[["market_id", "bucket", *columns]], ["market_id", "bucket"])
        built = built.rename(columns={"bucket": "start"})
    return built[["market_id", "start", *columns]]


_INTEGER = frozenset(
    c.name for c in Rollup.__table__.columns if isinstance(c.type, sa.BigInteger | sa.Integer)
)


def summary_rows(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple[int | float | None, ...]]:
    """The ``columns`` of a summary frame as rows to insert: whole numbers as int, NaN as None."""
    values = []
    for column in columns:
        floats = frame[column].to_numpy(dtype="float64")  # exact for every ms timestamp and count
        blank = np.isnan(floats)
        cells = np.where(blank, 0, floats).astype("int64").astype(object) if column in _INTEGER else floats
        cells = cells.astype(object)
        cells[blank] = None
        values.append(cells.tolist())
    return list(zip(*values, strict=True))


def _rebuild(
    session: Session, span: int, ranges: dict[int, tuple[int, int]], closed: Mapping[int, int]
) -> None:
    """Write the ``span`` buckets in each market's [low, high) (bucket edges) from the level below."""
    built = _build(session, span, ranges, closed)
    rows = summary_rows(built.assign(span=span), ROLLUP_COLUMNS)
    insert_rows(session, Rollup, ROLLUP_COLUMNS, rows, replace=True)


def refresh_rollups(session: Session, spans: dict[int, tuple[int, int]]) -> None:
    """Bring the rollups up to date for ticks written in each market's [first, last] ts.

    Buckets already built that hold them (before their span's watermark: late ticks) are
    rebuilt from the level below, finest first. Then every span's watermark moves on to the
    last bucket that is over at the newest tick written (never past the clock), building those
    buckets of every market. Rebuilding from what is stored means
    duplicates and out-of-order writes cannot drift.
    """
    closed = closed_until(session)
    # only a market with ticks before the finest watermark has built buckets to rebuild
    ranges = {m: (lo, hi + 1) for m, (lo, hi) in spans.items() if lo < closed[FINEST]}
    for span in SPANS:
        ranges = {
            m: (_floor(lo, span), min(_floor(hi - 1, span) + span, closed[span]))
            for m, (lo, hi) in ranges.items()
        }
        ranges = {m: bounds for m, bounds in ranges.items() if bounds[0] < bounds[1]}
        if not ranges:  # a coarser watermark is never ahead of a finer one
            break
        _rebuild(session, span, ranges, closed)
    advance(session, min(max(hi for _, hi in spans.values()), now_ms()), closed)


def advance(session: Session, now: int, closed: dict[int, int]) -> None:
    """Move each span's watermark to its last bucket over at ``now`` (a coarser one: over and
    built from the finer level), building the buckets it passes for every market; ``closed``
    (``closed_until``) is kept up to date."""
    ids: list[int] | None = None
    for index, span in enumerate(SPANS):
        target = _floor(now if index == 0 else closed[SPANS[index - 1]], span)
        if target <= closed[span]:
            continue
        if ids is None:
            ids = all_ids(session)
        _rebuild(session, span, dict.fromkeys(ids, (closed[span], target)), closed)
        set_state(session, _CLOSED.format(span), target)
        closed[span] = target


def cover(
    start: int, end: int, spans: Sequence[int] = SPANS, closed: Mapping[int, int] | None = None
) -> list[tuple[int, int, int]]:
    """Cut [start, end) into (span, low, high) pieces: the coarsest whole buckets that fit (and
    are built: before their span's watermark in ``closed``), finer ones towards the edges, and
    span 0 (raw ticks) only inside the finest partial buckets (and past the finest watermark)."""
    if start >= end:
        return []
    if not spans:
        return [(0, start, end)]
    span = spans[-1]
    low, high = -(-start // span) * span, end // span * span
    if closed is not None and span in closed:
        high = min(high, closed[span])
    if low >= high:
        return cover(start, end, spans[:-1], closed)
    return [*cover(start, low, spans[:-1], closed), (span, low, high), *cover(high, end, spans[:-1], closed)]


def window_summaries(
    session: Session,
    market_ids: Sequence[int],
    start: int,
    end: int,
    columns: Sequence[str] = stats.SUMMARY_COLUMNS,
) -> pd.DataFrame:
    """One combined summary per market over its ticks with start <= ts < end (``stats.finish`` -> Stats).

    Reads whole built buckets from the rollups and raw ticks only in the partial finest buckets
    at the two edges and past the finest watermark (the last few minutes), so the cost hardly
    grows with the window. ``columns``: the summary columns wanted (``stats.BASE_COLUMNS`` and
    whole ``stats.GROUPS``): only those are read.
    """
    wanted = ["market_id", *(c for c in stats.SUMMARY_COLUMNS if c in columns)]
    if not market_ids:
        return pd.DataFrame(columns=wanted)
    parts = []  # each piece's segments as float64 rows of ``wanted``: one frame is built, at the end
    closed = closed_until(session)
    for span, low, high in cover(start, end, closed=closed):
        ranges = dict.fromkeys(market_ids, (low, high))
        if span:
            parts.append(read_rollups(session, span, ranges, wanted, closed).to_numpy(dtype="float64"))
        else:
            ticks = read_prices(session, ranges)
            if len(ticks):
                parts.append(stats.summarize(ticks, ["market_id"])[wanted].to_numpy(dtype="float64"))
    segments = np.concatenate([np.zeros((0, len(wanted))), *parts])
    if not len(segments):
        return pd.DataFrame(columns=wanted)
    first_ts = segments[:, wanted.index("first_ts")]
    segments = segments[np.lexsort((first_ts, segments[:, 0]))]  # by market, then time
    combined = stats.combine(pd.DataFrame(segments, columns=wanted), ["market_id"])
    combined["market_id"] = combined["market_id"].astype("int64")  # one column, not a frame-wide astype
    return combined


def prepare_rollups(session: Session) -> int:
    """Start the watermarks of a database written before them (every bucket was built with the
    ticks then: each span's starts at the newest tick) and build the rollups of markets that have
    ticks before the finest watermark but no finest buckets (ticks stored before rollups, or before
    the finest level existed); return how many markets needed that."""
    closed = closed_until(session)
    newest = session.scalar(select(func.max(Tick.ts)))
    if newest is not None:
        added = any(closed.values())  # levels added since the database was written
        for index, span in enumerate(SPANS):
            if closed[span]:
                continue
            if added and index:
                _add_level(session, span, closed)
            else:
                closed[span] = _floor(newest, span)
            set_state(session, _CLOSED.format(span), closed[span])
    finest = sa.exists().where(Rollup.market_id == Market.id, Rollup.span == FINEST)
    without = select(Market.id).where(~finest)
    spans = {
        market_id: (low, high)
        for market_id, low, high in session.execute(
            select(Tick.market_id, func.min(Tick.ts), func.max(Tick.ts))
            .where(Tick.market_id.in_(without), Tick.ts < closed[FINEST])
            .group_by(Tick.market_id)
        )
    }
    if spans:
        refresh_rollups(session, spans)
        bump_version(session)
        bump_version(session, TICKS_VERSION)
    return len(spans)


def _add_level(session: Session, span: int, closed: dict[int, int], chunk: int = 500) -> None:
    """Build a level that is new to a written database over its whole history, from the level
    below, ``chunk`` markets at a time (bounded memory), up to the level below's watermark."""
    closed[span] = _floor(closed[SPANS[SPANS.index(span) - 1]], span)
    ids = all_ids(session)
    for lo in range(0, len(ids), chunk):
        _rebuild(session, span, dict.fromkeys(ids[lo : lo + chunk], (0, closed[span])), closed)
