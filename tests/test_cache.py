"""The API response cache: per process without CACHE_REDIS_URL; with it, in Redis, shared by two
real gunicorn processes on one database (a write through storage reaches both, an answer computed
by one is a hit in the other); a Redis that goes away and comes back; the setting's check."""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import redis
import requests
from conftest import need
from helpers import fake_config
from test_collect_process import process_env
from test_metrics import samples, value
from test_serving import free_port, wait_for

from cryptocrunch import cache, create_app
from cryptocrunch.clock import now_ms
from cryptocrunch.config import ConfigError
from cryptocrunch.db import db
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage.ticks import store_ticks

STATS = "/api/v1/markets/kraken/BTC-USD/stats?window=24h"
HITS = "cryptocrunch_response_cache_total"


def store(app, *minutes_ago: int) -> None:
    """Ticks of kraken BTC/USD that many minutes ago, through storage (bumps the data version)."""
    now = now_ms()
    with app.app_context():
        store_ticks(
            db.session,
            [
                Tick("kraken", "BTC/USD", now - m * 60_000, 100.0 + m, 99.9 + m, 100.1 + m, 1.5, 150.0)
                for m in minutes_ago
            ],
        )
        db.session.commit()


def well_inside_a_minute() -> None:
    """Keys carry the minute: start a sequence of requests at least 20 s before the next one."""
    left = 60 - time.time() % 60
    if left < 20:
        time.sleep(left + 0.5)


@contextmanager
def gunicorn(env: dict[str, str]) -> Iterator[str]:
    """One gunicorn process (one gthread worker) serving the app: its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [
            f"{sys.prefix}/bin/gunicorn",
            *("--worker-class", "gthread", "--workers", "1", "--threads", "2"),
            *("--bind", f"127.0.0.1:{port}", "cryptocrunch:create_app()"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz", ok=lambda r: r.status_code in (200, 503))
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
        assert "Traceback" not in err, err


def test_two_processes_share_one_redis_cache_and_a_write_reaches_both(
    make_app, fake, tmp_path, database_url, redis_url
):
    settings = {"CACHE_REDIS_URL": redis_url}
    app = make_app(**settings)  # the schema, and the settings the two processes get
    store(app, 30, 20, 10)
    env = process_env({**fake_config(fake, tmp_path / "instance", database_url), **settings})
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each process counts its own cache hits
    with gunicorn(env) as a, gunicorn(env) as b:
        well_inside_a_minute()
        first = requests.get(a + STATS, timeout=30)
        assert first.status_code == 200 and first.headers["X-Cache"] == "miss"
        assert first.json()["n"] == 3
        # B never computed it: the answer is A's, from Redis
        shared = requests.get(b + STATS, timeout=30)
        assert shared.status_code == 200 and shared.headers["X-Cache"] == "hit"
        assert shared.content == first.content and shared.headers["ETag"] == first.headers["ETag"]
        counted = samples(requests.get(b + "/metrics", timeout=30).text)
        assert (value(counted, HITS, result="hit"), value(counted, HITS, result="miss")) == (1, 0)

        # the entry lives in Redis under the data version, with a TTL
        client = redis.Redis.from_url(redis_url)
        prefix = cache.namespace(database_url)
        keys = list(client.scan_iter(f"{prefix}:*"))
        assert len(keys) == 1
        assert 0 < client.ttl(keys[0]) <= cache.TTL_SECONDS

        store(app, 5)  # a write in a third process: both see it at once
        fresh = requests.get(b + STATS, timeout=30)
        assert fresh.headers["X-Cache"] == "miss" and fresh.json()["n"] == 4
        again = requests.get(a + STATS, timeout=30)
        assert again.headers["X-Cache"] == "hit" and again.content == fresh.content
        assert len(list(client.scan_iter(f"{prefix}:*"))) == 2  # the old one is unreachable, expiring
        client.close()


@pytest.fixture
def own_redis(tmp_path) -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A redis-server of this test's own on a free port: its URL, stop() and start()."""
    need(shutil.which("redis-server") is not None, "redis-server is not installed (apt-get install redis)")
    port = free_port()
    process: list[subprocess.Popen] = []

    def start() -> None:
        process.append(
            subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
            )
        )
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop() -> None:
        process[-1].terminate()
        process[-1].wait(timeout=10)

    start()
    yield f"redis://127.0.0.1:{port}/0", stop, start
    if process[-1].poll() is None:
        stop()


