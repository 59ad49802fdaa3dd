"""`flask import-candles FILE`: candle CSV files into the candle table, all or nothing."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from .. import storage
from ..sources.base import TIMEFRAMES, Candle
from ..sources.csvfiles import CsvFormatError, Row, parse


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


def _timeframe(rows: list[Row], given: str | None) -> str:
    if given:
        return given
    spacing = [b.ts - a.ts for a, b in itertools.pairwise(rows) if b.ts > a.ts]
    # the most common spacing (ties: the shortest) is robust to gaps and stray rows
    usual = max(Counter(spacing).items(), key=lambda item: (item[1], -item[0]))[0] if spacing else 0
    for name, step in TIMEFRAMES.items():
        if usual == step:
            return name
    raise CsvFormatError(
        f"cannot tell the timeframe (rows are mostly {usual / 1000:g} s apart): pass --timeframe"
    )


def import_candles(
    session: Session,
    path: Path,
    *,
    exchange: str | None,
    pair: str | None,
    timeframe: str | None,
    skip_bad: bool = False,
) -> ImportReport:
    """Parse, check and store one file's candles in one transaction; raise ImportFailed (storing
    nothing) when rows are bad or conflict, unless ``skip_bad`` drops them."""
    parsed = parse(path.read_text(encoding="utf-8-sig"))
    pair = (pair or parsed.pair or "").replace("-", "/").upper() or None
    if pair is None:
        raise CsvFormatError(f"{path.name} does not name its pair: pass --pair BASE/QUOTE")
    if not exchange:
        raise CsvFormatError(f"{path.name} does not name its exchange: pass --exchange")
    rows = sorted(parsed.rows, key=lambda r: (r.ts, r.line))
    report = ImportReport(parsed.layout, exchange, pair, "?", rows=len(parsed.rows) + len(parsed.bad))
    report.swapped_volumes = parsed.swapped_volumes
    report.problems = [f"line {line}: {reason}" for line, reason in parsed.bad]
    report.timeframe = _timeframe(rows, timeframe)
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
    if report.problems and not skip_bad:
        raise ImportFailed(report)
    report.gaps = [(a.ts, b.ts) for a, b in itertools.pairwise(kept) if b.ts - a.ts > step]
    result = storage.store_candles(
        session,
        [
            Candle(exchange, pair, report.timeframe, r.ts, r.open, r.high, r.low, r.close, r.volume)
            for r in kept
        ],
    )
    session.commit()
    report.stored, report.already_stored = result.stored, result.duplicates
    return report
