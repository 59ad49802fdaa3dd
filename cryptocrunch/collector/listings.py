"""Keep each exchange's listing (the pairs it lists) in the database, from ccxt's cached markets,
and, for the exchanges whose MARKETS rule takes a ``top``, their markets' volume ranking.

Views compare exchanges' listings (``similar``) from the ``listing`` table and never call an
exchange; ``flask similar`` refreshes the table when a listing is older than MARKETS_CACHE_TTL,
or with ``--refresh``; the worker's ``listings`` job reloads every listing and ranking daily.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..clock import now_ms
from ..sources.base import SourceFailure
from ..sources.exchange import CcxtSource
from ..storage import listings
from .cycle import guarded

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ListingReport:
    """What one exchange's listing refresh did.

    ``status``: ``refreshed`` (loaded now), ``stored`` (the stored listing is fresh enough) or
    ``error`` (``error`` says why; the stored listing, if any, is still used and ``refreshed`` says
    how old it is). ``ranked``: how many markets the volume ranking holds, when one was asked for
    and loaded; else ``rank_error`` says why not (the previous ranking stays while it is fresh).
    """

    exchange: str
    status: str
    pairs: int = 0
    refreshed: int | None = None
    error: str | None = None
    seconds: float = 0.0
    ranked: int | None = None
    rank_error: str | None = None

    def describe(self) -> str:
        """``binance refreshed, 2000 pairs, 1998 ranked by volume`` (or what failed)."""
        text = f"{self.exchange} {self.status}" + (
            f": {self.error}" if self.error else f", {self.pairs} pairs"
        )
        if self.ranked is not None:
            text += f", {self.ranked} ranked by volume"
        if self.rank_error:
            text += f"; volume ranking not refreshed: {self.rank_error}"
        return text


def _load(source: CcxtSource, force: bool, rank: bool) -> tuple[list[str], int | SourceFailure | None]:
    """The source's spot pairs and, when ``rank``, how many markets its volume ranking holds (or
    why it could not be loaded)."""
    pairs = source.spot_pairs(reload=force)
    if not rank:
        return pairs, None
    try:
        volumes, _ = source.quote_volumes(reload=force)
    except SourceFailure as failure:
        return pairs, failure
    return pairs, len(volumes)


def refresh_listings(
    session: Session,
    sources: Mapping[str, CcxtSource],
    *,
    max_age: float,
    force: bool = False,
    ranked: Collection[str] = (),
) -> list[ListingReport]:
    """Bring the stored listing of every exchange in ``sources`` up to date; one report each.

    A listing older than ``max_age`` seconds (any, with ``force``) is loaded again, concurrently,
    through the source's markets: from the instance markets cache while that is fresh, from the
    exchange with ``force``; so is the volume ranking of the exchanges in ``ranked`` (those whose
    MARKETS rule takes a ``top``: one request for all their tickers). An exchange that cannot be
    loaded keeps its stored listing. Writes are committed in one transaction.
    """
    now = now_ms()
    stored = listings.read_listings(session, sources)
    session.rollback()  # no read transaction open while the network is slow
    due = {
        name: source
        for name, source in sources.items()
        if force or name not in stored or now - stored[name].refreshed >= max_age * 1000
    }
    results: dict[str, tuple[tuple[list[str], int | SourceFailure | None] | SourceFailure, float]] = {}
    if due:
        with ThreadPoolExecutor(max_workers=len(due), thread_name_prefix="listing") as pool:
            futures = {
                name: pool.submit(guarded, name, lambda s=source, r=name in ranked: _load(s, force, r))
                for name, source in due.items()
            }
            results = {name: future.result() for name, future in futures.items()}
    reports = []
    refreshed = now_ms()
    for name in sources:
        old = stored.get(name)
        if name not in results:
            assert old is not None
            reports.append(ListingReport(name, "stored", len(old.pairs), old.refreshed))
            continue
        result, seconds = results[name]
        if isinstance(result, SourceFailure):
            log.info("%s: listing not refreshed: %s", name, result)  # the report says it too
            reports.append(
                ListingReport(
                    name,
                    "error",
                    len(old.pairs) if old else 0,
                    old.refreshed if old else None,
                    str(result),
                    seconds,
                )
            )
            continue
        pairs, rank = result
        count = listings.store_listing(session, name, pairs, refreshed)
        report = ListingReport(name, "refreshed", count, refreshed, seconds=seconds)
        if isinstance(rank, SourceFailure):
            log.info("%s: volume ranking not refreshed: %s", name, rank)
            report.rank_error = str(rank)
        else:
            report.ranked = rank
        reports.append(report)
    session.commit()
    return reports
