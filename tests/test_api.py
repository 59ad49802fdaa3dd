"""The JSON API on data collected through the fake exchange, checked against plain computations."""

import csv
import io

import numpy as np
import pytest
from conftest import running_app
from helpers import fake_config
from test_stats import reference

from cryptocrunch.clock import now_ms

STEP = 5 * 60_000  # five minutes between collected ticks


def collect_history(app, fake, cycles=30):
    """``cycles`` collect cycles; each market gets its own random walk, ticks 5 minutes apart ending now."""
    rng = np.random.default_rng(11)
    end = now_ms() // 1000 * 1000 - 60_000
    stamps = [end - STEP * i for i in range(cycles - 1, -1, -1)]
    walks = {}
    for exchange in ("bitstamp", "binance"):
        for pair in fake.markets[exchange]:
            walks[exchange, pair] = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(stamps))))
    runner = app.test_cli_runner()
    for i, ts in enumerate(stamps):
        for (exchange, pair), walk in walks.items():
            fake.set_ticker(exchange, pair, float(walk[i]), ts_ms=ts)
        result = runner.invoke(args=["collect", "--exchange", "bitstamp", "--exchange", "binance"])
        assert result.exit_code == 0, result.output
    return {key: (stamps, [float(p) for p in walk]) for key, walk in walks.items()}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def collected(request, fake_server, tmp_path_factory):
    """One app per database with a collected history, shared by the read-only tests below."""
    tmp = tmp_path_factory.mktemp("api")
    url = (
        f"sqlite:///{tmp / 'api.sqlite'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    fake_server.reset()
    with running_app(fake_config(fake_server, tmp / "instance", url)) as app:
        yield app, collect_history(app, fake_server)
    fake_server.reset()


@pytest.fixture
def client(collected):
    return collected[0].test_client()


@pytest.fixture
def history(collected):
    return collected[1]


def error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    return body["error"]["message"]


def test_stats_equal_the_plain_computation(client, history):
    for (exchange, pair), (ts, prices) in history.items():
        body = client.get(f"/api/v1/markets/{exchange}/{pair.replace('/', '-')}/stats?window=24h").get_json()
        ref = reference(ts, prices)
        assert body["n"] == ref["n"] == 30
        assert body["stdev"] == pytest.approx(ref["stdev"], rel=1e-9)
        assert body["volatility"] == pytest.approx(ref["volatility"], rel=1e-9)
        assert body["pct_change"] == pytest.approx(ref["pct_change"], rel=1e-9)
        delta = body["largest_delta"]
        assert (delta["value"], delta["ts_from"], delta["ts_to"]) == ref["largest_delta"]
        move = body["largest_pct_move"]
        assert (move["value"], move["ts_from"], move["ts_to"]) == ref["largest_pct_move"]


def test_stats_over_an_explicit_range(client, history):
    ts, prices = history["binance", "BTC/USDT"]
    start, end = ts[5], ts[20]
    body = client.get(f"/api/v1/markets/binance/BTC-USDT/stats?start={start}&end={end}").get_json()
    ref = reference(ts[5:21], prices[5:21])
    assert (body["n"], body["first_ts"], body["last_ts"]) == (16, start, end)
    assert body["volatility"] == pytest.approx(ref["volatility"], rel=1e-9)


def test_rankings_order_markets_by_the_metric(client, history):
    expected = sorted(
        ((reference(ts, p)["volatility"], key) for key, (ts, p) in history.items()), reverse=True
    )
    rows = client.get("/api/v1/rankings?metric=volatility&window=24h").get_json()
    assert [(r["exchange"], r["pair"]) for r in rows] == [key for _, key in expected]
    assert [r["rank"] for r in rows] == list(range(1, len(expected) + 1))
    assert rows[0]["value"] == pytest.approx(expected[0][0], rel=1e-9)
    assert all(r["n"] == 30 for r in rows)

    losers = client.get("/api/v1/rankings?metric=pct_change&order=asc&limit=2&quote=USDT").get_json()
    changes = sorted(
        reference(ts, p)["pct_change"] for (e, pair), (ts, p) in history.items() if pair.endswith("USDT")
    )
    assert [r["value"] for r in losers] == pytest.approx(changes[:2], rel=1e-9)
    assert {r["exchange"] for r in client.get("/api/v1/rankings?exchange=bitstamp").get_json()} == {
        "bitstamp"
    }


def test_prices_raw_and_downsampled_keep_the_extremes(client, history):
    ts, prices = history["bitstamp", "BTC/USD"]
    raw = client.get("/api/v1/markets/bitstamp/BTC-USD/prices?window=24h").get_json()
    assert [(p["ts"], p["last"]) for p in raw] == list(zip(ts, prices, strict=True))
    few = client.get("/api/v1/markets/bitstamp/BTC-USD/prices?window=24h&points=4").get_json()
    assert len(few) <= 4
    assert min(p["min"] for p in few) == min(prices)
    assert max(p["max"] for p in few) == max(prices)
    assert few[-1]["last"] == prices[-1]


def test_pair_across_exchanges(client, history):
    body = client.get("/api/v1/pairs/BTC-USD").get_json()
    [bitstamp] = body["exchanges"]
    assert bitstamp["last"] == history["bitstamp", "BTC/USD"][1][-1]
    assert body["spread"]["absolute"] == 0
    ts, prices = history["bitstamp", "BTC/USD"]
    assert bitstamp["stats"]["volatility"] == pytest.approx(reference(ts, prices)["volatility"], rel=1e-9)
    assert bitstamp["stats_error"] is None
    assert bitstamp["pct_change"] == pytest.approx(reference(ts, prices)["pct_change"], rel=1e-9)


def test_gaps_and_coverage(collected, client, history):
    app = collected[0]
    ts, _ = history["binance", "ETH/USDT"]
    gaps = f"/api/v1/markets/binance/ETH-USDT/gaps?start={ts[0]}&end={ts[-1]}"
    every = client.get(gaps + "&k=3").get_json()  # every 5-minute step is longer than 3 x 60 s
    assert (every["n"], len(every["gaps"]), every["threshold_seconds"]) == (30, 29, 180)
    assert every["gaps"][0] == {"from": ts[0], "to": ts[1], "seconds": 300.0}
    assert every["coverage_pct"] == pytest.approx(0, abs=1e-3)
    none = client.get(gaps + "&k=5").get_json()
    assert (none["gaps"], none["coverage_pct"]) == ([], 100)
    app.config["COLLECT_INTERVAL"] = 120
    try:
        assert len(client.get(gaps + "&k=2").get_json()["gaps"]) == 29
    finally:
        app.config["COLLECT_INTERVAL"] = 60
    # ten minutes before the first tick are a gap at the start of the window
    early = ts[0] - 600_000
    body = client.get(f"/api/v1/markets/binance/ETH-USDT/gaps?start={early}&end={ts[-1]}&k=5").get_json()
    assert body["gaps"] == [{"from": early, "to": ts[0], "seconds": 600.0}]
    assert body["coverage_pct"] == pytest.approx(100 * (1 - 600_000 / (ts[-1] + 1 - early)))


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/exchanges",
        "/api/v1/markets",
        "/api/v1/rankings",
        "/api/v1/runs",
        "/api/v1/markets/binance/BTC-USDT/prices",
        "/api/v1/markets/binance/BTC-USDT/gaps?start={first}&end={last}",
    ],
)
def test_list_endpoints_answer_csv_with_the_same_rows(client, history, path):
    ts, _ = history["binance", "BTC/USDT"]
    path = path.format(first=ts[0], last=ts[-1])
    as_json = client.get(path).get_json()
    if isinstance(as_json, dict):  # gaps: the rows are its "gaps"
        as_json = as_json["gaps"]
    by_param = client.get(path + ("&" if "?" in path else "?") + "format=csv")
    by_header = client.get(path, headers={"Accept": "text/csv"})
    assert by_param.content_type.startswith("text/csv")
    assert by_param.get_data() == by_header.get_data()
    rows = list(csv.DictReader(io.StringIO(by_param.get_data(as_text=True))))
    assert len(rows) == len(as_json)
    if rows:
        assert set(rows[0]) == set(as_json[0])


