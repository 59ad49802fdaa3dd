"""The dashboard's markets table (/api/v1/markets/table and the / page that renders its first page)
and the batched sparklines (/api/v1/sparklines), on SQLite and PostgreSQL, checked against a plain
computation over the ticks the test stored."""

import csv
import io
import math

import numpy as np
import pytest
from test_api import error
from test_stats import reference

from cryptocrunch.clock import HOUR, MINUTE, WINDOWS, now_ms
from cryptocrunch.db import db
from cryptocrunch.insights.table import MAX_SPARKLINES, SORTS
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage import snapshots
from cryptocrunch.storage.ticks import store_ticks

STEP = 10 * MINUTE
TABLE = "/api/v1/markets/table"


def stored_markets(app):
    """Markets on three exchanges with what the table must cope with: ties of price and of pair
    across exchanges, a market without bid/ask/volume, one with 2 ticks in 24h (no figures),
    one whose ticks are all older than 24h, one with 3 days of ticks (downsampled from the hour
    rollups); return {(exchange, pair): [Tick, ...]} as stored, oldest first."""
    rng = np.random.default_rng(5)
    end = now_ms() // MINUTE * MINUTE - 5 * MINUTE  # a few minutes inside every window ending now
    plan = {
        ("kraken", "BTC/USD"): 40,
        ("kraken", "ETH/USD"): 40,
        ("kraken", "SOL/EUR"): 40,
        ("binance", "BTC/USDT"): 40,
        ("binance", "ETH/USDT"): 40,
        ("binance", "DOGE/USDT"): 40,
        ("binance", "SOL/EUR"): 40,
        ("bitstamp", "BTC/USD"): 40,
        ("bitstamp", "XRP/EUR"): 2,
        ("bitstamp", "ADA/USD"): 3 * 24 * 6,
    }
    stored = {}
    for (exchange, pair), count in plan.items():
        walk = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, count)))
        volume = rng.uniform(1, 1000, count)
        stored[exchange, pair] = [
            Tick(
                exchange,
                pair,
                end - STEP * (count - 1 - i),
                float(walk[i]),
                bid=float(walk[i]) * 0.999,
                ask=float(walk[i]) * 1.001,
                base_volume=float(volume[i]),
                quote_volume=float(volume[i] * walk[i]),
            )
            for i in range(count)
        ]
    # last price equal to kraken BTC/USD's (a tie broken by pair, then exchange), no bid/ask/volume
    tied = stored["kraken", "BTC/USD"][-1].last
    stored["kraken", "LTC/USD"] = [Tick("kraken", "LTC/USD", end - STEP * (3 - i), tied) for i in range(4)]
    stored["kraken", "OLD/USD"] = [
        Tick("kraken", "OLD/USD", end - 30 * HOUR - STEP * (2 - i), 5.0 + i) for i in range(3)
    ]
    with app.app_context():
        for ticks in stored.values():
            store_ticks(db.session, ticks)
        db.session.commit()
    return stored


@pytest.fixture
def stored(app):
    return stored_markets(app)


def expected_rows(stored, window="24h"):
    """Every market's row as the definitions say: latest tick, figures over the window."""
    start = now_ms() // MINUTE * MINUTE - WINDOWS[window]
    rows = []
    for (exchange, pair), ticks in stored.items():
        newest = ticks[-1]
        inside = [t for t in ticks if t.ts >= start]
        figures = reference([t.ts for t in inside], [t.last for t in inside]) if len(inside) >= 3 else None
        rows.append(
            {
                "exchange": exchange,
                "pair": pair,
                "ts": newest.ts,
                "last": newest.last,
                "bid": newest.bid,
                "ask": newest.ask,
                "base_volume": newest.base_volume,
                "quote_volume": newest.quote_volume,
                "n": len(inside),
                "pct_change": figures and figures["pct_change"],
                "volatility": figures and figures["volatility"],
            }
        )
    return rows


