"""Accounts and the security that comes with them: sign-up and log-in (Flask-Login sessions backed
by a session table), API tokens (``Authorization: Bearer``), CSRF on every state-changing form
(Flask-WTF), throttled log-ins (Flask-Limiter), security headers and a strict CSP
(Flask-Talisman), the SECRET_KEY, and REQUIRE_LOGIN. Nothing cryptographic is written here:
argon2-cffi hashes passwords, ``secrets`` makes keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, abort, current_app, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_talisman import Talisman
from limits import parse

from ..config import ConfigError, add_check
from ..db import db
from . import accounts
from .commands import users
from .extensions import csrf, limiter, login_manager
from .keys import instance_secret_key
from .views import bp

SIGNUP_MODES = ("open", "first", "closed")
#: Pages anyone may see with REQUIRE_LOGIN on.
PUBLIC_ENDPOINTS = frozenset({"auth.login", "auth.signup", "static", "health.healthz", "health.metrics"})
#: Endpoints whose Authorization header is their own (METRICS_TOKEN), not an account's API token.
OWN_BEARER = frozenset({"health.metrics"})
#: The Content-Security-Policy: the app's own scripts, styles and data, nothing inline, no framing.
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": ["'self'", "data:"],
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_settings(config: Mapping[str, Any]) -> None:
    """Check SIGNUP, REQUIRE_LOGIN, the log-in limits and SECRET_KEY."""
    if config["SIGNUP"] not in SIGNUP_MODES:
        raise ConfigError(f"SIGNUP must be one of {', '.join(SIGNUP_MODES)}, got {config['SIGNUP']!r}")
    if not isinstance(config["REQUIRE_LOGIN"], bool):
        raise ConfigError(f"REQUIRE_LOGIN must be true or false, got {config['REQUIRE_LOGIN']!r}")
    for key in ("LOGIN_LIMIT_ACCOUNT", "LOGIN_LIMIT_ADDRESS"):
        try:
            parse(config[key])
        except (ValueError, TypeError):
            raise ConfigError(f"{key} must be a rate like '5 per minute', got {config[key]!r}") from None
    secret = config.get("SECRET_KEY")
    if not isinstance(secret, str | bytes) or len(secret) < 16:
        raise ConfigError(
            "SECRET_KEY must be at least 16 characters (unset, one is kept in the instance folder)"
        )


def _unauthorized() -> ResponseReturnValue:
    if "api" in request.blueprints:
        abort(
            401,
            description="sign in first: send 'Authorization: Bearer <token>' (" + accounts.TOKEN_HELP + ")",
        )
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _guard() -> ResponseReturnValue | None:
    """Before every request: a bearer token is checked at once (a bad one is a 401, whatever the
    endpoint); a state-changing request without one must carry its CSRF token; with REQUIRE_LOGIN
    only the log-in and sign-up pages (and /healthz, /metrics) are open to the anonymous."""
    if "Authorization" in request.headers and request.endpoint not in OWN_BEARER:
        _ = current_user.is_authenticated  # loads the token's user, or raises the 401
    elif request.method not in SAFE_METHODS:
        csrf.protect()
    if (
        current_app.config["REQUIRE_LOGIN"]
        and request.endpoint is not None
        and request.endpoint not in PUBLIC_ENDPOINTS
        and not current_user.is_authenticated
    ):
        denied: ResponseReturnValue = login_manager.unauthorized()
        return denied
    return None


def init_app(app: Flask) -> None:
    """Secret key, sessions, tokens, CSRF, log-in limits, headers, and the account pages and CLI."""
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret_key(app.instance_path)
    add_check(app, check_settings)
    https = app.config.get("PREFERRED_URL_SCHEME") == "https"
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # _guard checks, so that token requests are exempt
    login_manager.init_app(app)
    login_manager.user_loader(lambda key: accounts.load_session_user(db.session(), key))
    login_manager.request_loader(
        lambda req: accounts.load_token_user(db.session(), req.headers.get("Authorization"))
    )
    login_manager.unauthorized_handler(_unauthorized)
    login_manager.login_view = "auth.login"
    csrf.init_app(app)
    limiter.init_app(app)
    # one Talisman per app: it keeps its options on itself
    app.extensions["talisman"] = Talisman(
        app,
        force_https=False,  # a reverse proxy terminates TLS (README: Users and security)
        content_security_policy=CSP,
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
        session_cookie_secure=https,
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
        strict_transport_security=https,
    )
    app.before_request(_guard)
    app.register_blueprint(bp)
    app.cli.add_command(users)
