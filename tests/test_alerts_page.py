"""The /alerts page, the HTML twin of /api/v1/alerts: adding a rule through its form (checked as the
API checks it, a wrong field re-shown with 422), CSRF on every form, isolation between users,
pause/resume/delete, the events with their deliveries; through the test client on SQLite and
PostgreSQL, and once end to end in a real Chromium with a webhook receiving the alert."""

from __future__ import annotations

import re

import pytest
from test_auth import PASSWORD, login, post, signed_up, stored
from test_browser import AXE, chromium, live, page  # noqa: F401 (fixtures)
from test_channels import webhook  # noqa: F401 (fixture)

from cryptocrunch.models import AlertEvent, AlertRule, Channel

#: A rule as the form sends it, every field there (empty: not given).
FORM = {
    "pair": "BTC/USDT",
    "exchange": "binance",
    "kind": "price",
    "op": "above",
    "value": "105",
    "window": "",
    "timeframe": "",
    "fast": "",
    "slow": "",
    "repeat": "rearm",
    "hysteresis_pct": "",
    "cooldown": "",
    "expires": "",
    "note": "",
}


def collect(app, fake, price, pair="BTC/USDT", exchange="binance"):
    fake.set_ticker(exchange, pair, price)
    result = app.test_cli_runner().invoke(args=["collect", "--exchange", exchange])
    assert result.exit_code == 0, result.output
    return result.output


def user(app, email):
    """A signed-in test client of a new account."""
    signed_up(app, email)
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client


def add_channel(client, url, name="hook"):
    response = post(client, "/account/channels", {"name": name, "url": url}, page="/account")
    assert response.status_code == 302, response.get_data(as_text=True)


def add_rule(client, **fields):
    return post(client, "/alerts", {**FORM, **fields})


def rule_row(html, rule_id):
    found = re.search(rf'<tr data-rule="{rule_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"no row of rule {rule_id}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def test_signed_out_the_page_sends_to_log_in_and_the_nav_has_no_alerts_link(make_app):
    app = make_app()
    client = app.test_client()
    response = client.get("/alerts")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login?next=/alerts")
    assert client.post("/alerts", data=FORM).status_code == 400  # no CSRF token: refused first
    assert 'id="nav-alerts"' not in client.get("/").get_data(as_text=True)


def test_a_rule_added_through_the_form_is_stored_and_listed(make_app, fake):
    app = make_app()
    collect(app, fake, 100)
    client = user(app, "a@example.org")
    assert 'id="nav-alerts"' in client.get("/").get_data(as_text=True)
    add_channel(client, "json://127.0.0.1:9/hook", "my hook")
    [channel] = stored(app, Channel)

    empty = client.get("/alerts").get_data(as_text=True)
    assert "No rules yet" in empty and "No events yet" in empty
    assert '<option value="BTC/USDT">' in empty  # the pair list offers what is collected
    assert '<option value="">median of exchanges</option><option value="binance">binance</option>' in empty

    response = add_rule(client, channels=[str(channel.id)], hysteresis_pct="1", cooldown="15m", note="tp")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/alerts")
    [rule] = stored(app, AlertRule)
    assert (rule.pair, rule.exchange, rule.kind, rule.op, rule.value) == (
        "BTC/USDT",
        "binance",
        "price",
        "above",
        105,
    )
    assert (rule.hysteresis_pct, rule.cooldown_ms, rule.note, rule.window_ms) == (1.0, 900_000, "tp", None)

    html = client.get("/alerts").get_data(as_text=True)
    assert f"Rule {rule.id} added" in html
    row = rule_row(html, rule.id)
    assert row.startswith(
        f"{rule.id} BTC/USDT binance price tp above 105 – rearm, 1 % hysteresis, cooldown 15m"
    )
    assert "armed" in row and "never" in row and "my hook" in row

    # the cross-exchange median, a windowed rule, a pair typed the URL way
    response = add_rule(client, pair="btc-usdt", exchange="", kind="change", op="up", value="2", window="24h")
    assert response.status_code == 302, response.get_data(as_text=True)
    median = stored(app, AlertRule)[1]
    assert (median.pair, median.exchange, median.window_ms) == ("BTC/USDT", None, 86_400_000)
    row = rule_row(client.get("/alerts").get_data(as_text=True), median.id)
    assert row.startswith(f"{median.id} BTC/USDT median of exchanges change up 2 1d rearm")  # 24h
    assert "none" in row  # no channel


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "change", "op": "up", "value": "2"}, "window", "a change rule needs one, like 1h or 24h"),
        ({"value": ""}, "value", "a price rule needs one"),
        ({"pair": "DOGE/EUR"}, "exchange", "DOGE/EUR is not collected on binance"),
        (
            {"op": "golden"},
            "op",
            "a price rule takes above, below, crosses_up, crosses_down, got &#39;golden&#39;",
        ),
        ({"expires": "2020-01-01T00:00:00Z"}, "expires", "must be in the future"),
        (
            {"kind": "signal", "op": "golden", "value": "", "timeframe": "1h", "fast": "30"},
            "fast",
            "must be shorter than slow (30 &gt;= 26)",
        ),
    ],
)
def test_a_wrong_field_is_a_422_with_its_message_by_the_field_and_what_was_typed_kept(
    make_app, fake, fields, field, message
):
    app = make_app()
    collect(app, fake, 100)
    client = user(app, "a@example.org")
    response = add_rule(client, note="keep me", **fields)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'<span class="error" id="{field}-errors">{message}</span>' in html
    assert f'id="rule-error">{field}: {message}' in html
    assert re.search(rf'<[^>]+aria-invalid="true"[^>]+id="{field}"', html)
    assert re.search(r">\s*keep me</textarea>", html)
    assert stored(app, AlertRule) == []


