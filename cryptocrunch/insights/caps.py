"""Market-cap ranks (CoinGecko snapshots) and one coin's history, read through ``storage.caps``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..errors import NotFound
from ..models import Cap
from ..storage import caps as cap_table
from .params import Window


def caps(session: Session, window: Window) -> list[dict[str, Any]]:
    """Each coin's latest market-cap snapshot with its rank change since its first snapshot in
    ``window`` (positive = climbed), best rank first."""
    first: dict[str, Cap] = {}
    latest: dict[str, Cap] = {}
    for snapshot in cap_table.read_caps(session, window.start, window.end):
        first.setdefault(snapshot.coin, snapshot)
        latest[snapshot.coin] = snapshot
    rows = [
        {
            "coin": c.coin,
            "symbol": c.symbol,
            "name": c.name,
            "rank": c.rank,
            "rank_change": first[c.coin].rank - c.rank,
            "market_cap": c.market_cap,
            "volume": c.volume,
            "supply": c.supply,
            "ts": c.ts,
        }
        for c in latest.values()
    ]
    return sorted(rows, key=lambda r: r["rank"])


def cap_history(session: Session, coin: str, window: Window) -> list[dict[str, Any]]:
    """Every snapshot of one coin in ``window``, oldest first."""
    history = cap_table.read_caps(session, window.start, window.end, coin)
    if not history and cap_table.latest_cap(session, coin) is None:
        raise NotFound(f"no market-cap snapshot of {coin!r} yet: run flask collect --caps")
    return [
        {"ts": c.ts, "rank": c.rank, "market_cap": c.market_cap, "volume": c.volume, "supply": c.supply}
        for c in history
    ]
