"""Credentials at rest: MultiFernet over the keys in FIELD_ENCRYPTION_KEYS (first key encrypts; all decrypt).

A value that no key opens is an error, never a plaintext fallback.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class CredentialsUnreadable(Exception):
    """No configured key decrypts the stored credentials."""


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in encryption_keys()])


def encryption_keys() -> list[bytes]:
    if settings.FIELD_ENCRYPTION_KEYS:
        return [key.encode() for key in settings.FIELD_ENCRYPTION_KEYS]
    digest = hashlib.sha256(f"followback-dev-credentials:{settings.SECRET_KEY}".encode()).digest()
    return [base64.urlsafe_b64encode(digest)]


def reset_key_cache() -> None:
    _fernet.cache_clear()


def encrypt_json(value: dict[str, Any]) -> str:
    return _fernet().encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()


def decrypt_json(token: str) -> dict[str, Any]:
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except (InvalidToken, ValueError):
        raise CredentialsUnreadable(
            "stored credentials cannot be decrypted with the configured keys"
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt with the first key; raises CredentialsUnreadable when no key opens it."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadable(
            "stored credentials cannot be decrypted with the configured keys"
        ) from None
