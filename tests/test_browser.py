"""Pages in a real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

Each test saves a screenshot under test-output/ (git-ignored).
"""

import threading
from pathlib import Path

import pytest
from conftest import need
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output"
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
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
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
