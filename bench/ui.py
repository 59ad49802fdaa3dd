"""Page benchmarks in headless Chromium (bar: 1.5 s).

    .venv/bin/python bench/ui.py [--case pair] [--ticks 1000000] [--exchanges 3] [--repeat 5] [--db PATH]
    .venv/bin/python bench/ui.py --case dashboard [--markets 10000] [--ticks 48] [--repeat 5] [--db PATH]

Builds (or reuses, with --db) a SQLite database through storage.store_ticks, serves the app on
127.0.0.1 in a thread, and opens a page in a fresh browser context each time (Debian's
/usr/bin/chromium through Playwright).

``pair`` (the default): 1,000,000 ticks per exchange on 3 exchanges; opens /pairs/BTC-USD and
measures from navigation until the page has drawn every exchange's series (the 24h default
window), then the time to redraw after choosing "all" (the whole history, downsampled by the
API). The first run meets a cold response cache; the median is over the runs after it.

``dashboard``: 10,000 markets (10 exchanges x 1,000 pairs), ``--ticks`` ticks each half an hour
apart up to now (the ranking snapshots refreshed after the last write, as a collect cycle
does); opens / and measures from navigation until the first page of the markets table is shown
with its sparklines drawn, then clicking the "% change" header until the table is sorted by it
(through the API) with its sparklines, then typing "BTC" into the filter until the filtered
table is shown. Before each run one collect cycle's worth of ticks is stored and the snapshots
refreshed, so every answer is computed afresh (no response-cache hit); as ``flask worker``'s
``snapshots`` job does, a thread refreshes them again at each new minute. The median is over the
runs after the first.

Exit status 1 when a median misses the bar.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from cryptocrunch import create_app
from cryptocrunch.clock import WINDOWS, now_ms
from cryptocrunch.db import db, init_db
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage.ticks import store_ticks

BAR_MS = 1500
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
LOADED = "n => Number(document.getElementById('pair').dataset.loaded) >= n"
TABLE_LOADED = "n => Number(document.getElementById('markets-table').dataset.loaded) >= n"
MARKET_EXCHANGES = 10
STEP = 30 * 60_000  # between a dashboard market's ticks


def build(app, ticks: int, exchanges: int) -> float:
    """One BTC/USD market per exchange, one tick a minute ending now; return ticks/s."""
    rng = np.random.default_rng(7)
    end = now_ms() // 60_000 * 60_000
    started = time.perf_counter()
    with app.app_context():
        for e in range(exchanges):
            walk = 60_000 * np.exp(np.cumsum(rng.normal(0, 0.0005, ticks)))
            first = end - ticks * 60_000
            for lo in range(0, ticks, 100_000):
                batch = [
                    Tick(f"ex{e}", "BTC/USD", first + i * 60_000, float(walk[i]))
                    for i in range(lo, min(lo + 100_000, ticks))
                ]
                store_ticks(db.session, batch)
                db.session.commit()
    return ticks * exchanges / (time.perf_counter() - started)


def pair_names(count: int) -> list[str]:
    """``count`` pairs: real coins first, then made-up ones, each in four quote currencies."""
    coins = ["BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "DOT", "LTC", "LINK", "AVAX"]
    bases = coins + [f"X{i:04d}" for i in range(count // 4 + 1)]
    return [f"{b}/{q}" for b in bases for q in ("USD", "USDT", "EUR", "BTC") if b != q][:count]


def dashboard_markets(count: int) -> list[tuple[str, str]]:
    """(exchange, pair) of the dashboard case's ``count`` markets on ``MARKET_EXCHANGES`` exchanges."""
    per = -(-count // MARKET_EXCHANGES)
    return [(f"ex{e}", p) for e in range(MARKET_EXCHANGES) for p in pair_names(per)][:count]


def dashboard_ticks(markets: list[tuple[str, str]], ts: int, rng: np.random.Generator) -> list[Tick]:
    """One tick per market at ``ts``, as a collect cycle stores them: each market about its own
    price level (from 0.0001 to 60,000), a percent or so either way."""
    levels = 10 ** np.random.default_rng(3).uniform(-4, 4.8, len(markets))
    prices = levels * np.exp(rng.normal(0, 0.01, len(markets)))
    volumes = rng.uniform(1, 1e6, len(markets))
    return [
        Tick(
            e, p, ts, float(x), bid=x * 0.999, ask=x * 1.001, base_volume=float(v), quote_volume=float(v * x)
        )
        for (e, p), x, v in zip(markets, prices.tolist(), volumes.tolist(), strict=True)
    ]


def build_dashboard(app, count: int, ticks: int) -> float:
    """``count`` markets, ``ticks`` ticks each, half an hour apart ending now, stored a cycle
    (one tick per market) at a time, then the ranking snapshots refreshed; return ticks/s."""
    from cryptocrunch.storage import snapshots

    rng = np.random.default_rng(7)
    markets = dashboard_markets(count)
    end = now_ms() // 60_000 * 60_000
    started = time.perf_counter()
    with app.app_context():
        for i in range(ticks):
            store_ticks(db.session, dashboard_ticks(markets, end - (ticks - 1 - i) * STEP, rng))
            db.session.commit()
        snapshots.refresh(db.session, WINDOWS, now_ms())
        db.session.commit()
    return count * ticks / (time.perf_counter() - started)


def collect_cycle(app, count: int, rng: np.random.Generator) -> None:
    """A collect cycle's write (a new tick for the first 100 markets) and its snapshot refresh:
    the data version moves on, so no answer comes from the response cache."""
    from cryptocrunch.storage import snapshots

    with app.app_context():
        store_ticks(db.session, dashboard_ticks(dashboard_markets(count), now_ms(), rng)[:100])
        snapshots.refresh(db.session, WINDOWS, now_ms())
        db.session.commit()


def refresh_every_minute(app, stop: threading.Event) -> threading.Thread:
    """Refresh the ranking snapshots just after each minute starts, as the worker's ``snapshots``
    job does, until ``stop`` is set."""
    from cryptocrunch.storage import snapshots

    def run() -> None:
        while not stop.wait(60 - time.time() % 60 + 0.05):
            with app.app_context():
                snapshots.refresh(db.session, WINDOWS, now_ms())
                db.session.commit()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def serve(app):
    """Serve ``app`` on 127.0.0.1 in a thread; return the server (``.server_port``)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def report(rows: list[tuple[str, list[float]]]) -> bool:
    """Print each measurement's first run and the median of the others; whether one missed the bar."""
    failed = False
    for name, samples in rows:
        median = statistics.median(samples[1:])
        failed |= median > BAR_MS
        verdict = "PASS" if median <= BAR_MS else "FAIL"
        print(
            f"  {name:<36} first {samples[0]:7.0f} ms   median of next {len(samples) - 1}: {median:7.0f} ms"
            f"   bar {BAR_MS} ms  {verdict}"
        )
    return failed


def timed(page, action: str, target: str, done: str, n: int, *more: str) -> float:
    """Milliseconds from ``page.<action>(target, *more)`` until ``done`` (a function of n) holds."""
    started = time.perf_counter()
    getattr(page, action)(target, *more)
    page.wait_for_function(done, arg=n, timeout=60_000)
    return (time.perf_counter() - started) * 1000


def pair_case(app, args, browser, base: str) -> bool:
    url = f"{base}/pairs/BTC-USD"
    first_draw, all_draw = [], []
    for _ in range(args.repeat + 1):
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        first_draw.append(timed(page, "goto", url, LOADED, 1))
        all_draw.append(timed(page, "click", "button[data-window='all']", LOADED, 2))
        points = page.evaluate("Chart.getChart('pair-chart').data.datasets.map(d => d.data.length)")
        context.close()
    print(
        f"\n/pairs/BTC-USD over {args.exchanges} x {args.ticks:,} ticks (points drawn per dataset: {points})"
    )
    return report(
        [("page load to chart drawn (24h)", first_draw), ("switch to 'all' to chart redrawn", all_draw)]
    )


def dashboard_case(app, args, browser, base: str) -> bool:
    rng = np.random.default_rng(11)
    loaded, sorted_, filtered = [], [], []
    stop = threading.Event()
    worker = refresh_every_minute(app, stop)
    for _ in range(args.repeat + 1):
        collect_cycle(app, args.markets, rng)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        loaded.append(timed(page, "goto", f"{base}/", TABLE_LOADED, 1))
        rows = page.locator("#markets-table tbody tr").count()
        drawn = page.eval_on_selector_all("canvas.sparkline[data-points]", "cs => cs.length")
        sorted_.append(timed(page, "click", "th a[data-sort='pct_change']", TABLE_LOADED, 2))
        filtered.append(timed(page, "fill", "#markets-q", TABLE_LOADED, 3, "BTC"))
        total = page.get_attribute("#markets-table", "data-total")
        context.close()
    stop.set()
    worker.join()
    print(
        f"\n/ over {args.markets:,} markets x {args.ticks} ticks ({rows} rows a page, {drawn} sparklines"
        f" drawn; 'BTC' matches {total} markets)"
    )
    return report(
        [
            ("page load to table and sparklines", loaded),
            ("sort by % change to table updated", sorted_),
            ("filter 'BTC' typed to table updated", filtered),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["pair", "dashboard"], default="pair")
    parser.add_argument("--ticks", type=int, help="per exchange (pair: 1,000,000) or market (dashboard: 48)")
    parser.add_argument("--exchanges", type=int, default=3, help="pair case")
    parser.add_argument("--markets", type=int, default=10_000, help="dashboard case")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", type=Path)
    args = parser.parse_args()
    if args.ticks is None:
        args.ticks = 1_000_000 if args.case == "pair" else 48

    folder = Path(tempfile.mkdtemp(prefix="cc-ui-"))
    path = (args.db or folder / "ui.sqlite").resolve()
    fresh = not path.exists()
    app = create_app({"INSTANCE_PATH": str(folder), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        init_db()
    if fresh and args.case == "pair":
        rate = build(app, args.ticks, args.exchanges)
        print(f"built {args.exchanges} x {args.ticks:,} ticks through store_ticks: {rate:,.0f} ticks/s")
    elif fresh:
        rate = build_dashboard(app, args.markets, args.ticks)
        print(f"built {args.markets:,} markets x {args.ticks} ticks through store_ticks: {rate:,.0f} ticks/s")

    server = serve(app)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=FLAGS
            )
            case = pair_case if args.case == "pair" else dashboard_case
            failed = case(app, args, browser, f"http://127.0.0.1:{server.server_port}")
            browser.close()
    finally:
        server.shutdown()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
