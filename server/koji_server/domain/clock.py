"""The service's notion of now: UTC, truncated to whole seconds.

API timestamps are documented as `2025-01-15T10:25:30Z` and durations as
whole seconds, so times are kept at that precision from the start.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
