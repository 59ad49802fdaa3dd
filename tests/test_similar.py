"""Similar exchanges: listing overlap, shared markets' volume trend, outlier prices and flask similar,
against the fake exchange server through real ccxt, on SQLite and PostgreSQL."""

import itertools
import json
import random

import ccxt
import numpy as np
import pandas as pd
import pytest
from helpers import stored_ticks

from cryptocrunch.analysis import similar as pure
from cryptocrunch.clock import now_ms
from cryptocrunch.config import DEFAULTS, ConfigError, validate
from cryptocrunch.db import db
from cryptocrunch.errors import BadRequest, NotFound
from cryptocrunch.insights import similar
from cryptocrunch.insights.params import lookback_window
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage import listings
from cryptocrunch.storage import ticks as tick_table

HOUR = 3_600_000
DAY = 24 * HOUR
EXCHANGES = ("kraken", "coinbase", "bitstamp", "binance")
#: What each fake exchange lists in the overlap tests: halted pairs and bitstamp's perpetuals are
#: on the wire but are not listed pairs.
LISTINGS = {
    "kraken": ["BTC/USD", "ETH/USD", "BTC/USDT", "SOL/USD", "ADA/USD", "DOGE/EUR"],
    "coinbase": ["BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD", "XRP/USD"],
    "bitstamp": ["BTC/USD", "ETH/USD", "XRP/USD", "LTC/USD"],
    "binance": ["BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USD"],
}
INACTIVE = {"coinbase": ["ADA/USD"], "bitstamp": ["LTC/USD"]}
PERPETUALS = {"bitstamp": ["BTC/USD", "ETH/USD"]}


def similar_cli(runner, *args):
    return runner.invoke(args=["similar", *args], catch_exceptions=False)


def set_listings(fake) -> None:
    for name, pairs in LISTINGS.items():
        fake.set_listing(name, pairs, inactive=INACTIVE.get(name, ()), perpetuals=PERPETUALS.get(name, ()))


def ccxt_listings(fake) -> dict[str, set[str]]:
    """Each exchange's listing straight from ccxt: the symbols of its active spot markets."""
    found = {}
    for name, options in fake.exchange_options().items():
        exchange = getattr(ccxt, name)({**options, "enableRateLimit": False})
        try:
            markets = exchange.load_markets()
        finally:
            exchange.session.close()
        found[name] = {m["symbol"] for m in markets.values() if m["spot"] and m["active"]}
    return found


def table(output: str, exchange: str) -> str:
    """The part of flask similar's output about one exchange."""
    blocks = output.split("\n\n")
    [block] = [b for b in blocks if b.startswith(f"{exchange}:")]
    return block


# ---------------------------------------------------------------------------- pure functions


def test_overlap_and_most_similar_on_plain_sets():
    sets = {
        "a": {"BTC/USD", "ETH/USD", "SOL/USD"},
        "b": {"BTC/USD", "ETH/USD"},
        "c": {"BTC/USD", "ETH/USD", "XRP/USD"},
        "d": {"DOGE/EUR"},
        "e": set(),
    }
    rows = pure.overlap(sets)
    assert [(r["a"], r["b"]) for r in rows] == list(itertools.combinations("abcde", 2))
    by_pair = {(r["a"], r["b"]): (r["shared"], r["jaccard"]) for r in rows}
    assert by_pair["a", "b"] == (2, 2 / 3)
    assert by_pair["a", "c"] == (2, 2 / 4)
    assert by_pair["a", "d"] == (0, 0.0)
    assert by_pair["d", "e"] == (0, 0.0)
    assert pure.overlap({"x": set(), "y": set()}) == [{"a": "x", "b": "y", "shared": 0, "jaccard": 0.0}]

    # highest Jaccard first; exchanges that share nothing are not similar
    assert pure.most_similar(rows, "a", 5) == [
        {"exchange": "b", "shared": 2, "jaccard": 2 / 3},
        {"exchange": "c", "shared": 2, "jaccard": 0.5},
    ]
    assert pure.most_similar(rows, "a", 1) == [{"exchange": "b", "shared": 2, "jaccard": 2 / 3}]
    assert pure.most_similar(rows, "d", 5) == []
    # equal Jaccard: more shared pairs first, then by name
    tied = pure.overlap({"x": {"1", "2"}, "p": {"1", "2", "3", "4"}, "q": {"1"}, "r": {"1"}})
    assert [r["exchange"] for r in pure.most_similar(tied, "x", 5)] == ["p", "q", "r"]
    with pytest.raises(BadRequest, match="top"):
        pure.most_similar(rows, "a", 0)


