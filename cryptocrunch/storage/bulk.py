"""Bulk writes and fast numeric reads, shared by every storage module: one INSERT ... ON CONFLICT
per batch straight to the driver, and query results as float64 arrays straight from the cursor."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection, Table, and_, bindparam, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.orm import InstrumentedAttribute, Session

from ..models import Base


@dataclass(frozen=True, slots=True)
class Stored:
    """How many rows a bulk write inserted, and how many it skipped as already stored."""

    stored: int
    duplicates: int


def _insert_sql(conn: Connection, table: Table, columns: Sequence[str], replace: bool) -> tuple[str, bool]:
    """INSERT ... ON CONFLICT DO NOTHING (or DO UPDATE when ``replace``) for this dialect.

    Returns the SQL and whether it takes positional parameters.
    """
    values: dict[str, Any] = {c: bindparam(c) for c in columns}
    stmt: SqliteInsert | PostgresInsert = (
        postgresql.insert(table).values(values)
        if conn.dialect.name == "postgresql"
        else sqlite.insert(table).values(values)
    )
    keys = [c.name for c in table.primary_key]
    if replace:
        upsert = stmt.on_conflict_do_update(
            index_elements=keys, set_={c: stmt.excluded[c] for c in columns if c not in keys}
        )
    else:
        upsert = stmt.on_conflict_do_nothing(index_elements=keys)
    compiled = upsert.compile(dialect=conn.dialect)
    return str(compiled), bool(compiled.positional)


def insert_rows(
    session: Session,
    model: type[Base],
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    replace: bool = False,
) -> Stored:
    """Insert ``rows`` (values of ``columns``) into ``model``'s table in one executemany; a row whose
    primary key is stored is skipped (or, with ``replace``, overwrites the stored one)."""
    # Straight to the driver's executemany: SQLAlchemy's per-row parameter
    # processing would halve the ingest rate, and these rows are plain numbers.
    if not rows:
        return Stored(0, 0)
    conn = session.connection()
    table = cast(Table, model.__table__)  # declarative models are typed with a FromClause here
    sql, positional = _insert_sql(conn, table, columns, replace)
    params: list[tuple[Any, ...]] | list[dict[str, Any]] = (
        rows if positional else [dict(zip(columns, row, strict=True)) for row in rows]
    )
    stored = conn.exec_driver_sql(sql, params).rowcount
    return Stored(stored, len(rows) - stored)


def in_ranges(
    market: InstrumentedAttribute[int],
    ts: InstrumentedAttribute[int],
    ranges: dict[int, tuple[int, int]],
    width: int,
) -> sa.ColumnElement[bool]:
    """market in ranges and low <= ts <= high - width, for each market's [low, high).

    Markets that share one range become a single IN list, which compiles and
    plans far faster than one OR branch per market; the list is written out as integers (an
    expanding bound parameter of 10,000 ids costs more to compile than the query takes).
    """
    by_range: dict[tuple[int, int], list[int]] = {}
    for market_id, bounds in ranges.items():
        by_range.setdefault(bounds, []).append(market_id)
    return or_(
        *(and_(_one_of(market, ids), ts >= lo, ts <= hi - width) for (lo, hi), ids in by_range.items())
    )


def _one_of(column: InstrumentedAttribute[int], ids: list[int]) -> sa.ColumnElement[bool]:
    if len(ids) == 1:
        return column == ids[0]
    listed = ",".join(str(int(i)) for i in ids)  # int(): only numbers reach the SQL text
    return column.op("IN", is_comparison=True)(sa.literal_column(f"({listed})"))


def fetch_rows(session: Session, query: sa.Select[*tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Run ``query`` on the session's connection and return its rows as plain tuples.

    Goes through the DBAPI cursor: wrapping each of many rows in a SQLAlchemy Row costs more
    than the query itself.
    """
    conn = session.connection()
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    named = compiled.construct_params()
    params = tuple(named[name] for name in compiled.positiontup or ()) if compiled.positional else named
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def fetch_floats(session: Session, query: sa.Select[*tuple[Any, ...]], width: int) -> np.ndarray:
    """``fetch_rows`` of a numeric query as a float64 array."""
    rows = fetch_rows(session, query)
    # fromiter over the flattened rows: half the time np.array takes on a list of tuples (None: NaN)
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype="float64", count=len(rows) * width)
    return flat.reshape(-1, width)
