"""Who is asking: a signed-in browser (Flask-Login's session, backed by a ``login_session`` row) or
an API client with a bearer token. The user loaders Flask-Login calls, and the steps of signing
in and out."""

from __future__ import annotations

from flask import request
from flask_login import login_user, logout_user
from sqlalchemy.orm import Session
from werkzeug.exceptions import Unauthorized

from ..clock import MINUTE, now_ms
from ..models import User
from ..storage import users
from .keys import digest, new_session_key

TOKEN_HELP = "create one on /account or with flask users token EMAIL"


class SignedIn:
    """The current user as Flask-Login sees it: the account, and the key of the browser session it
    signed in with (None for a request with an API token)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, user: User, session_key: str | None) -> None:
        self.user = user
        self.session_key = session_key

    def get_id(self) -> str | None:
        # Flask-Login keeps this in the session cookie; the user loader looks the session up by it.
        return self.session_key

    @property
    def is_active(self) -> bool:
        return not self.user.disabled

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin


def normalize_email(email: str) -> str:
    """How an email is stored and looked up: trimmed, lower-cased."""
    return email.strip().lower()


def sign_in(session: Session, user: User) -> SignedIn:
    """Start a browser session of ``user``: a new session row, and Flask-Login's session cookie."""
    key = new_session_key()
    users.add_login_session(session, user.id, digest(key), now_ms())
    session.commit()
    signed_in = SignedIn(user, key)
    login_user(signed_in)
    return signed_in


def sign_out(session: Session, current: SignedIn) -> None:
    """End this browser's session: its row goes, so the cookie no longer signs anyone in."""
    if current.session_key is not None:
        users.end_login_session(session, digest(current.session_key))
        session.commit()
    logout_user()


def load_session_user(session: Session, key: str) -> SignedIn | None:
    """The user of a browser session cookie, while its session row exists and the account is
    enabled. A request that carries an API token is the token's, whatever cookie it sends."""
    if "Authorization" in request.headers:
        return None
    row = users.login_session(session, digest(key))
    if row is None:
        return None
    user = users.get_user(session, row.user_id)
    if user is None or user.disabled:
        return None
    now = now_ms()
    if now - row.last_seen > MINUTE:
        row.last_seen = now
        session.commit()
    return SignedIn(user, key)


def load_token_user(session: Session, header: str | None) -> SignedIn | None:
    """The user of an ``Authorization: Bearer <token>`` header; no header, no user. A malformed
    header, or a token that is unknown, revoked or of a disabled account, is a 401."""
    if header is None:
        return None
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized(f"send the API token as 'Authorization: Bearer <token>'; {TOKEN_HELP}")
    token = users.token_by_hash(session, digest(secret.strip()))
    if token is None or token.revoked is not None or token.user.disabled:
        raise Unauthorized(f"the API token is unknown, revoked, or its account is disabled; {TOKEN_HELP}")
    now = now_ms()
    if token.last_used is None or now - token.last_used > MINUTE:
        token.last_used = now
        session.commit()
    return SignedIn(token.user, None)
