"""One collection cycle: fetch every source concurrently (one thread each: its MARKETS rule
resolved, then its tickers in one batched request), store everything in one transaction (on the
caller's session and thread)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from .. import clock
from ..clock import now_ms
from ..models import Run
from ..sources.base import BookTop, FetchResult, Rejection, Source, SourceFailure, Tick
from ..sources.coingecko import CoinGeckoSource
from ..sources.exchange import CcxtSource
from ..sources.retry import RetryPolicy
from ..storage import books, caps, runs, ticks
from .markets import MarketRule, normalize_pair, resolve

log = logging.getLogger(__name__)

COINGECKO = "coingecko"

#: Sources by name, each with its MARKETS rule (CoinGecko: ``MarketRule(pairs=())``, its coins).
Sources = Mapping[str, tuple[Source, MarketRule]]


@dataclass(slots=True)
class SourceReport:
    """What one source did in one cycle (mirrors its run row)."""

    source: str
    status: str = "ok"
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries: int = 0
    books: int = 0
    seconds: float = 0.0
    error: str | None = None
    cooldown_until: int | None = None
    rejections: list[Rejection] = field(default_factory=list)
    #: Why the run is flagged: the source passed REJECTIONS_ALERT rejections within an hour.
    flag: str | None = None


def _common(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "policy": RetryPolicy.from_config(config),
        "timeout": float(config["REQUEST_TIMEOUT"]),
        "tolerance_ms": int(config["FUTURE_TOLERANCE"] * 1000),
        "cooldown": float(config["COOLDOWN"]),
    }


def coingecko_source(config: Mapping[str, Any]) -> CoinGeckoSource:
    """The CoinGecko client for the configured coins (none configured: a client for market caps only)."""
    coins = config["COINGECKO_COINS"] or {"ids": [], "vs_currencies": ["usd"]}
    return CoinGeckoSource(
        url=config["COINGECKO_URL"],
        api_key=config["COINGECKO_API_KEY"],
        ids=coins["ids"],
        vs_currencies=coins["vs_currencies"],
        min_interval=float(config["COINGECKO_MIN_INTERVAL"]),
        **_common(config),
    )


def snapshot_caps(session: Session, source: CoinGeckoSource, top: int, keep_rejections: int = 1000) -> str:
    """Store a market-cap snapshot of the ``top`` coins; return the summary line. Rejected rows (or
    a malformed answer) are kept for the validation report, at most ``keep_rejections`` per source."""
    started = time.monotonic()
    try:
        snapshots, rejections = source.fetch_caps(top)
    except SourceFailure as failure:
        rejected = failure.rejection(source.name)
        if rejected:
            runs.store_rejections(session, [rejected], now_ms(), keep_rejections)
            session.commit()
        return f"{'caps':<12} ERROR {failure}"
    for rejection in rejections:
        log.warning("rejected %s %s: %s", rejection.exchange, rejection.pair, rejection.reason)
    result = caps.store_caps(session, snapshots)
    runs.store_rejections(session, rejections, now_ms(), keep_rejections)
    session.commit()
    return (
        f"{'caps':<12} stored {result.stored}  duplicates {result.duplicates}  rejected {len(rejections)}  "
        f"{time.monotonic() - started:.2f} s"
    )


def build_sources(
    config: Mapping[str, Any], cache_dir: Path, exchanges: Sequence[str] = ()
) -> dict[str, tuple[Source, MarketRule]]:
    """Sources to collect from, by name, with their MARKETS rule (resolved at each cycle: ``resolve``).

    ``exchanges`` narrows the configured ones; an unknown name raises ValueError.
    """
    configured = dict(config["MARKETS"])
    coins = config["COINGECKO_COINS"]
    names = [*configured, *([COINGECKO] if coins else [])]
    unknown = [e for e in exchanges if e not in names]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not configured; configured sources: {', '.join(names)}")
    common = _common(config)
    sources: dict[str, tuple[Source, MarketRule]] = {}
    for name in names:
        if exchanges and name not in exchanges:
            continue
        if name == COINGECKO:
            sources[name] = (coingecko_source(config), MarketRule(pairs=()))
        else:
            sources[name] = (
                CcxtSource(
                    name,
                    options=config["EXCHANGE_OPTIONS"].get(name, {}),
                    cache_dir=cache_dir,
                    cache_ttl=float(config["MARKETS_CACHE_TTL"]),
                    book_limit=int(config["BOOK_LIMIT"]),
                    **common,
                ),
                MarketRule.from_config(configured[name]),
            )
    return sources


T = TypeVar("T")


def guarded(name: str, call: Callable[[], T]) -> tuple[T | SourceFailure, float]:
    """Run one source's network call (in a worker thread) and time it; its SourceFailure, or any
    other exception turned into one, is returned rather than raised: a bug in one adapter must not
    stop the other sources."""
    started = time.monotonic()
    try:
        result: T | SourceFailure = call()
    except SourceFailure as failure:
        result = failure
    except Exception as error:
        log.exception("%s: unexpected error", name)
        result = SourceFailure(f"{name}: unexpected {type(error).__name__}: {error}")
    return result, time.monotonic() - started


def _fetch(source: Source, rule: MarketRule, wanted: Sequence[str], books: bool) -> FetchResult | None:
    """Resolve one source's rule (narrowed to ``wanted`` pairs, if any) and fetch its markets; None
    when none of ``wanted`` is among them."""
    if rule.pairs == ():
        return source.fetch(list(wanted), books)  # everything the source offers (CoinGecko's coins)
    pairs = resolve(rule, source).pairs
    chosen = [p for p in pairs if p in wanted] if wanted else pairs
    return source.fetch(chosen, books) if chosen else None


def fetch_all(
    sources: Sources, *, pairs: Sequence[str] = (), books: bool = False, skip: Collection[str] = ()
) -> dict[str, tuple[FetchResult | SourceFailure, float]]:
    """Fetch every source but those in ``skip``, concurrently, one thread each (the network part of
    a cycle; nothing touches the database): by source, what it delivered or why it could not, and
    the seconds it took. ``pairs`` narrows every source to those pairs; a source with none of them
    is left out."""
    wanted = [normalize_pair(p) for p in pairs]
    jobs = {
        name: (source, rule)
        for name, (source, rule) in sources.items()
        if name not in skip and not (wanted and rule.pairs and not set(rule.pairs) & set(wanted))
    }
    if not jobs:
        return {}
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="collect") as pool:
        futures = {
            name: pool.submit(guarded, name, lambda s=s, r=r: _fetch(s, r, wanted, books))
            for name, (s, r) in jobs.items()
        }
        done = {name: future.result() for name, future in futures.items()}
    return {name: (result, seconds) for name, (result, seconds) in done.items() if result is not None}


def collect_once(
    session: Session,
    sources: Sources,
    *,
    pairs: Sequence[str] = (),
    books: bool = False,
    cooldown: float = 300,
    keep_rejections: int = 1000,
    rejections_alert: int | None = 50,
) -> list[SourceReport]:
    """Run one cycle and return one report per source; rows are committed in one transaction.

    ``pairs`` narrows every source to those pairs. A source on cooldown is skipped
    and its run row says until when. Rejected values and malformed payloads are kept (the newest
    ``keep_rejections`` per source); a source that rejected something this cycle and has more than
    ``rejections_alert`` kept rejections within the last hour gets its run flagged.
    """
    started = now_ms()
    cooling = runs.active_cooldowns(session, started)
    session.rollback()  # don't hold a read transaction open while the network is slow
    reports: dict[str, SourceReport] = {
        name: SourceReport(name, status="cooldown", cooldown_until=until)
        for name, until in cooling.items()
        if name in sources
    }
    results = fetch_all(sources, pairs=pairs, books=books, skip=cooling)

    fetched: list[Tick] = []
    book_tops: list[BookTop] = []
    for name, (result, seconds) in results.items():
        report = SourceReport(name, seconds=seconds)
        if isinstance(result, SourceFailure):
            report.status, report.error, report.retries = "error", str(result), result.retries
            report.cooldown_until = result.cooldown_until(cooldown, now_ms())
            payload = result.rejection(name)
            report.rejections = [payload] if payload else []
            report.rejected = len(report.rejections)
        else:
            report.retries = result.retries
            report.rejected = len(result.rejections)
            report.rejections = result.rejections
            report.books = len(result.books)
            fetched += result.ticks
            book_tops += result.books
            for rejection in result.rejections:
                log.warning("rejected %s %s: %s", rejection.exchange, rejection.pair, rejection.reason)
        reports[name] = report
    reports = {name: reports[name] for name in sources if name in reports}  # in MARKETS' order

    per_source = _store(session, fetched, book_tops)
    finished = now_ms()
    for report in reports.values():
        report.stored, report.duplicates = per_source.get(report.source, (0, 0))
    _keep_rejections(session, list(reports.values()), finished, keep_rejections, rejections_alert)
    runs.add_runs(
        session,
        [
            Run(
                source=r.source,
                started=started,
                finished=finished,
                status=r.status,
                stored=r.stored,
                duplicates=r.duplicates,
                rejected=r.rejected,
                retries=r.retries,
                error=r.error,
                cooldown_until=r.cooldown_until,
                flag=r.flag,
            )
            for r in reports.values()
        ],
    )
    session.commit()
    return list(reports.values())


def _keep_rejections(
    session: Session, reports: list[SourceReport], now: int, keep: int, alert: int | None
) -> None:
    """Store the cycle's rejections and flag the reports of sources now past ``alert`` in an hour."""
    rejections = [r for report in reports for r in report.rejections]
    runs.store_rejections(session, rejections, now, keep)
    if alert is None or not rejections:
        return
    rejecting = {report.source: report for report in reports if report.rejections}
    for source, count in runs.rejection_counts(session, rejecting, now - clock.HOUR).items():
        if count > alert:
            rejecting[source].flag = f"{count} rejections in the last hour (REJECTIONS_ALERT {alert})"
            log.warning("%s: %s", source, rejecting[source].flag)


def _store(session: Session, fetched: list[Tick], book_tops: list[BookTop]) -> dict[str, tuple[int, int]]:
    """Bulk-insert the cycle's book tops, then its ticks (one statement per source, for exact
    per-source counts; the alert rules evaluated after the ticks see this cycle's books); return
    per source (stored, duplicates) of ticks."""
    books.store_book_tops(session, book_tops)
    by_source: dict[str, list[Tick]] = {}
    for tick in fetched:
        by_source.setdefault(tick.exchange, []).append(tick)
    counts = {}
    for name, source_ticks in by_source.items():
        result = ticks.store_ticks(session, source_ticks)
        counts[name] = (result.stored, result.duplicates)
    return counts
