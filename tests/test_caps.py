"""Market-cap snapshots: flask collect --caps against the fake CoinGecko, ranks and their change."""

from cryptocrunch.clock import now_ms
from cryptocrunch.db import db
from cryptocrunch.sources.base import CapSnapshot
from cryptocrunch.storage.caps import store_caps


def test_collect_caps_stores_a_snapshot_of_the_top_coins(app, client, runner, fake):
    result = runner.invoke(args=["collect", "--exchange", "binance", "--caps"])
    assert result.exit_code == 0, result.output
    assert "caps         stored 2" in result.output
    rows = client.get("/api/v1/caps?window=24h").get_json()
    assert [(r["coin"], r["rank"], r["rank_change"]) for r in rows] == [("bitcoin", 1, 0), ("ethereum", 2, 0)]
    assert rows[0]["symbol"] == "BTC" and rows[0]["market_cap"] > 0
    assert fake.count("coingecko", "order=market_cap_desc") == 1


def test_rank_change_and_history(app, client):
    now = now_ms() - 60_000
    with app.app_context():
        store_caps(
            db.session,
            [
                CapSnapshot("solana", now - 3_600_000, "SOL", "Solana", 7, 5e10, 1e9, 4e8),
                CapSnapshot("solana", now, "SOL", "Solana", 5, 6e10, 2e9, 4e8),
                CapSnapshot("ripple", now - 3_600_000, "XRP", "XRP", 5, 6e10, 1e9, 5e10),
                CapSnapshot("ripple", now, "XRP", "XRP", 6, 5.5e10, 1e9, 5e10),
            ],
        )
        db.session.commit()
    rows = client.get("/api/v1/caps?window=24h").get_json()
    assert [(r["coin"], r["rank"], r["rank_change"]) for r in rows] == [("solana", 5, 2), ("ripple", 6, -1)]
    history = client.get("/api/v1/caps/solana?window=24h").get_json()
    assert [h["rank"] for h in history] == [7, 5]
    assert client.get("/api/v1/caps/dogecoin").status_code == 404
    assert client.get("/api/v1/caps?format=csv").get_data(as_text=True).startswith("coin,symbol,name,rank")


def test_a_caps_failure_is_reported_and_the_cycle_goes_on(app, runner, fake):
    fake.fail("coingecko", "html", times=10, path_contains="order=market_cap_desc")
    result = runner.invoke(args=["collect", "--exchange", "binance", "--caps"])
    assert result.exit_code == 0, result.output
    assert "caps         ERROR coingecko sent a malformed payload" in result.output
    assert "binance      stored 2" in result.output
