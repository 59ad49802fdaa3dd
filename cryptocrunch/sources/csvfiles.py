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
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

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
    values = (_number("open", o), _number("high", h), _number("low", low), _number("close", c))
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


@dataclass(frozen=True, slots=True)
class Columns:
    """Where a layout keeps each value (column indexes)."""

    time: int
    open: int
    high: int
    low: int
    close: int
    volume: int | None
    quote_volume: int | None = None
    symbol: int | None = None


@dataclass(frozen=True, slots=True)
class Layout:
    """A recognised file: its layout's name and columns, and the data lines after any banner and header."""

    name: str
    columns: Columns
    lines: list[str]
    first_line: int  # the file's line number of lines[0]


def _header_columns(header: list[str]) -> Columns:
    missing = [c for c in ("open", "high", "low", "close") if c not in header]
    time_column = next((c for c in TIME_COLUMNS if c in header), None)
    if missing or time_column is None:
        times = ", ".join(TIME_COLUMNS[:-1])
        lacking = f" (missing {', '.join(missing)})" if missing else ""
        raise CsvFormatError(
            f"unrecognised header {','.join(header)!r}: expected a time column ({times}) "
            f"and open, high, low, close{lacking}"
        )
    # base volume: "volume btc" / "volume_btc" when the file also has a quote volume, else "volume"
    base_volume = next((h for h in header if re.fullmatch(r"volume[ _](?!usd|usdt|eur)\w+", h)), None)
    quote_volume = next((h for h in header if re.fullmatch(r"volume[ _](usd|usdt|eur)", h)), None)
    if base_volume is None and "volume" in header:
        base_volume = "volume"
    elif base_volume is not None and quote_volume is None and "volume" in header:
        quote_volume = "volume"

    def at(name: str | None) -> int | None:
        return header.index(name) if name is not None and name in header else None

    return Columns(
        time=header.index(time_column),
        open=header.index("open"),
        high=header.index("high"),
        low=header.index("low"),
        close=header.index("close"),
        volume=at(base_volume),
        quote_volume=at(quote_volume),
        symbol=at("symbol"),
    )


def detect(text: str) -> Layout:
    """Recognise a candle CSV's layout from its first lines."""
    lines = text.splitlines()
    banner = bool(lines) and "cryptodatadownload" in lines[0].lower()
    first = int(banner)
    while first < len(lines) and not lines[first].strip():
        first += 1
    if first >= len(lines):
        raise CsvFormatError("the file is empty")
    cells = next(csv.reader([lines[first]]))
    header = [h.strip().lower() for h in cells]
    if header and re.fullmatch(r"\d+(\.\d+)?", header[0]):
        if len(cells) >= 12:
            name = "binance klines"
        elif len(cells) in (6, 7):
            name = "kraken ohlcvt"
        else:
            raise CsvFormatError(
                f"a file without a header must be Binance klines (12 columns) or Kraken OHLCVT "
                f"(6-7 columns), this one has {len(cells)}"
            )
        return Layout(name, Columns(0, 1, 2, 3, 4, 5), lines[first:], first + 1)
    name = "cryptodatadownload" if banner or {"unix", "symbol"} <= set(header) else "generic"
    return Layout(name, _header_columns(header), lines[first + 1 :], first + 2)


def parse(text: str) -> Parsed:
    """Recognise the layout of a candle CSV and parse every row (bad rows are kept with their reason)."""
    layout = detect(text)
    columns = layout.columns
    parsed = Parsed(layout.name)
    for number, cells in enumerate(csv.reader(layout.lines), start=layout.first_line):
        if not cells or not any(c.strip() for c in cells):
            continue
        try:
            volume = cells[columns.volume] if columns.volume is not None else ""
            row = _row(
                number,
                cells[columns.time],
                cells[columns.open],
                cells[columns.high],
                cells[columns.low],
                cells[columns.close],
                volume,
            )
        except (ValueError, IndexError) as reason:
            parsed.bad.append((number, str(reason) if isinstance(reason, ValueError) else "too few columns"))
            continue
        if columns.quote_volume is not None and row.close > 1:
            # CryptoDataDownload swapped the two volume columns in some older rows: base > quote gives it away
            quote = float(cells[columns.quote_volume] or 0)
            if row.volume > quote > 0:
                row = Row(row.line, row.ts, row.open, row.high, row.low, row.close, quote)
                parsed.swapped_volumes += 1
        if columns.symbol is not None and parsed.pair is None:
            parsed.pair = _pair_from_symbol(cells[columns.symbol])
        parsed.rows.append(row)
    return parsed


@dataclass(frozen=True, slots=True)
class Clean:
    """A file whose every row is good, as arrays in file order: ``ts`` (epoch ms) and ``ohlcv``
    (n × 5: open, high, low, close, volume)."""

    layout: str
    pair: str | None
    swapped_volumes: int
    ts: np.ndarray
    ohlcv: np.ndarray


def parse_clean(text: str) -> Clean | None:
    """The fast path for large files: read every row at once with pandas and check them with numpy.
    None when any row would not pass ``parse`` as it is (a non-numeric or ISO time, a missing or
    bad value, a ragged line): then ``parse`` finds and names the bad lines."""
    layout = detect(text)
    c = layout.columns
    volumes = [i for i in (c.volume, c.quote_volume) if i is not None]
    numeric = [c.time, c.open, c.high, c.low, c.close, *volumes]
    wanted = sorted({*numeric, *([c.symbol] if c.symbol is not None else [])})
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(layout.lines)),
            header=None,
            usecols=wanted,
            dtype={i: ("str" if i in (c.symbol, c.time) else "float64") for i in wanted},
            keep_default_na=False,
            na_values=[""],
            skipinitialspace=True,
        )
    except (ValueError, pd.errors.ParserError):
        return None
    if frame.empty:
        return None
    t = _epoch_ms(frame[c.time])
    values = frame[numeric[1:]].to_numpy()
    if t is None or not np.isfinite(values).all():
        return None
    o, h, low, close = (frame[i].to_numpy() for i in (c.open, c.high, c.low, c.close))
    volume = frame[c.volume].to_numpy() if c.volume is not None else np.zeros(len(frame))
    good = (t >= 0) & (low > 0) & (low <= np.minimum(o, close)) & (h >= np.maximum(o, close)) & (volume >= 0)
    if not good.all():
        return None
    swapped = 0
    if c.quote_volume is not None:
        quote = frame[c.quote_volume].to_numpy()
        swap = (close > 1) & (volume > quote) & (quote > 0)
        volume, swapped = np.where(swap, quote, volume), int(swap.sum())
    pair = _pair_from_symbol(str(frame[c.symbol].iloc[0])) if c.symbol is not None else None
    return Clean(layout.name, pair, swapped, t, np.column_stack([o, h, low, close, volume]))


def _epoch_ms(times: pd.Series) -> np.ndarray | None:
    """``parse_time`` for a whole column: epoch s / ms / µs told apart by size, or ISO 8601 (UTC unless
    zoned); None when some time is neither (CryptoDataDownload's ``09-AM`` hours included)."""
    times = times.str.strip()
    if times.isna().any():
        return None
    if times.str.fullmatch(r"\d+(\.\d+)?").all():
        t = times.astype("float64").to_numpy()
        return np.where(t >= 1e14, t // 1000, np.where(t >= 1e11, t, t * 1000)).astype("int64")
    try:
        stamps = pd.to_datetime(times, format="ISO8601", utc=True)
    except (ValueError, OverflowError):
        return None
    return stamps.to_numpy(dtype="datetime64[ms]").astype("int64")
