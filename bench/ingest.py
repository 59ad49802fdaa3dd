"""Ingest benchmark: ticks/s through cryptocrunch's storage path vs a raw sqlite3 executemany, and
with --db vs a raw psycopg COPY on PostgreSQL too.

    .venv/bin/python bench/ingest.py [--markets 200] [--ticks 1000] [--repeat 5]
        [--db postgresql+psycopg://user@host:5432/db] [--smoke]

Each contender inserts the same ticks (a tick a minute per market, ending now) into a fresh SQLite
file with the same schema and pragmas, in one transaction, and is run --repeat times interleaved
with the others; the medians and their ratio to the raw baseline are printed. With --db the same
ticks then go into fresh schemas of that PostgreSQL database (each made by init-db: the monthly
partitions of tick; dropped afterwards): storage.ticks.store_ticks (COPY into a staging table, then
INSERT ... SELECT ... ON CONFLICT, rollups included) against a raw psycopg binary COPY of the
prepared rows straight into tick (the baseline: no duplicate check, no rollups), with the INSERT ...
ON CONFLICT executemany the storage path used before COPY as a reference; the bar is 0.5x the
baseline. --smoke: 20 markets x 50 ticks, once, figures not held to the bar (bench/common.py).
Exit status 1 when the bar is missed.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

import psycopg
import sqlalchemy as sa
from psycopg import sql as psql
from sqlalchemy.dialects import postgresql

from cryptocrunch import create_app
from cryptocrunch.clock import now_ms
from cryptocrunch.db import db, init_db
from cryptocrunch.models import Tick as TickRow
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage.markets import market_ids
from cryptocrunch.storage.ticks import TICK_COLUMNS, store_ticks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import database, verdict

BAR = 0.5  # PostgreSQL: store_ticks at least half the raw COPY's rate


def make_ticks(markets: int, per_market: int) -> list[Tick]:
    rng = random.Random(1)
    start = (now_ms() - per_market * 60_000) // 60_000 * 60_000  # recent: into the months made ahead
    ticks = []
    for m in range(markets):
        price = rng.uniform(0.01, 60_000)
        for i in range(per_market):
            price *= 1 + rng.gauss(0, 0.001)
            ticks.append(
                Tick(f"ex{m % 5}", f"C{m}/USD", start + i * 60_000, price, price * 0.999, price * 1.001, 1.5)
            )
    return ticks


def fresh_app(folder: Path, ticks: list[Tick], url: str | None = None):
    """A new SQLite file (or the fresh PostgreSQL schema of ``url``) with the schema and every
    market already created; (app, market ids)."""
    url = url or f"sqlite:///{folder / f'{time.perf_counter_ns()}.sqlite'}"
    app = create_app({"INSTANCE_PATH": str(folder), "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        init_db()
        ids = market_ids(db.session, {(t.exchange, t.pair) for t in ticks})
        db.session.commit()
    return app, ids


def project_path(folder: Path, ticks: list[Tick], url: str | None = None) -> float:
    """storage.ticks.store_ticks + commit: the path `flask collect` takes."""
    app, _ = fresh_app(folder, ticks, url)
    with app.app_context():
        started = time.perf_counter()
        store_ticks(db.session, ticks)
        db.session.commit()
        elapsed = time.perf_counter() - started
        db.engine.dispose()
    return elapsed


def core_executemany(folder: Path, ticks: list[Tick]) -> float:
    """Reference: SQLAlchemy Core insert() with a list of dicts (market ids known)."""
    app, ids = fresh_app(folder, ticks)
    with app.app_context():
        started = time.perf_counter()
        rows = [
            {
                "market_id": ids[t.exchange, t.pair],
                "ts": t.ts,
                "last": t.last,
                "bid": t.bid,
                "ask": t.ask,
                "base_volume": t.base_volume,
                "quote_volume": t.quote_volume,
            }
            for t in ticks
        ]
        db.session.execute(sa.insert(TickRow).prefix_with("OR IGNORE"), rows)
        db.session.commit()
        elapsed = time.perf_counter() - started
        db.engine.dispose()
    return elapsed


def raw_sqlite(folder: Path, ticks: list[Tick]) -> float:
    """Baseline: sqlite3 executemany of prepared tuples into the same table."""
    app, ids = fresh_app(folder, ticks)  # same schema, created by the project
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    with app.app_context():
        db.engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    rows = rows_of(ids, ticks)
    with conn:
        conn.executemany(
            "INSERT INTO tick (market_id, ts, last, bid, ask, base_volume, quote_volume) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (market_id, ts) DO NOTHING",
            rows,
        )
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def rows_of(ids: dict[tuple[str, str], int], ticks: list[Tick]) -> list[tuple[Any, ...]]:
    return [
        (ids[t.exchange, t.pair], t.ts, t.last, t.bid, t.ask, t.base_volume, t.quote_volume) for t in ticks
    ]


def raw_copy(folder: Path, ticks: list[Tick], url: str | None = None) -> float:
    """PostgreSQL baseline: psycopg binary COPY of prepared tuples straight into tick (its
    partitions made by init-db), one transaction: no duplicate check, no rollups."""
    app, ids = fresh_app(folder, ticks, url)
    with app.app_context():
        conn = db.engine.raw_connection()
        try:
            pg = cast(psycopg.Connection[Any], conn.driver_connection)
            started = time.perf_counter()
            rows = rows_of(ids, ticks)
            with pg.cursor() as cursor:
                columns = psql.SQL(", ").join(map(psql.Identifier, TICK_COLUMNS))
                copy_sql = psql.SQL("COPY tick ({}) FROM STDIN (FORMAT BINARY)").format(columns)
                with cursor.copy(copy_sql) as copy:
                    copy.set_types(["int4", "int8", "float8", "float8", "float8", "float8", "float8"])
                    for row in rows:
                        copy.write_row(row)
            pg.commit()
            elapsed = time.perf_counter() - started
        finally:
            conn.close()
        db.engine.dispose()
    return elapsed


def insert_executemany(folder: Path, ticks: list[Tick], url: str | None = None) -> float:
    """Reference: the INSERT ... ON CONFLICT DO NOTHING executemany (psycopg pipeline) that
    insert_rows ran on PostgreSQL before COPY, without the rollups."""
    app, ids = fresh_app(folder, ticks, url)
    with app.app_context():
        started = time.perf_counter()
        rows = rows_of(ids, ticks)
        conn = db.session.connection()
        stmt = postgresql.insert(TickRow).values({c: sa.bindparam(c) for c in TICK_COLUMNS})
        compiled = stmt.on_conflict_do_nothing(index_elements=["market_id", "ts"]).compile(
            dialect=conn.dialect
        )
        conn.exec_driver_sql(str(compiled), [dict(zip(TICK_COLUMNS, row, strict=True)) for row in rows])
        db.session.commit()
        elapsed = time.perf_counter() - started
        db.engine.dispose()
    return elapsed


def measure(
    contenders: dict[str, Callable[..., float]], ticks: list[Tick], repeat: int, db_url: str | None
) -> dict[str, float]:
    """Each contender's median ticks/s over ``repeat`` interleaved runs (a fresh database each)."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            for name, run in contenders.items():
                if db_url is None:
                    times[name].append(run(Path(tmp), ticks))
                    continue
                with ExitStack() as stack:  # a fresh schema, dropped after the run
                    url, _ = database(db_url, Path(tmp), stack)
                    times[name].append(run(Path(tmp), ticks, url))
    return {name: len(ticks) / statistics.median(samples) for name, samples in times.items()}


