"""The validation report: rejections from collect, backfill and import are kept (bounded per source),
grouped by `flask report`, /api/v1/rejections and the /rejections page; a source past
REJECTIONS_ALERT within an hour gets its run flagged. SQLite and PostgreSQL."""

import csv
import io
import re

import pytest
import sqlalchemy as sa
from helpers import last_runs
from test_backfill import MINUTE, walk
from test_import import GENERIC, write

from cryptocrunch import create_app
from cryptocrunch.clock import HOUR, now_ms
from cryptocrunch.config import ConfigError
from cryptocrunch.db import db
from cryptocrunch.models import Candle, Rejection
from cryptocrunch.sources.base import Rejection as RejectionValue
from cryptocrunch.storage.runs import reason_group, store_rejections


def kept(app, source=None):
    """Every kept rejection as (source, endpoint, pair, reason), oldest first."""
    with app.app_context():
        query = sa.select(Rejection.source, Rejection.endpoint, Rejection.pair, Rejection.reason)
        if source:
            query = query.where(Rejection.source == source)
        return [tuple(row) for row in db.session.execute(query.order_by(Rejection.ts, Rejection.id))]


def collect(runner, *args):
    result = runner.invoke(args=["collect", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def store(app, source, reasons, ts, keep=1000):
    with app.app_context():
        store_rejections(
            db.session, [RejectionValue(source, "tickers", "BTC/USD", r) for r in reasons], ts, keep
        )
        db.session.commit()


# -- what is kept ---------------------------------------------------------------------------


def test_bad_values_from_a_collect_are_kept_with_source_endpoint_pair_and_reason(app, runner, fake):
    app.config["MARKETS"]["kraken"] = ["BTC/USD", "ETH/USD", "DOGE/EUR"]
    fake.set_ticker("binance", "BTC/USDT", -1)
    fake.set_ticker("kraken", "ETH/USD", 100.0, bid=101.0, ask=100.5)
    fake.set_ticker("coingecko", "BTC/USD", "NaN")
    fake.set_book("bitstamp", "BTC/USD", bids=[(101.0, 1.0)], asks=[(100.0, 1.0)])
    before = now_ms()

    collect(runner, "--books")

    rows = kept(app)
    assert ("kraken", "markets", "DOGE/EUR", "kraken does not list DOGE/EUR") in rows
    assert ("kraken", "tickers", "ETH/USD", "ask 100.5 < bid 101.0") in rows
    assert ("coingecko", "coins/markets", "BTC/USD", "last is not finite: 'NaN'") in rows
    assert ("bitstamp", "order book", "BTC/USD", "order book: crossed book: ask 100.0 < bid 101.0") in rows
    [binance] = [r for r in rows if r[0] == "binance"]
    assert binance[:3] == ("binance", "tickers", "BTC/USDT") and binance[3].startswith("last is not positive")
    # the fake builds kraken's book from its ticker: crossed too
    assert ("kraken", "order book", "ETH/USD", "order book: crossed book: ask 100.5 < bid 101.0") in rows
    assert len(rows) == 6
    with app.app_context():
        stamps = db.session.scalars(sa.select(Rejection.ts)).all()
    assert all(before <= ts <= now_ms() for ts in stamps)
    latest = last_runs(app)
    assert {source: run.rejected for source, run in latest.items()} == {
        "kraken": 3,
        "binance": 1,
        "coingecko": 1,
        "bitstamp": 1,
        "coinbase": 0,
    }


def test_an_exchange_asked_pair_by_pair_names_the_ticker_endpoint(app, runner, fake):
    app.config["EXCHANGE_OPTIONS"]["kraken"]["has"] = {"fetchTickers": False}
    fake.set_ticker("kraken", "BTC/USD", 100.0, bid=101.0, ask=100.5)
    collect(runner, "--exchange", "kraken")
    assert kept(app) == [("kraken", "ticker", "BTC/USD", "ask 100.5 < bid 101.0")]


@pytest.mark.parametrize("kind", ["malformed_json", "html", "empty"])
def test_a_malformed_payload_is_kept_whole_with_what_was_being_read(app, runner, fake, kind):
    collect(runner, "--exchange", "binance")  # markets loaded and cached: the tickers fail next
    fake.fail("binance", kind, times=100, path_contains="ticker")
    fake.fail("coingecko", kind, times=100)

    result = collect(runner, "--exchange", "binance", "--exchange", "coingecko", "-v")

    [(source, endpoint, pair, reason)] = kept(app, "binance")
    assert (source, endpoint, pair) == ("binance", "tickers", None)
    assert reason == last_runs(app)["binance"].error
    assert reason.startswith("binance sent a malformed payload")
    [(_, endpoint, pair, reason)] = kept(app, "coingecko")
    assert (endpoint, pair) == ("coins/markets", None) and reason.startswith("coingecko sent a malformed")
    run = last_runs(app)["binance"]
    assert (run.status, run.rejected) == ("error", 1)
    assert "rejected tickers: binance sent a malformed payload" in result.output


def test_an_unreachable_exchange_is_no_rejection(app, runner, fake):
    app.config["EXCHANGE_OPTIONS"]["kraken"]["urls"] = {"api": {"public": "http://127.0.0.1:9/kraken"}}
    app.config["RETRY_MAX_TRIES"] = 1
    collect(runner, "--exchange", "kraken")
    assert last_runs(app)["kraken"].status == "error"
    assert kept(app) == []


def test_rejected_market_caps_are_kept(app, runner, fake):
    fake.serve_body(
        "coingecko",
        "/coins/markets",
        '[{"id": "bitcoin", "symbol": "btc", "name": "Bitcoin", "market_cap_rank": 1, "market_cap": -5,'
        ' "current_price": 1.0, "last_updated": null}]',
    )
    result = collect(runner, "--exchange", "binance", "--caps")
    assert "rejected 1" in result.output.splitlines()[-1]
    assert kept(app) == [
        ("coingecko", "coins/markets", "bitcoin", "caps: market_cap is not positive: -5"),
    ]


@pytest.mark.parametrize("kind", ["malformed_json", "html", "empty"])
def test_bad_and_malformed_backfill_pages_are_kept(app, runner, fake, kind):
    start = (now_ms() // MINUTE - 600) * MINUTE
    candles = walk(550, start)
    candles[10] = (candles[10][0], 1.0, 0.5, 0.4, 0.45, 1.0)  # high below open
    fake.set_candles("binance", "BTC/USDT", "1m", candles)
    app.config["RETRY_MAX_TRIES"] = 1
    # binance pages hold 500 candles: the second one is cut in half
    fake.fail("binance", kind, times=10, path_contains=f"startTime={start + 500 * MINUTE}")

    result = runner.invoke(
        args=[
            "backfill",
            "--timeframe",
            "1m",
            "--since",
            "600m",
            "--exchange",
            "binance",
            "--pair",
            "BTC/USDT",
        ]
    )

    assert "stored 499  duplicates 0  rejected 2" in result.output
    [bad, page] = kept(app)
    assert bad == (
        "binance",
        "ohlcv 1m",
        "BTC/USDT",
        "candle: high 0.5 / low 0.4 do not contain open 1.0 and close 0.45",
    )
    assert page[:3] == ("binance", "ohlcv 1m", "BTC/USDT")
    assert page[3].startswith("binance sent a malformed payload")


def test_bad_lines_of_an_import_are_kept_refused_or_skipped(app, runner, tmp_path):
    path = write(tmp_path, "generic.csv", GENERIC)
    args = ["import-candles", path, "--exchange", "x", "--pair", "ABC/USD"]

    refused = runner.invoke(args=args)

    assert refused.exit_code == 1
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Candle)) == 0
    rows = kept(app)
    assert {(s, e, p) for s, e, p, _ in rows} == {("x", "import generic.csv", "ABC/USD")}
    assert sorted(r for *_, r in rows) == [
        "line 4: high 10.0 < low 12.0",
        "line 5: close is not a number: 'eleven'",
        "line 6: negative volume -3.0",
        "line 7: conflicts with line 3 (same time, other values)",
    ]

    assert runner.invoke(args=[*args, "--skip-bad"]).exit_code == 0
    assert len(kept(app)) == 8
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Candle)) == 2


