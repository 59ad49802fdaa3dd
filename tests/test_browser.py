"""Pages in a real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

Each test saves a screenshot under test-output/ (git-ignored).
"""

import re
import threading
from pathlib import Path

import pytest
from conftest import need
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output"
AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
# Without these, Chromium keeps reaching for Google's hosts on this closed network.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def screenshot(page, request):
    """Save the page under test-output/, named after the test."""
    SCREENSHOTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def chromium():
    need(CHROMIUM.exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def live(app):
    """The app served over HTTP on 127.0.0.1 in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def page(chromium, request):
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.problems = problems
    yield page
    screenshot(page, request)
    context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_dashboard_renders_collected_prices_in_local_time(live, page, runner, fake):
    fake.set_ticker("binance", "BTC/USDT", 64123.456789, bid=64123.4, ask=64123.5)
    assert runner.invoke(args=["collect", "--exchange", "binance"]).exit_code == 0

    page.goto(live + "/")

    row = page.locator("tr", has=page.locator("td", has_text="BTC/USDT"))
    assert row.locator("td").nth(2).inner_text() in ("64,123.46", "64123.46")
    stamp = row.locator("time")
    assert stamp.get_attribute("title").endswith(" UTC")
    assert page.evaluate("typeof Chart") == "function"  # the npm bundle loaded
    assert page.problems == []


def chart_lengths(page):
    """Points per dataset label of the pair page's chart."""
    datasets = "Chart.getChart('pair-chart').data.datasets"
    return page.evaluate(f"() => Object.fromEntries({datasets}.map(d => [d.label, d.data.length]))")


def loads(page):
    return int(page.get_attribute("#pair", "data-loaded") or 0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pair_page_overlays_one_line_per_exchange_and_follows_the_window(app, live, page, runner, fake):
    from test_api import collect_history

    app.config["COLLECT_INTERVAL"] = 1  # the page refreshes every second
    collect_history(app, fake, cycles=20)  # bitstamp BTC/USD; binance only has BTC/USDT
    fake.set_ticker("kraken", "BTC/USD", 60_000.0)
    assert runner.invoke(args=["collect", "--exchange", "kraken"]).exit_code == 0

    page.goto(live + "/pairs/BTC-USD")
    page.wait_for_function("() => Number(document.getElementById('pair').dataset.loaded) >= 1")

    client = app.test_client()
    expected = {
        ex: len(client.get(f"/api/v1/markets/{ex}/BTC-USD/prices?window=24h&points=1000").get_json())
        for ex in ("bitstamp", "kraken")
    }
    lengths = chart_lengths(page)
    assert (
        {k: v for k, v in lengths.items() if not k.startswith("largest")}
        == expected
        == {"bitstamp": 20, "kraken": 1}
    )
    assert page.locator("#pair-stats tbody tr").count() == 2
    assert page.problems == []

    page.click("button[data-window='1h']")
    page.wait_for_function("() => Chart.getChart('pair-chart').data.datasets[0].data.length < 20")
    assert chart_lengths(page)["bitstamp"] == len(
        client.get("/api/v1/markets/bitstamp/BTC-USD/prices?window=1h&points=1000").get_json()
    )

    # a new tick shows up on the next refresh, without reloading the page
    fake.set_ticker("kraken", "BTC/USD", 61_000.0)
    assert runner.invoke(args=["collect", "--exchange", "kraken"]).exit_code == 0
    page.wait_for_function(
        "() => Chart.getChart('pair-chart').data.datasets[1].data.length === 2", timeout=10_000
    )
    assert page.problems == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pair_page_shows_api_failures(app, live, page, runner, fake):
    fake.set_ticker("kraken", "BTC/USD", 60_000.0)
    assert runner.invoke(args=["collect", "--exchange", "kraken"]).exit_code == 0
    page.goto(live + "/pairs/BTC-USD")
    page.wait_for_function("() => Number(document.getElementById('pair').dataset.loaded) >= 1")
    # one tick: statistics need three, and the panel says so instead of failing silently
    assert "statistics need at least 3" in page.locator("#pair-stats").inner_text()
    assert page.problems == []


def check_cleanly(chromium, url, width, request):
    """Load ``url`` at ``width`` px: no console error, nothing wider than the screen but tables,
    no axe-core (npm) WCAG 2 A/AA violation (contrast, labels, names, landmarks); return the page's
    context, still open."""
    context = chromium.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url)
    page.wait_for_load_state("networkidle")
    screenshot(page, request)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert problems == []
    # evaluated over the DevTools protocol: the page's CSP refuses injected <script> tags (as it should)
    page.evaluate(AXE.read_text())
    violations = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations"
        ".map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"
    )
    assert violations == []
    return page


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", [375, 1440])
@pytest.mark.parametrize(
    "path", ["/", "/rankings?window=1h", "/exchanges/binance", "/markets/binance/BTC-USDT", "/pairs/BTC-USDT"]
)
def test_pages_load_cleanly_on_phones_and_desktops(app, live, chromium, runner, fake, path, width, request):
    from test_api import collect_history

    collect_history(app, fake, cycles=4)
    check_cleanly(chromium, live + path, width, request).context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", [375, 1440])
