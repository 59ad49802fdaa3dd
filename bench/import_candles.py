"""Candle import benchmark: candles/s through `flask import-candles` vs pandas read_csv + executemany.

    .venv/bin/python bench/import_candles.py [--rows 1000000] [--repeat 3] [--bar 0.5]

Writes one generic CSV (``timestamp,open,high,low,close,volume``, 1-minute candles in epoch ms,
valid OHLC, seeded so every run sees the same file) into a temporary folder, then times, each
into a fresh SQLite file made by create_app + init_db (same schema and pragmas), end to end from
the file on disk to the commit:

* cryptocrunch: collector.importer.import_candles in an app context with db.session, as
  `flask import-candles FILE --exchange bench --pair BTC/USD` runs it (csvfiles.parse_clean: pandas
  read_csv and numpy checks of every row, the row-by-row csvfiles.parse only when one fails; the
  timeframe inferred from the rows' spacing, the boundary/duplicate checks,
  storage.store_candle_arrays);
* baseline: pandas.read_csv (C engine, explicit dtypes) then the raw sqlite3 DBAPI ``executemany``
  of the INSERT ... ON CONFLICT DO NOTHING that storage.store_candles sends, with rows zipped
  from the columns' ``tolist()`` (sqlite3 cannot bind numpy scalars); the market row is made
  before the clock starts. No validation: it is the floor of "read a CSV with pandas and store it";
* reference: pandas.read_csv then ``DataFrame.to_sql("candle", sqlite3_conn, if_exists="append")``
  (method=None: pandas' own executemany of a plain INSERT).

The contenders run --repeat times interleaved; the medians, their ratio to the baseline and the
bar are printed. Every run must have stored all --rows candles. Exit status 1 when cryptocrunch
is below --bar times the baseline.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import repeat
from pathlib import Path

import numpy as np
import pandas as pd

from cryptocrunch import create_app
from cryptocrunch.collector.importer import import_candles
from cryptocrunch.db import db, init_db
from cryptocrunch.storage.markets import market_ids

MINUTE = 60_000
START = 1_700_000_000_000 // MINUTE * MINUTE
EXCHANGE, PAIR, TIMEFRAME = "bench", "BTC/USD", "1m"
COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]
DTYPES = {"timestamp": "int64"} | dict.fromkeys(COLUMNS[1:], "float64")
# What storage.store_candles (storage._insert_sql) compiles to on SQLite.
INSERT = (
    "INSERT INTO candle (market_id, timeframe, ts, open, high, low, close, volume) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (market_id, timeframe, ts) DO NOTHING"
)
BASELINE = "pandas read_csv + sqlite3 executemany (baseline)"
PROJECT = "cryptocrunch import_candles"


def make_csv(path: Path, rows: int) -> None:
    """``rows`` one-minute candles of a random walk: high >= max(open, close), low <= min(open, close),
    volume >= 0 (prices rounded to cents after the bounds, which rounding cannot break: it is monotone)."""
    rng = np.random.default_rng(1)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.0005, rows)))
    open_ = np.concatenate([[30_000.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0003, rows)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0003, rows)))
    frame = pd.DataFrame(
        {
            "timestamp": START + np.arange(rows, dtype="int64") * MINUTE,
            "open": open_.round(2),
            "high": high.round(2),
            "low": low.round(2),
            "close": close.round(2),
            "volume": rng.exponential(3.0, rows).round(4),
        }
    )
    frame.to_csv(path, index=False)


def fresh_app(folder: Path):
    """A new SQLite file with the project's schema (and pragmas, on every connection)."""
    url = f"sqlite:///{folder / f'{time.perf_counter_ns()}.sqlite'}"
    app = create_app({"INSTANCE_PATH": str(folder), "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        init_db()
    return app


def db_path(app) -> Path:
    return Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))


