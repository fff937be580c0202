"""What koji-mcp's authorization server stores, and the port it stores it
through (storage.oauth implements it on SQLite and PostgreSQL).

A grant is one consent: a person pasted an API key of their project and
allowed a client some scopes. Its codes and tokens are random secrets stored
by SHA-256 only; each keeps the API key it acts as sealed with AES-GCM under
a key derived from that token, so that koji-mcp can pass the key to the API
while the database alone yields no usable secret.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TokenKind = Literal["code", "access", "refresh"]
PREFIXES: dict[TokenKind, str] = {"code": "koji_ac_", "access": "koji_at_", "refresh": "koji_rt_"}
_SEAL_CONTEXT = b"koji-oauth-seal\x00"
_NONCE_BYTES = 12


def new_token(kind: TokenKind) -> str:
    return PREFIXES[kind] + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def seal(api_key: str, token: str) -> str:
    key = hashlib.sha256(_SEAL_CONTEXT + token.encode()).digest()
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, api_key.encode(), None)
    return base64.b64encode(nonce + sealed).decode()


def unseal(sealed: str, token: str) -> str:
    key = hashlib.sha256(_SEAL_CONTEXT + token.encode()).digest()
    raw = base64.b64decode(sealed)
    return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None).decode()


@dataclass(frozen=True)
class IssuedToken:
    """One code or token as stored (its secret only as `token_hash`)."""

    token_hash: str
    kind: TokenKind
    grant_id: str
    client_id: str
    api_key_id: str
    scopes: tuple[str, ...]
    sealed_key: str
    created_at: datetime
    expires_at: datetime
    code_challenge: str | None = None
    redirect_uri: str | None = None
    redirect_uri_explicit: bool | None = None
    resource: str | None = None


class GrantStore(Protocol):
    """Clients, and codes and tokens, on the service's database."""

    async def add_client(self, client_id: str, metadata: dict[str, Any], now: datetime) -> None: ...

    async def client(self, client_id: str) -> dict[str, Any] | None: ...

    async def active_key_id(self, key_hash: str) -> str | None:
        """The id of the unrevoked API key with this hash, if any."""
        ...

    async def add_token(self, token: IssuedToken) -> None: ...

    async def token(self, token_hash: str, kind: TokenKind, now: datetime) -> IssuedToken | None:
        """The token if it is unused, unexpired, and its API key unrevoked."""
        ...

    async def spent(self, token_hash: str, kind: TokenKind) -> IssuedToken | None:
        """The token if it exists but was used or revoked."""
        ...

    async def use(self, token_hash: str, kind: TokenKind, now: datetime) -> bool:
        """Marks a valid token used; False if it was not (any more)."""
        ...

    async def revoke_grant(self, grant_id: str, now: datetime) -> None: ...
