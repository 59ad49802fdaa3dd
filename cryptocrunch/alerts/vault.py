"""Secrets users give us (channel URLs) encrypted at rest: Fernet (AES-128-CBC + HMAC-SHA256, from
``cryptography``) with a key derived from SECRET_KEY by HKDF, so the database alone reveals none."""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SealError(ValueError):
    """A stored secret cannot be decrypted (SECRET_KEY changed since it was stored)."""


@functools.lru_cache(maxsize=8)
def _fernet(secret_key: str | bytes) -> Fernet:
    material = secret_key.encode() if isinstance(secret_key, str) else secret_key
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"cryptocrunch", info=b"channel urls").derive(
        material
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret_key: str | bytes, plaintext: str) -> str:
    """``plaintext`` encrypted and authenticated under a key derived from ``secret_key``."""
    return _fernet(secret_key).encrypt(plaintext.encode()).decode("ascii")


def unseal(secret_key: str | bytes, sealed: str) -> str:
    """The plaintext of ``seal``; SealError when it was sealed under another SECRET_KEY or altered."""
    try:
        return _fernet(secret_key).decrypt(sealed.encode("ascii")).decode()
    except InvalidToken:
        raise SealError(
            "this channel's URL cannot be decrypted: SECRET_KEY changed since it was saved; delete the "
            "channel and add it again"
        ) from None
