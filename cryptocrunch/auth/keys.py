"""Secrets: the app's SECRET_KEY (kept in the instance folder when not configured), and the random
keys of API tokens and signed-in sessions, of which only a SHA-256 is stored."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

#: What every API token starts with, so a leaked one is recognisable (and scanners can find it).
TOKEN_PREFIX = "cc_"


def new_token() -> str:
    """A new API token: the prefix and 32 random bytes, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_session_key() -> str:
    """A new key for one signed-in session."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The SHA-256 (hex) a token or session key is stored and looked up by. The secrets are 256
    random bits, so a fast hash is as safe as a slow one and keeps every API request cheap."""
    return hashlib.sha256(secret.encode()).hexdigest()


def instance_secret_key(instance_path: str) -> str:
    """The SECRET_KEY kept in ``instance/secret_key`` (mode 0600), created on first use so sessions
    survive restarts without a key in the repository or the environment."""
    path = Path(instance_path) / "secret_key"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key)
    return key
