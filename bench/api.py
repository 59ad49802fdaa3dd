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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptocrunch import create_app
from cryptocrunch.db import db, init_db
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage.ticks import store_ticks

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


def tick_batches(markets: int, per_market: int, batch_minutes: int, seed: int = 1) -> Iterator[list[Tick]]:
    """Seeded random-walk ticks, time-major: each batch holds every market's next ``batch_minutes``."""
    rng = random.Random(seed)
    names = market_names(markets)
    prices = [rng.uniform(1, 60_000) for _ in names]
    for first in range(0, per_market, batch_minutes):
        batch = []
        for i in range(first, min(first + batch_minutes, per_market)):
            ts = START_MS + i * MINUTE_MS
            for m, (exchange, pair) in enumerate(names):
                prices[m] *= 1 + rng.gauss(0, 0.001)
                price = prices[m]
                batch.append(
                    Tick(exchange, pair, ts, price, price * 0.9995, price * 1.0005, 1.5, 1.5 * price)
                )
        yield batch


def build_database(uri: str, instance: Path, markets: int, per_market: int, batch_minutes: int) -> float:
    """Create the schema and write every tick with store_ticks, one commit per batch; seconds taken."""
    app = create_app({"INSTANCE_PATH": str(instance), "SQLALCHEMY_DATABASE_URI": uri})
    with app.app_context():
        init_db()
        started = time.perf_counter()
        for batch in tick_batches(markets, per_market, batch_minutes):
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


def start_gunicorn(name: str, app_spec: str, env: dict[str, str], workdir: Path, *extra: str) -> Server:
    """Start gunicorn (2 sync workers) in its own process group, logging to a file in ``workdir``."""
    port = free_port()
    log = workdir / f"gunicorn-{name}.log"
    command = [
        str(VENV_BIN / "gunicorn"),
        *("--workers", "2", "--worker-class", "sync", "--bind", f"127.0.0.1:{port}"),
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
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--ticks", type=int, default=50_000, help="ticks per market, one minute apart")
    parser.add_argument("--batch-minutes", type=int, default=1440, help="minutes of ticks per store_ticks")
    parser.add_argument("--duration", type=float, default=10, help="seconds of wrk load per request")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of wrk load before each run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every request; report medians")
    args = parser.parse_args()
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
    seconds = build_database(uri, instance, args.markets, args.ticks, args.batch_minutes)
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


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    sys.exit(128 + signum)  # SystemExit runs the cleanup in main's finally


def main() -> None:
    args = parse_args()
    check_tools()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    servers: list[Server] = []
    workdir = Path(tempfile.mkdtemp(prefix="cryptocrunch-bench-"))
    try:
        status = 0 if benchmark(args, workdir, servers) else 1
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        status = 130
    finally:
        for server in servers:
            stop(server)
        shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
