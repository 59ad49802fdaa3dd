"""Notification channels: Apprise URLs a user owns, stored encrypted, shown masked, and a test sent
through real Apprise to a real SMTP server (aiosmtpd) and a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from test_auth import PASSWORD, bearer, create_token, login, post, signed_up, stored

from cryptocrunch.alerts.vault import unseal
from cryptocrunch.models import Channel


class Inbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            (envelope.mail_from, envelope.rcpt_tos, envelope.content.decode(errors="replace"))
        )
        return "250 OK"


@pytest.fixture
def smtp():
    """An SMTP server on 127.0.0.1: yields (port, inbox)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


@pytest.fixture
def webhook():
    """An HTTP receiver on 127.0.0.1 answering 200 to every POST: yields (base URL, bodies)."""
    bodies: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            bodies.append({"path": self.path, **json.loads(self.rfile.read(length))})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}", bodies
    server.shutdown()
    server.server_close()
    thread.join()


def user_with_token(app, email):
    signed_up(app, email)
    client = app.test_client()
    login(client, email)
    return client, bearer(create_token(client))


def test_a_channel_is_stored_encrypted_shown_masked_and_tested_for_real(make_app, webhook, smtp):
    app = make_app()
    _, auth = user_with_token(app, "a@example.org")
    api = app.test_client()
    host, bodies = webhook
    port, inbox = smtp

    hook = f"json://hookuser:s3cret-pass@{host}/hook"
    created = api.post("/api/v1/channels", json={"name": "hook", "url": hook}, headers=auth)
    assert created.status_code == 201, created.json
    assert "s3cret-pass" not in json.dumps(created.json)
    assert created.json["name"] == "hook" and created.json["url"].startswith("json://hookuser:")
    mail = f"mailto://127.0.0.1:{port}?from=bot@example.org&to=me@example.org&mode=insecure"
    assert api.post("/api/v1/channels", json={"name": "mail", "url": mail}, headers=auth).status_code == 201

    [first, second] = stored(app, Channel)
    assert "s3cret-pass" not in first.url_encrypted and "127.0.0.1" not in first.url_encrypted
    assert unseal(app.config["SECRET_KEY"], first.url_encrypted) == hook
    assert [c["name"] for c in api.get("/api/v1/channels", headers=auth).json] == ["hook", "mail"]

    tested = api.post(f"/api/v1/channels/{first.id}/test", headers=auth)
    assert tested.json == {"delivered": True, "error": None}
    [received] = bodies
    assert (
        received["path"] == "/hook"
        and "test" in received["title"]
        and "No price alert" in received["message"]
    )

    assert api.post(f"/api/v1/channels/{second.id}/test", headers=auth).json == {
        "delivered": True,
        "error": None,
    }
    [(sender, recipients, content)] = inbox.messages
    assert (sender, recipients) == ("bot@example.org", ["me@example.org"])
    assert "cryptocrunch: test notification" in content

    assert api.delete(f"/api/v1/channels/{first.id}", headers=auth).status_code == 204
    assert [c["name"] for c in api.get("/api/v1/channels", headers=auth).json] == ["mail"]


def test_a_channel_that_cannot_deliver_says_why(make_app):
    app = make_app()
    _, auth = user_with_token(app, "a@example.org")
    api = app.test_client()
    dead = api.post("/api/v1/channels", json={"name": "dead", "url": "json://127.0.0.1:1/hook"}, headers=auth)
    answer = api.post(f"/api/v1/channels/{dead.json['id']}/test", headers=auth).json
    assert answer["delivered"] is False
    assert "connection error" in answer["error"].lower()


def test_bad_channels_are_refused_naming_the_field(make_app):
    app = make_app()
    _, auth = user_with_token(app, "a@example.org")
    api = app.test_client()
    cases = [
        ({"name": "x", "url": "nope://whatever"}, "url: Apprise cannot use 'nope'"),
        ({"name": "x", "url": "not a url"}, "url: Apprise cannot use"),
        ({"url": "json://127.0.0.1/x"}, "name: Missing data for required field."),
        ({"name": "", "url": "json://127.0.0.1/x"}, "name: "),
        ({"name": "x"}, "url: Missing data for required field."),
    ]
    for body, message in cases:
        response = api.post("/api/v1/channels", json=body, headers=auth)
        assert response.status_code == 422, body
        assert message in response.json["error"]["message"], (body, response.json)
    assert api.post(
        "/api/v1/channels", data="{not json", headers={**auth, "Content-Type": "application/json"}
    ).status_code in (400, 422)
    assert stored(app, Channel) == []


