"""Order-book insights: books collected through the fake exchange in each exchange's wire format
(and a real recorded one), checked against numpy on the levels that were served."""

import json

import numpy as np
import pytest
from helpers import stored_books
from test_recordings import recorded  # noqa: F401 (fixture)

from cryptocrunch.analysis.orderbook import FORECAST_LABEL
from cryptocrunch.clock import now_ms
from cryptocrunch.db import db
from cryptocrunch.sources.base import BookTop
from cryptocrunch.storage.books import store_book_tops

HOUR = 3_600_000


def depth(levels, mid, pct, side):
    inside = (
        (lambda p: p >= mid * (1 - pct / 100)) if side == "bid" else (lambda p: p <= mid * (1 + pct / 100))
    )
    return sum(size for price, size in levels if inside(price))


@pytest.mark.parametrize("exchange", ["kraken", "coinbase", "bitstamp", "binance"])
def test_book_insights_from_collected_books(app, client, runner, fake, exchange):
    pair = fake.markets[exchange][0]
    rng = np.random.default_rng(3)
    served = []
    for cycle in range(8):
        mid = 100 + cycle * 0.5 + rng.normal(0, 0.2)
        half = rng.uniform(0.01, 0.3)
        bids = [(round(mid - half - 0.1 * i, 6), round(rng.uniform(0.1, 2), 4)) for i in range(12)]
        asks = [(round(mid + half + 0.1 * i, 6), round(rng.uniform(0.1, 2), 4)) for i in range(12)]
        fake.set_book(exchange, pair, bids, asks)
        result = runner.invoke(args=["collect", "--exchange", exchange, "--pair", pair, "--books"])
        assert result.exit_code == 0, result.output
        served.append((bids, asks))
    tops = stored_books(app)[exchange, pair]
    assert len(tops) == len(served), "every cycle stores one book top"

    answer = client.get(f"/api/v1/markets/{exchange}/{pair.replace('/', '-')}/book?window=24h&horizon=2h")

    assert answer.status_code == 200, answer.get_json()
    book = answer.get_json()
    ts = np.array([t.ts for t in tops])
    bid = np.array([b[0][0] for b, _ in served])
    ask = np.array([a[0][0] for _, a in served])
    mid, spread = (bid + ask) / 2, ask - bid
    assert book["n"] == len(served)
    assert book["highest_bid"] == {"value": bid.max(), "ts": int(ts[bid.argmax()])}
    assert book["lowest_ask"] == {"value": ask.min(), "ts": int(ts[ask.argmin()])}
    assert book["spread"]["last"] == pytest.approx(spread[-1], rel=1e-12)
    assert book["spread"]["mean_bps"] == pytest.approx(np.mean(spread / mid * 10_000), rel=1e-12)
    assert book["spread"]["max"] == pytest.approx(spread.max(), rel=1e-12)
    assert book["spread"]["max_ts"] == int(ts[spread.argmax()])
    for pct, name in ((0.5, "05"), (1, "1")):
        for side, index in (("bid", 0), ("ask", 1)):
            expected = np.mean([depth(s[index], m, pct, side) for s, m in zip(served, mid, strict=True)])
            assert book["depth"][f"{side}_depth_{name}"] == pytest.approx(expected, rel=1e-12)
    slope, intercept = np.polyfit((ts - ts[-1]) / HOUR, mid, 1)
    fitted = np.polyval([slope, intercept], (ts - ts[-1]) / HOUR)
    r2 = 1 - np.sum((mid - fitted) ** 2) / np.sum((mid - mid.mean()) ** 2)
    forecast = book["forecast"]
    assert forecast["label"] == FORECAST_LABEL and "not advice" in forecast["label"]
    assert forecast["slope_per_hour"] == pytest.approx(slope, rel=1e-9)
    assert forecast["mid"] == pytest.approx(intercept + 2 * slope, rel=1e-9)
    assert forecast["r2"] == pytest.approx(r2, rel=1e-9)
    assert (forecast["ts"], forecast["n"], forecast["horizon_seconds"]) == (int(ts[-1]) + 2 * HOUR, 8, 7200)
    assert [p["mid"] for p in book["series"]] == pytest.approx(list(mid), rel=1e-12)
    csv = client.get(f"/api/v1/markets/{exchange}/{pair.replace('/', '-')}/book?window=24h&format=csv")
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0] == "ts,bid,ask,mid,spread,spread_bps" and len(lines) == 1 + len(served)


