"""flask export: each kind to CSV and Parquet against the API's JSON, to moto's S3 server on 127.0.0.1
(failed uploads included), EXPORTS after a collect cycle, --config and bad input."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
from botocore.config import Config
from helpers import stored_ticks
from moto.server import ThreadedMotoServer

from cryptocrunch import create_app
from cryptocrunch.clock import now_ms
from cryptocrunch.config import ConfigError
from cryptocrunch.db import db
from cryptocrunch.sources.base import Candle, Tick
from cryptocrunch.storage.candles import store_candles
from cryptocrunch.storage.ticks import store_ticks

STEP = 5 * 60_000
MARKETS = [("kraken", "BTC/USD"), ("kraken", "ETH/USD"), ("binance", "BTC/USDT")]
STAMP = r"\d{8}T\d{6}Z"


# -- data, put in through the project's own write paths ---------------------------------------------


@pytest.fixture
def history(app):
    """30 ticks 5 minutes apart (ending 2 minutes ago) on three markets, one tick on bitstamp XRP/USD
    (too few for statistics), and two stored 5-minute candles of kraken BTC/USD."""
    rng = np.random.default_rng(7)
    end = now_ms() // 60_000 * 60_000 - 2 * 60_000
    stamps = [end - STEP * i for i in range(29, -1, -1)]
    ticks = []
    for n, (exchange, pair) in enumerate(MARKETS):
        walk = (100 + 50 * n) * np.exp(np.cumsum(rng.normal(0, 0.01, len(stamps))))
        for i, (ts, price) in enumerate(zip(stamps, walk, strict=True)):
            spread = (None, None) if i % 3 == 0 else (float(price) - 0.25, float(price) + 0.25)
            ticks.append(
                Tick(exchange, pair, ts, float(price), *spread, base_volume=1.5 + i, quote_volume=None)
            )
    ticks.append(Tick("bitstamp", "XRP/USD", end, 0.5))
    candles = [
        Candle("kraken", "BTC/USD", "5m", stamps[k] // STEP * STEP, 100.0 + k, 102.5, 99.0, 101.0 + k, 12.5)
        for k in range(2)
    ]
    with app.app_context():
        store_ticks(db.session, ticks)
        store_candles(db.session, candles)
        db.session.commit()
    return stamps


def export(runner, *args):
    """Run ``flask export``; return the result and the file it wrote (None when it failed)."""
    result = runner.invoke(args=["export", *args], catch_exceptions=False)
    match = re.search(r"written to (\S+)", result.output)
    return result, (match[1] if result.exit_code == 0 and match else None)


def read(path_or_bytes, fmt):
    """A written file back as a frame, missing values as NaN."""
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    if fmt == "csv":
        return pd.read_csv(source, keep_default_na=False, na_values=[""])
    return pd.read_parquet(source)


def records(frame):
    """Rows as plain Python values, NaN as None (as in the API's JSON)."""
    plain = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in plain.to_dict("records")
    ]


def flat(data, prefix=""):
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}_"))
        else:
            out[prefix + key] = value
    return out


