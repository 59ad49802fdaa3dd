"""`flask import-candles FILE`: candle CSV files into the candle table, all or nothing."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from ..clock import TIMEFRAMES, now_ms
from ..sources.base import Candle, Rejection
from ..sources.csvfiles import Clean, CsvFormatError, Row, parse, parse_clean
from ..storage import candles, runs


@dataclass(slots=True)
class ImportReport:
    """What an import found and did."""

    layout: str
    exchange: str
    pair: str
    timeframe: str
    rows: int = 0
    stored: int = 0
    already_stored: int = 0
    collapsed: int = 0
    swapped_volumes: int = 0
    problems: list[str] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    skipped: int = 0


class ImportFailed(ValueError):
    """The file has bad rows (and --skip-bad was not given): nothing was stored."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"{len(report.problems)} problem(s) in the file; nothing was stored")
        self.report = report


def _timeframe(ts: np.ndarray, given: str | None) -> str:
    """``given``, else the timeframe of the most common spacing of the sorted times ``ts`` (ties: the
    shortest), which gaps and stray rows do not move."""
    if given:
        return given
    spacing = np.diff(ts)
    values, counts = np.unique(spacing[spacing > 0], return_counts=True)
    usual = int(values[counts.argmax()]) if len(values) else 0
    for name, step in TIMEFRAMES.items():
        if usual == step:
            return name
    raise CsvFormatError(
        f"cannot tell the timeframe (rows are mostly {usual / 1000:g} s apart): pass --timeframe"
    )


def _market(path: Path, exchange: str | None, given: str | None, named: str | None) -> tuple[str, str]:
    """The exchange and unified pair of the import (the option wins over the file); CsvFormatError
    names the option a file lacks."""
    pair = (given or named or "").replace("-", "/").upper()
    if not pair:
        raise CsvFormatError(f"{path.name} does not name its pair: pass --pair BASE/QUOTE")
    if not exchange:
        raise CsvFormatError(f"{path.name} does not name its exchange: pass --exchange")
    return exchange, pair


def _import_clean(
    session: Session, clean: Clean, exchange: str, pair: str, timeframe: str | None
) -> ImportReport | None:
    """Store a file whose rows all passed the vectorised checks; None when its times repeat or are off
    the timeframe's grid, so that the row-by-row path names the lines."""
    order = np.argsort(clean.ts, kind="stable")
    ts, ohlcv = clean.ts[order], clean.ohlcv[order]
    if (np.diff(ts) == 0).any():
        return None
    report = ImportReport(clean.layout, exchange, pair, _timeframe(ts, timeframe), rows=len(ts))
    report.swapped_volumes = clean.swapped_volumes
    step = TIMEFRAMES[report.timeframe]
    if (ts % step).any():
        return None
    wide = np.flatnonzero(np.diff(ts) > step)
    report.gaps = list(zip(ts[wide].tolist(), ts[wide + 1].tolist(), strict=True))
    result = candles.store_candle_arrays(session, exchange, pair, report.timeframe, ts, ohlcv)
    session.commit()
    report.stored, report.already_stored = result.stored, result.duplicates
    return report


def import_candles(
    session: Session,
    path: Path,
    *,
    exchange: str | None,
    pair: str | None,
    timeframe: str | None,
    skip_bad: bool = False,
    keep_rejections: int = 1000,
) -> ImportReport:
    """Parse, check and store one file's candles in one transaction; raise ImportFailed (storing
    nothing) when rows are bad or conflict, unless ``skip_bad`` drops them.

    Either way the bad rows are kept for the validation report (source: the exchange, endpoint:
    ``import FILE``), the newest ``keep_rejections`` per source.
    """
    text = path.read_text(encoding="utf-8-sig")
    clean = parse_clean(text)
    if clean is not None:
        exchange, pair = _market(path, exchange, pair, clean.pair)
        done = _import_clean(session, clean, exchange, pair, timeframe)
        if done is not None:
            return done
    parsed = parse(text)
    exchange, pair = _market(path, exchange, pair, parsed.pair)
    rows = sorted(parsed.rows, key=lambda r: (r.ts, r.line))
    report = ImportReport(parsed.layout, exchange, pair, "?", rows=len(parsed.rows) + len(parsed.bad))
    report.swapped_volumes = parsed.swapped_volumes
    report.problems = [f"line {line}: {reason}" for line, reason in parsed.bad]
    report.timeframe = _timeframe(np.array([r.ts for r in rows], dtype="int64"), timeframe)
    step = TIMEFRAMES[report.timeframe]

    unique: list[Row] = []
    conflicting: set[int] = set()
    for row in rows:
        if row.ts % step:
            report.problems.append(f"line {row.line}: time is not on a {report.timeframe} boundary")
            continue
        if unique and unique[-1].ts == row.ts:
            same = (
                unique[-1].open,
                unique[-1].high,
                unique[-1].low,
                unique[-1].close,
                unique[-1].volume,
            ) == (row.open, row.high, row.low, row.close, row.volume)
            if same:
                report.collapsed += 1
            else:
                conflicting.add(row.ts)
                report.problems.append(
                    f"line {row.line}: conflicts with line {unique[-1].line} (same time, other values)"
                )
            continue
        unique.append(row)
    kept = [r for r in unique if r.ts not in conflicting]
    report.skipped = report.rows - len(kept) - report.collapsed
    rejections = [Rejection(exchange, f"import {path.name}", pair, problem) for problem in report.problems]
    if report.problems and not skip_bad:
        # all or nothing applies to the candles; what was wrong with them is kept regardless
        session.rollback()
        runs.store_rejections(session, rejections, now_ms(), keep_rejections)
        session.commit()
        raise ImportFailed(report)
    report.gaps = [(a.ts, b.ts) for a, b in itertools.pairwise(kept) if b.ts - a.ts > step]
    result = candles.store_candles(
        session,
        [
            Candle(exchange, pair, report.timeframe, r.ts, r.open, r.high, r.low, r.close, r.volume)
            for r in kept
        ],
    )
    runs.store_rejections(session, rejections, now_ms(), keep_rejections)
    session.commit()
    report.stored, report.already_stored = result.stored, result.duplicates
    return report
