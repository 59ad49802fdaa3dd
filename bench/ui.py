"""Pair page benchmark: time until the chart is drawn in headless Chromium, over 1,000,000 stored
ticks per exchange on 3 exchanges (bar: 1.5 s).

    .venv/bin/python bench/ui.py [--ticks 1000000] [--exchanges 3] [--repeat 5] [--db PATH]

Builds (or reuses, with --db) a SQLite database through storage.store_ticks, serves the app on
127.0.0.1 in a thread, and opens /pairs/BTC-USD in a fresh browser context each time (Debian's
/usr/bin/chromium through Playwright), measuring from navigation until the page has drawn every
exchange's series (the 24h default window), then the time to redraw after choosing "all" (the
whole history, downsampled by the API). The first run meets a cold response cache; the median
is over the runs after it. Exit status 1 when a median misses the bar.
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
from cryptocrunch.clock import now_ms
from cryptocrunch.db import db, init_db
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage.ticks import store_ticks

BAR_MS = 1500
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
LOADED = "n => Number(document.getElementById('pair').dataset.loaded) >= n"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--exchanges", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", type=Path)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="cc-ui-"))
    path = (args.db or folder / "ui.sqlite").resolve()
    fresh = not path.exists()
    app = create_app({"INSTANCE_PATH": str(folder), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        init_db()
    if fresh:
        rate = build(app, args.ticks, args.exchanges)
        print(f"built {args.exchanges} x {args.ticks:,} ticks through store_ticks: {rate:,.0f} ticks/s")

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/pairs/BTC-USD"
    first_draw, all_draw = [], []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=FLAGS
            )
            for _ in range(args.repeat + 1):
                context = browser.new_context(viewport={"width": 1440, "height": 900})
                page = context.new_page()
                started = time.perf_counter()
                page.goto(url)
                page.wait_for_function(LOADED, arg=1, timeout=60_000)
                first_draw.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                page.click("button[data-window='all']")
                page.wait_for_function(LOADED, arg=2, timeout=60_000)
                all_draw.append((time.perf_counter() - started) * 1000)
                points = page.evaluate("Chart.getChart('pair-chart').data.datasets.map(d => d.data.length)")
                context.close()
            browser.close()
    finally:
        server.shutdown()

    print(
        f"\n/pairs/BTC-USD over {args.exchanges} x {args.ticks:,} ticks (points drawn per dataset: {points})"
    )
    failed = False
    for name, samples in (
        ("page load to chart drawn (24h)", first_draw),
        ("switch to 'all' to chart redrawn", all_draw),
    ):
        median = statistics.median(samples[1:])
        failed |= median > BAR_MS
        verdict = "PASS" if median <= BAR_MS else "FAIL"
        print(
            f"  {name:<36} first {samples[0]:7.0f} ms   median of next {len(samples) - 1}: {median:7.0f} ms"
            f"   bar {BAR_MS} ms  {verdict}"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
