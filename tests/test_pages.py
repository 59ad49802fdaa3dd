"""The dashboard serves what is stored, and says what to do when nothing is."""

from cryptocrunch.db import db
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage import store_ticks


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

    assert page.count("<td>BTC/USDT</td><td>binance</td>") == 1
    assert "<td>1.0</td>" not in page
    assert '<tr class="status-error"><td>kraken</td>' in page
    assert "kraken sent a malformed payload" in page


def test_markup_in_stored_names_is_escaped(app, client):
    with app.app_context():
        store_ticks(db.session, [Tick("binance", "<script>alert(1)</script>/USD", 1_700_000_000_000, 2.0)])
        db.session.commit()
    page = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;/USD" in page
