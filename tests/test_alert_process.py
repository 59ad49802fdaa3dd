"""Delivery from real processes: `flask collect --every` stopped by SIGTERM delivers what its last
cycle queued before it exits; `flask notify` killed with -9 while a channel holds the message is
the one window in which a channel gets an event twice."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_alerts import account, rule
from test_collect_process import FLASK, collector, wait_for_line  # noqa: F401 (fixture)

from cryptocrunch.clock import now_ms
from cryptocrunch.db import db
from cryptocrunch.models import AlertEvent, Channel, Delivery
from cryptocrunch.storage import alerts


class Receiver:
    """A webhook on 127.0.0.1 that records each POST, then answers after ``delay`` seconds, or
    only once ``release`` is set when ``hold`` is on."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.hold = False
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.arrived.set()
                if receiver.hold:
                    receiver.release.wait(30)
                elif receiver.delay:
                    receiver.release.wait(receiver.delay)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver():
    hook = Receiver()
    hook.thread.start()
    yield hook
    hook.release.set()
    hook.server.shutdown()
    hook.server.server_close()
    hook.thread.join()


def deliveries(app):
    with app.app_context():
        return [(d.status, d.tries) for d in db.session.scalars(db.select(Delivery).order_by(Delivery.id))]


def test_sigterm_lets_collect_deliver_what_its_last_cycle_queued(collector, fake, receiver):  # noqa: F811
    app = collector.app
    auth, channel = account(app, "a@example.org", receiver.host)
    fake.set_ticker("binance", "BTC/USDT", 100)
    assert app.test_cli_runner().invoke(args=["collect", "--exchange", "binance"]).exit_code == 0
    rule(
        app,
        auth,
        pair="BTC/USDT",
        exchange="binance",
        kind="price",
        op="above",
        value=105,
        channels=[channel],
    )
    fake.set_ticker("binance", "BTC/USDT", 106)
    receiver.delay = 1.5  # a slow channel: the send is still running when SIGTERM comes
    process = collector.spawn("--every", "60", "--exchange", "binance")
    wait_for_line(process, "binance")  # the cycle stored the tick and queued the alert
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopped after 1 cycle" in out
    assert [b["title"] for b in receiver.bodies] == ["cryptocrunch alert: BTC/USDT price above"]
    assert deliveries(app) == [("sent", 1)]


def test_kill_9_while_a_channel_holds_the_message_is_the_one_duplicate_window(collector, receiver):  # noqa: F811
    app = collector.app
    _, channel = account(app, "a@example.org", receiver.host)
    with app.app_context():
        owner = db.session.get(Channel, channel).user_id
        new = alerts.NewEvent(owner, "system", now_ms(), "cryptocrunch: test event", "queued once", [channel])
        [event] = alerts.add_events(db.session(), [new], now_ms())
        event_id = event.id
        db.session.commit()
    receiver.hold = True
    first = subprocess.Popen([*FLASK, "notify"], env=collector.env, stdout=subprocess.DEVNULL)
    assert receiver.arrived.wait(30), "the channel never got the message"
    first.kill()  # -9: the channel has the message, the outbox has not recorded it
    first.wait(10)
    assert first.returncode == -signal.SIGKILL
    assert deliveries(app) == [("pending", 0)]  # nothing lost: still due

    receiver.hold = False
    receiver.release.set()
    again = subprocess.run([*FLASK, "notify"], env=collector.env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "sent 1" in again.stdout
    assert [b["message"] for b in receiver.bodies] == ["queued once", "queued once"]  # the duplicate
    assert deliveries(app) == [("sent", 1)]

    last = subprocess.run([*FLASK, "notify"], env=collector.env, capture_output=True, text=True, timeout=60)
    assert "sent 0" in last.stdout
    assert len(receiver.bodies) == 2  # recorded as sent: never again
    with app.app_context():
        assert db.session.get(AlertEvent, event_id) is not None


def test_sigterm_lets_the_worker_deliver_what_its_last_job_queued(collector, fake, receiver):  # noqa: F811
    from test_worker import ONLY_COLLECT, job_runs, spawn_worker, wait_until

    app = collector.app
    auth, channel = account(app, "a@example.org", receiver.host)
    fake.set_ticker("binance", "BTC/USDT", 100)
    assert app.test_cli_runner().invoke(args=["collect", "--exchange", "binance"]).exit_code == 0
    rule(
        app,
        auth,
        pair="BTC/USDT",
        exchange="binance",
        kind="price",
        op="above",
        value=105,
        channels=[channel],
    )
    fake.set_ticker("binance", "BTC/USDT", 106)
    receiver.delay = 1.0
    worker = spawn_worker(collector, jobs={**ONLY_COLLECT, "collect": {"every": 3600}})
    wait_until(lambda: job_runs(app, "collect"))  # the first collect ran and queued the alert
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "notify       sent 1" in out  # delivered on the way out, not left to a thread killed at exit
    assert [b["title"] for b in receiver.bodies] == ["cryptocrunch alert: BTC/USDT price above"]
    assert deliveries(app) == [("sent", 1)]
