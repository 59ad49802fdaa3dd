"""Bulk writes and reads. Callers own the transaction (one per collection cycle)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .models import BookTop, Exchange, Market, Run, Tick
from .sources.base import BookTop as BookTopValue
from .sources.base import Tick as TickValue

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
        exchanges = {name: id_ for name, id_ in session.execute(select(Exchange.name, Exchange.id))}
        for name in {e for e, _ in missing} - exchanges.keys():
            exchange = Exchange(name=name)
            session.add(exchange)
            session.flush()
            exchanges[name] = exchange.id
        session.add_all(Market(exchange_id=exchanges[e], pair=p) for e, p in sorted(missing))
        session.flush()
        ids = known()
    return {key: ids[key] for key in wanted}


def _insert_sql(conn: Connection, table: Table, columns: Sequence[str]) -> tuple[str, bool]:
    """INSERT ... ON CONFLICT DO NOTHING for this dialect, and whether it takes positional params."""
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[conn.dialect.name]
    stmt = (
        insert(table)
        .values({c: bindparam(c) for c in columns})
        .on_conflict_do_nothing(index_elements=[c.name for c in table.primary_key])
    )
    compiled = stmt.compile(dialect=conn.dialect)
    return str(compiled), bool(compiled.positional)


def _bulk_insert(
    session: Session, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> Stored:
    # Straight to the driver's executemany: SQLAlchemy's per-row parameter
    # processing would halve the ingest rate, and these rows are plain numbers.
    if not rows:
        return Stored(0, 0)
    conn = session.connection()
    sql, positional = _insert_sql(conn, table, columns)
    params = rows if positional else [dict(zip(columns, row, strict=True)) for row in rows]
    stored = conn.exec_driver_sql(sql, params).rowcount
    return Stored(stored, len(rows) - stored)


def store_ticks(session: Session, ticks: Sequence[TickValue]) -> Stored:
    """Insert ticks in one statement; ticks already stored for (market, ts) are skipped."""
    ids = market_ids(session, {(t.exchange, t.pair) for t in ticks})
    rows = [
        (ids[t.exchange, t.pair], t.ts, t.last, t.bid, t.ask, t.base_volume, t.quote_volume) for t in ticks
    ]
    return _bulk_insert(session, Tick.__table__, TICK_COLUMNS, rows)


def store_book_tops(session: Session, books: Sequence[BookTopValue]) -> Stored:
    """Insert book tops in one statement; those already stored for (market, ts) are skipped."""
    ids = market_ids(session, {(b.exchange, b.pair) for b in books})
    rows = [(ids[b.exchange, b.pair], *(getattr(b, c) for c in BOOK_COLUMNS[1:])) for b in books]
    return _bulk_insert(session, BookTop.__table__, BOOK_COLUMNS, rows)


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


def latest_ticks(session: Session) -> list[tuple[str, str, Tick]]:
    """(exchange, pair, newest tick) for every market that has one."""
    newest = select(Tick.market_id, func.max(Tick.ts).label("ts")).group_by(Tick.market_id).subquery()
    query = (
        select(Exchange.name, Market.pair, Tick)
        .join(Market.exchange)
        .join(newest, newest.c.market_id == Market.id)
        .join(Tick, (Tick.market_id == newest.c.market_id) & (Tick.ts == newest.c.ts))
        .order_by(Market.pair, Exchange.name)
    )
    return [tuple(row) for row in session.execute(query)]