# -- bounded per source ---------------------------------------------------------------------


def test_only_the_newest_rejections_of_each_source_are_kept(app):
    now = now_ms()
    store(app, "binance", [f"b{i}" for i in range(5)], now - 10_000)
    for i in range(6):
        store(app, "kraken", [f"k{i}"], now + i, keep=3)
    store(app, "kraken", ["k6", "k7"], now + 10, keep=3)  # same time: the later insert is the newer

    assert [r for *_, r in kept(app, "kraken")] == ["k5", "k6", "k7"]
    assert len(kept(app, "binance")) == 5  # another source is left alone

    store(app, "binance", ["b5"], now, keep=2)
    assert [r for *_, r in kept(app, "binance")] == ["b4", "b5"]


def test_a_collect_keeps_at_most_rejections_keep_per_source(app, runner, fake):
    app.config.update(REJECTIONS_KEEP=3, REJECTIONS_ALERT=None)
    for pair in fake.markets["binance"]:
        fake.set_ticker("binance", pair, -1)
    for _ in range(3):
        collect(runner, "--exchange", "binance")
    assert len(kept(app, "binance")) == 3


# -- the threshold flag -----------------------------------------------------------------------


def test_a_source_past_the_threshold_within_an_hour_gets_its_run_flagged(app, runner, client, fake):
    app.config.update(REJECTIONS_ALERT=3, REJECTIONS_KEEP=100)
    store(app, "binance", ["an hour ago"] * 10, now_ms() - HOUR - 60_000)  # too old to count
    for pair in fake.markets["binance"]:
        fake.set_ticker("binance", pair, -1)

    first = collect(runner, "--exchange", "binance", "--exchange", "bitstamp")
    assert last_runs(app)["binance"].flag is None  # 2 in the last hour: not past 3
    assert "FLAGGED" not in first.output

    second = collect(runner, "--exchange", "binance", "--exchange", "bitstamp")

    flag = "4 rejections in the last hour (REJECTIONS_ALERT 3)"
    latest = last_runs(app)
    assert latest["binance"].flag == flag
    assert latest["bitstamp"].flag is None
    [line] = [line for line in second.output.splitlines() if line.startswith("binance")]
    assert line.endswith(f"FLAGGED {flag}")
    [row] = runner.invoke(args=["runs", "--source", "binance", "--limit", "1"]).output.splitlines()[1:]
    assert row.endswith(f"FLAGGED {flag}")
    runs = client.get("/api/v1/runs?source=binance").get_json()
    assert [r["flag"] for r in runs] == [flag, None]
    assert {r["flag"] for r in client.get("/api/v1/runs?source=bitstamp").get_json()} == {None}
    csv_rows = list(csv.DictReader(io.StringIO(client.get("/api/v1/runs?format=csv").get_data(as_text=True))))
    assert [r["flag"] for r in csv_rows if r["source"] == "binance"] == [flag, ""]
    dashboard = client.get("/").get_data(as_text=True)
    assert f'<a class="flag" href="/rejections?source=binance">Flagged: {flag}</a>' in dashboard

    # a clean cycle is not flagged, however many rejections the hour holds
    for pair in fake.markets["binance"]:
        fake.set_ticker("binance", pair, 100.0)
    collect(runner, "--exchange", "binance")
    assert last_runs(app)["binance"].flag is None