def test_trend_equals_numpy_least_squares():
    rng = np.random.default_rng(7)
    ts = np.sort(rng.choice(np.arange(1_700_000_000_000, 1_700_000_000_000 + 30 * DAY, HOUR), 200))
    values = rng.uniform(10, 1e6, len(ts))
    result = pure.trend(ts, values)
    slope = np.polyfit((ts - ts[0]) / DAY, values, 1)[0]
    assert result["slope_per_day"] == pytest.approx(slope, rel=1e-9)
    assert result["pct_change"] == pytest.approx(100 * (values[-1] - values[0]) / values[0], rel=1e-12)
    assert (result["first"], result["last"]) == (values[0], values[-1])
    assert pure.trend([0, DAY], [0.0, 5.0]) == {
        "first": 0.0,
        "last": 5.0,
        "pct_change": None,
        "slope_per_day": 5.0,
    }
    with pytest.raises(ValueError, match="at least 2"):
        pure.trend([1], [1.0])
    with pytest.raises(ValueError, match="different times"):
        pure.trend([5, 5], [1.0, 2.0])


def test_lookback_and_settings_are_checked():
    assert lookback_window("7d", now=10 * DAY).start == 3 * DAY
    assert lookback_window("90m", now=DAY).start == DAY - 90 * 60_000
    for bad in ("7", "0d", "7x", "-1d", ""):
        with pytest.raises(BadRequest, match="lookback"):
            lookback_window(bad)
    validate(DEFAULTS)
    for key, value in [
        ("SIMILAR_TOP", 0),
        ("SIMILAR_TOP", 2.5),
        ("SIMILAR_TOP", True),
        ("SIMILAR_LOOKBACK", "week"),
        ("SIMILAR_LOOKBACK", 7),
        ("SIMILAR_OUTLIER_PCT", 0),
        ("SIMILAR_OUTLIER_PCT", "10"),
        ("SIMILAR_OUTLIER_PCT", float("nan")),
    ]:
        with pytest.raises(ConfigError, match=key):
            validate({**DEFAULTS, key: value})


# ---------------------------------------------------------------------------- listings and overlap


def test_overlap_equals_a_set_computation_on_what_ccxt_lists(app, runner, fake):
    set_listings(fake)
    expected = ccxt_listings(fake)
    assert expected == {
        "kraken": set(LISTINGS["kraken"]),
        "coinbase": {"BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD"},
        "bitstamp": {"BTC/USD", "ETH/USD", "XRP/USD"},
        "binance": set(LISTINGS["binance"]),
    }

    result = similar_cli(runner, "--refresh")

    assert result.exit_code == 0, result.output
    for name in EXCHANGES:
        assert f"  {name:<12} {len(expected[name])} pairs, loaded now" in result.output
    with app.app_context():
        stored = listings.read_listings(db.session)
    assert {name: set(listing.pairs) for name, listing in stored.items()} == expected
    rows = pure.overlap({name: listing.pairs for name, listing in stored.items()})
    plain = []
    for a, b in itertools.combinations(sorted(expected), 2):
        shared = len(expected[a] & expected[b])
        plain.append({"a": a, "b": b, "shared": shared, "jaccard": shared / len(expected[a] | expected[b])})
    assert rows == plain

    for name in EXCHANGES:

        def rank(other, name=name):
            shared = len(expected[name] & expected[other])
            return (-shared / len(expected[name] | expected[other]), -shared, other)

        others = sorted((o for o in EXCHANGES if o != name and expected[name] & expected[o]), key=rank)
        best = pure.most_similar(rows, name, 5)
        assert [r["exchange"] for r in best] == others
        block = table(result.output, name)
        assert block.startswith(f"{name}: {len(expected[name])} pairs listed")
        for row in best:
            line = f"  {row['exchange']:<14} {row['shared']:>7} {row['jaccard']:>8.3f}"
            assert line in block, block
    # --exchange and --top narrow the tables, not the comparison
    result = similar_cli(runner, "--exchange", "coinbase", "--top", "1")
    assert result.exit_code == 0, result.output
    block = table(result.output, "coinbase")
    assert "  bitstamp             3    0.750       3" in block
    assert "kraken:" not in result.output
    assert [line for line in block.splitlines() if line.startswith("  kraken ")] == []


