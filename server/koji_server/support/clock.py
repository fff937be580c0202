"""The service's notions of now and of waiting.

API timestamps are documented as `2025-01-15T10:25:30Z` and durations as
whole seconds, so API-visible times are kept at that precision from the
start (`utc_now`); internal bookkeeping (job and delivery queues, latency
measurements) uses `precise_now`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

# What services and queues are given to tell the time (tests pass a fake).
Clock = Callable[[], datetime]
# What caches are given to measure how long an entry has lived: seconds that
# only go forward, as time.monotonic (tests pass a fake they move).
Ticks = Callable[[], float]


def whole_seconds(moment: datetime) -> datetime:
    """`moment` at the API's precision."""
    return moment.replace(microsecond=0)


def utc_now() -> datetime:
    return whole_seconds(datetime.now(UTC))


def precise_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """RFC 3339 with a `Z`, as in event payloads: 2026-01-01T00:00:00.123456Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
