"""The dashboard serves what is stored, and says what to do when nothing is."""

from cryptocrunch.clock import now_ms
from cryptocrunch.db import db
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage.ticks import store_ticks


def test_empty_dashboard_says_what_to_do(client):
    page = client.get("/").get_data(as_text=True)
    assert "No data yet: run <code>flask collect</code>" in page
    assert "No collection runs yet" in page


def test_dashboard_lists_the_latest_tick_of_each_market_and_the_runs(app, client, runner, fake):
    fake.fail("kraken", "html", times=100)
    runner.invoke(args=["collect"])
    with app.app_context():
        store_ticks(db.session, [Tick("binance", "BTC/USDT", 1, 1.0)])  # older than the collected one
        db.session.commit()

    page = client.get("/").get_data(as_text=True)

    assert page.count('<a href="/pairs/BTC-USDT">BTC/USDT</a>') == 1
    assert 'data-price="1.0"' not in page
    assert '<tr class="status-error"><td><a href="/exchanges/kraken">kraken</a></td>' in page
    assert "kraken sent a malformed payload" in page


def test_markup_in_stored_names_is_escaped(app, client):
    with app.app_context():
        store_ticks(db.session, [Tick("binance", "<script>alert(1)</script>/USD", 1_700_000_000_000, 2.0)])
        db.session.commit()
    page = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;/USD" in page


def test_rankings_page_lists_top_and_bottom_with_links(app, client):
    with app.app_context():
        for n, pair in enumerate(["AAA/USD", "BBB/USD", "CCC/USD"]):
            store_ticks(
                db.session,
                [Tick("kraken", pair, now_ms() - 60_000 * i, 10.0 + (n + 1) * (i % 2)) for i in range(5)],
            )
        store_ticks(
            db.session, [Tick("kraken", "<b>x</b>/USD", now_ms() - 60_000 * i, 1.0 + i) for i in range(5)]
        )
        db.session.commit()
    page = client.get("/rankings?metric=volatility&window=1h").get_data(as_text=True)
    assert "4 markets ranked" in page
    top = page.index("Top by volatility")
    assert page.index('href="/pairs/CCC-USD"', top) < page.index('href="/pairs/BBB-USD"', top)
    assert "&lt;b&gt;x&lt;/b&gt;/USD" in page and "<b>x</b>" not in page
    assert client.get("/rankings?metric=nope").status_code == 400


def test_empty_rankings_say_what_to_do(client):
    assert "No market has 3 ticks in this window yet" in client.get("/rankings").get_data(as_text=True)


def test_exchange_and_market_pages(app, client, runner, fake):
    runner.invoke(args=["collect", "--exchange", "binance"])
    page = client.get("/exchanges/binance").get_data(as_text=True)
    assert 'href="/pairs/BTC-USDT"' in page and "Most recent runs of binance" in page
    assert client.get("/exchanges/nowhere").status_code == 404
    market = client.get("/markets/binance/BTC-USDT").get_data(as_text=True)
    assert "BTC/USDT on binance" in market and 'data-exchanges="[&#34;binance&#34;]"' in market
    assert client.get("/markets/binance/DOGE-EUR").status_code == 404


def test_dashboard_health_shows_the_last_run_of_each_source(app, client, runner, fake):
    runner.invoke(args=["collect", "--exchange", "binance", "--exchange", "kraken"])
    fake.fail("kraken", "html", times=100)
    runner.invoke(args=["collect", "--exchange", "binance", "--exchange", "kraken"])
    page = client.get("/").get_data(as_text=True)
    health = page[page.index("Collector health") :]
    assert health.count('<a href="/exchanges/kraken">kraken</a>') == 1
    assert health.count('<a href="/exchanges/binance">binance</a>') == 1
    assert '<tr class="status-error"><td><a href="/exchanges/kraken">kraken</a></td>' in health


def store_signal_and_caps_data(app):
    """Hourly candles of two markets (one crosses recently) and two hourly cap snapshots of 3 coins."""
    import numpy as np

    from cryptocrunch.sources.base import Candle, CapSnapshot
    from cryptocrunch.storage.candles import store_candles
    from cryptocrunch.storage.caps import store_caps

    hour = 3_600_000
    start = (now_ms() // hour - 120) * hour
    series = {
        "UP/USD": np.r_[np.linspace(50, 100, 100), np.linspace(100, 70, 20)],
        "FLAT/USD": np.full(120, 10.0),
    }
    now = now_ms() - 60_000
    with app.app_context():
        for pair, closes in series.items():
            store_candles(
                db.session,
                [Candle("kraken", pair, "1h", start + i * hour, c, c, c, c, 1) for i, c in enumerate(closes)],
            )
            store_ticks(db.session, [Tick("kraken", pair, start, float(closes[0]))])
        store_caps(
            db.session,
            [
                CapSnapshot(coin, ts, coin[:3].upper(), coin.title(), rank, cap, 1e9, 1e8)
                for ts, ranks in ((now - 2 * hour, (1, 2, 3)), (now, (1, 3, 2)))
                for coin, rank, cap in zip(
                    ("bitcoin", "solana", "ripple"), ranks, (1e12, 6e10 - ranks[1], 5e10), strict=True
                )
            ],
        )
        db.session.commit()


def test_signals_page_lists_recent_crossovers_like_its_json_twin(app, client):
    store_signal_and_caps_data(app)
    api = client.get("/api/v1/signals?timeframe=1h&window=7d&within=24h&fast=12&slow=26").get_json()
    assert [(r["pair"], r["kind"]) for r in api["signals"]] == [("UP/USD", "death")]

    page = client.get("/signals").get_data(as_text=True)

    assert 'href="/markets/kraken/UP-USD">UP/USD</a>' in page and "FLAT/USD" not in page
    assert "<td>death</td>" in page
    assert "1 crossover of EMA 12 and EMA 26 on 1h candles in the last 24h" in page
    quiet = client.get("/signals?within=1h").get_data(as_text=True)
    assert "No market crossed in the last 1h" in quiet
    for bad, message in (
        ("fast=x", "fast must be a whole number"),
        ("within=all", "within must be one of"),
        ("fast=30&slow=10", "fast (30) must be shorter"),
        ("timeframe=2m", "timeframe must be one of"),
    ):
        answer = client.get(f"/signals?{bad}")
        assert answer.status_code == 400 and message in answer.get_data(as_text=True)


def test_caps_pages_show_ranks_changes_and_a_coins_history(app, client):
    assert "run <code>flask collect --caps</code>" in client.get("/caps").get_data(as_text=True)
    store_signal_and_caps_data(app)

    page = client.get("/caps").get_data(as_text=True)

    assert page.index("Bitcoin") < page.index("Ripple") < page.index("Solana")
    assert "▲ 1" in page and "▼ 1" in page
    assert '<a href="/caps/solana">Solana</a> (SOL)' in page
    coin = client.get("/caps/solana").get_data(as_text=True)
    assert "<h1>Solana (SOL)</h1>" in coin and coin.count("<tr><td><time") == 2
    assert client.get("/caps/dogecoin").status_code == 404
    assert client.get("/caps?window=5y").status_code == 400
