"""Exchanges and markets: their ids (created on first write) and what is stored of them."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Exchange, Market
from .bulk import fetch_rows

#: The width of the pair columns (``Market.pair``, ``Listing.pair``).
PAIR_WIDTH = 64


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
        rows = fetch_rows(session, select(Exchange.name, Market.pair, Market.id).join(Market.exchange))
        return {(name, pair): market_id for name, pair, market_id in rows}

    ids = known()
    missing = wanted - ids.keys()
    if missing:
        exchanges = exchange_ids(session, {e for e, _ in missing})
        session.add_all(Market(exchange_id=exchanges[e], pair=p) for e, p in sorted(missing))
        session.flush()
        ids = known()
    return ids if len(ids) == len(wanted) else {key: ids[key] for key in wanted}


def market_id(session: Session, exchange: str, pair: str) -> int | None:
    """The id of ``pair`` (unified, ``BTC/USD``) on ``exchange``, if stored."""
    return session.scalar(
        select(Market.id).join(Market.exchange).where(Exchange.name == exchange, Market.pair == pair)
    )


def all_ids(session: Session) -> list[int]:
    """Every stored market's id, in order."""
    return [int(row[0]) for row in fetch_rows(session, select(Market.id).order_by(Market.id))]


def names(session: Session, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """(exchange, pair) of each of the market ``ids``."""
    rows = session.execute(
        select(Market.id, Exchange.name, Market.pair)
        .join(Market.exchange)
        .where(Market.id.in_(sorted(set(ids))))
    )
    return {market: (exchange, pair) for market, exchange, pair in rows}


def known_ids(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The ids of those of ``keys`` ((exchange, pair)) that are stored; creates nothing."""
    wanted = set(keys)
    rows = session.execute(
        select(Exchange.name, Market.pair, Market.id)
        .join(Market.exchange)
        .where(Exchange.name.in_(sorted({e for e, _ in wanted})))
    )
    return {(name, pair): id_ for name, pair, id_ in rows if (name, pair) in wanted}


def stored_markets(
    session: Session,
    exchange: str | None = None,
    quote: str | None = None,
    pairs: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Stored markets (market_id, exchange, pair) by id: all, or of one exchange, a quote currency,
    some pairs."""
    query = select(Market.id, Exchange.name, Market.pair).join(Market.exchange).order_by(Market.id)
    if pairs is not None:
        query = query.where(Market.pair.in_(sorted(set(pairs))))
    if exchange:
        query = query.where(Exchange.name == exchange)
    if quote:
        query = query.where(Market.pair.like(f"%/{quote.upper()}"))
    return pd.DataFrame(fetch_rows(session, query), columns=["market_id", "exchange", "pair"])


def markets_of_pair(session: Session, pair: str) -> list[tuple[int, str]]:
    """(market id, exchange) of every exchange ``pair`` is stored for, by exchange name."""
    rows = session.execute(
        select(Market.id, Exchange.name)
        .join(Market.exchange)
        .where(Market.pair == pair)
        .order_by(Exchange.name)
    )
    return [(id_, name) for id_, name in rows]


def exchange_counts(session: Session) -> list[tuple[str, int]]:
    """Every exchange with stored markets and how many, by name."""
    rows = session.execute(
        select(Exchange.name, func.count(Market.id))
        .join(Market.exchange)
        .group_by(Exchange.name)
        .order_by(Exchange.name)
    )
    return [(name, count) for name, count in rows]


def pairs_by_exchange(session: Session, exchanges: Iterable[str]) -> dict[str, set[str]]:
    """The pairs stored for each of ``exchanges`` (an empty set for one without any)."""
    wanted = sorted(set(exchanges))
    found: dict[str, set[str]] = {name: set() for name in wanted}
    rows = session.execute(
        select(Exchange.name, Market.pair).join(Market.exchange).where(Exchange.name.in_(wanted))
    )
    for name, pair in rows:
        found[name].add(pair)
    return found