def test_listings_are_stored_and_refreshed_when_stale_or_asked(app, runner, fake):
    def markets_requests():
        return fake.count("kraken", "AssetPairs") + fake.count("binance", "exchangeInfo")

    assert similar_cli(runner).exit_code == 0
    assert markets_requests() == 2
    fake.set_listing("kraken", ["BTC/USD", "LTC/USD"])

    # fresh enough: answered from the database, no request
    result = similar_cli(runner)
    assert result.exit_code == 0, result.output
    assert "  kraken       3 pairs, stored listing of " in result.output
    assert markets_requests() == 2

    # --refresh goes to the exchange, past the markets cache, and replaces the stored listing
    result = similar_cli(runner, "--refresh")
    assert "  kraken       2 pairs, loaded now" in result.output
    assert markets_requests() == 4
    with app.app_context():
        assert listings.read_listings(db.session, ["kraken"])["kraken"].pairs == {"BTC/USD", "LTC/USD"}

    # older than MARKETS_CACHE_TTL: loaded again (the markets cache is as stale)
    app.config["MARKETS_CACHE_TTL"] = 0
    fake.set_listing("kraken", ["BTC/USD"])
    result = similar_cli(runner, "--exchange", "kraken")
    assert "  kraken       1 pairs, loaded now" in result.output
    assert markets_requests() == 6


def test_an_unreachable_exchange_is_reported_and_the_rest_answer(app, runner, fake):
    fake.fail("binance", "500", times=4, path_contains="exchangeInfo")

    result = similar_cli(runner)

    assert result.exit_code == 0, result.output
    assert "  binance      ERROR binance unavailable after 4 tries" in result.output
    assert result.output.count("; left out") == 1
    assert "binance: no listing stored; its markets could not be loaded (see above)" in result.output
    kraken = table(result.output, "kraken")
    assert "  coinbase             2    0.667" in kraken
    assert "binance" not in kraken  # it shares BTC/USDT with kraken, but its listing is unknown
    with app.app_context():
        assert set(listings.read_listings(db.session)) == {"kraken", "coinbase", "bitstamp"}
        answer = similar.similar_exchanges(
            db.session, "kraken", window=lookback_window("7d"), exchanges=list(EXCHANGES)
        )
        assert answer["missing"] == ["binance"]
        with pytest.raises(NotFound, match="no listing of binance"):
            similar.similar_exchanges(
                db.session, "binance", window=lookback_window("7d"), exchanges=list(EXCHANGES)
            )

    # once stored, a listing that cannot be refreshed is still used, and said to be
    assert "  binance      2 pairs, loaded now" in similar_cli(runner).output
    fake.fail("binance", "503", times=4, path_contains="exchangeInfo")
    result = similar_cli(runner, "--refresh")
    assert result.exit_code == 0, result.output
    assert "  binance      ERROR binance unavailable after 4 tries" in result.output
    assert "; using its stored listing of " in result.output
    assert "  binance              1    0.250" in table(result.output, "kraken")