def test_a_flagged_malformed_payload_is_flagged_on_its_error_run(app, runner, fake):
    app.config.update(REJECTIONS_ALERT=1)
    store(app, "coingecko", ["earlier"], now_ms() - 60_000)
    fake.fail("coingecko", "html", times=10)
    result = collect(runner, "--exchange", "coingecko")
    run = last_runs(app)["coingecko"]
    assert (run.status, run.flag) == ("error", "2 rejections in the last hour (REJECTIONS_ALERT 1)")
    assert (
        "ERROR coingecko sent a malformed payload" in result.output
        and "FLAGGED 2 rejections" in result.output
    )


def test_no_threshold_no_flag(app, runner, fake):
    app.config.update(REJECTIONS_ALERT=None)
    store(app, "binance", ["x"] * 100, now_ms())
    fake.set_ticker("binance", "BTC/USDT", -1)
    collect(runner, "--exchange", "binance")
    assert last_runs(app)["binance"].flag is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"REJECTIONS_KEEP": 0}, "REJECTIONS_KEEP must be a whole number of at least 1"),
        ({"REJECTIONS_KEEP": 2.5}, "REJECTIONS_KEEP must be a whole number"),
        ({"REJECTIONS_ALERT": "50"}, "REJECTIONS_ALERT must be a whole number of at least 1, or null"),
        ({"REJECTIONS_ALERT": 0}, "REJECTIONS_ALERT must be a whole number"),
        (
            {"REJECTIONS_KEEP": 50, "REJECTIONS_ALERT": 50},
            "REJECTIONS_ALERT (50) must be below REJECTIONS_KEEP",
        ),
    ],
)
def test_bad_rejection_settings_name_the_key(tmp_path, settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        create_app({"INSTANCE_PATH": str(tmp_path), **settings})


# -- the report: CLI, API, page ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "group"),
    [
        ("last is not positive: -1", "last is not positive: …"),
        ("last is not finite: 'NaN'", "last is not finite: …"),
        ("ask 100.5 < bid 101.0", "ask … < bid …"),
        ("timestamp 1700003600000 is 3600 s in the future", "timestamp … is … s in the future"),
        ("line 12: time is not on a 1h boundary", "line …: time is not on a 1h boundary"),
        ("kraken does not list DOGE/EUR", "kraken does not list DOGE/EUR"),
        ("volume is not a non-negative number: -2.5e-05", "volume is not a non-negative number: …"),
    ],
)
def test_reasons_that_differ_only_in_their_values_group_together(reason, group):
    assert reason_group(reason) == group