@pytest.mark.parametrize("path", ["/signals", "/caps", "/caps/solana"])
def test_signal_and_cap_pages_load_cleanly(app, live, chromium, client, path, width, request):
    from test_pages import store_signal_and_caps_data

    store_signal_and_caps_data(app)
    page = check_cleanly(chromium, live + path, width, request)
    if path == "/caps/solana":
        page.wait_for_function("() => document.getElementById('coin-chart').dataset.loaded === '1'")
        history = client.get("/api/v1/caps/solana?window=30d").get_json()
        drawn = page.evaluate(
            "() => Chart.getChart('coin-chart').data.datasets.map(d => d.data.map(p => p.y))"
        )
        assert drawn == [[h["market_cap"] for h in history], [h["rank"] for h in history]]
    page.context.close()


def table_loads(page):
    return int(page.get_attribute("#markets-table", "data-loaded") or 0)


def shown_markets(page):
    """(exchange, pair) of the table's rows, top to bottom."""
    return page.eval_on_selector_all(
        "#markets-table tbody tr[data-pair]", "rows => rows.map(r => [r.dataset.exchange, r.dataset.pair])"
    )


def drawn_sparklines(page):
    """{exchange|pair: the prices its sparkline's chart draws} of the rows shown."""
    return page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('#markets-table tbody tr'))
        .filter(r => r.querySelector('canvas.sparkline'))
        .map(r => { const chart = Chart.getChart(r.querySelector('canvas.sparkline'));
          const prices = chart ? chart.data.datasets[0].data.map(p => p.y) : [];
          return [`${r.dataset.exchange}|${r.dataset.pair}`, prices]; }))"""
    )


def query_of(page):
    """The page URL's parameters: the table's state, kept in the URL (the defaults left out)."""
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(page.url).query))


def after(page, action):
    """Do ``action`` and wait until the table has been loaded once more (rows and sparklines)."""
    loads = table_loads(page)
    action()
    page.wait_for_function(f"() => Number(document.getElementById('markets-table').dataset.loaded) > {loads}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_dashboard_sorts_filters_and_pages_through_the_api_with_sparklines(app, live, page, fake):
    from test_api import collect_history, reference

    history = collect_history(app, fake, cycles=6)
    api = []
    page.on("request", lambda r: api.append(r.url[len(live) :]) if r.url.startswith(live + "/api/") else None)
    client = app.test_client()

    def sparklines_of(rows):
        names = ",".join(f"{e}:{p.replace('/', '-')}" for e, p in rows)
        body = client.get(f"/api/v1/sparklines?window=24h&points=48&markets={names}").get_json()
        return {f"{s['exchange']}|{s['pair']}": s["last"] for s in body["sparklines"]}

    page.goto(live + "/")
    page.wait_for_function("() => document.getElementById('markets-table').dataset.loaded === '1'")
    # the first page came with the HTML: only the sparklines were asked for, in one request
    assert [u.split("?")[0] for u in api] == ["/api/v1/sparklines"]
    changes = {(e, p): reference(ts, prices)["pct_change"] for (e, p), (ts, prices) in history.items()}
    for (exchange, pair), value in changes.items():
        row = page.locator(f"tr[data-exchange='{exchange}'][data-pair='{pair}']")
        assert row.locator(".change").inner_text() == f"{value:.2f} %"
        assert row.locator(".rank").inner_text() in {"1", "2", "3", "4"}
    assert shown_markets(page) == [[e, p] for e, p in sorted(changes, key=lambda k: (k[1].lower(), k[0]))]
    assert drawn_sparklines(page) == sparklines_of(shown_markets(page))
    assert set(page.eval_on_selector_all("canvas.sparkline", "cs => cs.map(c => c.dataset.points)")) == {"6"}

    del api[:]
    after(page, lambda: page.click("th a[data-sort='pct_change']"))
    assert [u.split("?")[0] for u in api] == ["/api/v1/markets/table", "/api/v1/sparklines"]
    assert "sort=pct_change" in api[0]
    ascending = sorted(changes, key=changes.get)
    assert shown_markets(page) == [list(k) for k in ascending]
    assert page.get_attribute("th:has(a[data-sort='pct_change'])", "aria-sort") == "ascending"
    assert drawn_sparklines(page) == sparklines_of(shown_markets(page))
    after(page, lambda: page.click("th a[data-sort='pct_change']"))
    assert shown_markets(page) == [list(k) for k in ascending[::-1]]
    assert query_of(page) == {"sort": "pct_change", "order": "desc"}

    after(page, lambda: page.fill("#markets-q", "BITSTAMP"))
    assert shown_markets(page) == [list(k) for k in ascending[::-1] if k[0] == "bitstamp"]
    assert page.get_attribute("#markets-table", "data-total") == "2"
    assert drawn_sparklines(page) == sparklines_of(shown_markets(page))
    after(page, lambda: page.fill("#markets-q", ""))
    after(page, lambda: page.select_option("#markets-exchange", "binance"))
    assert {e for e, _ in shown_markets(page)} == {"binance"}
    after(page, lambda: page.select_option("#markets-quote", "USD"))
    assert shown_markets(page) == []
    assert "No market matches these filters." in page.inner_text("#markets-table tbody")
    assert page.problems == []

    # two rows a page: the pager asks the API for the next page, which starts where this one ended
    page.goto(live + "/?per_page=2&sort=pct_change")
    page.wait_for_function("() => document.getElementById('markets-table').dataset.loaded === '1'")
    assert shown_markets(page) == [list(k) for k in ascending[:2]]
    assert page.inner_text("#markets-pager .position") == "Page 1 of 2"
    after(page, lambda: page.click("#markets-pager a[data-rel='next']"))
    assert shown_markets(page) == [list(k) for k in ascending[2:]]
    assert page.inner_text("#markets-pager .position") == "Page 2 of 2"
    assert page.locator("#markets-pager a[data-rel='next']").is_hidden()
    assert drawn_sparklines(page) == sparklines_of(shown_markets(page))
    assert query_of(page) == {"sort": "pct_change", "page": "2", "per_page": "2"}
    after(page, lambda: page.click("#markets-pager a[data-rel='prev']"))
    assert shown_markets(page) == [list(k) for k in ascending[:2]]
    assert page.problems == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_dashboard_sorts_and_pages_without_javascript(app, chromium, live, fake):
    from test_api import collect_history

    collect_history(app, fake, cycles=4)
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live + "/?per_page=3")
    assert len(shown_markets(page)) == 3
    page.click("th a[data-sort='last']")
    page.click("th a[data-sort='last']")  # again: the other way round
    assert query_of(page) == {"sort": "last", "order": "desc", "per_page": "3"}
    page.click("#markets-pager a[data-rel='next']")
    api = app.test_client().get("/api/v1/markets/table?sort=last&order=desc&per_page=3&page=2").get_json()
    assert shown_markets(page) == [[r["exchange"], r["pair"]] for r in api["markets"]]
    page.fill("#markets-q", "binance")
    page.click("#markets-form button[type=submit]")
    assert {e for e, _ in shown_markets(page)} == {"binance"}
    context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_markup_in_a_market_name_is_shown_as_text(app, live, page):
    from cryptocrunch.clock import now_ms
    from cryptocrunch.db import db
    from cryptocrunch.sources.base import Tick
    from cryptocrunch.storage.ticks import store_ticks

    with app.app_context():
        store_ticks(
            db.session, [Tick("binance", "<script>window.pwned=1</script>/USD", now_ms() - 1000, 2.0)]
        )
        db.session.commit()
    page.goto(live + "/")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.pwned") is None
    assert page.locator("td", has_text="<script>window.pwned=1</script>/USD").count() == 1
    after(page, lambda: page.fill("#markets-q", "script"))  # the same row drawn by the script
    assert page.evaluate("window.pwned") is None
    assert page.locator("td", has_text="<script>window.pwned=1</script>/USD").count() == 1
    assert page.problems == []


def candle_chart(page):
    """The candle chart's datasets as {label: data}."""
    return page.evaluate(
        "() => Object.fromEntries(Chart.getChart('candle-chart').data.datasets.map(d => [d.label, d.data]))"
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_market_page_draws_candles_with_emas_and_crossovers(app, live, page, client):
    import numpy as np

    from cryptocrunch.clock import now_ms
    from cryptocrunch.db import db
    from cryptocrunch.sources.base import Candle, Tick
    from cryptocrunch.storage.candles import store_candles
    from cryptocrunch.storage.ticks import store_ticks

    hour = 3_600_000
    start = (now_ms() // hour - 150) * hour
    closes = np.r_[np.linspace(100, 60, 50), np.linspace(60, 120, 50), np.linspace(120, 80, 50)]
    with app.app_context():
        candles = [
            Candle("kraken", "ETH/USD", "1h", start + i * hour, c, c * 1.01, c * 0.99, c, 5)
            for i, c in enumerate(closes)
        ]
        store_candles(db.session, candles)
        store_ticks(
            db.session, [Tick("kraken", "ETH/USD", start + i * 60_000, 80.0 + i % 7) for i in range(150)]
        )
        db.session.commit()

    page.goto(live + "/markets/kraken/ETH-USD")
    page.wait_for_function("() => Number(document.getElementById('candles').dataset.loaded) >= 1")
    page.click("#pair button[data-window='7d']")  # auto picks 1h for a week
    page.wait_for_function("() => Chart.getChart('candle-chart').data.datasets[0].label === 'kraken 1h'")

    api = client.get(
        "/api/v1/markets/kraken/ETH-USD/candles?window=7d&timeframe=1h&fast=12&slow=26"
    ).get_json()
    drawn = candle_chart(page)
    assert [(p["x"], p["o"], p["h"], p["l"], p["c"]) for p in drawn["kraken 1h"]] == [
        (r["ts"], r["open"], r["high"], r["low"], r["close"]) for r in api
    ]
    assert [p["y"] for p in drawn["EMA 12"]] == [r["ema_fast"] for r in api]
    assert [p["y"] for p in drawn["EMA 26"]] == [r["ema_slow"] for r in api]
    crosses = [(r["ts"], r["cross"]) for r in api if r["cross"]]
    assert {c for _, c in crosses} == {"golden", "death"}
    assert [p["x"] for p in drawn["golden cross"]] == [ts for ts, c in crosses if c == "golden"]
    assert [p["x"] for p in drawn["death cross"]] == [ts for ts, c in crosses if c == "death"]
    assert page.locator("#crosses tbody tr").count() == len(crosses)
    assert page.locator("#crosses tbody tr").first.locator("td").first.inner_text() == crosses[-1][1]

    # another timeframe and other EMA spans ask the API again
    page.click("#candles button[data-timeframe='1d']")
    page.wait_for_function("() => Chart.getChart('candle-chart').data.datasets[0].label === 'kraken 1d'")
    page.fill("#ema-fast", "3")
    page.fill("#ema-slow", "5")
    page.dispatch_event("#ema-slow", "change")
    page.wait_for_function(
        "() => Chart.getChart('candle-chart').data.datasets.some(d => d.label === 'EMA 5')"
    )
    daily = client.get(
        "/api/v1/markets/kraken/ETH-USD/candles?window=7d&timeframe=1d&fast=3&slow=5"
    ).get_json()
    assert [p["y"] for p in candle_chart(page)["EMA 3"]] == [r["ema_fast"] for r in daily]

    # an impossible request shows the API's message
    page.fill("#ema-fast", "9")
    page.dispatch_event("#ema-fast", "change")
    page.wait_for_selector("#candle-message:not([hidden])")
    assert "fast (9) must be shorter than slow (5)" in page.inner_text("#candle-message")
    assert all("status of 400" in p for p in page.problems)  # the failed request, nothing else


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_market_page_shows_the_order_book(app, live, page, client, runner, fake):
    for cycle in range(5):
        mid = 60_000 + 100 * cycle
        fake.set_book(
            "binance", "BTC/USDT", [(mid - 5 - cycle, 1.5), (mid - 50, 3)], [(mid + 5, 1.0), (mid + 400, 2)]
        )
        assert runner.invoke(args=["collect", "--exchange", "binance", "--books"]).exit_code == 0
    page.goto(live + "/markets/binance/BTC-USDT")
    page.wait_for_function("() => Number(document.getElementById('book').dataset.loaded) >= 1")

    book = client.get("/api/v1/markets/binance/BTC-USDT/book?window=24h&points=1000").get_json()
    drawn = page.evaluate(
        "() => ['book-mid-chart', 'book-spread-chart'].map(id => Chart.getChart(id).data.datasets"
        ".map(d => d.data.map(p => p.y)))"
    )
    assert drawn[0][0] == [p["mid"] for p in book["series"]]
    assert drawn[0][1] == [book["series"][-1]["mid"], book["forecast"]["mid"]]
    assert drawn[1][0] == [p["spread_bps"] for p in book["series"]]
    summary = page.inner_text("#book-summary")
    assert "not advice" in summary and "Highest bid" in summary
    assert page.problems == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", [375, 1440])
def test_similar_and_book_pages_load_cleanly(app, live, chromium, runner, fake, width, request):
    fake.set_book("binance", "BTC/USDT", [(99.0, 1.0)], [(101.0, 1.0)])
    assert runner.invoke(args=["collect", "--books"]).exit_code == 0
    assert runner.invoke(args=["similar"]).exit_code == 0
    for path in ("/exchanges/binance/similar", "/markets/binance/BTC-USDT"):
        check_cleanly(chromium, live + path, width, request).context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", [375, 1440])
def test_rejections_page_and_a_flagged_run_load_cleanly(app, live, chromium, runner, fake, width, request):
    app.config["REJECTIONS_ALERT"] = 1
    fake.set_ticker("binance", "BTC/USDT", -1)
    fake.set_ticker("binance", "ETH/USDT", 100.0, bid=101.0, ask=100.5)
    assert runner.invoke(args=["collect", "--exchange", "binance"]).exit_code == 0

    page = check_cleanly(chromium, live + "/rejections", width, request)
    assert page.locator("#rejection-groups tbody tr").count() == 2
    assert page.locator("#rejections-table tbody tr").count() == 2
    assert "over 1" in page.inner_text("#rejection-sources")
    page.context.close()

    page = check_cleanly(chromium, live + "/", width, request)
    page.click("a.flag")
    page.wait_for_url("**/rejections?source=binance")
    assert page.locator("select[name=source]").input_value() == "binance"
    page.context.close()


# -- accounts --------------------------------------------------------------------------------------

PASSWORD = "correct horse battery"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sign_up_log_in_create_a_token_and_log_out(app, live, page, request):
    page.goto(live + "/signup")
    page.fill("#email", "Ada@Example.org")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.get_by_role("button", name="Create the account").click()
    page.wait_for_url(live + "/login")
    assert "If that email had no account, it has one now" in page.inner_text("main")

    page.fill("#email", "ada@example.org")
    page.fill("#password", "not the password")
    page.get_by_role("button", name="Log in").click()
    assert page.inner_text("#login-error") == "Wrong email or password."
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live + "/")
    assert page.inner_text("#nav-account") == "ada@example.org"

    page.click("#nav-account")
    page.fill("#name", "laptop")
    page.get_by_role("button", name="Create a token").click()
    token = page.inner_text("#new-token")
    assert token.startswith("cc_")
    assert page.locator("#tokens-table tbody tr").count() == 1
    page.evaluate(AXE.read_text())
    violations = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations.map(v => v.id)"
    )
    assert violations == []
    api = app.test_client().get("/api/v1/exchanges", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200

    page.click("#logout")
    page.wait_for_url(live + "/")
    assert page.locator("#nav-login").is_visible()
    page.goto(live + "/account")
    assert page.url.startswith(live + "/login")
    assert page.problems == []  # no CSP violation, no script error on any of these pages


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", [375, 1440])
@pytest.mark.parametrize("path", ["/login", "/signup"])
def test_account_pages_load_cleanly(app, live, chromium, path, width, request):
    check_cleanly(chromium, live + path, width, request).context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_docs_run_under_the_content_security_policy(app, live, page):
    page.goto(live + "/api/v1/docs")
    page.wait_for_selector(".opblock-summary-path")
    assert "/api/v1/rankings" in page.locator(".opblock-summary-path").all_inner_texts()
    assert page.problems == []
