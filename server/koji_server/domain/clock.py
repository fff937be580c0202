"""The service's notions of now and of waiting.

API timestamps are documented as `2025-01-15T10:25:30Z` and durations as
whole seconds, so API-visible times are kept at that precision from the
start (`utc_now`); internal bookkeeping (job and delivery queues, latency
measurements) uses `precise_now`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def precise_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """RFC 3339 with a `Z`, as in event payloads: 2026-01-01T00:00:00.123456Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
