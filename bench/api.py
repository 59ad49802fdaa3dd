"""API throughput benchmark: the JSON API under gunicorn vs a bare Flask endpoint, with wrk.

    .venv/bin/python bench/api.py [--markets 20] [--ticks 50000] [--duration 10]

Needs gunicorn in the virtualenv (``pip install gunicorn``) and the ``wrk``
binary on PATH (``apt-get install wrk``).

1. Builds a temporary SQLite database through the project's own write path
   (``storage.store_ticks`` + commit, which also maintains the rollups):
   --markets markets x --ticks ticks, one minute apart, seeded random walks.
2. Takes the exact JSON body of the chart request (one market, ``points=1000``
   over its whole range) and starts, side by side, two gunicorn servers with
   2 sync workers each on 127.0.0.1: the real app (``cryptocrunch:create_app()``)
   and a bare Flask app (``bench/api_bare.py``) returning those same bytes from memory.
3. Runs wrk (--threads, --connections, --duration seconds, after a short warm-up)
   against the bare endpoint, the chart request, a stats request (one market,
   window=all) and a rankings request (metric=volatility, window=all), and prints
   requests/s (the median over --rounds), the ratio to the bare endpoint and the
   bar each must reach (chart >= 0.5x bare; stats and rankings >= 0.25x bare).
   Exit status 0 when every bar is met, 1 when one is not.

With ``--mixed`` it measures load while collecting instead:

    .venv/bin/python bench/api.py --mixed [--db postgresql+psycopg://...] [--redis redis://...] [--smoke]

200 markets (the fake exchange's, collected, plus generated ones) with the last 24 hours of
ticks; gunicorn (gthread, 2 workers per core x 4 threads) and ``flask collect --every 5`` on the
same database (SQLite in WAL mode, or a fresh schema of --db, dropped on exit); wrk asks 1,000
different market URLs (stats 24h and 1h, prices, gaps, candles), one at random per request, and
it prints req/s, p50/p99 latency, the response cache's hit rate (from /metrics), what the
collector stored meanwhile, and every error: non-2xx answers, socket errors, "database is
locked" and tracebacks in the logs, failed collector runs. Exit status 1 on any. --redis sets
CACHE_REDIS_URL (the cache shared by the workers); --smoke runs it for a few seconds on one hour
of ticks.

Everything (servers, database, temporary files) is removed on exit, error or Ctrl-C.

Caveat: on the 2-core development machine wrk and the 2 gunicorn workers share
the same cores, so absolute numbers understate a real server; the ratios are
what the bars are about, and both sides pay the same tax. Anything else using
the CPU (tests, another benchmark) skews them; a warning is printed when the
CPUs are busy at the start.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptocrunch import create_app
from cryptocrunch.db import db, init_db
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage.ticks import store_ticks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import database

BENCH_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
START_MS = 1_700_000_000_000  # 2023-11-14, so the whole range lies in the past
MINUTE_MS = 60_000
EXCHANGES = ("ex0", "ex1", "ex2", "ex3")
CHART_POINTS = 1000
BARS = {"chart": 0.5, "stats": 0.25, "rankings": 0.25}


@dataclass(frozen=True)
class Server:
    """A running gunicorn master (its own process group) and where it listens."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


# -- data ---------------------------------------------------------------------


def market_names(markets: int) -> list[tuple[str, str]]:
    """(exchange, pair) of each market: C0/USD on ex0, C1/USD on ex1, ..."""
    return [(EXCHANGES[m % len(EXCHANGES)], f"C{m}/USD") for m in range(markets)]


def tick_batches(
    names: list[tuple[str, str]], per_market: int, batch_minutes: int, start_ms: int = START_MS, seed: int = 1
) -> Iterator[list[Tick]]:
    """Seeded random-walk ticks, time-major: each batch holds every market's next ``batch_minutes``."""
    rng = random.Random(seed)
    prices = [rng.uniform(1, 60_000) for _ in names]
    for first in range(0, per_market, batch_minutes):
        batch = []
        for i in range(first, min(first + batch_minutes, per_market)):
            ts = start_ms + i * MINUTE_MS
            for m, (exchange, pair) in enumerate(names):
                prices[m] *= 1 + rng.gauss(0, 0.001)
                price = prices[m]
                batch.append(
                    Tick(exchange, pair, ts, price, price * 0.9995, price * 1.0005, 1.5, 1.5 * price)
                )
        yield batch


