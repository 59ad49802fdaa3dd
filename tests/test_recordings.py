"""Real recorded exchange responses (../shared/data/responses) replayed through ccxt and `flask collect`.

Every expected figure is read from the recording itself, independently of the code under test.
"""

import json
from datetime import datetime

import pytest
from conftest import SHARED_DATA, need
from helpers import last_runs, stored_books, stored_ticks

RESPONSES = SHARED_DATA / "responses"


@pytest.fixture
def recorded():
    need(RESPONSES.is_dir(), f"recorded responses not found at {RESPONSES}")

    def load(name):
        return (RESPONSES / name).read_text()

    return load


def collect(app, runner, exchange, pairs, books=True, rejected=0):
    app.config["MARKETS"] = {exchange: pairs} if exchange != "coingecko" else {}
    args = ["collect", "--exchange", exchange, "-v", *(["--books"] if books else [])]
    result = runner.invoke(args=args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = last_runs(app)[exchange]
    assert (run.status, run.rejected) == ("ok", rejected), (run.error, result.output)
    return result.output


def test_kraken_recordings(app, runner, fake, recorded):
    fake.serve_body("kraken", "/0/public/AssetPairs", recorded("kraken/AssetPairs_all_2021-04-17.json"))
    ticker = recorded("kraken/Ticker_XBTUSDT_2024-03-13.json")
    fake.serve_body("kraken", "/0/public/Ticker", ticker)
    depth = recorded("kraken/Depth_XBTUSDT_2025-11-11.json")
    fake.serve_body("kraken", "/0/public/Depth", depth)

    collect(app, runner, "kraken", ["BTC/USDT"])

    raw = json.loads(ticker)["result"]["XBTUSDT"]
    [tick] = stored_ticks(app)["kraken", "BTC/USDT"]
    assert (tick.last, tick.bid, tick.ask) == (float(raw["c"][0]), float(raw["b"][0]), float(raw["a"][0]))
    assert tick.base_volume == float(raw["v"][1])  # the last 24 hours
    book = json.loads(depth)["result"]["XBTUSDT"]
    [top] = stored_books(app)["kraken", "BTC/USDT"]
    assert (top.bid, top.bid_size) == (float(book["bids"][0][0]), float(book["bids"][0][1]))
    assert (top.ask, top.ask_size) == (float(book["asks"][0][0]), float(book["asks"][0][1]))


def test_binance_recordings(app, runner, fake, recorded):
    fake.serve_body("binance", "/api/v3/exchangeInfo", recorded("binance/exchangeInfo_all_2019-08-22.json"))
    tickers = recorded("binance/ticker_24hr_all_2019-08-22.json")
    fake.serve_body("binance", "/api/v3/ticker/24hr", tickers)
    depth = recorded("binance/depth_BTCUSDT_2021-10-22.json")
    fake.serve_body("binance", "/api/v3/depth", depth)

    collect(app, runner, "binance", ["BTC/USDT", "ETH/USDT"])

    raw = {row["symbol"]: row for row in json.loads(tickers)}
    ticks = stored_ticks(app)
    for pair, symbol in (("BTC/USDT", "BTCUSDT"), ("ETH/USDT", "ETHUSDT")):
        [tick] = ticks["binance", pair]
        row = raw[symbol]
        assert (tick.ts, tick.last) == (row["closeTime"], float(row["lastPrice"]))
        assert (tick.bid, tick.ask) == (float(row["bidPrice"]), float(row["askPrice"]))
        assert (tick.base_volume, tick.quote_volume) == (float(row["volume"]), float(row["quoteVolume"]))
    book = json.loads(depth)
    top = stored_books(app)["binance", "BTC/USDT"][0]
    mid = (float(book["bids"][0][0]) + float(book["asks"][0][0])) / 2
    assert top.bid_depth_05 == pytest.approx(
        sum(float(s) for p, s in book["bids"] if float(p) >= mid * 0.995)
    )
    assert top.ask_depth_1 == pytest.approx(sum(float(s) for p, s in book["asks"] if float(p) <= mid * 1.01))


def test_bitstamp_recordings(app, runner, fake, recorded):
    ticker = json.loads(recorded("bitstamp/ticker_btcusd_2017-10-03.json"))
    # /api/v2/ticker/ answers a list of the single-pair objects, each with its "pair"
    fake.serve_body("bitstamp", "/api/v2/ticker/", json.dumps([{**ticker, "pair": "BTC/USD"}]))
    book = recorded("bitstamp/order_book_ethusd_2022-01-05.json")
    fake.serve_body("bitstamp", "/api/v2/order_book/btcusd/", book)

    collect(app, runner, "bitstamp", ["BTC/USD"])

    [tick] = stored_ticks(app)["bitstamp", "BTC/USD"]
    assert tick.ts == int(ticker["timestamp"]) * 1000
    assert (tick.last, tick.bid, tick.ask) == (
        float(ticker["last"]),
        float(ticker["bid"]),
        float(ticker["ask"]),
    )
    assert tick.base_volume == float(ticker["volume"])
    levels = json.loads(book)
    [top] = stored_books(app)["bitstamp", "BTC/USD"]
    assert top.ts == int(levels["microtimestamp"]) // 1000
    assert (top.bid, top.ask) == (float(levels["bids"][0][0]), float(levels["asks"][0][0]))


def test_a_book_ccxt_cannot_parse_is_rejected_and_the_tick_kept(app, runner, fake, recorded):
    # the 2017 book predates bitstamp's microtimestamp, which ccxt 4.5 requires
    fake.serve_body(
        "bitstamp", "/api/v2/order_book/btcusd/", recorded("bitstamp/order_book_btcusd_2017-11-29.json")
    )

    output = collect(app, runner, "bitstamp", ["BTC/USD"], rejected=1)

    assert "rejected BTC/USD: order book: bitstamp" in output
    assert "microtimestamp" in output
    assert ("bitstamp", "BTC/USD") in stored_ticks(app)
    assert stored_books(app) == {}


def test_coinbase_recordings(app, runner, fake, recorded):
    products = recorded("coinbase_advanced/market_products_2026-04-07.json")
    fake.serve_body("coinbase", "/api/v3/brokerage/market/products", products)
    book = recorded("coinbase_advanced/market_product_book_BTC-USD_2026-04-07.json")
    fake.serve_body("coinbase", "/api/v3/brokerage/market/product_book", book)

    collect(app, runner, "coinbase", ["BTC/USD"])

    [product] = [p for p in json.loads(products)["products"] if p["product_id"] == "BTC-USD"]
    [tick] = stored_ticks(app)["coinbase", "BTC/USD"]
    assert (tick.last, tick.base_volume) == (float(product["price"]), float(product["volume_24h"]))
    pricebook = json.loads(book)["pricebook"]
    [top] = stored_books(app)["coinbase", "BTC/USD"]
    assert (top.bid, top.bid_size) == (
        float(pricebook["bids"][0]["price"]),
        float(pricebook["bids"][0]["size"]),
    )
    assert (top.ask, top.ask_size) == (
        float(pricebook["asks"][0]["price"]),
        float(pricebook["asks"][0]["size"]),
    )
    assert top.ts == int(datetime.fromisoformat(pricebook["time"]).timestamp() * 1000)


def test_coingecko_recordings(app, runner, fake, recorded):
    markets = recorded("coingecko/coins_markets_usd.json")
    fake.serve_body("coingecko", "/coins/markets", markets)
    app.config["COINGECKO_COINS"] = {
        "ids": [row["id"] for row in json.loads(markets)],
        "vs_currencies": ["usd"],
    }

    collect(app, runner, "coingecko", [], books=False)

    ticks = stored_ticks(app)
    for row in json.loads(markets):
        [tick] = ticks["coingecko", f"{row['symbol'].upper()}/USD"]
        assert tick.last == float(row["current_price"])
        assert tick.quote_volume == float(row["total_volume"])
        assert tick.ts == int(datetime.fromisoformat(row["last_updated"]).timestamp() * 1000)