def stored_rows(app) -> int:
    """Rows in the candle table, counted with a plain connection; then the file is removed."""
    path = db_path(app)
    with app.app_context():
        db.engine.dispose()
    conn = sqlite3.connect(path)
    (count,) = conn.execute("SELECT count(*) FROM candle").fetchone()
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return count


def raw_connection(app) -> tuple[sqlite3.Connection, int]:
    """A plain sqlite3 connection with the project's pragmas, and the id of the benchmark's market
    (made through the project before any clock starts)."""
    with app.app_context():
        market = market_ids(db.session, {(EXCHANGE, PAIR)})[EXCHANGE, PAIR]
        db.session.commit()
        db.engine.dispose()
    conn = sqlite3.connect(db_path(app))
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=10000"):
        conn.execute(f"PRAGMA {pragma}")
    return conn, market


def project_path(folder: Path, csv: Path) -> tuple[float, int]:
    """import_candles + its commit: what `flask import-candles` does."""
    app = fresh_app(folder)
    with app.app_context():
        started = time.perf_counter()
        report = import_candles(db.session, csv, exchange=EXCHANGE, pair=PAIR, timeframe=None)
        elapsed = time.perf_counter() - started
        assert report.timeframe == TIMEFRAME and not report.problems, report
    return elapsed, stored_rows(app)


def pandas_executemany(folder: Path, csv: Path) -> tuple[float, int]:
    """Baseline: read_csv, then executemany of the project's INSERT in one transaction."""
    app = fresh_app(folder)
    conn, market = raw_connection(app)
    started = time.perf_counter()
    frame = pd.read_csv(csv, dtype=DTYPES)
    n = len(frame)
    rows = zip(repeat(market, n), repeat(TIMEFRAME, n), *(frame[c].tolist() for c in COLUMNS), strict=True)
    with conn:
        conn.executemany(INSERT, rows)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, stored_rows(app)


def pandas_to_sql(folder: Path, csv: Path) -> tuple[float, int]:
    """Reference: read_csv, then DataFrame.to_sql into the existing candle table."""
    app = fresh_app(folder)
    conn, market = raw_connection(app)
    started = time.perf_counter()
    frame = pd.read_csv(csv, dtype=DTYPES).rename(columns={"timestamp": "ts"})
    frame.insert(0, "market_id", market)
    frame.insert(1, "timeframe", TIMEFRAME)
    with conn:
        frame.to_sql("candle", conn, if_exists="append", index=False)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, stored_rows(app)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="candles in the CSV")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bar", type=float, default=0.5, help="cryptocrunch must reach this x baseline")
    args = parser.parse_args()
    contenders: dict[str, Callable[[Path, Path], tuple[float, int]]] = {
        BASELINE: pandas_executemany,
        PROJECT: project_path,
        "pandas read_csv + DataFrame.to_sql (reference)": pandas_to_sql,
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv = folder / "candles.csv"
        make_csv(csv, args.rows)
        size = csv.stat().st_size
        for _ in range(args.repeat):
            for name, run in contenders.items():
                elapsed, stored = run(folder, csv)
                assert stored == args.rows, f"{name} stored {stored:,} rows, not {args.rows:,}"
                times[name].append(elapsed)
    baseline = args.rows / statistics.median(times[BASELINE])
    print(
        f"{args.rows:,} one-minute candles ({size / 1e6:.1f} MB generic CSV), "
        f"median of {args.repeat} runs, SQLite; every run stored all {args.rows:,} rows"
    )
    failed = False
    for name, samples in times.items():
        rate = args.rows / statistics.median(samples)
        ratio = rate / baseline
        line = f"  {name:<48} {rate:>10,.0f} candles/s  {statistics.median(samples):6.2f} s  {ratio:5.2f}x"
        if name == PROJECT:
            passed = ratio >= args.bar
            failed |= not passed
            line += f"   bar {args.bar:.2f}x  {'PASS' if passed else 'FAIL'}"
        print(line)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