def build_database(
    uri: str,
    instance: Path,
    names: list[tuple[str, str]],
    per_market: int,
    batch_minutes: int,
    start_ms: int = START_MS,
) -> float:
    """Create the schema and write every tick with store_ticks, one commit per batch; seconds taken."""
    app = create_app({"INSTANCE_PATH": str(instance), "SQLALCHEMY_DATABASE_URI": uri})
    with app.app_context():
        init_db()
        started = time.perf_counter()
        for batch in tick_batches(names, per_market, batch_minutes, start_ms):
            store_ticks(db.session, batch)
            db.session.commit()
        elapsed = time.perf_counter() - started
        db.engine.dispose()
    return elapsed


def request_paths(per_market: int) -> dict[str, str]:
    """The three API requests, all on the first market (ex0, C0/USD)."""
    last_ms = START_MS + (per_market - 1) * MINUTE_MS
    market = "/api/v1/markets/ex0/C0-USD"
    return {
        "chart": f"{market}/prices?start={START_MS}&end={last_ms}&points={CHART_POINTS}",
        "stats": f"{market}/stats?window=all",
        "rankings": "/api/v1/rankings?metric=volatility&window=all",
    }


def chart_body(uri: str, instance: Path, path: str) -> bytes:
    """The exact bytes the chart request returns, checked to hold at most CHART_POINTS points."""
    app = create_app({"INSTANCE_PATH": str(instance), "SQLALCHEMY_DATABASE_URI": uri})
    with app.app_context():
        response = app.test_client().get(path)
        db.engine.dispose()
    if response.status_code != 200:
        raise RuntimeError(
            f"chart request answered {response.status_code}: {response.get_data(as_text=True)}"
        )
    points = json.loads(response.data)
    if not 0 < len(points) <= CHART_POINTS:
        raise RuntimeError(f"chart request returned {len(points)} points, want 1..{CHART_POINTS}")
    print(f"chart body: {len(points)} points, {len(response.data):,} bytes")
    return response.data


# -- servers ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SYNC_WORKERS = ("--workers", "2", "--worker-class", "sync")