def report_data(app, runner, fake):
    """binance: two negative prices and a missing one; kraken: a crossed ticker."""
    fake.set_ticker("binance", "BTC/USDT", -1)
    fake.set_ticker("binance", "ETH/USDT", -2)
    collect(runner, "--exchange", "binance", "--exchange", "kraken")
    fake.set_ticker("binance", "BTC/USDT", None)
    fake.set_ticker("binance", "ETH/USDT", 100.0)
    fake.set_ticker("kraken", "ETH/USD", 100.0, bid=101.0, ask=100.5)
    collect(runner, "--exchange", "binance", "--exchange", "kraken")


def test_flask_report_groups_by_source_and_reason_then_lists_the_newest(app, runner, fake):
    assert "no rejections kept: everything collected" in runner.invoke(args=["report"]).output
    report_data(app, runner, fake)

    output = runner.invoke(args=["report"]).output
    lines = output.splitlines()

    assert lines[0] == "4 rejections kept from 2 sources (the newest 1000 of each: REJECTIONS_KEEP)"
    binance = lines.index("binance: 3")
    assert lines[binance + 1].split() == ["count", "newest", "(UTC)", "endpoint", "e.g.", "pair", "reason"]
    negative = lines[binance + 2].split()
    assert negative[0] == "2" and negative[3:5] == ["tickers", "ETH/USDT"]
    assert lines[binance + 2].endswith("last is not positive: …")
    assert lines[binance + 3].split()[0] == "1" and lines[binance + 3].endswith("missing last")
    kraken = lines.index("kraken: 1")
    assert lines[kraken + 2].endswith("ask … < bid …")
    newest = lines.index("newest 4")
    assert len(lines) == newest + 6
    assert lines[newest + 5].split()[2:5] == ["binance", "tickers", "BTC/USDT"]  # the oldest

    only = runner.invoke(args=["report", "--source", "kraken", "--limit", "1"]).output.splitlines()
    assert only[0].startswith("1 rejection kept from 1 source ")
    assert "binance: 3" not in only and only[-1].endswith("ask 100.5 < bid 101.0")
    assert only[-3] == "newest 1"
    assert "no rejections kept from nowhere" in runner.invoke(args=["report", "--source", "nowhere"]).output


