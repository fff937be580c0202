"""Opaque, tamper-proof page tokens for keyset pagination (AIP-158).

A token carries the position after which the next page starts (the last
item's `updated_at` and id) and is bound, by an HMAC-SHA256 under the
server's secret, to the project and the filters it was issued for: a token
that was altered, forged, or sent with other filters is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime

from koji_server.domain.errors import FieldViolation, InvalidRequest

FIELD = "page_token"
_MAC_BYTES = 16


@dataclass(frozen=True, slots=True)
class Position:
    updated_at: datetime
    interview_id: str


def _refused(description: str) -> InvalidRequest:
    return InvalidRequest([FieldViolation(FIELD, description)])


class PageTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, scope: str, payload: bytes) -> bytes:
        message = scope.encode() + b"\0" + payload
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self, scope: str, position: Position) -> str:
        """`scope` names the project and the filters (any stable string)."""
        return self.issue_values(scope, [position.updated_at.isoformat(), position.interview_id])

    def read(self, scope: str, token: str) -> Position:
        updated_at, interview_id = self.read_values(scope, token)
        return Position(datetime.fromisoformat(updated_at), interview_id)

    def issue_values(self, scope: str, values: list[str | int]) -> str:
        """A token carrying any JSON list of positions (search pages by offset)."""
        payload = json.dumps(values, separators=(",", ":")).encode()
        token = self._mac(scope, payload) + payload
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def read_values(self, scope: str, token: str) -> list[str | int]:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise _refused("is not a page token of this API") from None
        mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, self._mac(scope, payload)):
            raise _refused(
                "is not valid for this request: it was altered, or issued for other filters"
            )
        values: list[str | int] = json.loads(payload)
        return values
