"""Input checks shared by the use cases; each failure names the offending field."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from koji_server.domain.errors import FieldViolation, InvalidRequest, PayloadTooLarge

MAX_CONTENT_CHARS = 10_000
# Per interview: respondent messages, and their text in UTF-8 bytes. With
# them, the whole interview fits a gRPC client's default 4 MiB receive limit
# and the REST edge's response buffer (see tools/envoy_config.py, MAX_RESPONSE_BYTES).
MAX_RESPONDENT_MESSAGES = 200
MAX_TRANSCRIPT_BYTES = 1024 * 1024
MAX_JSON_BYTES = 16 * 1024
# Objects and arrays nested in each other, the outermost object included
# (protobuf's parser refuses a Struct much deeper than this anyway).
MAX_JSON_DEPTH = 32
MAX_NAME_CHARS = 200
NOT_JSON = "must be JSON: NaN and Infinity are not allowed"
# The descriptions of field violations, shared with the proto rules' checks
# (api/contract.py), which give the same answers for the same input.
REQUIRED = "is required"
NOT_A_UUID = "must be a UUID such as f8e7d6c5-b4a3-2109-8765-432109876543"
BLANK = "must not be empty"
NOT_A_LOCALE = "must be a BCP 47 language tag such as en or pt-BR"
NEGATIVE = "must not be negative"
MAX_LOCALE_CHARS = 35
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# BCP 47 shape only (language, then up to 8-character subtags).
_LOCALE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,6}")


def invalid(field: str, description: str) -> InvalidRequest:
    return InvalidRequest([FieldViolation(field, description)])


def uuid_field(field: str, value: str) -> str:
    """A UUID in its canonical 8-4-4-4-12 form, returned lowercased."""
    if not value:
        raise invalid(field, REQUIRED)
    if not _UUID.fullmatch(value):
        raise invalid(field, NOT_A_UUID)
    return value.lower()


# U+0000, which PostgreSQL's text cannot hold: refused in stored text on
# every engine alike (JSON keeps it, escaped).
NUL = "\x00"
HAS_NUL = "must not contain the NUL character (U+0000)"


def message_content(value: str) -> str:
    if not value.strip():
        raise invalid("content", BLANK)
    if NUL in value:
        raise invalid("content", HAS_NUL)
    if len(value) > MAX_CONTENT_CHARS:
        raise PayloadTooLarge(
            [FieldViolation("content", f"must be at most {MAX_CONTENT_CHARS} characters")]
        )
    return value


# A character is at most 4 bytes in UTF-8.
_MAX_CONTENT_BYTES = 4 * MAX_CONTENT_CHARS


def content_bytes(value: str) -> int:
    return len(value.encode("utf-8", "surrogatepass"))


def transcript_room(
    interview_id: str, respondent_messages: int, content: str, used_bytes: Callable[[], int]
) -> None:
    """Refuses a message that would take the interview past its limits;
    `used_bytes` (the respondent text so far) is asked only when it matters."""
    if respondent_messages >= MAX_RESPONDENT_MESSAGES:
        raise PayloadTooLarge(
            [FieldViolation("content", "the interview has no room for more messages")],
            f"Interview {interview_id} has reached its limit of {MAX_RESPONDENT_MESSAGES} "
            "respondent messages; complete it.",
        )
    size = content_bytes(content)
    if respondent_messages * _MAX_CONTENT_BYTES + size <= MAX_TRANSCRIPT_BYTES:
        return
    if used_bytes() + size > MAX_TRANSCRIPT_BYTES:
        raise PayloadTooLarge(
            [FieldViolation("content", "does not fit in the interview's transcript")],
            f"Interview {interview_id} would exceed its limit of {MAX_TRANSCRIPT_BYTES:,} bytes "
            "of respondent text (UTF-8); send less, or complete it.",
        )


def short_text(field: str, value: str) -> str:
    if len(value) > MAX_NAME_CHARS:
        raise invalid(field, f"must be at most {MAX_NAME_CHARS} characters")
    if NUL in value:
        raise invalid(field, HAS_NUL)
    return value


def locale(value: str) -> str:
    if not value:
        return "en"
    if len(value) > MAX_LOCALE_CHARS or not _LOCALE.fullmatch(value):
        raise invalid("locale", NOT_A_LOCALE)
    return value


def json_object(field: str, value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A JSON object that stores and round-trips as given, within the size cap."""
    if value is None:
        return None
    try:
        encoded = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except ValueError:
        raise invalid(field, NOT_JSON) from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise invalid(field, f"must be nested at most {MAX_JSON_DEPTH} levels deep")
    if len(encoded.encode("utf-8", "surrogatepass")) > MAX_JSON_BYTES:
        raise PayloadTooLarge(
            [FieldViolation(field, f"must be at most {MAX_JSON_BYTES} bytes once encoded")]
        )
    return value


def _depth(value: Any) -> int:
    """How deeply objects and arrays nest in `value` (a scalar is 0)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        pending.extend((child, level + 1) for child in children)
    return deepest


# Studies' design (CreateStudy, UpdateStudy, `koji-admin studies create
# --file`): every rule at once, one violation per problem.
MAX_QUESTIONS = 20
MAX_QUESTION_CHARS = 500
MAX_SCALE_POINTS = 11
MIN_OPTIONS, MAX_OPTIONS = 2, 10
MAX_FOLLOW_UPS = 3
MAX_BRIEF_CHARS = 2_000
MAX_INSTRUCTIONS_CHARS = 1_000
MAX_LABEL_CHARS = 100
DEFAULT_SCALE = (0, 10)


class Violations:
    """Collects field violations; `raise_any` raises them together."""

    def __init__(self) -> None:
        self.found: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.found.append(FieldViolation(field, description))

    def text(self, field: str, value: Any, limit: int, required: bool = False) -> str:
        """`value` as a string of at most `limit` characters (else a
        violation, and the empty string)."""
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.add(field, "must be a string")
            return ""
        if required and not value.strip():
            self.add(field, "is required")
        elif len(value) > limit:
            self.add(field, f"must be at most {limit} characters")
        elif NUL in value:
            self.add(field, HAS_NUL)
        return value.strip() if required else value

    def integer(self, field: str, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(field, "must be an integer")
            return None
        return value

    def mapping(self, field: str, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(field, "must be an object")
            return {}
        return value

    def raise_any(self) -> None:
        if self.found:
            raise InvalidRequest(self.found)
