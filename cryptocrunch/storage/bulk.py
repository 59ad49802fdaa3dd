"""Bulk writes and fast numeric reads, shared by every storage module: on PostgreSQL a binary COPY
into a temporary staging table, then one INSERT ... SELECT ... ON CONFLICT; on SQLite one
INSERT ... ON CONFLICT executemany straight to the driver; and query results as float64 arrays
straight from the cursor."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection, Table, and_, bindparam, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.orm import Session

from ..models import Base

if TYPE_CHECKING:  # psycopg is the postgres extra's: imported where PostgreSQL is written
    import psycopg


@dataclass(frozen=True, slots=True)
class Stored:
    """How many rows a bulk write inserted, and how many it skipped as already stored."""

    stored: int
    duplicates: int


def _upsert(
    stmt: SqliteInsert | PostgresInsert, table: Table, columns: Sequence[str], replace: bool
) -> sa.Insert:
    """``stmt`` with ON CONFLICT (primary key) DO NOTHING, or DO UPDATE of the other columns."""
    keys = [c.name for c in table.primary_key]
    if replace:
        return stmt.on_conflict_do_update(
            index_elements=keys, set_={c: stmt.excluded[c] for c in columns if c not in keys}
        )
    return stmt.on_conflict_do_nothing(index_elements=keys)


def _insert_sql(conn: Connection, table: Table, columns: Sequence[str], replace: bool) -> tuple[str, bool]:
    """INSERT ... VALUES ... ON CONFLICT for SQLite's executemany; the SQL and whether it takes
    positional parameters."""
    compiled = _upsert(
        sqlite.insert(table).values({c: bindparam(c) for c in columns}), table, columns, replace
    ).compile(dialect=conn.dialect)
    return str(compiled), bool(compiled.positional)


def insert_rows(
    session: Session,
    model: type[Base],
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    replace: bool = False,
) -> Stored:
    """Insert ``rows`` (values of ``columns``) into ``model``'s table in one statement; a row whose
    primary key is stored (or came earlier in ``rows``) is skipped and counted as a duplicate, or,
    with ``replace``, overwrites the stored one (then every row counts as stored)."""
    if not rows:
        return Stored(0, 0)
    conn = session.connection()
    table = cast(Table, model.__table__)  # declarative models are typed with a FromClause here
    if conn.dialect.name == "postgresql":
        return _copy_rows(conn, table, columns, rows, replace)
    # Straight to the driver's executemany: SQLAlchemy's per-row parameter
    # processing would halve the ingest rate, and these rows are plain numbers.
    sql_text, positional = _insert_sql(conn, table, columns, replace)
    params: list[tuple[Any, ...]] | list[dict[str, Any]] = (
        rows if positional else [dict(zip(columns, row, strict=True)) for row in rows]
    )
    stored = conn.exec_driver_sql(sql_text, params).rowcount
    return Stored(stored, len(rows) - stored)


def _copy_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]], replace: bool
) -> Stored:
    """PostgreSQL: COPY ``rows`` (binary) into this connection's temporary staging table of
    ``table``, then INSERT ... SELECT ... ON CONFLICT from it in the same transaction.

    Rows that are all new (no ``replace``) are first tried with a COPY straight into ``table``
    within a savepoint, half the server's work; a key already stored (or twice in ``rows``)
    rolls that back to the savepoint and takes the staging path, which the connection then
    keeps for ``table`` until a write finds no duplicates again."""
    import psycopg
    from psycopg import sql

    dbapi = cast(psycopg.Connection[Any], conn.connection.driver_connection)
    staged: dict[str, bool] = conn.connection.info.setdefault("copy_staged", {})
    if not replace and not staged.get(table.name):
        with dbapi.cursor() as cursor:
            types = _column_types(cursor, conn, table.name, columns)
            cursor.execute("SAVEPOINT bulk_copy")
            try:
                _copy(cursor, table.name, columns, types, rows)
            except psycopg.errors.UniqueViolation:
                cursor.execute("ROLLBACK TO SAVEPOINT bulk_copy")
                staged[table.name] = True
            else:
                cursor.execute("RELEASE SAVEPOINT bulk_copy")
                return Stored(len(rows), 0)
    written = rows
    if replace:
        # one statement cannot update a row twice: the last of a key wins, as executemany's would
        at = [columns.index(c.name) for c in table.primary_key]
        written = list({tuple(row[i] for i in at): row for row in rows}.values())
    stage = f"_stage_{table.name}"
    with dbapi.cursor() as cursor:
        # once per connection in effect (IF NOT EXISTS); it is emptied after each use
        cursor.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS)").format(
                sql.Identifier(stage), sql.Identifier(table.name)
            )
        )
        _copy(cursor, stage, columns, _column_types(cursor, conn, table.name, columns), written)
        cursor.execute(_insert_select(conn, table, stage, tuple(columns), replace))
        stored = cursor.rowcount
        cursor.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(stage)))
    stored += len(rows) - len(written)  # the replaced duplicates were written, then overwritten
    if not replace:
        staged[table.name] = stored < len(rows)
    return Stored(stored, len(rows) - stored)


def _copy(
    cursor: psycopg.Cursor[Any],
    name: str,
    columns: Sequence[str],
    types: list[int],
    rows: list[tuple[Any, ...]],
) -> None:
    """A binary COPY of ``rows`` into table ``name``."""
    from psycopg import sql

    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    with cursor.copy(
        sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(name), names)
    ) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _column_types(
    cursor: psycopg.Cursor[Any], conn: Connection, table: str, columns: Sequence[str]
) -> list[int]:
    """The type oids of ``columns`` of ``table`` (and its staging table, made LIKE it): what
    binary COPY sends, cached per connection."""
    cache: dict[tuple[str, tuple[str, ...]], list[int]] = conn.connection.info.setdefault("copy_types", {})
    key = (table, tuple(columns))
    if key not in cache:
        cursor.execute(
            "SELECT attname, atttypid FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (table,),
        )
        oids = dict(cursor.fetchall())
        cache[key] = [int(oids[c]) for c in columns]
    return cache[key]


def _insert_select(
    conn: Connection, table: Table, stage: str, columns: tuple[str, ...], replace: bool
) -> str:
    """INSERT INTO table (columns) SELECT columns FROM stage ON CONFLICT ...: no parameters."""
    staged = sa.table(stage, *(sa.column(c) for c in columns))
    stmt = postgresql.insert(table).from_select(list(columns), sa.select(*staged.c))
    return str(_upsert(stmt, table, columns, replace).compile(dialect=conn.dialect))


def in_ranges(
    market: sa.ColumnElement[int],
    ts: sa.ColumnElement[int],
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


def _one_of(column: sa.ColumnElement[int], ids: list[int]) -> sa.ColumnElement[bool]:
    if len(ids) == 1:
        return column == ids[0]
    listed = ",".join(str(int(i)) for i in ids)  # int(): only numbers reach the SQL text
    return column.op("IN", is_comparison=True)(sa.literal_column(f"({listed})"))


def fetch_rows(session: Session, query: sa.Select[*tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Run ``query`` on the session's connection and return its rows as plain tuples.

    Goes through the DBAPI cursor: wrapping each of many rows in a SQLAlchemy Row costs more
    than the query itself. On PostgreSQL the rows come in psycopg's binary format, which decodes
    numbers two to four times faster than text.
    """
    conn = session.connection()
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    named = compiled.construct_params()
    params = tuple(named[name] for name in compiled.positiontup or ()) if compiled.positional else named
    binary = {"binary": True} if conn.dialect.name == "postgresql" else {}
    cursor = conn.connection.cursor(**binary)
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
