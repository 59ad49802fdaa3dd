"""Candle CSV files people already have, recognised by their header (or its absence):

* CryptoDataDownload exports: a banner line, then ``unix,date,symbol,open,...,Volume BTC,Volume USD``
  (or ``date,symbol,open,...,volume_btc,volume``), newest first;
* Binance klines: no header, 12 columns, open time in ms or µs;
* Kraken OHLCVT: no header, ``time,open,high,low,close,volume[,trades]`` in epoch seconds;
* a generic header naming a time column (timestamp, time, date, datetime, unix, or none) and
  open/high/low/close[/volume] in any order, times as epoch s/ms/µs or ISO 8601.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

TIME_COLUMNS = ("unix", "timestamp", "time", "open_time", "datetime_utc", "datetime", "date", "")
QUOTES = ("USDT", "USDC", "USD", "EUR", "GBP", "BTC", "ETH")


class CsvFormatError(ValueError):
    """The file is not one of the recognised layouts, or lacks what the options must supply."""


@dataclass(frozen=True, slots=True)
class Row:
    """One parsed candle row and the file line it came from."""

    line: int
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(slots=True)
class Parsed:
    """What a file holds: its layout, the pair it names (if any), good rows and bad lines."""

    layout: str
    pair: str | None = None
    rows: list[Row] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)
    swapped_volumes: int = 0


def parse_time(text: str) -> int:
    """Epoch s / ms / µs (told apart by size), ISO 8601 (UTC unless zoned), or CDD's ``2019-10-17 09-AM``."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        value = float(text)
        if value >= 1e14:  # microseconds
            return int(value // 1000)
        if value >= 1e11:  # milliseconds
            return int(value)
        return int(value * 1000)
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2}) (\d{1,2})-(AM|PM)", text)
    if match:
        hour = int(match[2]) % 12 + (12 if match[3] == "PM" else 0)
        text = f"{match[1]} {hour:02d}:00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _pair_from_symbol(symbol: str) -> str | None:
    symbol = symbol.strip().upper().replace("-", "/")
    if symbol.count("/") == 1:
        return symbol
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return f"{symbol[: -len(quote)]}/{quote}"
    return None


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} is not finite: {text!r}")
    return value


def _row(line: int, ts_text: str, o: str, h: str, low: str, c: str, v: str) -> Row:
    try:
        ts = parse_time(ts_text)
    except ValueError:
        raise ValueError(f"time is not a date or epoch: {ts_text!r}") from None
    values = [_number(n, t) for n, t in (("open", o), ("high", h), ("low", low), ("close", c))]
    volume = _number("volume", v) if v.strip() else 0.0
    if min(values) <= 0:
        raise ValueError("a price is not positive")
    if values[2] > values[1]:
        raise ValueError(f"high {values[1]} < low {values[2]}")
    if not values[2] <= min(values[0], values[3]) or not values[1] >= max(values[0], values[3]):
        raise ValueError("high/low do not contain open and close")
    if volume < 0:
        raise ValueError(f"negative volume {volume}")
    return Row(line, ts, *values, volume)


def parse(text: str) -> Parsed:
    """Recognise the layout of a candle CSV and parse every row (bad rows are kept with their reason)."""
    lines = text.splitlines()
    first = 0
    if lines and "cryptodatadownload" in lines[0].lower():
        first = 1
    reader = list(csv.reader(io.StringIO("\n".join(lines[first:]))))
    if not reader:
        raise CsvFormatError("the file is empty")
    header = [h.strip().lower() for h in reader[0]]
    if header and re.fullmatch(r"\d+(\.\d+)?", header[0]):
        return _headerless(reader, first)
    layout = "cryptodatadownload" if first or {"unix", "symbol"} <= set(header) else "generic"
    return _with_header(header, reader[1:], first + 2, layout)


def _headerless(reader: list[list[str]], offset: int) -> Parsed:
    width = len(reader[0])
    if width >= 12:
        parsed, spec = Parsed("binance klines"), (0, 1, 2, 3, 4, 5)
    elif width in (6, 7):
        parsed, spec = Parsed("kraken ohlcvt"), (0, 1, 2, 3, 4, 5)
    else:
        raise CsvFormatError(
            f"a file without a header must be Binance klines (12 columns) or Kraken OHLCVT "
            f"(6-7 columns), this one has {width}"
        )
    for number, cells in enumerate(reader, start=offset + 1):
        if not cells:
            continue
        try:
            parsed.rows.append(_row(number, *(cells[i] for i in spec)))
        except (ValueError, IndexError) as reason:
            parsed.bad.append((number, str(reason) if isinstance(reason, ValueError) else "too few columns"))
    return parsed


def _with_header(header: list[str], body: Iterable[list[str]], first_line: int, layout: str) -> Parsed:
    missing = [c for c in ("open", "high", "low", "close") if c not in header]
    time_column = next((c for c in TIME_COLUMNS if c in header), None)
    if missing or time_column is None:
        times = ", ".join(TIME_COLUMNS[:-1])
        lacking = f" (missing {', '.join(missing)})" if missing else ""
        raise CsvFormatError(
            f"unrecognised header {','.join(header)!r}: expected a time column ({times}) "
            f"and open, high, low, close{lacking}"
        )
    index = {name: header.index(name) for name in ("open", "high", "low", "close")}
    index["time"] = header.index(time_column)
    # base volume: "volume btc" / "volume_btc" when the file also has a quote volume, else "volume"
    base_volume = next((h for h in header if re.fullmatch(r"volume[ _](?!usd|usdt|eur)\w+", h)), None)
    quote_volume = next((h for h in header if re.fullmatch(r"volume[ _](usd|usdt|eur)", h)), None)
    if base_volume is None and "volume" in header:
        base_volume = "volume"
    elif base_volume is not None and quote_volume is None and "volume" in header:
        quote_volume = "volume"
    symbol = header.index("symbol") if "symbol" in header else None
    parsed = Parsed(layout)
    for number, cells in enumerate(body, start=first_line):
        if not cells or not any(c.strip() for c in cells):
            continue
        try:
            volume = cells[header.index(base_volume)] if base_volume else ""
            row = _row(
                number,
                cells[index["time"]],
                *(cells[index[k]] for k in ("open", "high", "low", "close")),
                volume,
            )
        except (ValueError, IndexError) as reason:
            parsed.bad.append((number, str(reason) if isinstance(reason, ValueError) else "too few columns"))
            continue
        if quote_volume and row.close > 1:
            # CryptoDataDownload swapped the two volume columns in some older rows: base > quote gives it away
            quote = float(cells[header.index(quote_volume)] or 0)
            if row.volume > quote > 0:
                row = Row(row.line, row.ts, row.open, row.high, row.low, row.close, quote)
                parsed.swapped_volumes += 1
        if symbol is not None and parsed.pair is None:
            parsed.pair = _pair_from_symbol(cells[symbol])
        parsed.rows.append(row)
    return parsed