def in_order(rows, sort, order):
    """``rows`` sorted as the table promises: by ``sort``, blanks last either way, ties by pair
    then exchange (any case)."""
    text = sort in ("pair", "exchange")
    tie = [(r["pair"].casefold(), r["exchange"].casefold()) for r in rows]
    present = [i for i, r in enumerate(rows) if r[sort] is not None]
    blank = [i for i, r in enumerate(rows) if r[sort] is None]

    def key(i):
        value = rows[i][sort].casefold() if text else rows[i][sort]
        return value, tie[i]

    present.sort(key=lambda i: tie[i])  # stable sorts: ties end up by pair, then exchange
    present.sort(key=lambda i: key(i)[0], reverse=order == "desc")
    blank.sort(key=lambda i: tie[i])
    return [rows[i] for i in present + blank]


def whole_table(client, **params):
    """Every row of the table asked with ``params``, a page of 200 at a time."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    body = client.get(f"{TABLE}?per_page=200&{query}").get_json()
    rows = list(body["markets"])
    for page in range(2, body["pages"] + 1):
        rows += client.get(f"{TABLE}?per_page=200&page={page}&{query}").get_json()["markets"]
    return body, rows


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def assert_rows(shown, wanted):
    assert [(r["exchange"], r["pair"]) for r in shown] == [(r["exchange"], r["pair"]) for r in wanted]
    for got, row in zip(shown, wanted, strict=True):
        for name, value in row.items():
            assert same(got[name], value), (row["exchange"], row["pair"], name, got[name], value)


@pytest.mark.parametrize("fresh_snapshots", [False, True], ids=["live", "snapshot"])
def test_every_sort_key_both_ways_blanks_last(app, client, stored, fresh_snapshots):
    if fresh_snapshots:  # as a collect cycle leaves them: the standard windows read one row a market
        with app.app_context():
            assert "24h" in snapshots.refresh(db.session, WINDOWS, now_ms())
            db.session.commit()
    wanted = expected_rows(stored)
    for sort in SORTS:
        for order in ("asc", "desc"):
            body, rows = whole_table(client, sort=sort, order=order)
            assert (body["sort"], body["order"], body["total"]) == (sort, order, len(stored))
            assert_rows(rows, in_order(wanted, sort, order))
    _, rows = whole_table(client, sort="pct_change")
    assert [r["pair"] for r in rows[-2:]] == ["OLD/USD", "XRP/EUR"]  # no figures: last, by pair
    assert {r["n"] for r in rows if r["pair"] == "OLD/USD"} == {0}


def test_volatility_rank_is_the_rankings_rank(client, stored):
    _, rows = whole_table(client)
    ranked = client.get("/api/v1/rankings?metric=volatility&window=24h&limit=1000").get_json()
    shown = {(r["exchange"], r["pair"]): r["volatility_rank"] for r in rows}
    assert {market: rank for market, rank in shown.items() if rank is not None} == {
        (r["exchange"], r["pair"]): r["rank"] for r in ranked
    }
    unranked = {(r["exchange"], r["pair"]) for r in rows if r["volatility_rank"] is None}
    assert unranked == {("bitstamp", "XRP/EUR"), ("kraken", "OLD/USD")}


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"q": "btc"}, lambda e, p: "btc" in p.lower()),
        ({"q": "KRA"}, lambda e, p: e == "kraken"),
        ({"q": "sol/e"}, lambda e, p: p == "SOL/EUR"),
        ({"exchange": "binance"}, lambda e, p: e == "binance"),
        ({"quote": "usd"}, lambda e, p: p.endswith("/USD")),
        ({"quote": "EUR", "exchange": "kraken"}, lambda e, p: e == "kraken" and p.endswith("/EUR")),
        ({"q": "eth", "quote": "USDT"}, lambda e, p: p == "ETH/USDT"),
        ({"q": "nothing-like-it"}, lambda e, p: False),
        ({"exchange": "nowhere"}, lambda e, p: False),
    ],
)
def test_filters(client, stored, params, keep):
    body, rows = whole_table(client, **params, sort="last", order="desc")
    wanted = in_order([r for r in expected_rows(stored) if keep(r["exchange"], r["pair"])], "last", "desc")
    assert body["total"] == len(wanted)
    assert body["pages"] == 1  # one page of 200, even when nothing matches
    assert_rows(rows, wanted)
    # the filters' choices are every stored exchange and quote, whatever the filter
    assert body["exchanges"] == ["binance", "bitstamp", "kraken"]
    assert body["quotes"] == ["EUR", "USD", "USDT"]


@pytest.mark.parametrize("sort", ["pair", "last", "volatility"])
def test_pages_cover_the_table_once(client, stored, sort):
    _, everything = whole_table(client, sort=sort, order="desc")
    pages, seen = None, []
    page = 1
    while True:
        body = client.get(f"{TABLE}?sort={sort}&order=desc&per_page=5&page={page}").get_json()
        assert (body["total"], body["per_page"], body["page"]) == (len(stored), 5, page)
        pages = body["pages"]
        if not body["markets"]:
            break
        assert len(body["markets"]) == (5 if page < pages else len(stored) - 5 * (pages - 1))
        seen += [(r["exchange"], r["pair"]) for r in body["markets"]]
        page += 1
    assert pages == math.ceil(len(stored) / 5) == page - 1  # the page past the last is empty
    assert len(set(seen)) == len(seen)
    assert seen == [(r["exchange"], r["pair"]) for r in everything]


def prices_of(client, exchange, pair, window, points):
    url = f"/api/v1/markets/{exchange}/{pair.replace('/', '-')}/prices?window={window}&points={points}"
    return client.get(url).get_json()


@pytest.mark.parametrize(
    ("window", "points"),
    [("24h", 48), ("24h", 5), ("1h", 48), ("7d", 10), ("7d", 500), ("30d", 2)],
)
def test_sparklines_are_the_prices_last_column(client, stored, window, points):
    wanted = [*stored, ("kraken", "DOGE/EUR")]  # the last is not stored
    names = ",".join(f"{e}:{p.replace('/', '-')}" for e, p in wanted)
    body = client.get(f"/api/v1/sparklines?markets={names}&window={window}&points={points}").get_json()
    assert (body["window"], body["points"]) == (window, points)
    assert [(s["exchange"], s["pair"]) for s in body["sparklines"]] == list(stored)
    assert body["missing"] == [
        {
            "exchange": "kraken",
            "pair": "DOGE/EUR",
            "reason": "no market DOGE/EUR on kraken: nothing collected yet",
        }
    ]
    for line in body["sparklines"]:
        series = prices_of(client, line["exchange"], line["pair"], window, points)
        assert line["ts"] == [p["ts"] for p in series]
        assert line["last"] == [p["last"] for p in series]
        assert len(line["last"]) <= points
    lengths = {(s["exchange"], s["pair"]): len(s["last"]) for s in body["sparklines"]}
    if window == "7d" and points == 10:  # 3 days in buckets of hours: read from the hour rollups
        assert 5 < lengths["bitstamp", "ADA/USD"] <= 10


def test_sparklines_name_markets_in_either_pair_form_once(client, stored):
    markets = "kraken:btc-usd, kraken:BTC/USD,binance:ETH-USDT"
    body = client.get("/api/v1/sparklines", query_string={"markets": markets}).get_json()
    assert [(s["exchange"], s["pair"]) for s in body["sparklines"]] == [
        ("kraken", "BTC/USD"),
        ("binance", "ETH/USDT"),
    ]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (f"{TABLE}?sort=bogus", 422, "sort: Must be one of"),
        (f"{TABLE}?order=up", 422, "order: Must be one of"),
        (f"{TABLE}?page=0", 422, "page:"),
        (f"{TABLE}?page=two", 422, "page:"),
        (f"{TABLE}?per_page=0", 422, "per_page:"),
        (f"{TABLE}?per_page=201", 422, "per_page:"),
        (f"{TABLE}?window=2w", 422, "window: Must be one of"),
        (f"{TABLE}?window=1h&start=0", 400, "either window or start/end"),
        (f"{TABLE}?format=xml", 422, "format:"),
        ("/api/v1/sparklines", 422, "markets: Missing data"),
        ("/api/v1/sparklines?markets=", 400, "markets: name at least one market"),
        ("/api/v1/sparklines?markets=kraken", 400, "markets: 'kraken' is not exchange:BASE-QUOTE"),
        ("/api/v1/sparklines?markets=kraken:BTCUSD", 400, "markets: 'kraken:BTCUSD': pair must look like"),
        ("/api/v1/sparklines?markets=kraken:BTC-USD&points=1", 422, "points:"),
        ("/api/v1/sparklines?markets=kraken:BTC-USD&window=2w", 422, "window:"),
        (
            "/api/v1/sparklines?markets=" + ",".join(f"x:C{i}-USD" for i in range(MAX_SPARKLINES + 1)),
            400,
            f"markets: at most {MAX_SPARKLINES} markets per request, got {MAX_SPARKLINES + 1}",
        ),
    ],
)
def test_bad_parameters_name_the_parameter(client, stored, path, status, message):
    assert message in error(client.get(path), status)


def test_the_page_csv_has_the_json_rows(client, stored):
    query = "sort=pct_change&order=desc&per_page=4&page=2"
    rows = client.get(f"{TABLE}?{query}").get_json()["markets"]
    answer = client.get(f"{TABLE}?{query}&format=csv")
    assert answer.mimetype == "text/csv"
    assert 'filename="markets-table.csv"' in answer.headers["Content-Disposition"]
    read = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert set(read[0]) == set(rows[0])
    assert [(r["exchange"], r["pair"]) for r in read] == [(r["exchange"], r["pair"]) for r in rows]
    for got, row in zip(read, rows, strict=True):
        for name, value in row.items():
            if value is None:
                assert got[name] == ""
            elif isinstance(value, float):
                assert float(got[name]) == value
            else:
                assert got[name] == str(value)
    accepted = client.get(f"{TABLE}?{query}", headers={"Accept": "text/csv"})
    assert accepted.get_data() == answer.get_data()


def test_the_dashboard_renders_the_api_page_and_links_the_others(client, stored):
    page = client.get("/?sort=last&order=desc&per_page=5&page=2&quote=USD").get_data(as_text=True)
    api = client.get(f"{TABLE}?sort=last&order=desc&per_page=5&page=2&quote=USD").get_json()
    rows = [(r["exchange"], r["pair"]) for r in api["markets"]]
    assert rows and all(page.count(f'data-exchange="{e}" data-pair="{p}"') == 1 for e, p in rows)
    positions = [page.index(f'data-exchange="{e}" data-pair="{p}"') for e, p in rows]
    assert positions == sorted(positions)
    assert page.count("<tr data-exchange=") == len(rows)
    assert f'data-total="{api["total"]}" data-page="2" data-pages="{api["pages"]}"' in page
    # sorting again by last turns the order around; paging keeps the filter and the sort
    assert 'href="/?quote=USD&amp;sort=last&amp;per_page=5" data-sort="last"' in page
    assert 'href="/?quote=USD&amp;sort=last&amp;order=desc&amp;per_page=5" data-page="1"' in page
    assert '<option value="USD" selected>USD</option>' in page


def test_the_dashboard_refuses_bad_parameters_naming_them(client, stored):
    assert "sort must be one of" in client.get("/?sort=bogus").get_data(as_text=True)
    assert client.get("/?sort=bogus").status_code == 400
    assert client.get("/?per_page=1000").status_code == 400
    assert "page must be a whole number" in client.get("/?page=x").get_data(as_text=True)
    empty = client.get("/?q=nothing-like-it").get_data(as_text=True)
    assert "No market matches these filters." in empty and 'data-total="0"' in empty