def api_csv(client, url):
    response = client.get(url, headers={"Accept": "text/csv"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True).splitlines()


# -- each kind, locally, against the API ---------------------------------------------------------


FORMATS = ["csv", "parquet"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_ticks_equal_the_api_prices_and_the_stored_ticks(app, runner, client, history, tmp_path, fmt):
    result, path = export(
        runner, "ticks", "--exchange", "kraken", "--pair", "BTC-USD", "--format", fmt, "--to", str(tmp_path)
    )

    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"ticks-kraken-BTC-USD-{STAMP}\.{fmt}", Path(path).name)
    assert Path(path).parent == tmp_path
    assert "ticks: 30 rows written to" in result.output
    frame = read(path, fmt)
    assert list(frame.columns) == [
        "exchange",
        "pair",
        "ts",
        "last",
        "bid",
        "ask",
        "base_volume",
        "quote_volume",
    ]
    prices = client.get("/api/v1/markets/kraken/BTC-USD/prices?window=24h&points=10000").get_json()
    assert [(r["ts"], r["last"]) for r in records(frame)] == [(p["ts"], p["last"]) for p in prices]
    stored = stored_ticks(app)["kraken", "BTC/USD"]
    assert records(frame) == [
        {
            "exchange": "kraken",
            "pair": "BTC/USD",
            "ts": t.ts,
            "last": t.last,
            "bid": t.bid,
            "ask": t.ask,
            "base_volume": t.base_volume,
            "quote_volume": t.quote_volume,
        }
        for t in stored
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_candles_equal_the_api_candles(runner, client, history, tmp_path, fmt):
    result, path = export(
        runner, "candles", "--exchange", "kraken", "--pair", "BTC/USD", "--timeframe", "5m", "--fast", "3",
        "--slow", "7", "--format", fmt, "--to", str(tmp_path),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"candles-kraken-BTC-USD-{STAMP}\.{fmt}", Path(path).name)
    url = "/api/v1/markets/kraken/BTC-USD/candles?timeframe=5m&fast=3&slow=7&window=24h"
    api = client.get(url).get_json()
    assert {c["source"] for c in api} == {"stored", "ticks"}
    assert {c["cross"] for c in api} > {None}
    frame = read(path, fmt)
    assert records(frame) == [{"exchange": "kraken", "pair": "BTC/USD", **c} for c in api]
    # the API's CSV, after the market's columns
    lines = api_csv(client, url)
    assert list(frame.columns) == ["exchange", "pair", *lines[0].split(",")]
    if fmt == "csv":
        assert Path(path).read_text().splitlines()[1:] == [f"kraken,BTC/USD,{line}" for line in lines[1:]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_stats_equal_the_api_stats_and_too_few_ticks_are_skipped(runner, client, history, tmp_path, fmt):
    result, path = export(runner, "stats", "--window", "24h", "--format", fmt, "--to", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"stats-{STAMP}\.{fmt}", Path(path).name)
    assert "stats: 3 rows written to" in result.output
    assert "(skipped 1 market)" in result.output
    assert "skipped bitstamp XRP/USD: 1 tick in the window; statistics need at least 3" in result.output
    expected = []
    for exchange, pair in sorted(MARKETS):
        body = client.get(f"/api/v1/markets/{exchange}/{pair.replace('/', '-')}/stats?window=24h").get_json()
        expected.append(flat(body))
    assert records(read(path, fmt)) == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_rankings_equal_the_api_rankings(runner, client, history, tmp_path, fmt):
    result, path = export(
        runner, "rankings", "--metric", "pct_change", "--order", "asc", "--quote", "usd", "--limit", "2",
        "--format", fmt, "--to", str(tmp_path),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    url = "/api/v1/rankings?metric=pct_change&order=asc&quote=USD&limit=2&window=24h"
    api = client.get(url).get_json()
    assert len(api) == 2
    frame = read(path, fmt)
    assert records(frame) == api
    lines = api_csv(client, url)
    assert list(frame.columns) == lines[0].split(",")
    if fmt == "csv":
        assert Path(path).read_text().splitlines() == lines


def test_default_folder_every_market_and_a_start_end_range(app, runner, history):
    result, path = export(runner, "ticks")
    assert result.exit_code == 0, result.output
    assert Path(path).parent == Path(app.instance_path) / "exports"
    assert re.fullmatch(rf"ticks-{STAMP}\.csv", Path(path).name)
    frame = read(path, "csv")
    assert len(frame) == 3 * 30 + 1
    markets = frame.drop_duplicates(["exchange", "pair"])[["exchange", "pair"]]
    assert list(markets.itertuples(index=False, name=None)) == [
        ("binance", "BTC/USDT"), ("bitstamp", "XRP/USD"), ("kraken", "BTC/USD"), ("kraken", "ETH/USD"),
    ]  # fmt: skip
    assert (frame.groupby(["exchange", "pair"])["ts"].diff().dropna() > 0).all()
    assert not [p for p in (Path(app.instance_path) / "exports").iterdir() if p.name.startswith(".")]

    result, path = export(
        runner, "ticks", "--exchange", "binance", "--start", str(history[3]), "--end", str(history[9])
    )
    assert result.exit_code == 0, result.output
    assert read(path, "csv")["ts"].tolist() == history[3:10]


@pytest.mark.parametrize("fmt", FORMATS)
def test_book_equals_the_api_series(app, runner, client, fake, tmp_path, fmt):
    for cycle in range(4):
        fake.set_book("binance", "BTC/USDT", [(100.0 - cycle, 2.0), (99.0 - cycle, 1.0)], [(101.0, 1.0)])
        assert runner.invoke(args=["collect", "--exchange", "binance", "--books"]).exit_code == 0

    result, path = export(runner, "book", "--exchange", "binance", "--format", fmt, "--to", str(tmp_path))

    assert result.exit_code == 0, result.output
    rows = records(read(path, fmt))
    assert {(r["exchange"], r["pair"]) for r in rows} == {("binance", "BTC/USDT"), ("binance", "ETH/USDT")}
    frame = [r for r in rows if r["pair"] == "BTC/USDT"]
    book = client.get("/api/v1/markets/binance/BTC-USDT/book?window=24h").get_json()
    assert [{k: r[k] for k in ("ts", "bid", "ask", "mid", "spread", "spread_bps")} for r in frame] == book[
        "series"
    ]
    # bid sizes within 1 % below the mid: the wider the spread, the fewer levels count
    mids = [(100.0 - c + 101.0) / 2 for c in range(4)]
    expected = [
        sum(size for price, size in ((100.0 - c, 2.0), (99.0 - c, 1.0)) if price >= m * 0.99)
        for c, m in enumerate(mids)
    ]
    assert [r["bid_depth_1"] for r in frame] == expected == [2.0, 2.0, 0.0, 0.0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_similar_equals_the_api(app, runner, client, fake, tmp_path, fmt):
    assert runner.invoke(args=["similar"]).exit_code == 0

    result, path = export(runner, "similar", "--exchange", "kraken", "--format", fmt, "--to", str(tmp_path))

    assert result.exit_code == 0, result.output
    rows = records(read(path, fmt))
    api = client.get("/api/v1/exchanges/kraken/similar?top=100").get_json()
    assert [(r["other"], r["shared"], r["jaccard"]) for r in rows if r["shared"]] == [
        (s["exchange"], s["shared"], s["jaccard"]) for s in api["similar"]
    ]
    assert {r["exchange"] for r in rows} == {"kraken"}
    _, every = export(runner, "similar", "--to", str(tmp_path))
    assert len(read(every, "csv")) == 4 * 3  # every ordered pair of the four exchanges


# -- bad input ---------------------------------------------------------------------------------------


BAD_INPUT = [
    (["prices"], 2, "unknown export 'prices'; choose from ticks, candles, stats, rankings, similar, book"),
    (["similar", "--exchange", "krakken"], 1, "no listing of krakken stored: run flask similar"),
    (["book", "--pair", "BTC-USD", "--timeframe", "1h"], 2, "timeframe does not apply to book exports"),
    (["ticks", "--exchange", "krakken"], 1, "no market on krakken has been collected"),
    (["ticks", "--exchange", "kraken", "--pair", "DOGE-EUR"], 1, "no market DOGE/EUR on kraken"),
    (["rankings", "--exchange", "krakken"], 1, "no market on krakken"),
    (["stats", "--pair", "BTCUSD"], 2, "pair must look like BTC-USD"),
    (["ticks", "--window", "2h"], 2, "Invalid value for '--window'"),
    (["ticks", "--start", "2024-01-01"], 2, "start needs a time zone"),
    (["ticks", "--window", "1h", "--start", "0"], 2, "give either window or start/end"),
    (["ticks", "--timeframe", "1d"], 2, "timeframe does not apply to ticks exports"),
    (["rankings", "--limit", "0"], 2, "limit must be a whole number from 1 to 1000"),
    (["candles", "--fast", "26", "--slow", "12"], 2, "fast (26) must be shorter than slow (12)"),
    (["ticks", "--format", "xlsx"], 2, "Invalid value for '--format'"),
    (["ticks", "--to", "s3://"], 2, "to 's3://' names no bucket"),
    (["ticks", "--to", "s3://My_Bucket/daily"], 2, "'My_Bucket' is not an S3 bucket name"),
    (["ticks", "--to", "gs://bucket/x"], 2, "only local folders and s3://bucket/prefix URLs"),
    (["ticks", "--to", "{file}/exports"], 1, "cannot write {file}/exports/ticks-"),
]


def test_bad_input_names_the_problem_and_writes_nothing(app, runner, history, tmp_path):
    # one app for every case: each must fail before anything is written
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for args, code, message in BAD_INPUT:
        result, _ = export(runner, *(a.replace("{file}", str(blocker)) for a in args))

        assert result.exit_code == code, (args, result.output)
        assert message.replace("{file}", str(blocker)) in result.output, args
    assert not (Path(app.instance_path) / "exports").exists()
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".csv", ".parquet", ".part")]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"EXPORTS": {"what": "ticks"}}, "EXPORTS must be a JSON list of export specs"),
        ({"EXPORTS": [{"what": "ticks"}, {"what": "tick"}]}, "EXPORTS[1]: unknown export 'tick'"),
        ({"EXPORTS": [{"what": "similar", "pair": "BTC/USD"}]}, "EXPORTS[0]: pair does not apply to similar"),
        ({"EXPORTS": [{"what": "ticks", "every": 60}]}, "EXPORTS[0]: unknown key 'every'"),
        ({"EXPORTS": [{"what": "stats", "metric": "stdev"}]}, "EXPORTS[0]: metric does not apply to stats"),
        ({"EXPORTS": [{"what": "rankings", "limit": "10"}]}, "EXPORTS[0]: limit must be a whole number"),
        ({"EXPORTS": [{"format": "csv"}]}, "EXPORTS[0]: what to export is missing"),
        ({"EXPORTS": [{"what": "ticks", "window": "2h"}]}, "EXPORTS[0]: window must be one of"),
        (
            {"EXPORTS": [{"what": "ticks", "to": "s3://x"}]},
            "EXPORTS[0]: to 's3://x': 'x' is not an S3 bucket",
        ),
        ({"EXPORT_S3_ENDPOINT_URL": "localhost:9000"}, "EXPORT_S3_ENDPOINT_URL must be an http(s) URL"),
        ({"EXPORT_S3_REGION": 5}, "EXPORT_S3_REGION must be a region name"),
        (
            {"EXPORT_S3_MULTIPART_THRESHOLD": -1},
            "EXPORT_S3_MULTIPART_THRESHOLD must be a non-negative number",
        ),
    ],
)
def test_bad_export_settings_name_the_entry_and_key(tmp_path, settings, message):
    with pytest.raises(ConfigError) as raised:
        create_app({"INSTANCE_PATH": str(tmp_path), **settings})
    assert message in str(raised.value)