def start_gunicorn(
    name: str,
    app_spec: str,
    env: dict[str, str],
    workdir: Path,
    *extra: str,
    workers: tuple[str, ...] = SYNC_WORKERS,
) -> Server:
    """Start gunicorn (2 sync workers unless ``workers``) in its own process group, logging to
    ``workdir``."""
    port = free_port()
    log = workdir / f"gunicorn-{name}.log"
    command = [
        str(VENV_BIN / "gunicorn"),
        *workers,
        "--bind",
        f"127.0.0.1:{port}",
        *("--access-logfile", "/dev/null", "--error-logfile", "-", *extra, app_spec),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(name, process, port, log)


def wait_ready(server: Server, path: str, timeout: float = 60) -> None:
    """Poll ``path`` until it answers 200; fail with the server's log if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(server.url(path), timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    log = server.log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"gunicorn {server.name} did not become ready on port {server.port}:\n{log}")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def stop(server: Server) -> None:
    """SIGTERM the server's process group (master and workers), then SIGKILL if it lingers."""
    if server.process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(server.process.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


# -- load ---------------------------------------------------------------------


def run_wrk(url: str, duration: float, threads: int, connections: int) -> float:
    """Requests/s wrk reaches on ``url``; raises if any response was not 2xx/3xx."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True)
    if "Non-2xx or 3xx responses" in result.stdout:
        raise RuntimeError(f"wrk saw error responses from {url}:\n{result.stdout}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if match is None:
        raise RuntimeError(f"no Requests/sec in wrk output:\n{result.stdout}{result.stderr}")
    return float(match.group(1))


def print_table(rates: dict[str, float]) -> bool:
    """Print name, req/s, ratio to bare, bar and verdict; True when every bar is met."""
    bare = rates["bare"]
    print(f"\n{'request':<10} {'req/s':>9} {'x bare':>7} {'bar':>6}  result")
    ok = True
    for name, rate in rates.items():
        ratio = rate / bare
        bar = BARS.get(name)
        if bar is None:
            verdict, bar_text = "(baseline)", ""
        else:
            passed = ratio >= bar
            ok &= passed
            verdict, bar_text = ("PASS" if passed else "FAIL"), f"{bar:.2f}"
        print(f"{name:<10} {rate:>9,.1f} {ratio:>7.3f} {bar_text:>6}  {verdict}")
    return ok


# -- main ---------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixed", action="store_true", help="1,000 market URLs while a collector writes")
    parser.add_argument("--smoke", action="store_true", help="--mixed for a few seconds, small history")
    parser.add_argument("--db", help="--mixed on this PostgreSQL URL (a fresh schema); default SQLite")
    parser.add_argument("--redis", help="--mixed with CACHE_REDIS_URL set to this (default: per process)")
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument(
        "--ticks", type=int, help="ticks per market, one minute apart (default 50,000; --mixed 1,440)"
    )
    parser.add_argument("--batch-minutes", type=int, default=1440, help="minutes of ticks per store_ticks")
    parser.add_argument("--duration", type=float, help="seconds of wrk load per request (10; --mixed 30)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of wrk load before each run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, help="wrk connections (8; --mixed 16)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every request; report medians")
    parser.add_argument("--workers", type=int, help="--mixed: gunicorn gthread workers (2 per core)")
    args = parser.parse_args()
    if args.smoke:
        args.mixed = True
    if args.mixed:
        args.ticks = args.ticks or (60 if args.smoke else 1440)
        args.duration = args.duration or (6 if args.smoke else 30)
        args.connections = args.connections or 16
        args.workers = args.workers or 2 * (os.cpu_count() or 1)
        if not 3 <= args.ticks <= 1440:
            parser.error("--mixed: --ticks must be 3 to 1440 (the last 24 hours, one a minute)")
        return args
    if args.db or args.redis:
        parser.error("--db and --redis go with --mixed")
    args.ticks = args.ticks or 50_000
    args.duration = args.duration or 10
    args.connections = args.connections or 8
    if args.ticks < 2 * CHART_POINTS:
        parser.error(f"--ticks must be at least {2 * CHART_POINTS} so the chart request downsamples")
    return args


def check_tools() -> None:
    missing = [] if shutil.which("wrk") else ["wrk"]
    if not (VENV_BIN / "gunicorn").exists():
        missing.append(f"gunicorn (in {VENV_BIN})")
    if missing:
        sys.exit(f"missing: {', '.join(missing)}; pip install gunicorn, apt-get install wrk")


def _cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return values[3] + values[4], sum(values)  # idle + iowait


def warn_if_busy(seconds: float = 1.0) -> None:
    """Warn when something else is using the CPU now: it skews every number below."""
    if not Path("/proc/stat").exists():
        return
    idle, total = _cpu_times()
    time.sleep(seconds)
    idle_after, total_after = _cpu_times()
    busy = 1 - (idle_after - idle) / max(total_after - total, 1)
    if busy > 0.1:
        print(f"warning: the CPUs are {busy:.0%} busy before starting; results will be noisy")


def benchmark(args: argparse.Namespace, workdir: Path, servers: list[Server]) -> bool:
    instance = workdir / "instance"
    uri = f"sqlite:///{workdir / 'bench.sqlite'}"
    total = args.markets * args.ticks
    warn_if_busy()
    print(f"writing {args.markets} markets x {args.ticks:,} ticks = {total:,} ticks with store_ticks ...")
    seconds = build_database(uri, instance, market_names(args.markets), args.ticks, args.batch_minutes)
    print(f"database built in {seconds:.1f} s ({total / seconds:,.0f} ticks/s)")

    paths = request_paths(args.ticks)
    body_file = workdir / "chart.json"
    body_file.write_bytes(chart_body(uri, instance, paths["chart"]))

    real_env = {"CRYPTOCRUNCH_INSTANCE_PATH": str(instance), "CRYPTOCRUNCH_SQLALCHEMY_DATABASE_URI": uri}
    servers.append(start_gunicorn("real", "cryptocrunch:create_app()", real_env, workdir))
    bare_env = {"BENCH_BARE_BODY": str(body_file)}
    servers.append(
        start_gunicorn("bare", "api_bare:create_app()", bare_env, workdir, "--pythonpath", str(BENCH_DIR))
    )
    real, bare = servers
    wait_ready(real, paths["stats"])
    wait_ready(bare, paths["chart"])
    if fetch(real.url(paths["chart"])) != fetch(bare.url(paths["chart"])):
        raise RuntimeError("the bare endpoint does not return the chart request's bytes")

    targets = {"bare": bare.url(paths["chart"])} | {name: real.url(path) for name, path in paths.items()}
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s per request "
        f"(after {args.warmup:g} s warm-up); gunicorn: 2 sync workers each"
    )
    for name, url in targets.items():
        print(f"  {name:<10} {url}")
    samples: dict[str, list[float]] = {name: [] for name in targets}
    for round_ in range(1, args.rounds + 1):
        for name, url in targets.items():
            if args.warmup > 0:
                run_wrk(url, args.warmup, args.threads, args.connections)
            samples[name].append(run_wrk(url, args.duration, args.threads, args.connections))
        print(f"  round {round_}: " + ", ".join(f"{n} {r[-1]:,.1f}" for n, r in samples.items()) + " req/s")
    return print_table({name: statistics.median(rates) for name, rates in samples.items()})


# -- mixed: many URLs while the collector writes ------------------------------------

MIXED_URLS = 1000
COLLECT_EVERY = 5
#: What each market is asked, over windows ending now (answers change with every write).
MIXED_ENDPOINTS = (
    "stats?window=24h",
    "stats?window=1h",
    "prices?window=24h&points=200",
    "gaps?window=24h",
    "candles?timeframe=5m&window=24h",
)
#: One path of BENCH_PATHS at random per request, each wrk thread with its own seed.
WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local threads = 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
function init(args) math.randomseed(id * 7919 + os.time()) end
function request() return wrk.format("GET", paths[math.random(#paths)]) end
"""
LATENCY_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class Load:
    """What wrk measured over the mixed URLs."""

    requests: int
    rate: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


def run_wrk_script(url: str, paths: Path, duration: float, threads: int, connections: int) -> Load:
    """wrk over ``paths`` (one per line) for ``duration`` s: rate, p50/p99 and every error."""
    script = paths.with_suffix(".lua")
    script.write_text(WRK_SCRIPT)
    command = [
        *("wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s", "--latency"),
        *("-s", str(script), url),
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
        env={**os.environ, "BENCH_PATHS": str(paths)},
    )
    out = result.stdout

    def number(pattern: str) -> float:
        match = re.search(pattern, out)
        if match is None:
            raise RuntimeError(f"no {pattern!r} in wrk's output:\n{out}{result.stderr}")
        return float(match.group(1))

    def percentile(p: int) -> float:
        match = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no {p}% latency in wrk's output:\n{out}")
        return float(match.group(1)) * LATENCY_UNITS[match.group(2)]

    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Load(
        requests=int(number(r"(\d+) requests in")),
        rate=number(r"Requests/sec:\s+([\d.]+)"),
        p50_ms=percentile(50),
        p99_ms=percentile(99),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics (added up over the gunicorn workers) as {(name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    found = {}
    for family in text_string_to_metric_families(fetch(server.url("/metrics")).decode()):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def cache_counts(found: dict) -> dict[str, float]:
    return {
        result: found.get(("cryptocrunch_response_cache_total", (("result", result),)), 0.0)
        for result in ("hit", "miss", "error")
    }


def api_statuses(found: dict) -> dict[str, float]:
    """Requests the server answered under /api/v1, by status."""
    counts: dict[str, float] = {}
    for (name, labels), count in found.items():
        label = dict(labels)
        if name == "cryptocrunch_http_request_seconds_count" and label["endpoint"].startswith("/api/v1"):
            counts[label["status"]] = counts.get(label["status"], 0) + count
    return counts


def mixed_settings(fake: Any, uri: str, instance: Path, redis_url: str | None) -> dict[str, str]:
    """The CRYPTOCRUNCH_* environment of the web server and the collector: one database, the fake
    exchange's markets, the collect interval the gaps answers use."""
    options = fake.exchange_options(timeout_ms=5000)
    for exchange_options in options.values():
        exchange_options["enableRateLimit"] = False
    settings: dict[str, Any] = {
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": uri,
        "SECRET_KEY": uuid.uuid4().hex * 2,
        "MARKETS": {name: list(pairs) for name, pairs in fake.markets.items() if name != "coingecko"},
        "EXCHANGE_OPTIONS": options,
        "COINGECKO_URL": fake.coingecko_url,
        "COINGECKO_COINS": {"ids": ["bitcoin", "ethereum"], "vs_currencies": ["usd"]},
        "COINGECKO_MIN_INTERVAL": 0,
        "COLLECT_INTERVAL": COLLECT_EVERY,
        "CACHE_REDIS_URL": redis_url,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOCRUNCH_")}
    for key, value in settings.items():
        env[f"CRYPTOCRUNCH_{key}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def mixed_paths(names: list[tuple[str, str]]) -> list[str]:
    """MIXED_URLS different API paths: each market's MIXED_ENDPOINTS."""
    paths = [
        f"/api/v1/markets/{exchange}/{pair.replace('/', '-')}/{endpoint}"
        for exchange, pair in names
        for endpoint in MIXED_ENDPOINTS
    ]
    return paths[:MIXED_URLS]


def collect_runs(uri: str, since: int, until: int) -> tuple[int, int, int]:
    """(runs, of them failed, ticks stored) of the collector between ``since`` and ``until`` (ms)."""
    import sqlalchemy as sa

    engine = sa.create_engine(uri)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT count(*), coalesce(sum(CASE WHEN status = 'ok' THEN 0 ELSE 1 END), 0), "
                "coalesce(sum(stored), 0) FROM run WHERE started >= :since AND started <= :until"
            ),
            {"since": since, "until": until},
        ).one()
    engine.dispose()
    return int(row[0]), int(row[1]), int(row[2])


def wait_for_file(path: Path, text: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(
        f"{path.name}: no {text!r} within {timeout:g} s:\n{path.read_text(errors='replace')[-3000:]}"
    )


def mixed(args: argparse.Namespace, workdir: Path, servers: list[Server], stack: ExitStack) -> bool:
    """gunicorn (gthread) over MIXED_URLS market URLs while `flask collect --every 5` writes."""
    sys.path.insert(0, str(BENCH_DIR.parent / "tests"))
    from fake_exchange import FakeExchange

    instance = workdir / "instance"
    uri, kind = database(args.db, workdir / "bench.sqlite", stack)
    fake = stack.enter_context(FakeExchange())
    collected = [
        (name, pair) for name, pairs in fake.markets.items() if name != "coingecko" for pair in pairs
    ]
    wanted = -(-MIXED_URLS // len(MIXED_ENDPOINTS))
    names = collected + market_names(wanted - len(collected))
    warn_if_busy()
    print(
        f"{kind}: {len(names)} markets ({len(collected)} of them collected every {COLLECT_EVERY} s) x "
        f"{args.ticks:,} ticks of the last {args.ticks} minutes, with store_ticks ..."
    )
    start_ms = (int(time.time() * 1000) // MINUTE_MS - args.ticks) * MINUTE_MS
    seconds = build_database(uri, instance, names, args.ticks, args.batch_minutes, start_ms)
    print(f"database built in {seconds:.1f} s")

    env = mixed_settings(fake, uri, instance, args.redis)
    metrics_dir = workdir / "prometheus"
    metrics_dir.mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    workers = ("--worker-class", "gthread", "--workers", str(args.workers), "--threads", "4")
    conf = ("-c", "python:cryptocrunch.gunicorn_conf")
    server = start_gunicorn("mixed", "cryptocrunch:create_app()", env, workdir, *conf, workers=workers)
    servers.append(server)
    collector_log = workdir / "collect.log"
    with collector_log.open("wb") as out:
        collector = subprocess.Popen(
            [str(VENV_BIN / "flask"), "collect", "--every", str(COLLECT_EVERY)],
            env={**env, "FLASK_APP": "cryptocrunch"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    servers.append(Server("collector", collector, 0, collector_log))
    wait_ready(server, "/healthz")
    wait_for_file(collector_log, "coingecko", collector)  # its first cycle is stored

    paths = mixed_paths(names)
    answered = time.perf_counter()

    def answers(path: str) -> None:
        try:
            fetch(server.url(path))
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{path} answered {error.code}: {error.read()[:300]!r}") from None

    # every URL (--smoke: every 7th, each endpoint still) answers before the clock starts
    checked = paths[::7] if args.smoke else paths
    with ThreadPoolExecutor(args.connections) as pool:
        list(pool.map(answers, checked))
    print(f"{len(checked)} URLs answered 200 ({time.perf_counter() - answered:.1f} s)")
    paths_file = workdir / "paths.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    cache = f"Redis ({args.redis})" if args.redis else "per process"
    print(
        f"{len(paths)} URLs ({len(names)} markets x {len(MIXED_ENDPOINTS)}: "
        + ", ".join(e.split("?")[0] for e in MIXED_ENDPOINTS)
        + f"); gunicorn gthread {args.workers} workers x 4 threads; response cache {cache}"
    )
    if args.warmup > 0:
        run_wrk_script(server.url("/"), paths_file, args.warmup, args.threads, args.connections)
    before = scrape(server)
    since = int(time.time() * 1000)
    load = run_wrk_script(server.url("/"), paths_file, args.duration, args.threads, args.connections)
    until = int(time.time() * 1000)
    after = scrape(server)

    cache_before, cache_after = cache_counts(before), cache_counts(after)
    looked = {k: cache_after[k] - cache_before[k] for k in cache_after}
    total = sum(looked.values())
    statuses_before, statuses_after = api_statuses(before), api_statuses(after)
    served = {k: v - statuses_before.get(k, 0) for k, v in statuses_after.items()}
    server_errors = int(sum(v for k, v in served.items() if not k.startswith("2")))
    runs, failed_runs, stored = collect_runs(uri, since, until)
    logs = server.log.read_text(errors="replace") + collector_log.read_text(errors="replace")
    locked = logs.count("database is locked")
    tracebacks = logs.count("Traceback")

    print(
        f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency, random URL per request "
        f"(after {args.warmup:g} s warm-up)"
    )
    print(f"  requests            {load.requests:,} ({load.rate:,.1f} req/s)")
    print(f"  latency             p50 {load.p50_ms:.2f} ms   p99 {load.p99_ms:.2f} ms")
    print(
        f"  cache               hit rate {looked['hit'] / total:.1%} "
        f"(hits {looked['hit']:,.0f}, misses {looked['miss']:,.0f}, Redis errors {looked['error']:,.0f})"
        if total
        else "  cache               no lookups counted"
    )
    print(f"  collector           {runs} runs during the load ({failed_runs} failed), {stored} ticks stored")
    print(
        f"  errors              non-2xx {load.non_2xx} (server: {server_errors}), "
        f"socket {load.socket_errors}, 'database is locked' {locked}, tracebacks {tracebacks}"
    )
    problems = load.non_2xx + server_errors + load.socket_errors + locked + tracebacks + failed_runs
    if runs == 0:
        print("FAIL: the collector wrote nothing during the load")
        return False
    print("PASS: no errors" if not problems else "FAIL: errors above")
    return problems == 0


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    sys.exit(128 + signum)  # SystemExit runs the cleanup in main's finally


def main() -> None:
    args = parse_args()
    check_tools()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    servers: list[Server] = []
    workdir = Path(tempfile.mkdtemp(prefix="cryptocrunch-bench-"))
    with ExitStack() as stack:  # the fake exchange and a PostgreSQL schema, after the servers
        try:
            passed = mixed(args, workdir, servers, stack) if args.mixed else benchmark(args, workdir, servers)
            status = 0 if passed else 1
        except KeyboardInterrupt:
            print("\ninterrupted; cleaning up", file=sys.stderr)
            status = 130
        finally:
            for server in reversed(servers):
                stop(server)
    shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
