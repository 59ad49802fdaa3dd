"""Password hashing with argon2 (argon2-cffi, its RFC 9106 low-memory profile)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@functools.cache
def _decoy() -> str:
    # verified against when an email is unknown, so a wrong email costs what a wrong password does
    return _hasher().hash("not anyone's password")


def hash_password(password: str) -> str:
    """The argon2id hash to store."""
    return _hasher().hash(password)


def check_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash; with no hash (unknown email) it is checked
    against a decoy, so both answers take as long."""
    try:
        return _hasher().verify(stored or _decoy(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether the hash was made with weaker parameters than today's (rehash at the next log-in)."""
    return _hasher().check_needs_rehash(stored)


def weak(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    return None
