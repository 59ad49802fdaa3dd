"""Alert rules end to end: prices set on the fake exchange, `flask collect` stores them, the rules
are evaluated in the same transaction, events are delivered through real Apprise to a webhook on
127.0.0.1; crossing, re-arming with hysteresis, once, cooldown, the cross-exchange median, an
evaluator that was down catching up with exactly one event, a restart firing nothing again,
validation, isolation; on SQLite and PostgreSQL."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_auth import bearer, create_token, login, signed_up, stored
from test_channels import webhook  # noqa: F401 (fixture)

from cryptocrunch import events
from cryptocrunch.models import AlertEvent, AlertRule


def account(app, email, host=None):
    """A user with a token (and a webhook channel when ``host``): (headers, channel id or None)."""
    signed_up(app, email)
    web = app.test_client()
    login(web, email)
    auth = bearer(create_token(web))
    channel = None
    if host:
        made = app.test_client().post(
            "/api/v1/channels", json={"name": "hook", "url": f"json://{host}/{email}"}, headers=auth
        )
        channel = made.json["id"]
    return auth, channel


def collect(app, fake, price, pair="BTC/USDT", exchange="binance"):
    fake.set_ticker(exchange, pair, price)
    result = app.test_cli_runner().invoke(args=["collect", "--exchange", exchange])
    assert result.exit_code == 0, result.output
    return result.output


def rule(app, auth, **fields):
    response = app.test_client().post("/api/v1/alerts", json=fields, headers=auth)
    assert response.status_code == 201, response.json
    return response.json


def test_a_price_rule_fires_re_arms_with_hysteresis_and_is_delivered(make_app, fake, webhook):  # noqa: F811
    app = make_app()
    host, bodies = webhook
    auth, channel = account(app, "a@example.org", host)
    collect(app, fake, 100)  # the pair must be collected before a rule can watch it
    made = rule(
        app,
        auth,
        pair="BTC/USDT",
        exchange="binance",
        kind="price",
        op="above",
        value=105,
        hysteresis_pct=1,
        channels=[channel],
        note="take profit",
    )
    assert (made["state"], made["channels"]) == ("armed", [channel])

    collect(app, fake, 104)
    assert bodies == []
    output = collect(app, fake, 106)
    assert "notify       sent 1" in output
    [sent] = bodies
    assert sent["title"] == "cryptocrunch alert: BTC/USDT price above"
    assert (
        "BTC/USDT on binance: price 106 is above 105" in sent["message"] and "take profit" in sent["message"]
    )
    collect(app, fake, 107)  # still above: fired, not again
    collect(app, fake, 104.5)  # below 105 but not by 1 %: not re-armed
    collect(app, fake, 106)
    assert len(bodies) == 1
    collect(app, fake, 103)  # cleared by the hysteresis
    collect(app, fake, 105.5)
    assert len(bodies) == 2

    api = app.test_client()
    history = api.get(f"/api/v1/alerts/{made['id']}/events", headers=auth).json
    assert [e["observed"] for e in history] == [105.5, 106.0]
    assert api.get(f"/api/v1/alerts/{made['id']}", headers=auth).json["state"] == "fired"


def test_crossing_once_and_cooldown(make_app, fake):
    app = make_app()
    auth, _ = account(app, "a@example.org")
    collect(app, fake, 110)
    crossing = rule(app, auth, pair="BTC/USDT", exchange="binance", kind="price", op="crosses_up", value=105)
    once = rule(
        app, auth, pair="BTC/USDT", exchange="binance", kind="price", op="above", value=105, repeat="once"
    )
    cooled = rule(
        app, auth, pair="BTC/USDT", exchange="binance", kind="price", op="above", value=105, cooldown="1h"
    )
    for price in (111, 100, 107, 100, 108):
        collect(app, fake, price)
    fired = {
        r.id: [e.observed for e in stored(app, AlertEvent) if e.rule_id == r.id]
        for r in stored(app, AlertRule)
    }
    assert fired[crossing["id"]] == [107.0, 108.0]  # already above at creation: only real crossings
    assert fired[once["id"]] == [111.0]
    assert fired[cooled["id"]] == [111.0]  # re-armed at 100, but within the hour's cooldown
    states = {r.id: r.state for r in stored(app, AlertRule)}
    assert states[once["id"]] == 3  # done


def test_the_cross_exchange_median(make_app, fake):
    app = make_app()
    auth, _ = account(app, "a@example.org")
    for exchange, price in (("kraken", 100), ("coinbase", 110), ("bitstamp", 111)):
        collect(app, fake, price, pair="BTC/USD", exchange=exchange)
    made = rule(app, auth, pair="BTC-USD", kind="price", op="above", value=112)
    collect(app, fake, 113, pair="BTC/USD", exchange="kraken")  # median of 113, 110, 111: 111
    assert [e for e in stored(app, AlertEvent) if e.rule_id == made["id"]] == []
    collect(app, fake, 114, pair="BTC/USD", exchange="coinbase")  # median of 113, 114, 111: 113
    [event] = [e for e in stored(app, AlertEvent) if e.rule_id == made["id"]]
    assert event.observed == 113.0
    assert "BTC/USD on the median of 3 exchanges: price 113" in event.message


def test_an_evaluator_that_was_down_catches_up_with_exactly_one_event(make_app, fake):
    app = make_app()
    auth, _ = account(app, "a@example.org")
    collect(app, fake, 100)
    made = rule(app, auth, pair="BTC/USDT", exchange="binance", kind="price", op="crosses_up", value=105)
    with events.ticks_stored.muted():  # the evaluator is down for four cycles
        for price in (101, 106, 104, 103):
            collect(app, fake, price)
    assert stored(app, AlertEvent) == []
    collect(app, fake, 102)  # the first write it sees walks every tick since it last looked
    [event] = stored(app, AlertEvent)
    assert event.observed == 106.0
    assert event.ts < event.created  # the tick's own time, not the catch-up's
    assert event.rule_id == made["id"]
    collect(app, fake, 103)  # evaluated live again: still nothing twice
    assert len(stored(app, AlertEvent)) == 1


def test_window_rules_change_and_volatility(make_app, fake):
    app = make_app()
    auth, _ = account(app, "a@example.org")
    for price in (100, 101, 102):
        collect(app, fake, price)
    change = rule(
        app, auth, pair="BTC/USDT", exchange="binance", kind="change", op="up", value=5, window="1h"
    )
    collect(app, fake, 104)  # +4 % over the hour
    assert [e for e in stored(app, AlertEvent) if e.rule_id == change["id"]] == []
    collect(app, fake, 106)  # +6 %
    [event] = [e for e in stored(app, AlertEvent) if e.rule_id == change["id"]]
    assert round(event.observed, 6) == 6.0


def test_bad_rules_are_refused_naming_the_field(make_app, fake):
    app = make_app()
    auth, _ = account(app, "a@example.org")
    other, other_channel = account(app, "b@example.org", "127.0.0.1:1")
    collect(app, fake, 100)
    base = {"pair": "BTC/USDT", "exchange": "binance", "kind": "price", "op": "above", "value": 1}
    cases = [
        ({**base, "pair": "DOGE/EUR"}, "exchange: DOGE/EUR is not collected on binance"),
        ({**base, "exchange": None, "pair": "DOGE/EUR"}, "pair: no exchange has DOGE/EUR collected"),
        ({**base, "kind": "weather"}, "kind: one of price, change, move, volatility, spread, signal"),
        ({**base, "kind": "spread", "op": None}, "kind: spread rules need order books; none are stored"),
        ({**base, "kind": "signal", "op": "golden"}, "value: a signal rule takes none"),
        ({**base, "kind": "signal", "op": "golden", "value": None}, "timeframe: a signal rule needs one"),
        (
            {**base, "kind": "signal", "op": "golden", "value": None, "timeframe": "1h", "fast": 30},
            "fast: must be shorter than slow (30 >= 26)",
        ),
        (
            {**base, "exchange": None, "kind": "signal", "op": "golden", "value": None, "timeframe": "1h"},
            "exchange: a signal rule needs one",
        ),
        ({**base, "timeframe": "1h"}, "timeframe: a price rule takes no timeframe"),
        ({**base, "op": "up"}, "op: a price rule takes above, below, crosses_up, crosses_down"),
        ({**base, "kind": "change", "op": "up"}, "window: a change rule needs one"),
        ({**base, "window": "1h"}, "window: a price rule takes none"),
        ({**base, "value": -1}, "value: must be a non-negative number"),
        ({**base, "channels": [other_channel]}, f"channels: no channel {other_channel} of yours"),
        ({**base, "cooldown": "soon"}, "cooldown: a duration looks like"),
        ({**base, "expires": "2020-01-01T00:00:00Z"}, "expires: must be in the future"),
        ({**base, "repeat": "often"}, "repeat: Must be one of"),
        ({k: v for k, v in base.items() if k != "value"}, "value: a price rule needs one"),
    ]
    api = app.test_client()
    for body, message in cases:
        response = api.post("/api/v1/alerts", json=body, headers=auth)
        assert response.status_code == 422, body
        assert message in response.json["error"]["message"], (body, response.json)
    assert stored(app, AlertRule) == []
    assert other


def test_rules_and_events_are_their_owner_s_alone(make_app, fake):
    app = make_app()
    a, _ = account(app, "a@example.org")
    b, _ = account(app, "b@example.org")
    collect(app, fake, 100)
    made = rule(app, a, pair="BTC/USDT", exchange="binance", kind="price", op="above", value=1)
    api = app.test_client()
    assert api.get("/api/v1/alerts", headers=b).json == []
    for method, path in (
        ("get", f"/api/v1/alerts/{made['id']}"),
        ("get", f"/api/v1/alerts/{made['id']}/events"),
        ("post", f"/api/v1/alerts/{made['id']}/pause"),
        ("delete", f"/api/v1/alerts/{made['id']}"),
    ):
        assert getattr(api, method)(path, headers=b).status_code == 404, path
    assert api.get("/api/v1/alerts").status_code == 401
    paused = api.post(f"/api/v1/alerts/{made['id']}/pause", headers=a).json
    assert paused["paused"] is True
    collect(app, fake, 101)
    assert stored(app, AlertEvent) == []  # paused: sees nothing
    api.post(f"/api/v1/alerts/{made['id']}/resume", headers=a)
    collect(app, fake, 102)
    assert len(stored(app, AlertEvent)) == 1
    assert api.delete(f"/api/v1/alerts/{made['id']}", headers=a).status_code == 204
    assert stored(app, AlertRule) == [] and stored(app, AlertEvent) == []


def test_the_alerts_command(make_app, fake):
    app = make_app()
    account(app, "a@example.org")
    collect(app, fake, 100)
    runner = app.test_cli_runner()

    def run(*args):
        return runner.invoke(args=["alerts", *args])

    assert run("list", "--user", "a@example.org").output.startswith("no alert rules yet")
    added = run(
        "add",
        "--user",
        "a@example.org",
        "--pair",
        "BTC-USDT",
        "--exchange",
        "binance",
        "--kind",
        "price",
        "--op",
        "above",
        "--value",
        "105",
        "--cooldown",
        "15m",
    )
    assert added.exit_code == 0, added.output
    rule_id = stored(app, AlertRule)[0].id
    assert (
        f"{rule_id}  BTC/USDT     binance    price above 105  armed"
        in run("list", "--user", "a@example.org").output
    )
    bad = run("add", "--user", "a@example.org", "--pair", "BTC/USDT", "--kind", "change", "--value", "5")
    assert bad.exit_code == 2 and "window: a change rule needs one" in bad.output
    assert (
        run(
            "add", "--user", "nobody@example.org", "--pair", "BTC/USDT", "--kind", "price", "--value", "1"
        ).exit_code
        == 1
    )
    assert "paused" in run("pause", "--user", "a@example.org", str(rule_id)).output
    collect(app, fake, 106)
    assert stored(app, AlertEvent) == []
    assert "resumed" in run("resume", "--user", "a@example.org", str(rule_id)).output
    collect(app, fake, 107)
    assert len(stored(app, AlertEvent)) == 1
    assert run("delete", "--user", "b@example.org", str(rule_id)).exit_code == 1
    assert "deleted" in run("delete", "--user", "a@example.org", str(rule_id)).output
    assert stored(app, AlertRule) == []


def test_a_spread_rule_watches_the_book_tops_of_the_cycle(make_app, fake):
    app = make_app()
    auth, _ = account(app, "a@example.org")

    def cycle(bid, ask):
        fake.set_book("binance", "BTC/USDT", [(bid, 1.0)], [(ask, 1.0)])
        result = app.test_cli_runner().invoke(args=["collect", "--exchange", "binance", "--books"])
        assert result.exit_code == 0, result.output

    cycle(99.9, 100.1)
    made = rule(app, auth, pair="BTC/USDT", exchange="binance", kind="spread", value=50)
    cycle(99.8, 100.2)  # 40 bps
    assert stored(app, AlertEvent) == []
    cycle(99.5, 100.5)  # 100 bps: this cycle's book, evaluated with this cycle's ticks
    [event] = stored(app, AlertEvent)
    assert (event.rule_id, round(event.observed, 9)) == (made["id"], 100.0)
    assert "book-top spread 100 bps" in event.message
    median = rule(app, auth, pair="BTC/USDT", kind="spread", value=50)  # one exchange: its own median
    cycle(99.9, 100.1)  # clears both
    cycle(99.0, 101.0)  # 200 bps
    assert [round(e.observed) for e in stored(app, AlertEvent) if e.rule_id == median["id"]] == [200]


def test_a_signal_rule_fires_on_the_golden_cross_of_a_closed_candle(make_app, fake):
    import numpy as np

    from cryptocrunch.analysis.signals import crossovers, ema
    from cryptocrunch.clock import HOUR, now_ms
    from cryptocrunch.db import db
    from cryptocrunch.sources.base import Candle
    from cryptocrunch.storage.candles import store_candles

    app = make_app()
    auth, _ = account(app, "a@example.org")
    collect(app, fake, 150)
    hour = now_ms() // HOUR * HOUR
    opens = [hour - (30 - i) * HOUR for i in range(30)]  # the last closes at the current hour
    closes = np.r_[np.linspace(200, 100, 25), [110, 130, 150, 170, 190]]
    [cross] = crossovers(opens, closes, ema(closes, 3), ema(closes, 8))
    assert cross.kind == "golden"
    with app.app_context():
        store_candles(
            db.session,
            [
                Candle("binance", "BTC/USDT", "1h", t, c, c, c, c, 1)
                for t, c in zip(opens, closes, strict=True)
            ],
        )
        db.session.commit()
    made = rule(
        app,
        auth,
        pair="BTC/USDT",
        exchange="binance",
        kind="signal",
        op="golden",
        timeframe="1h",
        fast=3,
        slow=8,
    )
    death = rule(
        app,
        auth,
        pair="BTC/USDT",
        exchange="binance",
        kind="signal",
        op="death",
        timeframe="1h",
        fast=3,
        slow=8,
    )
    with app.app_context():  # as if both were made before the crossing candle closed
        db.session.execute(db.update(AlertRule).values(seen=cross.ts))
        db.session.commit()
    collect(app, fake, 151)
    [event] = stored(app, AlertEvent)
    assert (event.rule_id, event.observed, event.ts) == (made["id"], 1.0, cross.ts + HOUR)
    assert "EMA(3) crossed EMA(8) upwards (golden cross) on the 1h candle" in event.message
    collect(app, fake, 152)  # no candle closed since: nothing new
    assert len(stored(app, AlertEvent)) == 1
    assert app.test_client().get(f"/api/v1/alerts/{death['id']}/events", headers=auth).json == []


def test_the_storm_guard_holds_back_past_the_hourly_limit_with_one_summary(make_app, fake, webhook):  # noqa: F811
    from cryptocrunch.clock import HOUR, now_ms
    from cryptocrunch.db import db
    from cryptocrunch.models import Delivery

    app = make_app(ALERTS_MAX_PER_HOUR=2)
    host, bodies = webhook
    auth, channel = account(app, "a@example.org", host)
    quiet, _ = account(app, "b@example.org")  # no channel: events kept, nothing to hold back
    collect(app, fake, 100)
    for user in (auth, quiet):
        rule(
            app,
            user,
            pair="BTC/USDT",
            exchange="binance",
            kind="price",
            op="above",
            value=100,
            channels=[channel] if user is auth else [],
        )
    for price in (101, 99, 102, 98, 103, 97, 104, 96, 105):  # fires at every price above 100: five times
        collect(app, fake, price)
    events_ = [e for e in stored(app, AlertEvent) if e.user_id == stored(app, AlertRule)[0].user_id]
    fired = [e for e in events_ if e.kind == "rule"]
    assert len(fired) == 5 and [e.held for e in fired] == [False, False, True, True, True]
    assert [b["title"] for b in bodies].count("cryptocrunch alert: BTC/USDT price above") == 2
    [summary] = [e for e in events_ if e.kind == "summary"]
    assert summary.message.startswith("3 more alerts fired since") and summary.observed == 3
    with app.app_context():
        [delivery] = db.session.scalars(db.select(Delivery).where(Delivery.event_id == summary.id)).all()
        assert delivery.status == "pending"
        assert abs(delivery.next_try - (fired[0].created + HOUR)) < 1000  # when the hour frees a place
        assert delivery.next_try > now_ms()
        delivery.next_try = now_ms()  # an hour later
        db.session.commit()
    assert app.test_cli_runner().invoke(args=["notify"]).exit_code == 0
    assert bodies[-1]["title"] == "cryptocrunch: alerts held back"
    assert "3 more alerts" in bodies[-1]["message"]
    other = [e for e in stored(app, AlertEvent) if e.user_id != summary.user_id]
    assert len(other) == 5 and not any(e.held for e in other)
    held = app.test_client().get(f"/api/v1/alerts/{fired[2].rule_id}/events", headers=auth).json
    assert [e["held"] for e in held] == [True, True, True, False, False]


def test_the_kept_rule_definitions_follow_every_change_of_rules_and_accounts(make_app, fake):
    """The evaluator keeps the rules between writes while the rules' version stands: adding a rule,
    disabling its account or pausing it from another session changes what the next write sees."""
    app = make_app()
    auth, _ = account(app, "a@example.org")
    collect(app, fake, 100)
    rule(app, auth, pair="BTC/USDT", exchange="binance", kind="price", op="above", value=100, repeat="rearm")
    collect(app, fake, 101)
    assert len(stored(app, AlertEvent)) == 1
    assert app.test_cli_runner().invoke(args=["users", "disable", "a@example.org"]).exit_code == 0
    collect(app, fake, 99)
    collect(app, fake, 102)  # re-armed and above again, but the account is disabled
    assert len(stored(app, AlertEvent)) == 1
    b, _ = account(app, "b@example.org")
    made = rule(app, b, pair="BTC/USDT", exchange="binance", kind="price", op="above", value=100)
    collect(app, fake, 103)
    assert [e.rule_id for e in stored(app, AlertEvent)][1:] == [made["id"]]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 50), st.floats(1, 1000)), max_size=8).map(
            lambda points: sorted(dict(points).items())
        ),
        min_size=1,
        max_size=5,
    ),
    st.integers(-1, 40),
)
def test_the_median_at_each_time_is_the_median_of_the_latest_values(series, since):
    """Against pandas: forward-filled latest values, median across the series that have one."""
    import numpy as np
    import pandas as pd

    from cryptocrunch.alerts.rules import _median_at_each_time

    arrays = [(np.array([t for t, _ in s], dtype=np.int64), np.array([v for _, v in s])) for s in series]
    times, medians = _median_at_each_time(arrays, since)
    frames = [pd.Series(v, index=t, dtype="float64") for t, v in arrays if len(t)]
    if not frames:
        assert len(times) == 0
        return
    wide = pd.concat(frames, axis=1).sort_index().ffill()
    expected = wide[wide.index > since].median(axis=1)
    assert times.tolist() == expected.index.tolist()
    np.testing.assert_allclose(medians, expected.to_numpy(), rtol=1e-12)
