"""Order-book tops: bulk writes and one market's reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import BookTop
from .bulk import Stored, fetch_floats, in_ranges, insert_rows
from .markets import market_ids
from .runs import bump_version

if TYPE_CHECKING:
    from ..sources.base import BookTop as BookTopValue

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


def store_book_tops(session: Session, books: Sequence[BookTopValue]) -> Stored:
    """Insert book tops in one statement; those already stored for (market, ts) are skipped."""
    ids = market_ids(session, {(b.exchange, b.pair) for b in books})
    rows = [(ids[b.exchange, b.pair], *(getattr(b, c) for c in BOOK_COLUMNS[1:])) for b in books]
    result = insert_rows(session, BookTop, BOOK_COLUMNS, rows)
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
    frame = pd.DataFrame(fetch_floats(session, query, len(columns)), columns=list(BOOK_COLUMNS[1:]))
    return frame.astype({"ts": "int64"})


def read_tops(session: Session, ranges: dict[int, tuple[int, int]]) -> pd.DataFrame:
    """Best bid and ask (market_id, ts, bid, ask) of each market's book tops in its [low, high),
    sorted by market and ts."""
    top = BookTop.__table__.c
    query = (
        select(top.market_id, top.ts, top.bid, top.ask)
        .where(in_ranges(top.market_id, top.ts, ranges, 1))
        .order_by(top.market_id, top.ts)
    )
    data = fetch_floats(session, query, 4) if ranges else np.zeros((0, 4))
    frame = pd.DataFrame(data, columns=["market_id", "ts", "bid", "ask"])
    return frame.astype({"market_id": "int64", "ts": "int64"})
