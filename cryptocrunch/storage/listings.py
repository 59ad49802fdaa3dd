"""Listings: the pairs each exchange lists (``flask similar``), replaced whole on refresh."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Exchange, Listing
from .bulk import insert_rows
from .markets import PAIR_WIDTH, exchange_ids
from .runs import bump_version


@dataclass(frozen=True, slots=True)
class StoredListing:
    """The pairs one exchange lists and when that listing was taken (epoch ms)."""

    refreshed: int
    pairs: frozenset[str]


LISTING_COLUMNS = ("exchange_id", "pair", "refreshed")


def store_listing(session: Session, exchange: str, pairs: Iterable[str], refreshed: int) -> int:
    """Replace the pairs stored as listed by ``exchange`` with ``pairs``; return how many were stored.

    A pair too long for the pair column (no exchange we know has one) is left out.
    """
    exchange_id = exchange_ids(session, [exchange])[exchange]
    rows = [(exchange_id, pair, refreshed) for pair in sorted(set(pairs)) if len(pair) <= PAIR_WIDTH]
    session.execute(sa.delete(Listing).where(Listing.exchange_id == exchange_id))
    insert_rows(session, Listing, LISTING_COLUMNS, rows)
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
