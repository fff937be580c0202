"""API keys and session tokens: generation, SHA-256 hashing, constant-time checks.

Secrets are only ever held in memory long enough to hash them; only the hash
is stored, and nothing here logs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_KEY_PREFIX = "koji_sk_"
SESSION_TOKEN_PREFIX = "st_live_"
# token_urlsafe(32) gives 43 characters: above the documented "32+".
_RANDOM_BYTES = 32
# Longest secret we bother hashing; anything longer is invalid anyway.
MAX_SECRET_LENGTH = 256


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def new_session_token() -> str:
    return SESSION_TOKEN_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def looks_like(secret: str | None, prefix: str) -> bool:
    """Cheap shape check before any lookup: right prefix, sane length."""
    return (
        secret is not None
        and secret.startswith(prefix)
        and len(prefix) + 32 <= len(secret) <= MAX_SECRET_LENGTH
    )


def display_prefix(api_key: str) -> str:
    """The part of a key safe to show in listings (prefix plus 4 characters)."""
    return api_key[: len(API_KEY_PREFIX) + 4]
