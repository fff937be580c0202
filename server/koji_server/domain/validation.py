"""Input checks shared by the use cases; each failure names the offending field."""

from __future__ import annotations

import json
import re
from typing import Any

from koji_server.domain.errors import FieldViolation, InvalidRequest, PayloadTooLarge

MAX_CONTENT_CHARS = 10_000
MAX_JSON_BYTES = 16 * 1024
MAX_NAME_CHARS = 200
NOT_JSON = "must be JSON: NaN and Infinity are not allowed"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# BCP 47 shape only (language, then up to 8-character subtags).
_LOCALE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,6}")


def invalid(field: str, description: str) -> InvalidRequest:
    return InvalidRequest([FieldViolation(field, description)])


def uuid_field(field: str, value: str) -> str:
    """A UUID in its canonical 8-4-4-4-12 form, returned lowercased."""
    if not value:
        raise invalid(field, "is required")
    if not _UUID.fullmatch(value):
        raise invalid(field, "must be a UUID such as f8e7d6c5-b4a3-2109-8765-432109876543")
    return value.lower()


def message_content(value: str) -> str:
    if not value.strip():
        raise invalid("content", "must not be empty")
    if len(value) > MAX_CONTENT_CHARS:
        raise PayloadTooLarge(
            [FieldViolation("content", f"must be at most {MAX_CONTENT_CHARS} characters")]
        )
    return value


def short_text(field: str, value: str) -> str:
    if len(value) > MAX_NAME_CHARS:
        raise invalid(field, f"must be at most {MAX_NAME_CHARS} characters")
    return value


def locale(value: str) -> str:
    if not value:
        return "en"
    if len(value) > 35 or not _LOCALE.fullmatch(value):
        raise invalid("locale", "must be a BCP 47 language tag such as en or pt-BR")
    return value


def json_object(field: str, value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A JSON object that stores and round-trips as given, within the size cap."""
    if value is None:
        return None
    try:
        encoded = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except ValueError:
        raise invalid(field, NOT_JSON) from None
    if len(encoded.encode("utf-8", "surrogatepass")) > MAX_JSON_BYTES:
        raise PayloadTooLarge(
            [FieldViolation(field, f"must be at most {MAX_JSON_BYTES} bytes once encoded")]
        )
    return value