def report(title: str, rates: dict[str, float]) -> float:
    """Print the rates against the first (the baseline); the second's ratio."""
    print(title)
    baseline = next(iter(rates.values()))
    for name, rate in rates.items():
        print(f"  {name:<42} {rate:>12,.0f} ticks/s   {rate / baseline:5.2f}x baseline")
    return list(rates.values())[1] / baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=200)
    parser.add_argument("--ticks", type=int, default=1000, help="ticks per market")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", help="also on this PostgreSQL database (postgresql+psycopg://...)")
    parser.add_argument("--smoke", action="store_true", help="every path on a small set, in seconds")
    args = parser.parse_args()
    if args.smoke:
        args.markets, args.ticks, args.repeat = 20, 50, 1
    ticks = make_ticks(args.markets, args.ticks)
    size = f"{len(ticks):,} ticks ({args.markets} markets x {args.ticks}), median of {args.repeat} runs"
    sqlite_rates = measure(
        {
            "raw sqlite3 executemany (baseline)": raw_sqlite,
            "cryptocrunch storage.ticks.store_ticks": project_path,
            "SQLAlchemy Core insert (reference)": core_executemany,
        },
        ticks,
        args.repeat,
        None,
    )
    report(f"{size}, SQLite", sqlite_rates)
    if args.db is None:
        return
    postgres_rates = measure(
        {
            "raw psycopg COPY into tick (baseline)": raw_copy,
            "cryptocrunch storage.ticks.store_ticks": project_path,
            "INSERT ... ON CONFLICT executemany (before)": insert_executemany,
        },
        ticks,
        args.repeat,
        args.db,
    )
    ratio = report(f"{size}, PostgreSQL (partitioned tick, fresh schema each run)", postgres_rates)
    ok = ratio >= BAR
    print(f"  store_ticks / raw COPY: {ratio:.2f}x (bar {BAR}x) {verdict(ok, args.smoke)}")
    if not ok and not args.smoke:
        sys.exit(1)


if __name__ == "__main__":
    main()
