"""Operations benchmark: `flask backup`'s rate, `flask retention`'s rate, and the API's latency
while retention deletes, against the same API without it.

    .venv/bin/python bench/ops.py [--markets 50] [--ticks 40000] [--seconds 10]
        [--db postgresql+psycopg://...] [--smoke]

Builds a SQLite database (or, with --db, a fresh schema of that PostgreSQL database, dropped
afterwards; the backup is then pg_dump -Fc) of --markets markets x --ticks ticks one minute apart
(written through storage.ticks.store_ticks, rollups included), then:

1. backs it up (`backups.backup`: VACUUM INTO + gzip) and prints MB/s of the database;
2. serves it with gunicorn (2 gthread workers, 4 threads) on 127.0.0.1 and loads it from 4
   client threads with statistics requests over explicit, varying windows within the newer half
   (so the response cache does not answer them, and both phases ask for data that stays) for
   --seconds quietly, then for as long as retention takes to delete the older half of the ticks
   (RETENTION_BATCH 5000); prints p50/p99 of both side by side and retention's rows/s.

--smoke: 4 markets x 6,000 ticks, 1 s phases (bench/common.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import requests
import sqlalchemy as sa

from cryptocrunch import create_app, events
from cryptocrunch.backups import backup
from cryptocrunch.db import db, init_db
from cryptocrunch.retention import run_retention
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage.ticks import store_ticks

sys.path.insert(0, str(Path(__file__).parent))
from common import database

ROOT = Path(__file__).resolve().parents[1]
MINUTE = 60_000


def build(app, markets: int, ticks: int, start: int) -> None:
    rng = np.random.default_rng(3)
    walks = [100 * np.exp(np.cumsum(rng.normal(0, 0.001, ticks))) for _ in range(markets)]
    with app.app_context(), events.ticks_stored.muted():
        for lo in range(0, ticks, 2000):
            batch = [
                Tick("kraken", f"C{m}/USD", start + i * MINUTE, float(walks[m][i]))
                for m in range(markets)
                for i in range(lo, min(lo + 2000, ticks))
            ]
            store_ticks(db.session, batch)
            db.session.commit()


def load(port: int, markets: int, start: int, end: int, seconds: float, busy=None) -> list[float]:
    """Latencies (s) of statistics requests over random explicit windows from 4 threads, for
    ``seconds`` (or while the thread ``busy`` is alive)."""
    found: list[float] = []
    stop = time.monotonic() + seconds

    def going() -> bool:
        return busy.is_alive() if busy is not None else time.monotonic() < stop

    def client(seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while True:  # at least one request each, however soon ``busy`` ends
            low = rng.randrange(start, end - 86_400_000)
            high = min(end, low + rng.randrange(3_600_000, 3 * 86_400_000))
            url = f"http://127.0.0.1:{port}/api/v1/markets/kraken/C{rng.randrange(markets)}-USD/stats?start={low}&end={high}"
            began = time.perf_counter()
            answer = session.get(url, timeout=30)
            found.append(time.perf_counter() - began)
            assert answer.status_code in (200, 422), (answer.status_code, answer.text[:200])
            if not going():
                break

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


def database_bytes(app) -> int:
    """The size of the database: the SQLite file with its WAL, or the benchmark schema's tables
    and indexes."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            path = Path(str(engine.url.database))
            wal = path.with_name(path.name + "-wal")
            return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        with engine.connect() as conn:
            query = sa.text(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')"
            )
            return int(conn.execute(query).scalar_one())


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markets", type=int, default=50)
    parser.add_argument("--ticks", type=int, default=40_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--db", help="a PostgreSQL URL (a fresh schema in it); default a SQLite file")
    parser.add_argument("--smoke", action="store_true", help="a small data set, 1 s phases")
    args = parser.parse_args()
    if args.smoke:
        args.markets, args.ticks, args.seconds = 4, 6000, 1.0
    end = time.time_ns() // 1_000_000 // MINUTE * MINUTE
    start = end - args.ticks * MINUTE
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        url, kind = database(args.db, Path(tmp) / "ops.db", stack)
        keep_days = max(1, args.ticks // 2 // 1440)
        settings = {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-secret-key-0123456789",
            "RETENTION": {"tick": f"{keep_days}d"},
            "RETENTION_BATCH": 5000,
        }
        app = create_app({**settings, "INSTANCE_PATH": tmp})
        with app.app_context():
            init_db()
        began = time.perf_counter()
        build(app, args.markets, args.ticks, start)
        size = database_bytes(app)
        took = time.perf_counter() - began
        total = args.markets * args.ticks
        print(f"{kind}: {total:,} ticks, database {size / 1e6:.0f} MB (built in {took:.0f} s)")

        made = backup(app, str(Path(tmp) / "backups"), 1)
        rate = size / 1e6 / made.seconds
        how = "VACUUM INTO + gzip" if kind == "SQLite" else "pg_dump -Fc"
        print(f"{'backup (' + how + ')':<29} {made.seconds:6.2f} s   {rate:7.1f} MB/s of the database")

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {
            **os.environ,
            **{f"CRYPTOCRUNCH_{k}": v if isinstance(v, str) else json.dumps(v) for k, v in settings.items()},
        }
        env["CRYPTOCRUNCH_INSTANCE_PATH"] = tmp
        server = subprocess.Popen(
            [
                f"{sys.prefix}/bin/gunicorn",
                "--worker-class",
                "gthread",
                "--workers",
                "2",
                "--threads",
                "4",
                "--bind",
                f"127.0.0.1:{port}",
                "cryptocrunch:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while True:  # gunicorn up and its first answer given (slow on a loaded machine)
                try:
                    requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                    break
                except requests.RequestException:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            kept = end - keep_days * 86_400_000 + 3_600_000  # the windows asked for: in what stays
            load(port, args.markets, kept, end, args.seconds)  # warm up as long as a phase
            quiet = load(port, args.markets, kept, end, args.seconds)
            result: dict[str, object] = {}

            def prune() -> None:
                with app.app_context():
                    t0 = time.perf_counter()
                    result["deleted"], _ = run_retention(app)
                    result["seconds"] = time.perf_counter() - t0

            pruner = threading.Thread(target=prune)
            pruner.start()
            during = load(port, args.markets, kept, end, 0, busy=pruner)  # only while it deletes
            pruner.join()
            after = load(port, args.markets, kept, end, args.seconds)
        finally:
            server.terminate()
            server.wait(30)
            with app.app_context():
                db.engine.dispose()
    deleted, seconds = int(result["deleted"]), float(result["seconds"])  # type: ignore[arg-type]
    rows = f"{deleted / seconds:9,.0f} rows/s   ({deleted:,} rows)"
    print(f"retention (batches of 5,000)  {seconds:6.2f} s   {rows}")
    print(f"{'API stats, explicit windows':<30} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for label, values in (("quiet (baseline)", quiet), ("during retention", during), ("after it", after)):
        print(f"  {label:<28} {len(values):>9,} {percentile(values, 50):8.1f} {percentile(values, 99):8.1f}")
    print(f"  p99 during retention / quiet: {percentile(during, 99) / percentile(quiet, 99):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