def test_channels_are_their_owner_s_alone(make_app, webhook):
    app = make_app()
    _, a = user_with_token(app, "a@example.org")
    _, b = user_with_token(app, "b@example.org")
    api = app.test_client()
    host, bodies = webhook
    channel = api.post("/api/v1/channels", json={"name": "a-hook", "url": f"json://{host}/a"}, headers=a).json

    assert api.get("/api/v1/channels", headers=b).json == []
    assert api.post(f"/api/v1/channels/{channel['id']}/test", headers=b).status_code == 404
    assert api.delete(f"/api/v1/channels/{channel['id']}", headers=b).status_code == 404
    assert api.delete("/api/v1/channels/999999", headers=b).status_code == 404
    assert bodies == []
    assert api.get("/api/v1/channels").status_code == 401  # anonymous
    assert [c.name for c in stored(app, Channel)] == ["a-hook"]


def test_a_session_post_to_the_api_needs_its_csrf_token(make_app):
    app = make_app()
    web, _ = user_with_token(app, "a@example.org")
    refused = web.post("/api/v1/channels", json={"name": "x", "url": "json://127.0.0.1/x"})
    assert refused.status_code == 400
    assert "CSRF" in refused.json["error"]["message"]
    assert stored(app, Channel) == []


def test_the_account_page_adds_tests_and_deletes_channels(make_app, webhook):
    app = make_app()
    web, _ = user_with_token(app, "a@example.org")
    host, bodies = webhook

    bad = post(web, "/account/channels", {"name": "x", "url": "nope://x"}, page="/account")
    assert bad.status_code == 400 and "Apprise cannot use" in bad.get_data(as_text=True)
    added = post(web, "/account/channels", {"name": "hook", "url": f"json://{host}/page"}, page="/account")
    assert added.status_code == 302
    page = web.get("/account").get_data(as_text=True)
    assert "Channel &#39;hook&#39; added" in page and f"json://{host}/page" in page
    [channel] = stored(app, Channel)

    post(web, f"/account/channels/{channel.id}/test", {}, page="/account")
    assert "Test sent to &#39;hook&#39;: delivered." in web.get("/account").get_data(as_text=True)
    assert [b["path"] for b in bodies] == ["/page"]
    assert web.post(f"/account/channels/{channel.id}/delete").status_code == 400  # no CSRF token
    post(web, f"/account/channels/{channel.id}/delete", {}, page="/account")
    assert stored(app, Channel) == []


def test_a_changed_secret_key_is_reported_not_a_crash(make_app, webhook):
    app = make_app()
    _, auth = user_with_token(app, "a@example.org")
    host, bodies = webhook
    api = app.test_client()
    channel = api.post(
        "/api/v1/channels", json={"name": "hook", "url": f"json://{host}/x"}, headers=auth
    ).json
    app.config["SECRET_KEY"] = "another secret key, long enough"
    answer = api.post(f"/api/v1/channels/{channel['id']}/test", headers=auth).json
    assert answer["delivered"] is False and "SECRET_KEY changed" in answer["error"]
    assert bodies == []


def test_deleting_the_account_deletes_its_channels(make_app):
    app = make_app()
    web, auth = user_with_token(app, "a@example.org")
    app.test_client().post("/api/v1/channels", json={"name": "x", "url": "json://127.0.0.1/x"}, headers=auth)
    assert len(stored(app, Channel)) == 1
    post(web, "/account/delete", {"password": PASSWORD, "sure": "y"}, page="/account")
    assert stored(app, Channel) == []


def test_channel_secrets_never_reach_the_log(make_app, caplog):
    caplog.set_level("DEBUG")
    app = make_app()
    _, auth = user_with_token(app, "a@example.org")
    api = app.test_client()
    channel = api.post(
        "/api/v1/channels", json={"name": "x", "url": "json://u:t0p-secret@127.0.0.1:1/x"}, headers=auth
    ).json
    api.post(f"/api/v1/channels/{channel['id']}/test", headers=auth)
    assert "t0p-secret" not in caplog.text
