"""`flask backfill`: historical candles through ccxt fetch_ohlcv, page by page, resumable."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from ..clock import DURATION_UNITS, now_ms, utc_text
from ..models import Run
from ..sources.base import Source, SourceFailure
from ..sources.exchange import CcxtSource
from ..storage import candles, runs
from .markets import MarketRule, resolve


def parse_since(text: str, now: int) -> int:
    """``30d`` / ``12h`` / ``90m`` / ``2w`` ago, or a UTC date or ISO time, as epoch ms."""
    match = re.fullmatch(r"(\d+)([mhdw])", text.strip())
    if match:
        return now - int(match[1]) * DURATION_UNITS[match[2]]
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since must look like 30d, 12h or 2024-01-01, got {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


@dataclass(slots=True)
class BackfillReport:
    """What one market's backfill did."""

    exchange: str
    pair: str
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries: int = 0
    seconds: float = 0.0
    resumed_from: int | None = None
    error: str | None = None
    cooldown_until: int | None = None


def backfill_market(
    session: Session,
    source: CcxtSource,
    pair: str,
    timeframe: str,
    start: int,
    end: int,
    on_page: Callable[[int, int], None] = lambda covered, stored: None,
    keep_rejections: int = 1000,
) -> BackfillReport:
    """Fetch and store one market's closed candles from the one holding ``start`` (or after the newest
    stored one) up to ``end``.

    Each page is committed on its own, so an interrupted backfill resumes where it stopped. The
    candle still open at ``end`` is left out: stored now, it would never be completed.
    ``on_page(ms covered so far, candles stored in the page)`` drives a progress display.
    A rate limit puts the exchange on cooldown in the run log, as in ``flask collect``, so neither
    command asks it again before the cooldown ends. Rejected candles (and a malformed page) are kept
    for the validation report with the page they came in, the newest ``keep_rejections`` per source.
    """
    report = BackfillReport(source.name, pair)
    step = source.timeframe_ms(timeframe)
    start, end = start // step * step, end // step * step
    last = candles.last_candle_ts(session, source.name, pair, timeframe)
    cursor = start
    if last is not None and last + step > start:
        cursor = report.resumed_from = last + step
    session.rollback()  # no read transaction held open across the network
    started, started_ms = time.monotonic(), now_ms()
    try:
        for page, rejections, retries in source.candle_pages(pair, timeframe, cursor, end):
            result = candles.store_candles(session, page)
            runs.store_rejections(session, rejections, now_ms(), keep_rejections)
            session.commit()
            report.stored += result.stored
            report.duplicates += result.duplicates
            report.rejected += len(rejections)
            report.retries += retries
            if page:
                on_page(max(c.ts for c in page) + step - cursor, result.stored)
    except SourceFailure as failure:
        report.error = str(failure)
        report.retries += failure.retries
        report.cooldown_until = failure.cooldown_until(source.cooldown, now_ms())
        payload = failure.rejection(source.name, pair)
        if payload:
            report.rejected += 1
            runs.store_rejections(session, [payload], now_ms(), keep_rejections)
        if report.cooldown_until:
            run = Run(
                source=source.name,
                started=started_ms,
                finished=now_ms(),
                status="error",
                stored=report.stored,
                duplicates=report.duplicates,
                rejected=report.rejected,
                retries=report.retries,
                error=f"backfill {pair}: {failure}",
                cooldown_until=report.cooldown_until,
            )
            runs.add_runs(session, [run])
        session.commit()
    report.seconds = time.monotonic() - started
    return report


#: A page callback: (ms covered so far, candles stored in the page).
OnPage = Callable[[int, int], None]


def backfill_configured(
    session: Session,
    sources: Mapping[str, tuple[Source, MarketRule]],
    timeframe: str,
    start: int,
    end: int,
    *,
    wanted: Collection[str] = (),
    keep_rejections: int = 1000,
    progress: Callable[[str, str], AbstractContextManager[OnPage]] | None = None,
) -> Iterator[tuple[str, str, BackfillReport | str]]:
    """Backfill every configured exchange market (of ``wanted`` pairs, when given) from ``start``
    or its newest stored candle to ``end``; yield (exchange, pair, its report, or why it was
    skipped: an exchange on cooldown, or one whose markets could not be loaded). A MARKETS rule
    is resolved first (pair ``*`` when that fails). ``progress`` gives a page callback per market."""
    cooling = runs.active_cooldowns(session, end)
    session.rollback()
    attempted: dict[str, int] = {}
    for name, (source, rule) in sources.items():
        if not isinstance(source, CcxtSource):
            continue  # CoinGecko has no candles here
        if rule.pairs is None and name in cooling:
            yield name, "*", f"skipped: {name} on cooldown until {utc_text(cooling[name])} UTC"
            continue
        try:
            source_pairs = resolve(rule, source).pairs
        except SourceFailure as failure:
            yield name, "*", f"skipped: {failure}"
            continue
        for pair in source_pairs:
            if wanted and pair not in wanted:
                continue
            if name in cooling:
                yield name, pair, f"skipped: {name} on cooldown until {utc_text(cooling[name])} UTC"
                continue
            if not source.exchange.markets and attempted.get(name):
                yield name, pair, f"skipped: {name} could not be reached for its markets"
                continue
            with progress(name, pair) if progress else nullcontext(_no_page) as on_page:
                report = backfill_market(
                    session, source, pair, timeframe, start, end, on_page, keep_rejections=keep_rejections
                )
            attempted[name] = attempted.get(name, 0) + 1
            if report.cooldown_until:
                cooling[name] = report.cooldown_until
            yield name, pair, report


def _no_page(_covered: int, _stored: int) -> None:
    return None