def test_a_channel_not_offered_to_the_user_is_refused(make_app, fake):
    app = make_app()
    collect(app, fake, 100)
    a, b = user(app, "a@example.org"), user(app, "b@example.org")
    add_channel(a, "json://127.0.0.1:9/a")
    [a_channel] = stored(app, Channel)
    response = add_rule(b, channels=[str(a_channel.id)])
    assert response.status_code == 422
    assert "Check the fields marked below." in response.get_data(as_text=True)
    assert stored(app, AlertRule) == []


def test_every_form_of_the_page_refuses_a_post_without_its_csrf_token(make_app, fake):
    app = make_app()
    collect(app, fake, 100)
    client = user(app, "a@example.org")
    assert add_rule(client).status_code == 302
    [rule] = stored(app, AlertRule)
    forms = {
        "/alerts": FORM,
        f"/alerts/{rule.id}/pause": {},
        f"/alerts/{rule.id}/resume": {},
        f"/alerts/{rule.id}/delete": {},
    }
    for path, data in forms.items():
        for token in (None, "forged"):
            sent = data if token is None else {**data, "csrf_token": token}
            response = client.post(path, data=sent)
            assert response.status_code == 400, (path, token)
            assert "CSRF" in response.get_data(as_text=True), path
    [kept] = stored(app, AlertRule)
    assert (kept.id, kept.paused) == (rule.id, False)


def test_user_b_cannot_see_pause_resume_or_delete_user_a_s_rule(make_app, fake):
    app = make_app()
    collect(app, fake, 100)
    a, b = user(app, "a@example.org"), user(app, "b@example.org")
    assert add_rule(a, note="a-secret-note").status_code == 302
    [rule] = stored(app, AlertRule)

    html = b.get("/alerts").get_data(as_text=True)
    assert "a-secret-note" not in html and "No rules yet" in html
    for action in ("pause", "resume", "delete"):
        assert post(b, f"/alerts/{rule.id}/{action}", {}, page="/alerts").status_code == 404, action
        assert post(b, f"/alerts/999999/{action}", {}, page="/alerts").status_code == 404, action
    [kept] = stored(app, AlertRule)
    assert (kept.id, kept.paused) == (rule.id, False)


def test_pause_resume_and_delete(make_app, fake):
    app = make_app()
    collect(app, fake, 100)
    client = user(app, "a@example.org")
    assert add_rule(client).status_code == 302
    [rule] = stored(app, AlertRule)

    response = post(client, f"/alerts/{rule.id}/pause", {}, page="/alerts")
    assert response.status_code == 302
    assert stored(app, AlertRule)[0].paused is True
    html = client.get("/alerts").get_data(as_text=True)
    assert f"Rule {rule.id} paused." in html
    assert "armed (paused)" in rule_row(html, rule.id)
    assert f'aria-label="Resume rule {rule.id}"' in html

    collect(app, fake, 110)  # paused: sees nothing
    assert stored(app, AlertEvent) == []
    before = stored(app, AlertRule)[0].seen
    assert post(client, f"/alerts/{rule.id}/resume", {}, page="/alerts").status_code == 302
    resumed = stored(app, AlertRule)[0]
    assert resumed.paused is False and resumed.seen > before  # from now on, like the API's resume
    assert f'aria-label="Pause rule {rule.id}"' in client.get("/alerts").get_data(as_text=True)

    assert post(client, f"/alerts/{rule.id}/delete", {}, page="/alerts").status_code == 302
    assert stored(app, AlertRule) == []
    html = client.get("/alerts").get_data(as_text=True)
    assert f"Rule {rule.id} deleted." in html and "No rules yet" in html


