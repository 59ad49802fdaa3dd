"""Statistics benchmark: rankings, one market's statistics and a downsampled long series, read
through cryptocrunch's rollups, against baselines that scan the same rows.

    .venv/bin/python bench/stats.py [--markets 200] [--ticks 50000] [--big 1000000] [--repeat 7]
        [--db PATH | --db postgresql+psycopg://... [--keep-schema NAME]] [--smoke]

Builds (or reuses, with --db PATH) a SQLite database, or with --db postgresql+psycopg://... a
fresh schema in that PostgreSQL database (dropped afterwards; --keep-schema NAME: that schema, kept and
reused like a file), of --markets markets x --ticks ticks one minute
apart plus one market of --big ticks ending at the same time, written through storage.store_ticks
(the collector's path, rollups included). Then, in one run, times the project's answers (median
of --repeat) and the baselines: a naive SQL window-function query, pandas read_sql + compute (each
run once: they take seconds), and DuckDB scanning the same rows loaded in memory (median of 3),
for each window, once every one of ours is timed (its table and threads out of our timings).
Rankings over a standard window are timed as after a collect cycle (the ranking snapshots
refreshed; the refresh is timed too) and live (the same ticks asked as an explicit
window, as when the snapshot is stale). The bars from the issue are checked; the exit status is
1 when one fails. --smoke: 20 markets x 600 ticks + 5,000, the bars not held (bench/common.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import sqlalchemy as sa

from cryptocrunch import create_app
from cryptocrunch.clock import HOUR, WINDOWS
from cryptocrunch.db import db, init_db
from cryptocrunch.insights import markets as insights
from cryptocrunch.insights.params import Window, resolve_window
from cryptocrunch.models import Tick as TickRow
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage import snapshots
from cryptocrunch.storage.ticks import store_ticks

sys.path.insert(0, str(Path(__file__).parent))
from common import database, verdict

START = 1_700_000_000_000 // 3_600_000 * 3_600_000
MINUTE = 60_000

NAIVE_SQL = """
WITH r AS (
  SELECT market_id, ln(last / lag(last) OVER (PARTITION BY market_id ORDER BY ts)) AS r
  FROM tick WHERE ts >= {start}
)
SELECT market_id, sqrt((sum(r * r) - sum(r) * sum(r) / count(r)) / (count(r) - 1)) AS vol
FROM r GROUP BY market_id ORDER BY vol DESC
"""


def build(app, markets: int, ticks: int, big: int) -> float:
    """Write the data set through store_ticks in time-ordered batches, as a collector would (the
    big market's history first, then every market minute by minute); return ticks/s."""
    rng = np.random.default_rng(5)
    chunk = 1000
    names = [(f"ex{m % 5}", f"C{m}/USD") for m in range(markets)]
    walks = [100 * np.exp(np.cumsum(rng.normal(0, 0.001, ticks))) for _ in range(markets)]
    big_walk = 60_000 * np.exp(np.cumsum(rng.normal(0, 0.0005, big)))
    before = big - ticks  # the big market's ticks before START: it ends with the others
    started = time.perf_counter()
    with app.app_context():
        for lo in range(0, before, 100_000):
            store_ticks(
                db.session,
                [
                    Tick("big", "BTC/USD", START + (i - before) * MINUTE, float(big_walk[i]))
                    for i in range(lo, min(lo + 100_000, before))
                ],
            )
            db.session.commit()
        for lo in range(0, ticks, chunk):
            minutes = range(lo, min(lo + chunk, ticks))
            batch = [
                Tick(e, p, START + i * MINUTE, float(walk[i]))
                for (e, p), walk in zip(names, walks, strict=True)
                for i in minutes
            ]
            batch += [
                Tick("big", "BTC/USD", START + i * MINUTE, float(big_walk[before + i])) for i in minutes
            ]
            store_ticks(db.session, batch)
            db.session.commit()
    return (markets * ticks + big) / (time.perf_counter() - started)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def duck_ms(duck, start: int, end: int | None) -> float:
    where = f"ts >= {start}" + (f" AND ts < {end}" if end is not None else "")
    return median_ms(lambda: duck.execute(NAIVE_SQL.replace("ts >= {start}", where)).fetchall(), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=200)
    parser.add_argument("--ticks", type=int, default=50_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--db", help="reuse (or create) this SQLite file, or a PostgreSQL URL")
    parser.add_argument(
        "--keep-schema", metavar="NAME", help="PostgreSQL: build in (or reuse) this schema and keep it"
    )
    parser.add_argument("--smoke", action="store_true", help="a small data set, bars not held")
    args = parser.parse_args()
    if args.smoke:
        args.markets, args.ticks, args.big, args.repeat = 20, 600, 5000, 2
    if args.big < args.ticks:
        parser.error(f"--big ({args.big}) must be at least --ticks ({args.ticks}): it ends with the others")
    with ExitStack() as stack:
        failed = run(args, stack)
    sys.exit(1 if failed else 0)


def run(args: argparse.Namespace, stack: ExitStack) -> bool:
    folder = Path(tempfile.mkdtemp(prefix="cc-bench-"))
    url, kind = database(args.db, folder / "stats.sqlite", stack, args.keep_schema)
    app = create_app({"INSTANCE_PATH": str(folder), "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        init_db()
        fresh = db.session.scalar(sa.select(TickRow.ts).limit(1)) is None  # not a count of millions
        db.session.rollback()
    if fresh:
        rate = build(app, args.markets, args.ticks, args.big)
        total = f"{args.markets} x {args.ticks:,} + {args.big:,}"
        print(f"built {total} ticks through store_ticks: {rate:,.0f} ticks/s")
    now = START + args.ticks * MINUTE  # every market's last tick is one minute before

    # (name, ours ms, live ms, DuckDB ms, bar ms): ours reads the snapshot for a standard window
    # (as after each collect), live computes it as when the snapshot is stale
    results: list[tuple[str, float, float | None, float | None, float]] = []
    with app.app_context():
        session = db.session
        started = time.perf_counter()
        snapshots.refresh(session, WINDOWS, now)
        session.commit()
        refresh_s = time.perf_counter() - started

        def rank(window: Window) -> None:
            insights.rankings(session, "volatility", window, limit=20)

        # ours first, every case, then DuckDB: its table and threads stay out of our timings
        scanned: list[tuple[int, int | None]] = []  # the ticks DuckDB scans for each ranking
        for name in WINDOWS:
            window = resolve_window(name, None, None, now=now)
            live = Window(window.start, window.end - 1, "custom")  # same ticks, no snapshot
            results.append(
                (
                    f"ranking by volatility, window {name}",
                    median_ms(lambda w=window: rank(w), args.repeat),
                    median_ms(lambda w=live: rank(w), max(3, args.repeat // 2)),
                    None,
                    50,
                )
            )
            scanned.append((window.start, None))
        for label, lo, hi in [
            (
                "explicit 3h..27h ago (odd minutes)",
                now - 27 * HOUR - 7 * MINUTE,
                now - 3 * HOUR + 13 * MINUTE,
            ),
            ("explicit last 90 minutes", now - 90 * MINUTE, now),
        ]:
            window = Window(lo, hi, "custom")
            ms = median_ms(lambda w=window: rank(w), max(3, args.repeat // 2))
            results.append((f"ranking by volatility, {label}", ms, None, None, 500))
            scanned.append((lo, hi))
        everything = resolve_window("all", None, None, now=now)
        ms = median_ms(lambda: insights.market_stats(session, "ex0", "C0-USD", everything), args.repeat)
        results.append((f"one market's statistics ({args.ticks:,} ticks)", ms, None, None, 20))
        points = insights.series(session, "big", "BTC-USD", everything, 2000)
        ms = median_ms(lambda: insights.series(session, "big", "BTC-USD", everything, 2000), args.repeat)
        results.append((f"{args.big:,}-tick series to {len(points)} points", ms, None, None, 50))
        ours = results[0][1]

        frame = pd.read_sql(
            sa.text("SELECT market_id, ts, last FROM tick ORDER BY market_id, ts"), session.connection()
        )
        duck = duckdb.connect()
        duck.register("frame_view", frame)
        duck.execute("CREATE TABLE tick AS SELECT * FROM frame_view")
        session.rollback()
        for at, (lo, hi) in enumerate(scanned):
            name, ms, live_ms, _, bar = results[at]
            results[at] = (name, ms, live_ms, duck_ms(duck, lo, hi), bar)

        baselines: list[tuple[str, float]] = []
        conn = session.connection().connection
        if args.markets * args.ticks <= 20_000_000:
            started = time.perf_counter()
            conn.execute(NAIVE_SQL.format(start=0)).fetchall()
            baselines.append(("naive SQL window query (1 run)", (time.perf_counter() - started) * 1000))
        started = time.perf_counter()
        frame = pd.read_sql(
            sa.text("SELECT market_id, ts, last FROM tick ORDER BY market_id, ts"), session.connection()
        )
        returns = np.log(frame["last"] / frame.groupby("market_id")["last"].shift())
        returns.groupby(frame["market_id"]).std().sort_values(ascending=False)
        baselines.append(("pandas read_sql + compute (1 run)", (time.perf_counter() - started) * 1000))

    print(
        f"\n{kind}, {args.markets} markets x {args.ticks:,} ticks + 1 x {args.big:,}; median of {args.repeat}"
    )
    print(
        f"  ranking snapshots of {len(WINDOWS)} windows refreshed (after each collect) in {refresh_s:.2f} s"
    )
    print(f"  {'':<54} {'ours':>9} {'live':>9} {'DuckDB':>9} {'DuckDB/ours':>11}   bar")
    failed = False
    for name, ms, live, duck_time, bar in results:
        failed |= ms > bar and not args.smoke
        live_text = f"{live:9.1f}" if live is not None else f"{'':>9}"
        duck_text = f"{duck_time:9.1f} {duck_time / ms:10.1f}x" if duck_time is not None else f"{'':>21}"
        mark = verdict(ms <= bar, args.smoke)
        print(f"  {name:<54} {ms:9.1f} {live_text} {duck_text}   {bar:>3} ms  {mark}")
    print("\nbaselines for the ranking over all ticks (ratio = baseline time / cryptocrunch time)")
    for name, ms in baselines:
        print(f"  {name:<54} {ms:9.1f} ms   {ms / ours:8.1f}x")
    with app.app_context():
        db.engine.dispose()
    return failed


if __name__ == "__main__":
    main()