def test_an_unchanged_resource_costs_a_304(app, fake, runner):
    collect_history(app, fake, cycles=3)
    client = app.test_client()
    first = client.get("/api/v1/markets/binance/BTC-USDT/prices?window=24h")
    assert first.headers["Cache-Control"] == "no-cache"
    etag = first.headers["ETag"]
    again = client.get("/api/v1/markets/binance/BTC-USDT/prices?window=24h", headers={"If-None-Match": etag})
    assert again.status_code == 304
    fake.set_ticker("binance", "BTC/USDT", 123.0, ts_ms=now_ms() - 1000)
    runner.invoke(args=["collect", "--exchange", "binance"])
    changed = client.get(
        "/api/v1/markets/binance/BTC-USDT/prices?window=24h", headers={"If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.get_json()[-1]["last"] == 123.0


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/v1/rankings?metric=bogus", 422, "metric: Must be one of"),
        ("/api/v1/rankings?window=2w", 422, "window: Must be one of"),
        ("/api/v1/rankings?limit=0", 422, "limit:"),
        (
            "/api/v1/markets/binance/BTC-USDT/stats?start=2024-01-02T00:00:00Z&end=2024-01-01T00:00:00Z",
            400,
            "start (2024-01-02T00:00:00Z) must be before end",
        ),
        ("/api/v1/markets/binance/BTC-USDT/stats?start=yesterday", 400, "start must be ISO 8601"),
        ("/api/v1/markets/binance/BTC-USDT/stats?start=2024-01-01", 400, "needs a time zone"),
        ("/api/v1/markets/binance/BTC-USDT/stats?window=1h&start=0", 400, "either window or start/end"),
        ("/api/v1/markets/binance/BTC-USDT/stats?start=0&end=1000", 422, "0 ticks in the window"),
        ("/api/v1/markets/binance/BTC-USDT/prices?points=1", 422, "points:"),
        ("/api/v1/markets/kraken/DOGE-EUR/stats", 404, "no market DOGE/EUR on kraken"),
        ("/api/v1/markets/binance/BTCUSDT/stats", 404, "not found"),
        ("/api/v1/pairs/DOGE-EUR", 404, "no exchange has DOGE/EUR"),
        ("/api/v1/nothing", 404, "not found"),
    ],
)
def test_errors_share_one_envelope(client, history, path, status, message):
    assert message in error(client.get(path), status)