def test_a_firing_shows_as_an_event_with_its_delivery(make_app, fake, webhook):  # noqa: F811
    app = make_app()
    host, bodies = webhook
    collect(app, fake, 100)
    client = user(app, "a@example.org")
    add_channel(client, f"json://{host}/hook", "my hook")
    add_channel(client, "json://127.0.0.1:9/nobody-listens", "dead hook")
    channels = [str(c.id) for c in stored(app, Channel)]
    assert add_rule(client, channels=channels, note="take profit").status_code == 302

    collect(app, fake, 106)
    assert len(bodies) == 1
    [event] = stored(app, AlertEvent)
    html = client.get("/alerts").get_data(as_text=True)
    row = re.search(rf'<tr data-event="{event.id}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert "cryptocrunch alert: BTC/USDT price above" in row
    assert "BTC/USDT on binance: price 106 is above 105" in row and "take profit" in row
    assert '<td class="num">106</td>' in row
    assert 'my hook: <span class="delivery-sent">sent</span>' in row
    assert re.search(r'dead hook: <span class="delivery-(pending|failed)">', row)
    rule_id = stored(app, AlertRule)[0].id
    assert "fired" in rule_row(html, rule_id) and "never" not in rule_row(html, rule_id)


def test_a_held_back_event_says_so(make_app, fake):
    app = make_app(ALERTS_MAX_PER_HOUR=1)
    collect(app, fake, 100)
    client = user(app, "a@example.org")
    add_channel(client, "json://127.0.0.1:9/hook")
    [channel] = stored(app, Channel)
    for value in ("101", "102"):
        assert add_rule(client, value=value, channels=[str(channel.id)]).status_code == 302
    collect(app, fake, 110)  # both fire; the hour has room for one
    held = [e for e in stored(app, AlertEvent) if e.held]
    assert len(held) == 1
    html = client.get("/alerts").get_data(as_text=True)
    row = re.search(rf'<tr data-event="{held[0].id}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert "held back (storm guard)" in row


# -- in a real browser -----------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_add_a_channel_and_a_rule_in_the_browser_and_see_it_fire(app, live, page, fake, webhook):  # noqa: F811
    host, bodies = webhook
    collect(app, fake, 100)
    signed_up(app, "ada@example.org")

    page.goto(live + "/alerts")
    page.wait_for_url("**/login?next=/alerts")
    page.fill("#email", "ada@example.org")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live + "/alerts")

    page.click("#nav-account")
    new_channel = page.get_by_role("form", name="New channel")  # the token form has an id="name" too
    new_channel.locator("input[name=name]").fill("my hook")
    new_channel.locator("input[name=url]").fill(f"json://{host}/hook")
    new_channel.get_by_role("button", name="Add the channel").click()
    assert "Channel 'my hook' added" in page.inner_text(".flashes")

    page.click("#nav-alerts")
    page.wait_for_url(live + "/alerts")
    assert "No rules yet" in page.inner_text("main")
    page.fill("#pair", "BTC/USDT")
    page.select_option("#exchange", "binance")
    page.select_option("#kind", "price")
    page.select_option("#op", "above")
    page.fill("#value", "105")
    page.get_by_label("my hook").check()
    page.fill("#note", "take profit")
    page.get_by_role("button", name="Add the rule").click()
    page.wait_for_url(live + "/alerts")
    assert "added: BTC/USDT price above" in page.inner_text(".flashes")
    rows = page.locator("#rules-table tbody tr")
    assert rows.count() == 1
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[1:6] == ["BTC/USDT", "binance", "price\ntake profit", "above", "105"]
    assert cells[8] == "armed" and cells[9] == "never" and cells[10] == "my hook"

    collect(app, fake, 106)
    page.reload()
    event = page.locator("#events-table tbody tr")
    assert event.count() == 1
    assert "BTC/USDT on binance: price 106 is above 105" in event.locator(".event-message").inner_text()
    assert event.locator(".deliveries").inner_text().startswith("my hook: sent")
    assert page.locator("#rules-table tbody tr td.state").inner_text() == "fired"
    assert [b["title"] for b in bodies] == ["cryptocrunch alert: BTC/USDT price above"]

    assert axe_violations(page) == []
    assert page.problems == []


def axe_violations(tab):
    """axe-core's WCAG 2 A/AA violations on the page (evaluated over DevTools: the CSP refuses
    injected scripts)."""
    tab.evaluate(AXE.read_text())
    return tab.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations"
        ".map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", [375, 1440])
def test_the_alerts_page_and_a_wrong_rule_load_cleanly_on_phones_and_desktops(
    app,
    live,  # noqa: F811
    chromium,  # noqa: F811
    fake,
    width,
    request,
):
    from test_browser import screenshot

    collect(app, fake, 100)
    signed_up(app, "ada@example.org")
    context = chromium.new_context(viewport={"width": width, "height": 800})
    tab = context.new_page()
    problems = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.goto(live + "/login?next=/alerts")
    tab.fill("#email", "ada@example.org")
    tab.fill("#password", PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(live + "/alerts")

    tab.fill("#pair", "BTC/USDT")
    tab.select_option("#kind", "change")
    tab.select_option("#op", "up")
    tab.fill("#value", "2")
    tab.get_by_role("button", name="Add the rule").click()
    tab.wait_for_selector("#rule-error")
    assert tab.inner_text("#rule-error") == "window: a change rule needs one, like 1h or 24h"
    assert tab.get_attribute("#window", "aria-invalid") == "true"
    assert tab.input_value("#value") == "2"  # what was typed is kept
    screenshot(tab, request)
    assert tab.evaluate("document.documentElement.scrollWidth") <= width
    assert axe_violations(tab) == []
    assert problems == [
        "Failed to load resource: the server responded with a status of 422 (UNPROCESSABLE ENTITY)"
    ]
    context.close()