def test_a_redis_that_goes_away_is_said_once_and_answers_come_uncached(make_app, own_redis, caplog):
    url, stop, start = own_redis
    app = make_app(CACHE_REDIS_URL=url)
    store(app, 30, 20, 10)
    client = app.test_client()
    well_inside_a_minute()
    computed = client.get(STATS)
    assert computed.headers["X-Cache"] == "miss"
    assert client.get(STATS).headers["X-Cache"] == "hit"

    stop()
    caplog.set_level(logging.WARNING, logger="cryptocrunch.cache")
    before = samples(client.get("/metrics").get_data(as_text=True))
    answers = [client.get(STATS) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert all(a.headers["X-Cache"] == "miss" and a.data == computed.data for a in answers)
    after = samples(client.get("/metrics").get_data(as_text=True))
    assert value(after, HITS, result="error") - value(before, HITS, result="error") == 5
    said = [r.getMessage() for r in caplog.records if r.name == "cryptocrunch.cache"]
    assert len(said) == 1 and f"Redis at {url} failed" in said[0] and "answering uncached" in said[0]

    start()
    time.sleep(cache.RETRY_AFTER + 0.2)  # then it is asked again
    assert client.get(STATS).headers["X-Cache"] == "miss"
    assert client.get(STATS).headers["X-Cache"] == "hit"
    said = [r.getMessage() for r in caplog.records if r.name == "cryptocrunch.cache"]
    assert len(said) == 2 and said[1] == f"response cache: Redis at {url} answers again"


def test_without_redis_each_process_keeps_its_own(make_app):
    app = make_app()
    assert app.config["CACHE_REDIS_URL"] is None
    store(app, 30, 20, 10)
    client = app.test_client()
    well_inside_a_minute()
    before = samples(client.get("/metrics").get_data(as_text=True))
    assert [client.get(STATS).headers["X-Cache"] for _ in range(3)] == ["miss", "hit", "hit"]
    store(app, 5)
    assert client.get(STATS).headers["X-Cache"] == "miss"
    after = samples(client.get("/metrics").get_data(as_text=True))
    assert value(after, HITS, result="hit") - value(before, HITS, result="hit") == 2
    assert value(after, HITS, result="miss") - value(before, HITS, result="miss") == 2


@pytest.mark.parametrize("shared", [False, True], ids=["per-process", "redis"])
def test_a_hit_is_the_computed_answer_headers_included(make_app, request, shared):
    app = make_app(CACHE_REDIS_URL=request.getfixturevalue("redis_url") if shared else None)
    store(app, 30, 20, 10)
    client = app.test_client()
    path = "/api/v1/markets/kraken/BTC-USD/prices?window=24h&format=csv"
    well_inside_a_minute()
    computed, hit = client.get(path), client.get(path)
    assert (computed.headers["X-Cache"], hit.headers["X-Cache"]) == ("miss", "hit")
    assert hit.data == computed.data and computed.data.count(b"\n") == 4  # a header row, 3 ticks
    for header in ("Content-Type", "Content-Disposition", "ETag", "Cache-Control"):
        assert hit.headers[header] == computed.headers[header], header
    assert computed.headers["Content-Disposition"].startswith("inline; filename=")
    unchanged = client.get(path, headers={"If-None-Match": hit.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.headers["X-Cache"] == "hit"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6379/0", "must be a redis://, rediss:// or unix:// URL"),
        ("redis://:s3cret@host:port/0", r"the port of 'redis://:\*\*\*@host:port/0' is not a number"),
        ("redis:///0", "names no host"),
        ("unix://", "names no socket"),
        (6379, "must be a URL like"),
    ],
)
def test_a_bad_cache_redis_url_stops_the_app_naming_it(tmp_path, url, message):
    with pytest.raises(ConfigError, match=f"CACHE_REDIS_URL.*{message}"):
        create_app({"INSTANCE_PATH": str(tmp_path), "CACHE_REDIS_URL": url})


@pytest.mark.parametrize(
    "url",
    ["redis://127.0.0.1:6379/0", "rediss://:pw@cache.example:6380/1", "unix:///run/redis/redis.sock?db=2"],
)
def test_good_cache_redis_urls_are_taken(tmp_path, url):
    assert (
        create_app({"INSTANCE_PATH": str(tmp_path), "CACHE_REDIS_URL": url}).config["CACHE_REDIS_URL"] == url
    )


def test_the_environment_sets_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYPTOCRUNCH_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("CRYPTOCRUNCH_CACHE_REDIS_URL", "redis://127.0.0.1:6379/3")
    assert create_app().config["CACHE_REDIS_URL"] == "redis://127.0.0.1:6379/3"  # not JSON: as given


def test_an_empty_setting_keeps_the_cache_per_process(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYPTOCRUNCH_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("CRYPTOCRUNCH_CACHE_REDIS_URL", "")  # unset in a compose file or unit
    assert isinstance(create_app().extensions[cache.EXTENSION], cache.LocalCache)
