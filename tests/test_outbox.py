"""The outbox and the operator's system events, end to end: a source failing collect cycles in a
row, told once to the admin's channel through real Apprise and a real webhook on 127.0.0.1;
retries then failure, a slow channel holding up no other, `flask notify`."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_auth import bearer, create_token, login, signed_up, stored
from test_channels import webhook  # noqa: F401 (fixture)

from cryptocrunch.models import AlertEvent, Channel, Delivery


@pytest.fixture
def slow_webhook():
    """A receiver that takes 3 s to answer: yields (base URL, bodies)."""
    bodies: list[dict] = []

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self):
            time.sleep(3)
            length = int(self.headers["Content-Length"])
            bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}", bodies
    server.shutdown()
    server.server_close()
    thread.join()


def admin_with_channels(app, *urls):
    """The admin (the first account) with channels for system events at ``urls``."""
    signed_up(app, "ops@example.org")
    with app.app_context():
        from cryptocrunch.db import db
        from cryptocrunch.models import User

        db.session.execute(db.update(User).values(is_admin=True))
        db.session.commit()
    web = app.test_client()
    login(web, "ops@example.org")
    auth = bearer(create_token(web))
    api = app.test_client()
    for i, url in enumerate(urls):
        made = api.post(
            "/api/v1/channels", json={"name": f"ops{i}", "url": url, "system_events": True}, headers=auth
        )
        assert made.status_code == 201, made.json
        assert made.json["system_events"] is True
    return auth


def collect(app, *args):
    result = app.test_cli_runner().invoke(args=["collect", "--exchange", "binance", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_source_failing_cycles_in_a_row_is_told_once_to_the_operator(make_app, fake, webhook):  # noqa: F811
    app = make_app(NOTIFY_FAILURES_IN_ROW=3)
    host, bodies = webhook
    admin_with_channels(app, f"json://{host}/ops")

    fake.fail("binance", "html", times=1000)
    outputs = [collect(app) for _ in range(4)]
    assert "system event" not in outputs[1]
    assert "notify       1 system event recorded" in outputs[2]
    assert "notify       sent 1  retrying 0  failed 0" in outputs[2]
    assert "system event" not in outputs[3]  # still failing: not told again
    [message] = bodies
    assert message["path"] == "/ops" and message["title"] == "cryptocrunch: binance failing"
    assert "binance failed 3 collect cycles in a row; last error:" in message["message"]

    fake.reset()
    collect(app)
    fake.fail("binance", "html", times=1000)
    for _ in range(3):
        collect(app)
    assert len(bodies) == 2  # failing again after a good cycle: a new event
    events = stored(app, AlertEvent)
    assert [(e.kind, e.title) for e in events] == [("system", "cryptocrunch: binance failing")] * 2
    assert [d.status for d in stored(app, Delivery)] == ["sent", "sent"]


def test_only_admins_receive_system_events(make_app):
    app = make_app()
    signed_up(app, "ops@example.org", "user@example.org")  # the CLI makes neither an admin
    web = app.test_client()
    login(web, "user@example.org")
    refused = app.test_client().post(
        "/api/v1/channels",
        json={"name": "x", "url": "json://127.0.0.1/x", "system_events": True},
        headers=bearer(create_token(web)),
    )
    assert refused.status_code == 422
    assert refused.json["error"]["message"].startswith("system_events: only an admin")
    assert stored(app, Channel) == []


def test_a_failing_channel_is_retried_then_marked_failed_and_the_others_get_theirs(make_app, fake, webhook):  # noqa: F811
    # the retry is due 2 s after the failure: long enough that the check right after is "not due"
    # on a loaded machine too
    app = make_app(NOTIFY_FAILURES_IN_ROW=1, NOTIFY_MAX_TRIES=2, NOTIFY_RETRY_BASE=2)
    host, bodies = webhook
    admin_with_channels(app, "json://127.0.0.1:1/dead", f"json://{host}/live")
    fake.fail("binance", "html", times=1000)

    output = collect(app)
    assert "notify       sent 1  retrying 1  failed 0" in output
    assert len(bodies) == 1
    dead = next(d for d in stored(app, Delivery) if d.status != "sent")
    assert (dead.status, dead.tries) == ("pending", 1) and "onnection" in dead.error

    runner = app.test_cli_runner()
    assert "sent 0  retrying 0  failed 0" in runner.invoke(args=["notify"]).output  # not due yet
    time.sleep(2.1)
    assert "sent 0  retrying 0  failed 1" in runner.invoke(args=["notify"]).output
    dead = next(d for d in stored(app, Delivery) if d.status != "sent")
    assert (dead.status, dead.tries) == ("failed", 2) and "onnection" in dead.error
    assert "sent 0  retrying 0  failed 0" in runner.invoke(args=["notify"]).output  # failed stays failed
    assert len(bodies) == 1  # the live channel got it once


def test_a_slow_channel_holds_up_no_other_and_stays_pending(make_app, fake, webhook, slow_webhook):  # noqa: F811
    app = make_app(NOTIFY_FAILURES_IN_ROW=1, NOTIFY_TIMEOUT=1)
    host, bodies = webhook
    slow_host, _ = slow_webhook
    admin_with_channels(app, f"json://{slow_host}/slow", f"json://{host}/fast")
    fake.fail("binance", "html", times=1000)

    started = time.monotonic()
    output = collect(app)
    assert time.monotonic() - started < 3  # the one-shot collect waited NOTIFY_TIMEOUT, not the slow send
    assert "sent 1  retrying 0  failed 0  still sending 1" in output
    assert len(bodies) == 1
    statuses = {d.channel_id: d.status for d in stored(app, Delivery)}
    assert sorted(statuses.values()) == ["pending", "sent"]
