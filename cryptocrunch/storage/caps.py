"""Market-cap snapshots (CoinGecko): bulk writes and reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Cap
from .bulk import Stored, insert_rows
from .runs import bump_version

if TYPE_CHECKING:
    from ..sources.base import CapSnapshot

CAP_COLUMNS = ("coin", "ts", "symbol", "name", "rank", "market_cap", "volume", "supply")


def store_caps(session: Session, caps: Sequence[CapSnapshot]) -> Stored:
    """Insert market-cap snapshots; one already stored for (coin, ts) is skipped."""
    rows = [tuple(getattr(c, name) for name in CAP_COLUMNS) for c in caps]
    result = insert_rows(session, Cap, CAP_COLUMNS, rows)
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
