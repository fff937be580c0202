"""Standard Webhooks signing with the `standardwebhooks` package.

Headers: `webhook-id` (the event id, stable across retries, for receivers to
dedupe), `webhook-timestamp` (Unix seconds of this attempt) and
`webhook-signature` (`v1,<base64 HMAC-SHA256>`, one per active secret,
space-separated: during a rotation both the new and the previous secret sign).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def body(payload: dict[str, Any]) -> str:
    """The exact bytes sent (as text): compact, key order as stored."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def headers(
    message_id: str, timestamp: datetime, data: str, signing_secrets: Iterable[str]
) -> dict[str, str]:
    signatures = " ".join(
        Webhook(secret).sign(message_id, timestamp, data) for secret in signing_secrets
    )
    return {
        "content-type": "application/json",
        "user-agent": "koji-webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
    }