def test_cli_refuses_unknown_exchanges_and_bad_lookbacks(runner):
    for args, message in [
        (["--exchange", "krakken"], "'krakken' is not a configured exchange"),
        (["--exchange", "coingecko"], "'coingecko' is not a configured exchange"),
        (["--lookback", "7x"], "lookback: a duration looks like 90m, 24h, 7d or 2w"),
        (["--top", "0"], "--top"),
    ]:
        result = runner.invoke(args=["similar", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output


# ---------------------------------------------------------------------------- volume trend


def _expected_trends(app, exchanges, pairs, start):
    """Volume trends computed with pandas/numpy from every stored tick."""
    expected = {}
    for (exchange, pair), ticks in stored_ticks(app).items():
        if exchange not in exchanges or pair not in pairs:
            continue
        frame = pd.DataFrame(
            [(t.ts, t.base_volume, t.quote_volume) for t in ticks if t.ts >= start],
            columns=["ts", "base", "quote"],
            dtype="float64",
        )
        frame = frame[frame["base"].notna() | frame["quote"].notna()]
        # the sample is the hour's last tick with a volume, NaN included (not pandas' NaN-skipping last())
        hourly = frame.loc[frame.groupby(frame["ts"] // HOUR)["ts"].idxmax()] if len(frame) else frame
        row = {"hours": len(hourly)}
        for kind in ("base", "quote"):
            column = hourly[["ts", kind]].dropna()
            ts, values = column["ts"].to_numpy(), column[kind].to_numpy()
            row[f"{kind}_first"] = values[0] if len(values) else None
            row[f"{kind}_last"] = values[-1] if len(values) else None
            row[f"{kind}_pct_change"] = (
                100 * (values[-1] - values[0]) / values[0] if len(values) > 1 else None
            )
            row[f"{kind}_slope_per_day"] = (
                np.polyfit((ts - ts[0]) / DAY, values, 1)[0] if len(values) > 1 else None
            )
        expected[pair, exchange] = row
    return expected


def test_volume_trend_equals_numpy_on_stored_ticks(app, runner, fake):
    rng = random.Random(3)
    now = now_ms()
    ticks = []
    for exchange, pair in itertools.product(("kraken", "coinbase", "bitstamp"), ("BTC/USD", "ETH/USD")):
        ts = now - 60 * HOUR
        while ts < now - 5 * 60_000:
            base = rng.choice([None, round(rng.uniform(50, 5000), 4)] + [round(rng.uniform(50, 5000), 4)] * 4)
            quote = None if rng.random() < 0.1 else round(rng.uniform(1e5, 1e8), 2)
            ticks.append(Tick(exchange, pair, ts, 100.0, base_volume=base, quote_volume=quote))
            ts += rng.randint(5, 50) * 60_000
    ticks.append(Tick("kraken", "BTC/USD", now - 20 * HOUR - 1, 100.0))  # no volume: never a sample
    with app.app_context():
        tick_table.store_ticks(db.session, ticks)
        db.session.commit()
    fake.set_ticker("kraken", "BTC/USD", 60000.0, volume=777.5)
    assert runner.invoke(args=["collect", "--exchange", "kraken", "--exchange", "coinbase"]).exit_code == 0

    with app.app_context():
        window = lookback_window("48h")
        rows = similar.volume_trend(db.session, "kraken", "coinbase", window, history=True)
        narrowed = similar.volume_trend(db.session, "kraken", "coinbase", window, pairs=["ETH/USD"])

    # kraken's BTC/USDT has no coinbase twin; bitstamp is neither exchange
    expected = _expected_trends(app, ("kraken", "coinbase"), ("BTC/USD", "ETH/USD"), window.start)
    assert [(r["pair"], r["exchange"]) for r in rows] == sorted(expected)
    assert [(r["pair"], r["exchange"]) for r in narrowed] == [("ETH/USD", "coinbase"), ("ETH/USD", "kraken")]
    for row in rows:
        want = expected[row["pair"], row["exchange"]]
        assert row["hours"] == want["hours"] == len(row["history"])
        for key, value in want.items():
            if value is None:
                assert row[key] is None, key
            else:
                assert row[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (
                    row["pair"],
                    row["exchange"],
                    key,
                )
        assert row["history"][0]["ts"] == row["first_ts"] >= window.start
        assert [h["ts"] // HOUR for h in row["history"]] == sorted({h["ts"] // HOUR for h in row["history"]})
    [latest] = [r for r in rows if (r["pair"], r["exchange"]) == ("BTC/USD", "kraken")]
    assert latest["base_last"] == 777.5  # the collected tick is the newest sample
    assert json.loads(json.dumps(rows, allow_nan=False)) == rows

    result = similar_cli(runner, "--exchange", "kraken", "--lookback", "48h")
    block = table(result.output, "kraken")
    assert "  base volume of shared markets over 48h (24 h rolling, last value per hour)" in block
    want = expected["BTC/USD", "coinbase"]
    assert f"  BTC/USD      coinbase     {want['hours']:>5} {want['base_first']:>16,.4f}" in block


# ---------------------------------------------------------------------------- outliers


def test_a_price_three_times_the_others_is_flagged(app, runner, fake):
    fake.set_ticker("kraken", "BTC/USD", 180_000.0)  # coinbase 60005, bitstamp 59995: a different coin
    fake.set_ticker("binance", "BTC/USDT", 120_020.0)  # kraken 60010: only two, either may be wrong
    assert runner.invoke(args=["collect"]).exit_code == 0
    with app.app_context():  # a market whose latest tick is old is not compared
        tick_table.store_ticks(db.session, [Tick("oldex", "BTC/USD", now_ms() - 2 * HOUR, 1.0)])
        db.session.commit()

        rows = similar.outliers(db.session, 10)
        kraken_only = similar.outliers(db.session, 10, exchange="kraken")
        lenient = similar.outliers(db.session, 250)
        with pytest.raises(BadRequest, match="pct"):
            similar.outliers(db.session, 0)

    found = {(r["pair"], r["exchange"]): r for r in rows}
    assert set(found) == {
        ("BTC/USD", "kraken"),
        ("BTC/USD", "coinbase"),
        ("BTC/USD", "bitstamp"),
        ("ETH/USD", "kraken"),
        ("ETH/USD", "coinbase"),
        ("ETH/USD", "bitstamp"),
        ("BTC/USDT", "kraken"),
        ("BTC/USDT", "binance"),
    }  # no coingecko (an aggregate), no oldex (stale), no ETH/USDT (one exchange)
    median = float(np.median([180_000.0, 60005.0, 59995.0]))
    odd = found["BTC/USD", "kraken"]
    assert (odd["flagged"], odd["ambiguous"], odd["exchanges"], odd["median"]) == (True, False, 3, median)
    assert odd["deviation_pct"] == pytest.approx(100 * (180_000.0 - median) / median, rel=1e-12)
    for key in [("BTC/USD", "coinbase"), ("BTC/USD", "bitstamp"), ("ETH/USD", "kraken")]:
        assert not found[key]["flagged"], key
    pair_of_two = [found["BTC/USDT", "binance"], found["BTC/USDT", "kraken"]]
    assert all(r["flagged"] and r["ambiguous"] and r["exchanges"] == 2 for r in pair_of_two)
    assert [r["deviation_pct"] for r in pair_of_two] == pytest.approx([100 / 3, -100 / 3], rel=1e-4)
    assert [(r["pair"], r["exchange"]) for r in rows[:3]] == [
        ("BTC/USD", "kraken"),
        ("BTC/USDT", "binance"),
        ("BTC/USDT", "kraken"),
    ]
    assert {r["exchange"] for r in kraken_only} == {"kraken"} and len(kraken_only) == 3
    assert [(r["pair"], r["exchange"]) for r in lenient if r["flagged"]] == []

    result = similar_cli(runner, "--exchange", "kraken")
    block = table(result.output, "kraken")
    assert "  outliers: latest price more than 10% from the pair's median" in block
    assert "  BTC/USD      kraken                180,000 median         60,005   +199.98%\n" in block
    assert "  BTC/USDT     kraken" in block and "(2 exchanges: either may be the other coin)" in block
    assert "  none among" not in block
    assert "  none among its 2 markets also quoted on other exchanges" in table(
        similar_cli(runner, "--exchange", "coinbase").output, "coinbase"
    )


def test_the_answer_for_the_api_is_plain_json(app, runner, fake):
    assert runner.invoke(args=["collect"]).exit_code == 0
    assert similar_cli(runner).exit_code == 0
    with app.app_context():
        answer = similar.similar_exchanges(
            db.session, "kraken", window=lookback_window("24h"), top=2, history=True
        )
        with pytest.raises(NotFound, match="not a configured exchange"):
            similar.similar_exchanges(db.session, "nope", window=lookback_window("24h"), exchanges=["kraken"])
    assert json.loads(json.dumps(answer, allow_nan=False)) == answer
    assert (answer["exchange"], answer["pairs"], answer["window"], answer["missing"]) == (
        "kraken",
        3,
        "24h",
        [],
    )
    assert [(s["exchange"], s["shared"]) for s in answer["similar"]] == [("bitstamp", 2), ("coinbase", 2)]
    volume = answer["similar"][0]["volume"]
    assert {(v["pair"], v["exchange"]) for v in volume} == {
        (p, e) for p in ("BTC/USD", "ETH/USD") for e in ("kraken", "bitstamp")
    }
    assert all(v["hours"] == 1 and len(v["history"]) == 1 and v["base_slope_per_day"] is None for v in volume)
    assert {o["pair"] for o in answer["outliers"]} == {"BTC/USD", "ETH/USD", "BTC/USDT"}


def test_the_similar_endpoint_serves_the_stored_answer(app, client, runner, fake):
    set_listings(fake)
    assert runner.invoke(args=["collect"]).exit_code == 0
    assert client.get("/api/v1/exchanges/kraken/similar").status_code == 404  # no listing stored yet
    assert similar_cli(runner).exit_code == 0
    expected = ccxt_listings(fake)

    answer = client.get("/api/v1/exchanges/kraken/similar?top=2&lookback=24h")

    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    with app.app_context():
        direct = similar.similar_exchanges(
            db.session, "kraken", window=lookback_window("24h"), top=2, exchanges=list(EXCHANGES)
        )
    assert body == json.loads(json.dumps(direct))
    for row in body["similar"]:
        shared = expected["kraken"] & expected[row["exchange"]]
        assert row["shared"] == len(shared)
        assert row["jaccard"] == pytest.approx(
            len(shared) / len(expected["kraken"] | expected[row["exchange"]])
        )
    csv = client.get("/api/v1/exchanges/kraken/similar?top=2&format=csv").get_data(as_text=True).splitlines()
    assert csv[0] == "exchange,shared,jaccard,pairs,refreshed" and len(csv) == 1 + len(body["similar"])
    bad = client.get("/api/v1/exchanges/kraken/similar?lookback=soon")
    assert bad.status_code == 400 and "lookback" in bad.get_json()["error"]["message"]
    assert client.get("/api/v1/exchanges/nope/similar").status_code == 404


def test_the_similar_page_shows_overlap_volumes_and_outliers(app, client, runner, fake):
    set_listings(fake)
    assert runner.invoke(args=["collect"]).exit_code == 0
    assert client.get("/exchanges/kraken/similar").status_code == 404
    assert similar_cli(runner).exit_code == 0
    api = client.get("/api/v1/exchanges/kraken/similar").get_json()

    page = client.get("/exchanges/kraken/similar").get_data(as_text=True)

    for row in api["similar"]:
        link = f'<a href="/exchanges/{row["exchange"]}/similar">{row["exchange"]}</a>'
        assert (
            f'<tr><td>{link}</td><td class="num">{row["shared"]}</td><td class="num">{row["jaccard"]:.3f}'
            in page
        )
    assert page.count("<tr><td>", page.index('id="volume-table"'), page.index('id="outliers-table"')) == len(
        similar.shared_volumes(api)
    )
    assert page.count("<td>ok</td>") + page.count("<td>flagged") == len(api["outliers"])
    assert client.get("/exchanges/kraken/similar?lookback=soon").status_code == 400
    assert 'href="/exchanges/kraken/similar"' in client.get("/exchanges/kraken").get_data(as_text=True)
