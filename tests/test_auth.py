"""Accounts and their security, through the real app: sign-up, log-in, sessions, API tokens, CSRF,
isolation between users, log-in throttling, cookies, headers, REQUIRE_LOGIN, the secret key, the
``flask users`` CLI; on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import stat
import statistics
import time

import pytest
import sqlalchemy as sa
from conftest import need

from cryptocrunch import create_app
from cryptocrunch.auth.passwords import check_password, hash_password
from cryptocrunch.config import ConfigError
from cryptocrunch.db import db, init_db
from cryptocrunch.models import (
    AlertEvent,
    AlertRule,
    AlertRuleChannel,
    ApiToken,
    Channel,
    Delivery,
    LoginSession,
    User,
)

PASSWORD = "correct horse battery"
OTHER = "another long password"


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'type="hidden" name="csrf_token" value="([^"]+)"', html
    )
    assert found, "no CSRF token on the page"
    return found.group(1)


def post(client, path, data, page=None, **kwargs):
    """POST a form with the CSRF token of ``page`` (default: ``path`` itself)."""
    token = csrf(client.get(page or path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data}, **kwargs)


def signup(client, email, password=PASSWORD):
    return post(client, "/signup", {"email": email, "password": password, "confirm": password})


def login(client, email, password=PASSWORD, **kwargs):
    return post(client, "/login", {"email": email, "password": password}, **kwargs)


def create_token(client, name="bot"):
    response = post(client, "/account/tokens", {"name": name}, page="/account")
    assert response.status_code == 201, response.get_data(as_text=True)
    return re.search(r'id="new-token">([^<]+)<', response.get_data(as_text=True)).group(1)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def stored(app, model):
    with app.app_context():
        rows = list(db.session.scalars(sa.select(model)))
        db.session.expunge_all()
        return rows


def signed_up(app, *emails):
    """Accounts made with the CLI (so SIGNUP=first does not get in the way)."""
    runner = app.test_cli_runner()
    for email in emails:
        result = runner.invoke(args=["users", "create", email, "--password-stdin"], input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output


# -- sign-up, log-in, sessions ----------------------------------------------------------------------


def test_sign_up_log_in_use_a_token_and_log_out(make_app):
    app = make_app(SIGNUP="open")
    client = app.test_client()

    response = signup(client, "Ada@Example.org")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    [user] = stored(app, User)
    assert (user.email, user.is_admin, user.disabled) == ("ada@example.org", True, False)
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash

    assert login(client, "ADA@example.org").status_code == 302  # the email in any case
    account = client.get("/account")
    assert account.status_code == 200
    assert "ada@example.org" in account.get_data(as_text=True)

    token = create_token(client)
    [row] = stored(app, ApiToken)
    assert token.startswith("cc_") and token not in row.token_hash and row.last_used is None
    api = app.test_client()  # no cookie: the token alone
    assert api.get("/api/v1/exchanges", headers=bearer(token)).status_code == 200
    assert stored(app, ApiToken)[0].last_used is not None

    assert post(client, "/logout", {}, page="/account").status_code == 302
    assert client.get("/account").status_code == 302
    assert stored(app, LoginSession) == []


def test_the_first_account_is_the_admin_and_then_sign_up_closes(make_app):
    app = make_app()  # SIGNUP=first by default
    assert signup(app.test_client(), "first@example.org").status_code == 302
    closed = app.test_client().get("/signup")
    assert closed.status_code == 403
    assert "Sign-up is closed" in closed.get_data(as_text=True)
    assert app.test_client().post("/signup", data={"email": "x@example.org"}).status_code in (400, 403)
    assert [(u.email, u.is_admin) for u in stored(app, User)] == [("first@example.org", True)]


def test_signup_closed_and_open(make_app):
    closed = make_app(SIGNUP="closed")
    assert closed.test_client().get("/signup").status_code == 403
    opened = make_app(SIGNUP="open")
    assert signup(opened.test_client(), "a@example.org").status_code == 302
    assert signup(opened.test_client(), "b@example.org").status_code == 302
    assert [(u.email, u.is_admin) for u in stored(opened, User)] == [
        ("a@example.org", True),
        ("b@example.org", False),
    ]


def test_bad_sign_up_input_names_the_field_and_stores_nothing(make_app):
    app = make_app(SIGNUP="open")
    client = app.test_client()
    cases = [
        ({"email": "not-an-email", "password": PASSWORD, "confirm": PASSWORD}, "Enter an email address."),
        ({"email": "a@example.org", "password": "short", "confirm": "short"}, "Use 10 to 1024 characters."),
        ({"email": "a@example.org", "password": PASSWORD, "confirm": OTHER}, "The two passwords differ."),
        ({"email": "", "password": PASSWORD, "confirm": PASSWORD}, "This field is required."),
    ]
    for data, message in cases:
        response = post(client, "/signup", data)
        assert response.status_code == 400, data
        assert message in response.get_data(as_text=True), data
    assert stored(app, User) == []


def test_log_out_ends_the_session_on_the_server_so_a_copied_cookie_stops_working(make_app):
    app = make_app()
    signed_up(app, "a@example.org")
    client = app.test_client()
    login(client, "a@example.org")
    copied = client.get_cookie("session").value

    post(client, "/logout", {}, page="/account")

    thief = app.test_client()
    thief.set_cookie("session", copied)
    response = thief.get("/account")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_changing_the_password_signs_out_every_other_session(make_app):
    app = make_app()
    signed_up(app, "a@example.org")
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, "a@example.org")
    login(phone, "a@example.org")

    response = post(
        laptop,
        "/account/password",
        {"current": PASSWORD, "password": OTHER, "confirm": OTHER},
        page="/account",
    )
    assert response.status_code == 302
    assert "1 other session signed out" in laptop.get("/account").get_data(as_text=True)
    assert phone.get("/account").status_code == 302
    assert login(app.test_client(), "a@example.org", PASSWORD).status_code == 200  # the form again
    assert login(app.test_client(), "a@example.org", OTHER).status_code == 302

    wrong = post(
        laptop,
        "/account/password",
        {"current": "nope nope nope", "password": PASSWORD, "confirm": PASSWORD},
        page="/account",
    )
    assert wrong.status_code == 400
    assert "That is not your current password." in wrong.get_data(as_text=True)


def test_deleting_the_account_deletes_what_it_owns(make_app):
    app = make_app()
    signed_up(app, "a@example.org", "b@example.org")
    a, b = app.test_client(), app.test_client()
    login(a, "a@example.org")
    login(b, "b@example.org")
    token = create_token(a)
    create_token(b)

    refused = post(a, "/account/delete", {"password": PASSWORD}, page="/account")
    assert refused.status_code == 400
    assert "Tick the box to confirm." in refused.get_data(as_text=True)
    assert post(a, "/account/delete", {"password": PASSWORD, "sure": "y"}, page="/account").status_code == 302

    assert [u.email for u in stored(app, User)] == ["b@example.org"]
    assert len(stored(app, ApiToken)) == 1 and len(stored(app, LoginSession)) == 1
    assert a.get("/account").status_code == 302
    assert app.test_client().get("/api/v1/exchanges", headers=bearer(token)).status_code == 401


# -- API tokens ------------------------------------------------------------------------------------


def test_a_bad_revoked_or_disabled_token_is_a_401_in_the_envelope_never_a_redirect(make_app):
    app = make_app()
    signed_up(app, "a@example.org")
    web = app.test_client()
    login(web, "a@example.org")
    token = create_token(web)
    api = app.test_client()

    for headers in (bearer("cc_nonsense"), {"Authorization": f"Basic {token}"}, {"Authorization": "Bearer "}):
        response = api.get("/api/v1/rankings", headers=headers)
        assert response.status_code == 401, headers
        assert "Location" not in response.headers
        assert response.json["error"]["status"] == 401
        assert "Bearer" in response.json["error"]["message"] or "token" in response.json["error"]["message"]

    token_id = stored(app, ApiToken)[0].id
    assert post(web, f"/account/tokens/{token_id}/revoke", {}, page="/account").status_code == 302
    assert api.get("/api/v1/rankings", headers=bearer(token)).status_code == 401

    live = create_token(web, "second")
    assert api.get("/api/v1/rankings", headers=bearer(live)).status_code == 200
    assert app.test_cli_runner().invoke(args=["users", "disable", "a@example.org"]).exit_code == 0
    assert api.get("/api/v1/rankings", headers=bearer(live)).status_code == 401
    assert web.get("/account").status_code == 302  # its browser sessions ended too
    refused = login(app.test_client(), "a@example.org")
    assert (refused.status_code, "This account is disabled." in refused.get_data(as_text=True)) == (200, True)


def test_a_token_request_ignores_any_session_cookie(make_app):
    app = make_app()
    signed_up(app, "a@example.org")
    web = app.test_client()
    login(web, "a@example.org")
    response = web.get("/api/v1/rankings", headers=bearer("cc_wrong"))
    assert response.status_code == 401


# -- CSRF, isolation -------------------------------------------------------------------------------


def test_every_state_changing_form_refuses_a_post_without_its_csrf_token(make_app):
    app = make_app(SIGNUP="open")
    signed_up(app, "a@example.org")
    client = app.test_client()
    login(client, "a@example.org")
    create_token(client)
    token_id = stored(app, ApiToken)[0].id
    forms = {
        "/signup": {"email": "b@example.org", "password": PASSWORD, "confirm": PASSWORD},
        "/login": {"email": "a@example.org", "password": PASSWORD},
        "/logout": {},
        "/account/password": {"current": PASSWORD, "password": OTHER, "confirm": OTHER},
        "/account/tokens": {"name": "x"},
        f"/account/tokens/{token_id}/revoke": {},
        "/account/delete": {"password": PASSWORD, "sure": "y"},
    }
    for path, data in forms.items():
        for token in (None, "forged"):
            sent = data if token is None else {**data, "csrf_token": token}
            response = client.post(path, data=sent)
            assert response.status_code == 400, (path, token)
            assert "CSRF" in response.get_data(as_text=True), path
    assert [u.email for u in stored(app, User)] == ["a@example.org"]
    assert [t.revoked for t in stored(app, ApiToken)] == [None]
    assert len(stored(app, ApiToken)) == 1
    assert client.get("/account").status_code == 200  # still signed in: logout was refused too


def test_user_b_cannot_revoke_or_see_user_a_s_tokens(make_app):
    app = make_app()
    signed_up(app, "a@example.org", "b@example.org")
    a, b = app.test_client(), app.test_client()
    login(a, "a@example.org")
    login(b, "b@example.org")
    a_token = create_token(a, "a-secret-name")
    a_id = stored(app, ApiToken)[0].id

    assert "a-secret-name" not in b.get("/account").get_data(as_text=True)
    response = post(b, f"/account/tokens/{a_id}/revoke", {}, page="/account")
    assert response.status_code == 404
    assert post(b, "/account/tokens/999999/revoke", {}, page="/account").status_code == 404
    assert stored(app, ApiToken)[0].revoked is None
    assert app.test_client().get("/api/v1/rankings", headers=bearer(a_token)).status_code == 200


# -- no user enumeration ---------------------------------------------------------------------------


def test_log_in_and_sign_up_do_not_tell_whether_an_email_has_an_account(make_app):
    app = make_app(SIGNUP="open")
    signed_up(app, "known@example.org")
    unknown = login(app.test_client(), "nobody@example.org")
    wrong = login(app.test_client(), "known@example.org", "a wrong password")
    assert unknown.status_code == wrong.status_code == 200
    assert "Wrong email or password." in unknown.get_data(as_text=True)

    def page(response, email):  # the page less its CSRF token and the email typed in
        text = re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", response.get_data(as_text=True))
        return text.replace(email, "EMAIL")

    assert page(unknown, "nobody@example.org") == page(wrong, "known@example.org")

    taken = signup(app.test_client(), "known@example.org")
    free = signup(app.test_client(), "new@example.org")
    assert (taken.status_code, taken.headers["Location"]) == (free.status_code, free.headers["Location"])
    follow = app.test_client()
    signup(follow, "known@example.org")
    assert "If that email had no account" in follow.get("/login").get_data(as_text=True)
    assert check_password(stored(app, User)[0].password_hash, PASSWORD)  # the owner's password stands


def test_an_unknown_email_costs_as_long_as_a_wrong_password():
    stored_hash = hash_password(PASSWORD)
    check_password(None, "warm up")

    def median(stored_value):
        times = []
        for _ in range(7):
            started = time.perf_counter()
            check_password(stored_value, "a wrong password")
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    known, unknown = median(stored_hash), median(None)
    assert 0.5 < unknown / known < 2, (known, unknown)


# -- log-in throttling -----------------------------------------------------------------------------


def _throttling(app):
    client = app.test_client()
    for i in range(5):  # from five addresses: the account's own limit (LOGIN_LIMIT_ACCOUNT)
        address = {"REMOTE_ADDR": f"10.0.0.{i}"}
        assert "Wrong email" in login(
            client, "a@example.org", "a wrong password", environ_base=address
        ).get_data(as_text=True)
    refused = login(client, "a@example.org", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    # even the right password now waits
    assert refused.status_code == 429
    assert "Too many failed attempts" in refused.get_data(as_text=True)
    # another account from another address is not held back by it
    other = app.test_client()
    assert login(other, "b@example.org", environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code == 302
    # one address trying many accounts is held back too (LOGIN_LIMIT_ADDRESS)
    crawler = app.test_client()
    codes = [
        login(crawler, f"guess{i}@example.org", environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]


def test_failed_log_ins_are_limited_per_account_and_per_address(make_app):
    app = make_app(LOGIN_LIMIT_ADDRESS="3 per minute")
    signed_up(app, "a@example.org", "b@example.org")
    _throttling(app)


def test_behind_a_reverse_proxy_the_limits_count_the_forwarded_address(make_app):
    app = make_app(LOGIN_LIMIT_ADDRESS="2 per minute", PROXY_COUNT=1)
    signed_up(app, "a@example.org")
    proxy = {"REMOTE_ADDR": "127.0.0.1"}  # every request comes from the proxy

    def guess(client, forwarded):
        headers = {"X-Forwarded-For": forwarded}
        return login(client, "nobody@example.org", environ_base=proxy, headers=headers).status_code

    crawler = app.test_client()
    assert [guess(crawler, "203.0.113.7") for _ in range(3)] == [200, 200, 429]
    assert guess(app.test_client(), "198.51.100.2") == 200  # someone else behind the same proxy
    unproxied = make_app(LOGIN_LIMIT_ADDRESS="2 per minute")  # PROXY_COUNT 0: the header is ignored
    signed_up(unproxied, "a@example.org")
    codes = [guess(unproxied.test_client(), f"203.0.113.{i}") for i in range(3)]
    assert codes == [200, 200, 429]


def test_the_limits_can_live_in_redis(make_app):
    redis = pytest.importorskip("redis")
    url = os.environ.get("CRYPTOCRUNCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.flushdb()
    except redis.RedisError as error:
        need(False, f"Redis not reachable at {url}: {type(error).__name__}")
    app = make_app(LOGIN_LIMIT_ADDRESS="3 per minute", RATELIMIT_STORAGE_URI=url)
    signed_up(app, "a@example.org", "b@example.org")
    _throttling(app)
    assert client.keys("LIMITS*"), "the counts are in Redis"
    client.flushdb()


# -- cookies and headers ---------------------------------------------------------------------------


def test_session_cookie_is_http_only_same_site_lax_and_secure_under_https(make_app):
    for scheme, secure in (("http", False), ("https", True)):
        app = make_app(PREFERRED_URL_SCHEME=scheme)
        signed_up(app, "a@example.org")
        client = app.test_client()
        base = f"{scheme}://localhost"  # a Secure cookie only travels over https
        token = csrf(client.get("/login", base_url=base).get_data(as_text=True))
        response = client.post(
            "/login",
            base_url=base,
            data={"csrf_token": token, "email": "a@example.org", "password": PASSWORD},
            headers={"Referer": f"{base}/login"},  # over https Flask-WTF checks the referrer too
        )
        assert response.status_code == 302, scheme
        [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "path"} <= flags
        assert "samesite=lax" in cookie.lower()
        assert ("secure" in flags) is secure, scheme


def test_every_response_carries_the_security_headers(make_app):
    app = make_app()
    client = app.test_client()
    for path in ("/", "/login", "/api/v1/rankings", "/api/v1/docs"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert response.headers["X-Frame-Options"] == "DENY"
    docs = client.get("/api/v1/docs").get_data(as_text=True)
    assert "<script>" not in docs  # the docs page starts Swagger UI from a file, not inline


def test_the_openapi_document_declares_the_bearer_scheme(make_app):
    document = make_app().test_client().get("/api/v1/openapi.json").json
    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert {"bearerAuth": []} in document["security"]


# -- REQUIRE_LOGIN -----------------------------------------------------------------------------------


def test_require_login_closes_everything_but_log_in_and_sign_up(make_app):
    app = make_app(REQUIRE_LOGIN=True)
    signed_up(app, "a@example.org")
    anonymous = app.test_client()
    page = anonymous.get("/rankings?window=1h")
    assert page.status_code == 302
    assert page.headers["Location"].endswith("/login?next=/rankings?window%3D1h")
    api = anonymous.get("/api/v1/rankings")
    assert api.status_code == 401 and api.json["error"]["status"] == 401
    assert anonymous.get("/login").status_code == 200
    assert anonymous.get("/signup").status_code == 403  # open to see; closed after the first account
    with anonymous.get("/static/css/app.css") as static:
        assert static.status_code == 200

    client = app.test_client()
    response = login(client, "a@example.org", query_string={"next": "/rankings?window=1h"})
    assert response.headers["Location"] == "/rankings?window=1h"
    assert client.get("/rankings").status_code == 200
    token = create_token(client)
    assert app.test_client().get("/api/v1/rankings", headers=bearer(token)).status_code == 200
    assert (
        login(app.test_client(), "a@example.org", query_string={"next": "//evil.example"}).headers["Location"]
        == "/"
    )


def test_without_require_login_market_data_is_public_and_the_account_is_not(make_app):
    app = make_app()
    client = app.test_client()
    assert client.get("/rankings").status_code == 200
    assert client.get("/api/v1/rankings").status_code == 200
    assert client.get("/account").status_code == 302


# -- settings and the secret key ---------------------------------------------------------------------


def test_the_secret_key_is_made_once_private_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("CRYPTOCRUNCH_SECRET_KEY", raising=False)
    first = create_app({"INSTANCE_PATH": str(tmp_path)})
    path = tmp_path / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert first.config["SECRET_KEY"] == again.config["SECRET_KEY"] == path.read_text()
    assert len(first.config["SECRET_KEY"]) >= 32
    configured = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x" * 40})
    assert configured.config["SECRET_KEY"] == "x" * 40


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"SIGNUP": "everyone"}, "SIGNUP must be one of open, first, closed"),
        ({"REQUIRE_LOGIN": "yes"}, "REQUIRE_LOGIN must be true or false"),
        ({"LOGIN_LIMIT_ACCOUNT": "often"}, "LOGIN_LIMIT_ACCOUNT must be a rate like '5 per minute'"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 16 characters"),
    ],
)
def test_bad_account_settings_name_the_key(tmp_path, settings, message):
    with pytest.raises(ConfigError, match=message):
        create_app({"INSTANCE_PATH": str(tmp_path), **settings})


def test_init_db_adds_the_account_tables_to_an_existing_database_and_keeps_its_data(make_app):
    app = make_app()
    signed_up(app, "a@example.org")
    with app.app_context():
        accounts = [User, ApiToken, LoginSession, Channel, AlertRule, AlertRuleChannel, AlertEvent, Delivery]
        # the account tables and what hangs off them, in dependency order
        db.metadata.drop_all(db.engine, tables=[m.__table__ for m in accounts])
        assert not sa.inspect(db.engine).has_table("user_account")
        init_db()
        assert sa.inspect(db.engine).has_table("user_account")
    assert stored(app, User) == []
    signed_up(app, "a@example.org")


# -- flask users -----------------------------------------------------------------------------------


def test_the_users_command(make_app):
    app = make_app()
    runner = app.test_cli_runner()

    def run(*args, stdin=None):
        return runner.invoke(args=["users", *args], input=stdin)

    assert run("list").output.startswith("no accounts yet")
    assert (
        run("create", "Op@Example.org", "--admin", "--password-stdin", stdin=PASSWORD + "\n").exit_code == 0
    )
    duplicate = run("create", "op@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    assert duplicate.exit_code == 1 and "already has an account" in duplicate.output
    weak = run("create", "w@example.org", "--password-stdin", stdin="short\n")
    assert weak.exit_code == 2 and "Use at least 10 characters" in weak.output
    assert run("create", "not-an-email", "--password-stdin", stdin=PASSWORD + "\n").exit_code == 2
    prompted = run("create", "p@example.org", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output

    token = run("token", "op@example.org", "--name", "ci").output.strip()
    assert token.startswith("cc_")
    assert app.test_client().get("/api/v1/runs", headers=bearer(token)).status_code == 200
    listing = run("list").output
    assert re.search(r"op@example.org\s+\S+ \S+\s+yes\s+active\s+1", listing), listing

    assert run("disable", "p@example.org").exit_code == 0
    assert "disabled" in run("list").output
    assert run("token", "p@example.org").exit_code == 1
    assert run("delete", "nobody@example.org", "--yes").exit_code == 1
    assert run("delete", "op@example.org", "--yes").exit_code == 0
    assert app.test_client().get("/api/v1/runs", headers=bearer(token)).status_code == 401
    assert [u.email for u in stored(app, User)] == ["p@example.org"]


def test_secrets_never_reach_the_log(make_app, caplog):
    caplog.set_level("DEBUG")
    app = make_app()
    signed_up(app, "a@example.org")
    client = app.test_client()
    login(client, "a@example.org")
    token = create_token(client)
    app.test_client().get("/api/v1/rankings", headers=bearer(token))
    assert PASSWORD not in caplog.text and token not in caplog.text