def test_long_book_series_downsample_keeping_the_widest_spread(app, client):
    start = now_ms() - 6 * HOUR
    rng = np.random.default_rng(5)
    bids = 100 + np.cumsum(rng.normal(0, 0.05, 5_000))
    spreads = rng.uniform(0.01, 0.05, 5_000)
    spreads[1234] = 3.0  # one wide moment
    with app.app_context():
        store_book_tops(
            db.session,
            [
                BookTop("kraken", "BTC/USD", start + i * 4_000, b, 1.0, b + s, 1.0, 1, 1, 2, 2)
                for i, (b, s) in enumerate(zip(bids, spreads, strict=True))
            ],
        )
        db.session.commit()
    book = client.get("/api/v1/markets/kraken/BTC-USD/book?window=24h&points=100").get_json()
    assert book["n"] == 5_000 and len(book["series"]) <= 100
    assert max(p["spread"] for p in book["series"]) == pytest.approx(3.0)
    assert book["series"][-1]["bid"] == bids[-1]
    assert book["spread"]["max_ts"] == start + 1234 * 4_000
    assert book["depth"] == {"bid_depth_05": 1, "ask_depth_05": 1, "bid_depth_1": 2, "ask_depth_1": 2}


def test_book_errors_name_what_is_wrong(app, client, runner, fake):
    runner.invoke(args=["collect", "--exchange", "binance"])  # ticks, no books
    base = "/api/v1/markets/binance/BTC-USDT/book"
    cases = {
        base: (422, "no order-book top of binance BTC/USDT in the window: run flask collect --books"),
        base + "?horizon=soon": (400, "horizon: a duration looks like 90m, 24h, 7d or 2w, got 'soon'"),
        base + "?points=1": (422, "points"),
        "/api/v1/markets/binance/DOGE-EUR/book": (404, "DOGE/EUR"),
    }
    for url, (status, message) in cases.items():
        answer = client.get(url)
        assert answer.status_code == status, url
        assert message in answer.get_json()["error"]["message"], url


def test_a_single_book_top_has_no_forecast(app, client, runner, fake):
    fake.set_book("binance", "BTC/USDT", [(99.0, 1.0)], [(101.0, 1.0)])
    runner.invoke(args=["collect", "--exchange", "binance", "--pair", "BTC/USDT", "--books"])
    book = client.get("/api/v1/markets/binance/BTC-USDT/book").get_json()
    assert book["n"] == 1 and book["forecast"] is None
    assert book["spread"]["last_bps"] == pytest.approx(200.0)


def test_a_recorded_bitstamp_book(app, client, runner, fake, recorded):  # noqa: F811
    raw = recorded("bitstamp/order_book_ethusd_2022-01-05.json")
    fake.serve_body("bitstamp", "/api/v2/order_book/btcusd/", raw)
    runner.invoke(args=["collect", "--exchange", "bitstamp", "--pair", "BTC/USD", "--books"])
    levels = json.loads(raw)
    book = client.get("/api/v1/markets/bitstamp/BTC-USD/book?window=all").get_json()
    ts = int(levels["microtimestamp"]) // 1000
    best_bid, best_ask = float(levels["bids"][0][0]), float(levels["asks"][0][0])
    assert book["highest_bid"] == {"value": best_bid, "ts": ts}
    assert book["lowest_ask"] == {"value": best_ask, "ts": ts}
    mid = (best_bid + best_ask) / 2
    assert book["spread"]["last_bps"] == pytest.approx((best_ask - best_bid) / mid * 10_000)
    bids = [(float(p), float(s)) for p, s, *_ in levels["bids"]]
    assert book["depth"]["bid_depth_1"] == pytest.approx(depth(bids, mid, 1, "bid"))