def test_the_api_lists_and_groups_rejections_as_json_and_csv(app, runner, client, fake):
    assert client.get("/api/v1/rejections").get_json() == []
    report_data(app, runner, fake)

    rows = client.get("/api/v1/rejections?source=binance").get_json()
    assert [(r["pair"], r["endpoint"]) for r in rows] == [
        ("BTC/USDT", "tickers"),
        ("ETH/USDT", "tickers"),
        ("BTC/USDT", "tickers"),
    ]
    assert rows[0]["reason"] == "missing last" and rows[0]["ts"] >= rows[-1]["ts"]
    assert set(rows[0]) == {"source", "endpoint", "pair", "reason", "ts"}
    assert len(client.get("/api/v1/rejections?limit=2").get_json()) == 2

    summary = client.get("/api/v1/rejections/summary").get_json()
    assert [(g["source"], g["reason"], g["count"]) for g in summary] == [
        ("binance", "last is not positive: …", 2),
        ("binance", "missing last", 1),
        ("kraken", "ask … < bid …", 1),
    ]
    assert summary[0]["example_pair"] == "ETH/USDT"
    assert summary[0]["example_reason"].startswith("last is not positive")
    assert summary[0]["last_ts"] == rows[1]["ts"]
    assert client.get("/api/v1/rejections/summary?source=kraken").get_json() == summary[2:]

    for path, expected in (("/api/v1/rejections", 4), ("/api/v1/rejections/summary", 3)):
        response = client.get(path, headers={"Accept": "text/csv"})
        assert response.content_type.startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
        assert len(table) == expected
        assert set(table[0]) == set(client.get(path).get_json()[0])
    error = client.get("/api/v1/rejections?limit=0")
    assert error.status_code == 422 and "limit:" in error.get_json()["error"]["message"]


def test_the_page_shows_groups_and_the_newest_rejections(app, runner, client, fake):
    page = client.get("/rejections").get_data(as_text=True)
    assert "No rejections kept: everything collected" in page
    assert '<a href="/rejections">Rejections</a>' in page
    report_data(app, runner, fake)
    store(app, "binance", ["<script>alert(1)</script>"], now_ms())

    page = client.get("/rejections").get_data(as_text=True)

    assert '<tr data-source="binance"><td><a href="/rejections?source=binance">binance</a></td>' in page
    assert "<td>last is not positive: …<br><small>e.g. last is not positive:" in page
    assert "ask … &lt; bid …<br><small>e.g. ask 100.5 &lt; bid 101.0</small>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "The newest 5, newest first" in page
    assert 'href="/api/v1/rejections/summary?format=csv"' in page

    only = client.get("/rejections?source=kraken&limit=1").get_data(as_text=True)
    assert "The newest 1 from kraken" in only and '<option value="kraken" selected>' in only
    assert "e.g. last is not positive" not in only
    assert "No rejections kept from nowhere" in client.get("/rejections?source=nowhere").get_data(
        as_text=True
    )
    assert client.get("/rejections?limit=zero").status_code == 400
    assert client.get("/rejections?limit=0").status_code == 400


def test_the_page_marks_a_source_over_the_threshold_in_the_last_hour(app, client):
    app.config.update(REJECTIONS_ALERT=3)
    store(app, "kraken", ["a", "b", "c", "d"], now_ms() - 60_000)
    store(app, "binance", ["a", "b", "c", "d"], now_ms() - 2 * HOUR)
    page = client.get("/rejections").get_data(as_text=True)
    assert '<td class="num">4 <strong class="flag">over 3</strong></td>' in page
    assert page.count('class="flag"') == 1


def test_init_db_adds_the_flag_column_to_an_older_run_table(app, runner, fake):
    collect(runner, "--exchange", "binance")
    with app.app_context(), db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE run DROP COLUMN flag")
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert "flag" in {c["name"] for c in sa.inspect(db.engine).get_columns("run")}
    assert last_runs(app)["binance"].flag is None  # the old row is still there
    app.config.update(REJECTIONS_ALERT=1)
    for pair in fake.markets["binance"]:
        fake.set_ticker("binance", pair, -1)
    collect(runner, "--exchange", "binance")
    assert last_runs(app)["binance"].flag.startswith("2 rejections")
