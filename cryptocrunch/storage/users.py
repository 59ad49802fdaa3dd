"""Accounts, their API tokens and their signed-in sessions. Every read of something a user owns
takes the owner, so a query for another user's id finds nothing."""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import ApiToken, LoginSession, User


def count_users(session: Session) -> int:
    """How many accounts there are."""
    return session.scalar(select(func.count()).select_from(User)) or 0


def find_user(session: Session, email: str) -> User | None:
    """The account of ``email`` (already lower-cased), if any."""
    return session.scalar(select(User).where(User.email == email))


def get_user(session: Session, user_id: int) -> User | None:
    """The account with this id, if any."""
    return session.get(User, user_id)


def list_users(session: Session) -> list[User]:
    """Every account, oldest first."""
    return list(session.scalars(select(User).order_by(User.id)))


def add_user(session: Session, email: str, password_hash: str, is_admin: bool, now: int) -> User:
    """A new account (the caller checked that ``email`` is free)."""
    user = User(email=email, password_hash=password_hash, is_admin=is_admin, created=now)
    session.add(user)
    session.flush()
    return user


def delete_user(session: Session, user: User) -> None:
    """Delete the account and everything it owns (tokens, sessions)."""
    session.delete(user)
    session.flush()


def add_token(session: Session, user_id: int, name: str, token_hash: str, now: int) -> ApiToken:
    """A new API token of the user's, kept as the hash of its secret."""
    token = ApiToken(user_id=user_id, name=name, token_hash=token_hash, created=now)
    session.add(token)
    session.flush()
    return token


def user_tokens(session: Session, user_id: int) -> list[ApiToken]:
    """The user's tokens, newest first (revoked ones included)."""
    return list(
        session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc()))
    )


def user_token(session: Session, user_id: int, token_id: int) -> ApiToken | None:
    """The user's token with this id; None for a token of anyone else's."""
    return session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id))


def token_by_hash(session: Session, token_hash: str) -> ApiToken | None:
    """The token whose secret hashes to ``token_hash``, with its user."""
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


def add_login_session(session: Session, user_id: int, key_hash: str, now: int) -> None:
    """Record a signed-in browser by the hash of its session key."""
    session.add(LoginSession(user_id=user_id, key_hash=key_hash, created=now, last_seen=now))
    session.flush()


def login_session(session: Session, key_hash: str) -> LoginSession | None:
    """The signed-in session with this key hash, if it still exists."""
    return session.scalar(select(LoginSession).where(LoginSession.key_hash == key_hash))


def end_login_session(session: Session, key_hash: str) -> None:
    """Forget one signed-in session (log-out)."""
    session.execute(sa.delete(LoginSession).where(LoginSession.key_hash == key_hash))


def end_other_sessions(session: Session, user_id: int, keep_hash: str | None) -> int:
    """Forget every signed-in session of the user but ``keep_hash``; return how many ended."""
    query = sa.delete(LoginSession).where(LoginSession.user_id == user_id)
    if keep_hash is not None:
        query = query.where(LoginSession.key_hash != keep_hash)
    result = session.execute(query)
    return cast(sa.CursorResult[Any], result).rowcount  # a DELETE's result is a CursorResult
