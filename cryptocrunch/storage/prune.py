"""Deleting what is older than a cut, in bounded batches, each committed on its own, so no long
lock holds the readers (or the collector) up: per market along the (market, ts) key for ticks,
book tops and candles; by id for the logs. On PostgreSQL the monthly partitions of ticks wholly
before the cut are dropped first (storage.partitions): only the month straddling the cut (and the
DEFAULT partition's strays) are left to the batched deletes. With the ticks go their 5- and
15-minute rollups before the cut's hour (the hour rollups hold them); the coarser rollups are kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import delete, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ..clock import HOUR
from ..models import AlertEvent, BookTop, Candle, Cap, Market, Rejection, Rollup, Run, Tick
from .runs import TICKS_VERSION, bump_version


@dataclass(frozen=True, slots=True)
class Table:
    """A table retention may prune, and the column its age is read from."""

    model: Any
    ts: InstrumentedAttribute[int]
    per_market: bool


#: What RETENTION may name. Rollups are not here: they answer for the ticks that are gone (the
#: ones finer than an hour go with the ticks, once the hour rollups hold them: ``prune``).
TABLES: dict[str, Table] = {
    "tick": Table(Tick, Tick.ts, True),
    "book_top": Table(BookTop, BookTop.ts, True),
    "candle": Table(Candle, Candle.ts, True),
    "cap": Table(Cap, Cap.ts, False),
    "rejection": Table(Rejection, Rejection.ts, False),
    "run": Table(Run, Run.started, False),
    "alert_event": Table(AlertEvent, AlertEvent.created, False),
}


def prune(
    session: Session, name: str, cut: int, batch: int, on_batch: Callable[[int], None] = lambda n: None
) -> int:
    """Delete the rows of table ``name`` older than ``cut`` (epoch ms), at most ``batch`` rows a
    statement, committing after each; return how many went."""
    table = TABLES[name]
    total = 0
    if table.model is Tick and session.connection().dialect.name == "postgresql":
        from . import partitions  # psycopg: the postgres extra's

        for held in partitions.drop_before(session, cut):
            if held:
                bump_version(session, TICKS_VERSION)
            session.commit()
            total += held
            on_batch(held)
    if table.per_market:
        markets = list(session.scalars(select(Market.id).order_by(Market.id)))
        from .ticks import SUBHOUR, closed_until  # pandas: not at start-up

        fine_cut = min(cut // HOUR * HOUR, closed_until(session)[HOUR]) if table.model is Tick else None
        session.commit()
        for market in markets:
            where = [table.model.market_id == market]
            total += _delete_before(session, table.ts, where, cut, batch, on_batch)
        if fine_cut is not None:
            # the 5- and 15-minute rollups their hours hold: read only at a window's edges
            for span in SUBHOUR:  # one span at a time, every market: along the (span, start) key
                _delete_before(session, Rollup.start, [Rollup.span == span], fine_cut, batch)
        return total
    key = sa.inspect(table.model).primary_key
    while True:
        oldest = select(*key).where(table.ts < cut).order_by(table.ts).limit(batch)
        if len(key) == 1:
            statement = delete(table.model).where(key[0].in_(oldest.scalar_subquery()))
        else:
            statement = delete(table.model).where(sa.tuple_(*key).in_(oldest))
        gone = session.execute(statement)
        session.commit()
        count = int(getattr(gone, "rowcount", 0) or 0)
        total += count
        on_batch(count)
        if count < batch:
            return total


def _delete_before(
    session: Session,
    ts: InstrumentedAttribute[int],
    where: list[Any],
    cut: int,
    batch: int,
    on_batch: Callable[[int], None] = lambda n: None,
) -> int:
    """Delete the rows matching ``where`` with ``ts`` < ``cut``, at most ``batch`` a statement
    (along an index on (…, ts)), committing after each; return how many went."""
    model = ts.class_
    total = 0
    while True:
        # the ts of the batch-th oldest row: one short index walk bounds the statement
        upper = session.scalar(select(ts).where(*where, ts < cut).order_by(ts).offset(batch).limit(1))
        gone = session.execute(delete(model).where(*where, ts < (cut if upper is None else upper)))
        count = int(getattr(gone, "rowcount", 0) or 0)
        if count and model is Tick:
            bump_version(session, TICKS_VERSION)  # windows reaching back see fewer raw ticks
        session.commit()
        total += count
        on_batch(count)
        if upper is None:
            return total


def oldest(session: Session, name: str) -> int | None:
    """The age column's smallest value in table ``name`` (None when empty)."""
    table = TABLES[name]
    return session.scalar(select(func.min(table.ts)))