def test_the_openapi_document_describes_every_endpoint(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in (
        "/exchanges",
        "/markets",
        "/markets/{exchange}/{pair}/prices",
        "/markets/{exchange}/{pair}/stats",
        "/markets/{exchange}/{pair}/gaps",
        "/rankings",
        "/pairs/{pair}",
        "/runs",
    ):
        assert f"/api/v1{path}" in spec["paths"]
    docs = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/api/v1/docs/assets/swagger-ui-bundle.js" in docs
    with client.get("/api/v1/docs/assets/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200
        assert asset.content_type.startswith("text/javascript")


def test_repeated_requests_are_answered_from_the_cache_until_data_changes(app, fake, runner, monkeypatch):
    from cryptocrunch.insights import markets as insights

    collect_history(app, fake, cycles=3)
    client = app.test_client()
    calls = []
    real = insights.series
    monkeypatch.setattr(insights, "series", lambda *a, **k: calls.append(1) or real(*a, **k))
    url = "/api/v1/markets/binance/BTC-USDT/prices?window=24h"

    first = client.get(url)
    second = client.get(url)
    assert second.get_data() == first.get_data()
    assert second.headers["ETag"] == first.headers["ETag"]
    assert len(calls) == 1
    assert client.get(url + "&format=csv").status_code == 200  # another URL: computed
    assert len(calls) == 2

    runner.invoke(args=["collect", "--exchange", "bitstamp"])  # any write changes the data version
    client.get(url)
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/runs?source=bit%00stamp", "source"),
        ("/api/v1/rejections?source=%00", "source"),
        ("/api/v1/rejections/summary?source=%00", "source"),
        ("/api/v1/rankings?exchange=bit%00stamp", "exchange"),
        ("/api/v1/markets/bit%00stamp/BTC-USD/stats", "exchange"),
        ("/api/v1/markets/bitstamp/BTC-USD/candles?start=%00", "start"),
        ("/api/v1/caps/bit%00coin", "coin"),
        ("/api/v1/exchanges/bit%00stamp/similar", "exchange"),
        ("/api/v1/markets?x%00=1", "x\\0"),  # in a name too, known parameter or not
    ],
)
def test_a_nul_byte_in_a_parameter_is_a_400_naming_it(client, history, path, name):
    """PostgreSQL cannot store or compare a string holding NUL: every endpoint refuses one, on
    either database, before any query sees it."""
    assert error(client.get(path), 400) == f"{name}: must not contain a NUL byte"


@pytest.mark.parametrize(
    ("path", "name"), [("/rejections?source=%00", "source"), ("/exchanges/bit%00stamp", "exchange")]
)
def test_a_nul_byte_in_a_page_parameter_is_a_400_page_naming_it(client, history, path, name):
    response = client.get(path)
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert f"{name}: must not contain a NUL byte" in response.get_data(as_text=True)


def test_a_nul_byte_in_a_form_or_a_json_body_is_a_400_naming_the_field(app):
    from test_auth import bearer, create_token, login, post, signed_up

    signed_up(app, "ada@example.org")
    web = app.test_client()
    login(web, "ada@example.org")
    auth = bearer(create_token(web))
    api = app.test_client()
    made = api.post("/api/v1/channels", json={"name": "ho\x00ok", "url": "json://127.0.0.1:1/"}, headers=auth)
    assert error(made, 400) == "name: must not contain a NUL byte"
    nested = api.post("/api/v1/alerts", json={"pair": "BTC/USD", "note": ["\x00"]}, headers=auth)
    assert error(nested, 400) == "note: must not contain a NUL byte"
    form = post(app.test_client(), "/login", {"email": "ada\x00@example.org", "password": "x"})
    assert form.status_code == 400
    assert "email: must not contain a NUL byte" in form.get_data(as_text=True)
