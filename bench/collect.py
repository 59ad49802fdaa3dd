"""Collect benchmark: a collect cycle over 10 exchanges x all their markets against the slowest
exchange's latency, and storing 20,000 ticks with their rollups through storage.ticks.store_ticks.

    .venv/bin/python bench/collect.py [--markets 2000] [--repeat 5] [--db postgresql+psycopg://...] [--smoke]

The exchanges are the fake exchange of the tests (tests/fake_exchange.py), run in a process of its
own as a real exchange runs on another machine: kraken, coinbase, bitstamp, binance, binanceus,
okx, myokx, okxus, bybit and bybiteu, each listing --markets synthetic spot markets in its own wire
format and answering every request after its own latency (200 to 500 ms). MARKETS is "*" for each,
so a cycle resolves every exchange's rule and asks each for all its tickers in one request.

Timed: the first cycle (markets loaded, then tickers), the fetch of a cycle once markets are loaded
(``cycle.fetch_all``: every exchange at once, one thread each; median of --repeat) against the bar
of 1.3 x the slowest latency, with the CPU time it took (ccxt parsing every ticker, then our
validation: under one GIL this, not the network, bounds the fetch beyond about 12,000 markets on
the 2-core development machine) and against the same fetches one after another, and whole cycles
(``collect_once``: the fetch, then every tick stored with its rollups). Then 20,000 ticks (20,000
markets, one tick each, as a cycle writes them) stored through store_ticks into a fresh SQLite file,
a day as a collector every minute writes it (an hourly tick 00:30 to 21:30, then every minute from
22:50 to 00:00): the first write (the markets created), a minute's cycle within an hour (median)
against the bar of 0.5 s, the cycles that close an hour (23:00) and a day (00:00), the mean of the
last hour's 60 cycles, beside a raw sqlite3 executemany of the same rows. With --db, both run in
fresh schemas of that PostgreSQL database (dropped afterwards) and the baseline is a raw psycopg
COPY of the rows.
Exit status 1 when a bar is missed (not in --smoke: bench/common.py).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_exchange import exchange_options  # noqa: E402

from cryptocrunch import create_app  # noqa: E402
from cryptocrunch.clock import DAY, HOUR, MINUTE  # noqa: E402
from cryptocrunch.collector.cycle import build_sources, collect_once, fetch_all  # noqa: E402
from cryptocrunch.db import db, init_db  # noqa: E402
from cryptocrunch.sources.base import SourceFailure, Tick  # noqa: E402
from cryptocrunch.storage.markets import market_ids  # noqa: E402
from cryptocrunch.storage.ticks import store_ticks  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from common import database, verdict  # noqa: E402

EXCHANGES = (
    "kraken",
    "coinbase",
    "bitstamp",
    "binance",
    "binanceus",
    "okx",
    "myokx",
    "okxus",
    "bybit",
    "bybiteu",
)
STORED = 20_000
CYCLE_BAR = 1.3  # x the slowest latency
STORE_BAR = 0.5  # s


def serve(conn: Connection, markets: int, latencies: dict[str, float]) -> None:
    """The fake exchange (its own process): every exchange's markets and latency, until told to stop;
    sends its address and how many markets each exchange serves (the four recorded exchanges serve
    their fixture markets too), then, when stopped, what it could not answer."""
    sys.path.insert(0, str(ROOT / "tests"))
    from fake_exchange import FakeExchange

    with FakeExchange() as fake:
        for name in EXCHANGES:
            fake.add_markets(name, markets)
            fake.set_latency(name, latencies[name])
        conn.send((fake.base_url, {name: len(fake.markets[name]) for name in EXCHANGES}))
        conn.recv()
        conn.send((fake.unhandled, fake.server_errors))


def median_s(run: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def checked(results: dict[str, Any], served: dict[str, int]) -> None:
    """Fail loudly unless every exchange delivered a tick for each market it serves."""
    for name in EXCHANGES:
        result, _ = results[name]
        if isinstance(result, SourceFailure) or len(result.ticks) != served[name] or result.rejections:
            raise SystemExit(f"{name} did not deliver {served[name]} ticks: {result}")


def line(name: str, seconds: float, note: str) -> None:
    print(f"  {name:<54} {seconds * 1000:8.0f} ms   {note}")


def cycle_bench(
    folder: Path, url: str, base_url: str, served: dict[str, int], latencies: dict[str, float], repeat: int
) -> bool:
    options = exchange_options(base_url, timeout_ms=30_000)
    for name in options:
        # cycles run back to back here; COLLECT_INTERVAL (60 s) apart none is ever throttled
        options[name]["enableRateLimit"] = False
    app = create_app(
        {
            "INSTANCE_PATH": str(folder / "instance"),
            "SQLALCHEMY_DATABASE_URI": url,
            "MARKETS": dict.fromkeys(EXCHANGES, "*"),
            "EXCHANGE_OPTIONS": options,
            "COINGECKO_COINS": None,
            "REQUEST_TIMEOUT": 30.0,
        }
    )
    slowest = max(latencies.values())
    with app.app_context():
        init_db()
        built = build_sources(app.config, Path(app.instance_path) / "markets")
        sources = {name: built[name] for name in EXCHANGES}
        session = db.session()
        started = time.perf_counter()
        reports = collect_once(session, sources)
        first = time.perf_counter() - started
        if {r.source: r.stored for r in reports} != served:
            raise SystemExit(f"the first cycle stored {[(r.source, r.stored, r.error) for r in reports]}")
        checked(fetch_all(sources), served)
        cpu = time.process_time()
        fetch = median_s(lambda: fetch_all(sources), repeat)
        cpu = (time.process_time() - cpu) / repeat  # every thread of this process: parsing, validation
        started = time.perf_counter()
        for name in EXCHANGES:  # the baseline: the same fetches one after another
            fetch_all({name: sources[name]})
        one_by_one = time.perf_counter() - started
        whole = median_s(lambda: collect_once(session, sources), repeat)
        db.engine.dispose()

    bar = CYCLE_BAR * slowest
    total = sum(served.values())
    low, high = min(latencies.values()) * 1000, slowest * 1000
    print(
        f"collect cycle: {len(EXCHANGES)} exchanges, {total:,} markets ({min(served.values()):,} to "
        f'{max(served.values()):,} each), MARKETS "*", latency {low:.0f} to {high:.0f} ms '
        "(the fake exchange in its own process)"
    )
    mark = "PASS" if fetch <= bar else "FAIL"
    line("first cycle (markets loaded, then tickers)", first, f"{first / slowest:5.2f}x slowest latency")
    line(
        f"fetch, every exchange at once (median of {repeat})",
        fetch,
        f"{fetch / slowest:5.2f}x slowest latency   bar {CYCLE_BAR}x = {bar * 1000:.0f} ms  {mark}",
    )
    line("  CPU time of this process per fetch (one GIL)", cpu, f"{cpu / fetch:5.2f}x the fetch's time")
    line("baseline: the same fetches one after another", one_by_one, f"{one_by_one / fetch:5.2f}x at once")
    line(
        f"whole cycle: fetch + store {total:,} ticks (median of {repeat})",
        whole,
        f"{whole / slowest:5.2f}x slowest latency",
    )
    return fetch <= bar


def cycle_ticks(markets: int, ts: int) -> list[Tick]:
    """One tick for each of ``markets`` markets on 10 exchanges, at ``ts``: what a cycle writes."""
    return [
        Tick(EXCHANGES[m % 10], f"C{m:05d}/USDT", ts, 1.0 + m % 997, 0.99 + m % 997, 1.01 + m % 997, 1.5, 1.5)
        for m in range(markets)
    ]


def store_bench(folder: Path, url: str, kind: str, repeat: int, smoke: bool, stored: int = STORED) -> bool:
    """Store a day as a collector every minute would: a tick per market each hour 00:30 to 21:30
    (each write closing an hour), then every minute from 22:50 to 00:00 the next day."""
    app = create_app({"INSTANCE_PATH": str(folder), "SQLALCHEMY_DATABASE_URI": url})
    day = 1_699_920_000_000  # 2023-11-14 00:00 UTC
    with app.app_context():
        init_db()
        session = db.session()

        def store(ts: int) -> float:
            ticks = cycle_ticks(stored, ts)
            started = time.perf_counter()
            result = store_ticks(session, ticks)
            session.commit()
            elapsed = time.perf_counter() - started
            if result.stored != stored:
                raise SystemExit(f"stored {result.stored} of {stored}")
            return elapsed

        first = store(day + 30 * MINUTE)
        hourly = [store(day + h * HOUR + 30 * MINUTE) for h in range(1, 22)]
        minutes = {ts: store(ts) for ts in range(day + 22 * HOUR + 50 * MINUTE, day + DAY + MINUTE, MINUTE)}
        ids = market_ids(session, {(t.exchange, t.pair) for t in cycle_ticks(stored, day)})
        raw = []
        for i in range(repeat):
            rows = [
                (ids[t.exchange, t.pair], t.ts, t.last, t.bid, t.ask, t.base_volume, t.quote_volume)
                for t in cycle_ticks(stored, day + DAY + (i + 1) * MINUTE)
            ]
            raw.append(raw_insert(db.engine, rows))
        db.engine.dispose()
    baseline = statistics.median(raw)
    hour, midnight = day + 23 * HOUR, day + DAY
    within = statistics.median(t for ts, t in minutes.items() if ts % HOUR)
    last_hour = [t for ts, t in minutes.items() if hour < ts <= midnight]
    how = "raw sqlite3 executemany" if kind == "SQLite" else "raw psycopg COPY"
    print(
        f"\nstore {stored:,} ticks (one per market) with rollups: storage.ticks.store_ticks + commit, {kind}"
    )
    line(f"first (the {stored:,} markets created)", first, f"{first / baseline:5.1f}x baseline")
    line(
        f"a minute's cycle within an hour (median of {len(minutes) - 2})",
        within,
        f"{within / baseline:5.1f}x baseline   bar {STORE_BAR * 1000:.0f} ms  "
        + verdict(within <= STORE_BAR, smoke),
    )
    line("the cycle at 23:00 (closes an hour)", minutes[hour], f"{minutes[hour] / baseline:5.1f}x baseline")
    line(
        "the cycle at 00:00 (closes an hour and a day)",
        minutes[midnight],
        f"{minutes[midnight] / baseline:5.1f}x baseline",
    )
    line(
        "mean of the 60 cycles 23:01 to 00:00",
        statistics.fmean(last_hour),
        f"{statistics.fmean(last_hour) / baseline:5.1f}x baseline",
    )
    line(
        f"hourly writes 01:30 to 21:30 (median of {len(hourly)})",
        statistics.median(hourly),
        "each closes an hour",
    )
    line(f"baseline: {how}, no rollups (median of {repeat})", baseline, "1.0x")
    return within <= STORE_BAR or smoke


def raw_insert(engine: Any, rows: list[tuple]) -> float:
    """Seconds to write ``rows`` into tick with the DBAPI alone and commit: sqlite3's executemany
    (duplicates skipped), or psycopg's COPY."""
    conn = engine.raw_connection()
    try:
        cursor = conn.cursor()
        started = time.perf_counter()
        if engine.dialect.name == "sqlite":
            cursor.executemany(
                "INSERT INTO tick (market_id, ts, last, bid, ask, base_volume, quote_volume) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (market_id, ts) DO NOTHING",
                rows,
            )
        else:
            copy = "COPY tick (market_id, ts, last, bid, ask, base_volume, quote_volume) FROM STDIN"
            with cursor.copy(copy) as writer:
                for row in rows:
                    writer.write_row(row)
        conn.commit()
        return time.perf_counter() - started
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=2000, help="synthetic markets per exchange")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="quick: 100 markets, 2 repeats, 1,000 stored")
    parser.add_argument("--db", help="a PostgreSQL URL (fresh schemas in it); default SQLite files")
    args = parser.parse_args()
    markets, repeat = (100, 2) if args.smoke else (args.markets, args.repeat)
    step = 0.3 / (len(EXCHANGES) - 1)
    latencies = {name: round(0.2 + i * step, 3) for i, name in enumerate(EXCHANGES)}  # 200 to 500 ms

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=serve, args=(theirs, markets, latencies), daemon=True)
    server.start()
    try:
        base_url, served = ours.recv()
        with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
            url, kind = database(args.db, Path(tmp) / "cycle.sqlite", stack)
            cycle_ok = cycle_bench(Path(tmp), url, base_url, served, latencies, repeat) or args.smoke
            url, kind = database(args.db, Path(tmp) / "store.sqlite", stack)
            store_ok = store_bench(Path(tmp), url, kind, repeat, args.smoke, 1000 if args.smoke else STORED)
        ours.send("stop")
        unhandled, errors = ours.recv()
        if unhandled or errors:
            raise SystemExit(f"the fake exchange could not answer: {unhandled[:3]} {errors[:3]}")
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
    sys.exit(0 if cycle_ok and store_ok else 1)


if __name__ == "__main__":
    main()
