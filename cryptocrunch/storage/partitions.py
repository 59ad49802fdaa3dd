"""Ticks on PostgreSQL, partitioned by time: ``tick`` is ``PARTITION BY RANGE (ts)`` with one
partition per calendar month (UTC) and a DEFAULT partition, so a write never fails for a missing
month (an old backfill, a clock far ahead). ``maintain`` (init-db and the worker's daily
``partitions`` job) creates the months around now ahead of the writes and moves rows that landed in
the DEFAULT partition into months of their own; ``drop_before`` is retention's whole-partition drop;
``prepare`` (init-db) migrates an unpartitioned ``tick`` table in place, keeping every row.

A partition is created as a plain table and then attached (with a CHECK constraint that proves
its bound, so the attach need not scan it): that takes only SHARE UPDATE EXCLUSIVE on ``tick``,
so readers and writers go on, where ``CREATE TABLE ... PARTITION OF`` would lock them out.
SQLite has no partitions: every function here does nothing there."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.orm import Session

from ..clock import DAY
from ..models import Tick

log = logging.getLogger(__name__)

#: The partitioned table.
TABLE: str = cast(sa.Table, Tick.__table__).name
DEFAULT = f"{TABLE}_default"
#: Months created ahead of now, and behind it (a backfill of the last weeks lands in a month too).
AHEAD, BEHIND = 2, 1
#: How long retention's drop waits for its lock before leaving the partition to batched deletes.
LOCK_TIMEOUT = "2s"
#: The ts range whose months can be named (datetime's years 1970-9999); rows outside stay in DEFAULT.
NAMEABLE = (0, int(datetime(9999, 12, 1, tzinfo=UTC).timestamp() * 1000))

_BOUND = re.compile(r"FOR VALUES FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True, slots=True)
class Partition:
    """A partition of ``tick``: its name and [low, high) bound (None, None for DEFAULT)."""

    name: str
    low: int | None
    high: int | None


def month_start(ts: int) -> int:
    """The first ms of the UTC calendar month holding ``ts``."""
    day = datetime.fromtimestamp(ts / 1000, UTC)
    return int(datetime(day.year, day.month, 1, tzinfo=UTC).timestamp() * 1000)


def next_month(start: int) -> int:
    """The first ms of the month after the one starting at ``start``."""
    day = datetime.fromtimestamp(start / 1000, UTC)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


def month_name(start: int) -> str:
    """``tick_p202601`` for January 2026."""
    return f"{TABLE}_p{datetime.fromtimestamp(start / 1000, UTC):%Y%m}"


def is_postgres(session: Session) -> bool:
    return session.connection().dialect.name == "postgresql"


def _cursor(session: Session) -> psycopg.Cursor[Any]:
    """A psycopg cursor on the session's connection (in its transaction): DDL cannot take bound
    parameters, so it is composed with psycopg.sql (identifiers and int literals quoted by it)."""
    return cast(psycopg.Connection[Any], session.connection().connection.driver_connection).cursor()


def _run(
    session: Session, statement: sql.SQL | sql.Composed, params: tuple[Any, ...] | None = None
) -> list[Any]:
    """Execute ``statement``; its rows (none for DDL)."""
    with _cursor(session) as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def _changed(session: Session, statement: sql.Composed) -> int:
    """Execute the INSERT or DELETE ``statement``; how many rows it changed."""
    with _cursor(session) as cursor:
        cursor.execute(statement)
        return cursor.rowcount


def kind(session: Session) -> str | None:
    """pg_class.relkind of ``tick``: ``p`` partitioned, ``r`` a plain table, None missing."""
    rows = _run(session, sql.SQL("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)"), (TABLE,))
    return str(rows[0][0]) if rows else None


def partitions(session: Session) -> list[Partition]:
    """The partitions of ``tick``, DEFAULT last, the others by bound."""
    rows = _run(
        session,
        sql.SQL(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)"
        ),
        (TABLE,),
    )
    found = []
    for name, bound in rows:
        match = _BOUND.search(bound or "")
        low, high = (int(match[1]), int(match[2])) if match else (None, None)
        found.append(Partition(name, low, high))
    return sorted(found, key=lambda p: (p.low is None, p.low or 0))


def _create_default(session: Session) -> None:
    # at init-db only: PARTITION OF locks tick out while it runs, and the table is new or migrating
    _run(
        session,
        sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} DEFAULT").format(
            sql.Identifier(DEFAULT), sql.Identifier(TABLE)
        ),
    )


def create_month(session: Session, start: int) -> int:
    """Create the partition of the month starting at ``start`` (it must not exist), moving into
    it the rows of that month the DEFAULT partition holds; return how many moved."""
    name, low, high = month_name(start), start, next_month(start)
    part, parent, default = sql.Identifier(name), sql.Identifier(TABLE), sql.Identifier(DEFAULT)
    check = sql.Identifier(f"{name}_bound")
    in_month = sql.SQL("ts >= {} AND ts < {}").format(sql.Literal(low), sql.Literal(high))
    # writes into DEFAULT wait (rare: strays only); reads go on until the attach
    _run(session, sql.SQL("LOCK TABLE {} IN SHARE MODE").format(default))
    _run(session, sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(part, parent))
    _run(
        session,
        sql.SQL("INSERT INTO {} SELECT * FROM {} WHERE {}").format(part, default, in_month),
    )
    moved = _changed(session, sql.SQL("DELETE FROM {} WHERE {}").format(default, in_month))
    _run(session, sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({})").format(part, check, in_month))
    _run(
        session,
        sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
            parent, part, sql.Literal(low), sql.Literal(high)
        ),
    )
    _run(session, sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(part, check))
    log.info("created partition %s, moved %d rows into it from %s", name, moved, DEFAULT)
    return moved


def _months(session: Session, table: str) -> set[int]:
    """The month starts of the nameable rows of ``table`` (one scan: DEFAULT is meant to be small)."""
    rows = _run(
        session,
        sql.SQL("SELECT DISTINCT ts / {} FROM {} WHERE ts >= %s AND ts < %s").format(
            sql.Literal(DAY), sql.Identifier(table)
        ),
        NAMEABLE,
    )
    return {month_start(int(day) * DAY) for (day,) in rows}


def _around(now: int) -> Iterator[int]:
    start = month_start(now)
    for _ in range(BEHIND):
        start = month_start(start - 1)
    for _ in range(BEHIND + 1 + AHEAD):
        yield start
        start = next_month(start)


def maintain(session: Session, now: int, keep_after: int | None = None) -> list[str]:
    """Create the DEFAULT partition and the months from BEHIND before ``now`` to AHEAD after it
    that are missing, and give the rows in DEFAULT months of their own (those ending after
    ``keep_after``: retention deletes older ones anyway), each month committed on its own; a line
    per month created."""
    if kind(session) != "p":
        raise RuntimeError(f"{TABLE} is not partitioned yet: run flask init-db (it migrates it in place)")
    have = partitions(session)
    if DEFAULT not in {p.name for p in have}:
        _create_default(session)
    strays = {m for m in _months(session, DEFAULT) if keep_after is None or next_month(m) > keep_after}
    session.commit()
    lines = []
    for start in sorted((set(_around(now)) | strays) - {p.low for p in have}):
        moved = create_month(session, start)
        session.commit()
        gained = f", moved {moved:,} row{'s' if moved != 1 else ''} into it from {DEFAULT}" if moved else ""
        lines.append(f"partitions   created {month_name(start)}{gained}")
    return lines or ["partitions   none missing"]


def prepare(session: Session, now: int) -> None:
    """At init-db: partition an unpartitioned ``tick`` in place (every row kept, one transaction),
    then ``maintain``."""
    if not is_postgres(session):
        return
    if kind(session) == "r":
        _migrate(session)
    maintain(session, now)


def _migrate(session: Session) -> None:
    old = f"{TABLE}_unpartitioned"
    table = cast(sa.Table, Tick.__table__)
    columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns)
    pkey = sa.inspect(session.connection()).get_pk_constraint(TABLE)["name"]
    rename = sql.SQL("ALTER {} {} RENAME TO {}")
    _run(session, rename.format(sql.SQL("TABLE"), sql.Identifier(TABLE), sql.Identifier(old)))
    if pkey:  # index names are per schema: free tick_pkey for the new table's
        _run(session, rename.format(sql.SQL("INDEX"), sql.Identifier(pkey), sql.Identifier(f"{old}_pkey")))
    table.create(session.connection())
    _create_default(session)
    for start in sorted(_months(session, old)):
        create_month(session, start)
    copy = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}")
    copied = _changed(session, copy.format(sql.Identifier(TABLE), columns, columns, sql.Identifier(old)))
    _run(session, sql.SQL("DROP TABLE {}").format(sql.Identifier(old)))
    session.commit()
    log.info("partitioned %s by month: %d rows copied", TABLE, copied)


def drop_before(session: Session, cut: int) -> Iterator[int]:
    """Drop the partitions whose months end at or before ``cut``, one a transaction (the caller
    commits after each); yield how many rows each held. One whose lock does not come within
    LOCK_TIMEOUT (a long read holds it) is left to retention's batched deletes."""
    if not is_postgres(session) or kind(session) != "p":
        return
    whole = [p for p in partitions(session) if p.high is not None and p.high <= cut]
    session.commit()
    for partition in whole:
        part = sql.Identifier(partition.name)
        try:
            _run(session, sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
            _run(session, sql.SQL("LOCK TABLE {} IN SHARE MODE").format(part))  # no write slips in
            (held,) = _run(session, sql.SQL("SELECT count(*) FROM {}").format(part))[0]
            _run(session, sql.SQL("DROP TABLE {}").format(part))
        except psycopg.errors.LockNotAvailable:
            session.rollback()
            log.warning("%s left to batched deletes: no lock within %s", partition.name, LOCK_TIMEOUT)
            continue
        yield int(held)