# -- EXPORTS after flask collect ---------------------------------------------------------------------


def test_exports_are_off_by_default(app, runner, fake):
    result = runner.invoke(args=["collect", "--exchange", "binance"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "export" not in result.output
    assert not (Path(app.instance_path) / "exports").exists()


def test_configured_exports_run_after_each_collect_cycle_and_a_failing_one_is_reported(
    app, runner, fake, tmp_path
):
    out = tmp_path / "out"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = tmp_path / "collect.json"
    settings.write_text(
        json.dumps(
            {
                "EXPORTS": [
                    {"what": "stats", "to": str(blocker / "x")},
                    {"what": "ticks", "exchange": "binance", "to": str(out)},
                    {"what": "rankings", "format": "parquet", "to": str(out), "metric": "stdev"},
                ]
            }
        )
    )

    result = runner.invoke(args=["collect", "--exchange", "binance", "--config", str(settings)])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("binance      stored 2")
    assert lines[1].startswith(f"export       stats ERROR cannot write {blocker / 'x'}/stats-")
    assert lines[2].startswith("export       ticks: 2 rows written to")
    assert lines[3].startswith("export       rankings: 0 rows written to")
    [ticks] = out.glob("ticks-binance-*.csv")
    assert sorted(read(ticks, "csv")["pair"]) == ["BTC/USDT", "ETH/USDT"]
    [rankings] = out.glob("rankings-*.parquet")
    empty = read(rankings, "parquet")
    assert list(empty.columns) == ["rank", "exchange", "pair", "value", "n", "first_ts", "last_ts"]
    assert (str(empty["rank"].dtype), str(empty["value"].dtype)) == ("int64", "float64")
    assert sorted(p.name for p in out.iterdir()) == sorted([ticks.name, rankings.name])
    assert ("binance", "BTC/USDT") in stored_ticks(app)


def test_a_bad_exports_setting_stops_collect_before_it_starts(app, runner, fake, tmp_path):
    settings = tmp_path / "collect.json"
    settings.write_text(json.dumps({"EXPORTS": [{"what": "ticks", "pair": "BTC"}]}))
    result = runner.invoke(args=["collect", "--config", str(settings)])
    assert result.exit_code == 2
    assert "EXPORTS[0]: pair must look like BTC-USD" in result.output
    assert not fake.requests


# -- S3: moto's server on 127.0.0.1 -----------------------------------------------------------------


class Faults:
    """WSGI middleware in front of moto's server: answers matching requests with an S3 error, the way a
    failing S3 endpoint does, and records every request."""

    def __init__(self, app):
        self.app = app
        self.rules: list[list] = []
        self.seen: list[tuple[str, str]] = []

    def reset(self):
        self.rules.clear()
        self.seen.clear()

    def fail(self, method, query, status, code, times=1000):
        """Answer ``times`` requests of ``method`` whose query string contains ``query`` with ``status``."""
        self.rules.append([method, query, status, code, times])

    def __call__(self, environ, start_response):
        method, query = environ["REQUEST_METHOD"], environ.get("QUERY_STRING", "")
        self.seen.append((method, query))
        for rule in self.rules:
            if rule[4] > 0 and rule[0] == method and rule[1] in query:
                rule[4] -= 1
                environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                body = (
                    f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{rule[3]}</Code>'
                    f"<Message>injected {rule[3]}</Message></Error>"
                ).encode()
                start_response(
                    f"{rule[2]} {HTTPStatus(rule[2]).phrase}",
                    [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
                )
                return [body]
        return self.app(environ, start_response)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[tuple[str, Faults, object]]:
    """moto's S3 server on 127.0.0.1 (faults in front of it), and a client of it for the tests' checks."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    faults = Faults(server._server.app)
    server._server.app = faults  # moto's werkzeug server, with the faults in front of it
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )
    yield endpoint, faults, client
    client.close()
    server.stop()


@dataclass
class S3:
    endpoint: str
    client: object
    bucket: str
    faults: Faults

    def keys(self, bucket=None):
        return [
            o["Key"] for o in self.client.list_objects_v2(Bucket=bucket or self.bucket).get("Contents", [])
        ]

    def pending_uploads(self):
        return self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])


@pytest.fixture
def s3(s3_server, monkeypatch, tmp_path) -> Iterator[S3]:
    """A fresh bucket on the moto server; boto3 configured through the standard AWS environment only."""
    endpoint, faults, client = s3_server
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_MAX_ATTEMPTS": "1",  # a failure fails at once (no retry backoff in the tests)
    }.items():
        monkeypatch.setenv(key, value)
    faults.reset()
    bucket = f"exports-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    yield S3(endpoint, client, bucket, faults)
    faults.reset()


#: Failed uploads fail the same whatever the database: those tests run on SQLite only.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def s3_app(app, s3):
    app.config["EXPORT_S3_ENDPOINT_URL"] = s3.endpoint
    return app


def test_export_to_s3_with_the_endpoint_from_a_config_file(runner, client, history, s3, tmp_path):
    settings = tmp_path / "export.json"
    settings.write_text(json.dumps({"CRYPTOCRUNCH_EXPORT_S3_ENDPOINT_URL": s3.endpoint}))

    result, url = export(
        runner, "ticks", "--exchange", "kraken", "--pair", "BTC-USD", "--to", f"s3://{s3.bucket}/daily/",
        "--config", str(settings),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    [key] = s3.keys()
    assert re.fullmatch(rf"daily/ticks-kraken-BTC-USD-{STAMP}\.csv", key)
    assert url == f"s3://{s3.bucket}/{key}"
    assert "ticks: 30 rows written to" in result.output
    stored = s3.client.get_object(Bucket=s3.bucket, Key=key)
    assert stored["ContentType"] == "text/csv"
    frame = read(stored["Body"].read(), "csv")
    prices = client.get("/api/v1/markets/kraken/BTC-USD/prices?window=24h&points=10000").get_json()
    assert [(r["ts"], r["last"]) for r in records(frame)] == [(p["ts"], p["last"]) for p in prices]


def test_a_multipart_upload_to_s3(s3_app, runner, client, history, s3):
    s3_app.config["EXPORT_S3_MULTIPART_THRESHOLD"] = 1  # every file goes up in parts

    result, _ = export(runner, "stats", "--format", "parquet", "--to", f"s3://{s3.bucket}")

    assert result.exit_code == 0, result.output
    [key] = s3.keys()
    assert re.fullmatch(rf"stats-{STAMP}\.parquet", key)
    assert any(method == "POST" and "uploads" in query for method, query in s3.faults.seen)
    assert any(method == "PUT" and "partNumber=1" in query for method, query in s3.faults.seen)
    stored = s3.client.get_object(Bucket=s3.bucket, Key=key)
    assert stored["ContentType"] == "application/vnd.apache.parquet"
    frame = read(stored["Body"].read(), "parquet")
    api = client.get("/api/v1/markets/binance/BTC-USDT/stats?window=24h").get_json()
    assert records(frame)[0] == flat(api)
    assert not s3.pending_uploads()


@SQLITE_ONLY
@pytest.mark.parametrize("threshold", [8 * 1024 * 1024, 1], ids=["put", "multipart"])
def test_a_missing_bucket_says_so_and_stores_nothing(s3_app, runner, history, s3, threshold):
    s3_app.config["EXPORT_S3_MULTIPART_THRESHOLD"] = threshold
    missing = f"missing-{uuid.uuid4().hex[:8]}"

    result, _ = export(runner, "ticks", "--to", f"s3://{missing}/daily")

    assert result.exit_code == 1, result.output
    assert f"bucket '{missing}' does not exist at {s3.endpoint}" in result.output
    assert f"create it (aws s3 mb s3://{missing})" in result.output
    assert missing not in [b["Name"] for b in s3.client.list_buckets()["Buckets"]]


@SQLITE_ONLY
@pytest.mark.parametrize("abort_fails", [False, True], ids=["aborted", "abort-failed-then-cleaned"])
def test_a_part_failing_mid_upload_leaves_no_object_and_no_pending_upload(
    s3_app, runner, history, s3, abort_fails
):
    s3_app.config["EXPORT_S3_MULTIPART_THRESHOLD"] = 1
    s3.faults.fail("PUT", "partNumber=", 500, "InternalError")
    if abort_fails:  # s3transfer's own abort fails too: the export's cleanup must still abort the upload
        s3.faults.fail("DELETE", "uploadId=", 500, "InternalError", times=1)

    result, _ = export(runner, "ticks", "--format", "parquet", "--to", f"s3://{s3.bucket}/daily")

    assert result.exit_code == 1, result.output
    assert f"cannot upload s3://{s3.bucket}/daily/ticks-" in result.output
    assert "UploadPart failed with InternalError (HTTP 500): injected InternalError" in result.output
    assert any(method == "POST" and "uploads" in query for method, query in s3.faults.seen)
    aborts = [query for method, query in s3.faults.seen if method == "DELETE" and "uploadId=" in query]
    assert len(aborts) == (2 if abort_fails else 1)
    assert s3.keys() == []
    assert s3.pending_uploads() == []


@SQLITE_ONLY
def test_access_denied_says_to_check_the_credentials(s3_app, runner, history, s3):
    s3.faults.fail("PUT", "", 403, "AccessDenied")
    result, _ = export(runner, "rankings", "--to", f"s3://{s3.bucket}")
    assert result.exit_code == 1, result.output
    assert "access denied (AccessDenied: injected AccessDenied)" in result.output
    assert "AWS_ACCESS_KEY_ID" in result.output
    assert s3.keys() == []


@contextmanager
def closing_endpoint() -> Iterator[str]:
    """An HTTP endpoint on 127.0.0.1 that reads each request and closes the connection unanswered."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def _refused_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


@SQLITE_ONLY
@pytest.mark.parametrize("kind", ["closes-connections", "nothing-listening"])
def test_an_unreachable_endpoint_says_what_to_check(app, runner, history, s3, kind):
    with closing_endpoint() as closing:
        endpoint = closing if kind == "closes-connections" else f"http://127.0.0.1:{_refused_port()}"
        app.config["EXPORT_S3_ENDPOINT_URL"] = endpoint
        result, _ = export(runner, "ticks", "--to", f"s3://{s3.bucket}")

    assert result.exit_code == 1, result.output
    assert f"S3 endpoint {endpoint} unreachable" in result.output
    assert "check EXPORT_S3_ENDPOINT_URL" in result.output
    assert s3.keys() == []
