"""Ingest benchmark: ticks/s through cryptocrunch's storage path vs a raw sqlite3 executemany.

    .venv/bin/python bench/ingest.py [--markets 200] [--ticks 1000] [--repeat 5]

Each contender inserts the same ticks into a fresh SQLite file with the same
schema and pragmas, in one transaction, and is run --repeat times interleaved
with the others; the medians and their ratio to the raw baseline are printed.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from cryptocrunch import create_app
from cryptocrunch.db import db, init_db
from cryptocrunch.models import Tick as TickRow
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage.markets import market_ids
from cryptocrunch.storage.ticks import store_ticks


def make_ticks(markets: int, per_market: int) -> list[Tick]:
    rng = random.Random(1)
    start = 1_700_000_000_000
    ticks = []
    for m in range(markets):
        price = rng.uniform(0.01, 60_000)
        for i in range(per_market):
            price *= 1 + rng.gauss(0, 0.001)
            ticks.append(
                Tick(f"ex{m % 5}", f"C{m}/USD", start + i * 60_000, price, price * 0.999, price * 1.001, 1.5)
            )
    return ticks


def fresh_app(folder: Path, ticks: list[Tick]):
    """A new SQLite file with the schema and every market already created; (app, market ids)."""
    url = f"sqlite:///{folder / f'{time.perf_counter_ns()}.sqlite'}"
    app = create_app({"INSTANCE_PATH": str(folder), "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        init_db()
        ids = market_ids(db.session, {(t.exchange, t.pair) for t in ticks})
        db.session.commit()
    return app, ids


def project_path(folder: Path, ticks: list[Tick]) -> float:
    """storage.ticks.store_ticks + commit: the path `flask collect` takes."""
    app, _ = fresh_app(folder, ticks)
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
    rows = [
        (ids[t.exchange, t.pair], t.ts, t.last, t.bid, t.ask, t.base_volume, t.quote_volume) for t in ticks
    ]
    with conn:
        conn.executemany(
            "INSERT INTO tick (market_id, ts, last, bid, ask, base_volume, quote_volume) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (market_id, ts) DO NOTHING",
            rows,
        )
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=200)
    parser.add_argument("--ticks", type=int, default=1000, help="ticks per market")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ticks = make_ticks(args.markets, args.ticks)
    contenders: dict[str, Callable[[Path, list[Tick]], float]] = {
        "raw sqlite3 executemany (baseline)": raw_sqlite,
        "cryptocrunch storage.ticks.store_ticks": project_path,
        "SQLAlchemy Core insert (reference)": core_executemany,
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for name, run in contenders.items():
                times[name].append(run(Path(tmp), ticks))
    baseline = len(ticks) / statistics.median(times["raw sqlite3 executemany (baseline)"])
    print(
        f"{len(ticks):,} ticks ({args.markets} markets x {args.ticks}), median of {args.repeat} runs, SQLite"
    )
    for name, samples in times.items():
        rate = len(ticks) / statistics.median(samples)
        print(f"  {name:<38} {rate:>12,.0f} ticks/s   {rate / baseline:5.2f}x baseline")


if __name__ == "__main__":
    main()
