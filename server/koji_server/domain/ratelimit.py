"""Per-API-key rate limiting on the `limits` library: a sliding-window counter
over one minute (two counters per key, O(1) per request; unlike a moving
window it keeps no timestamp per request, so a high limit costs nothing).

In-process: each server process keeps its own windows.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from koji_server.domain.errors import RateLimited
from koji_server.domain.model import Principal


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """What the caller is told: the limit, what is left, and when the window
    resets (Unix seconds)."""

    limit: int
    remaining: int
    reset_at: int


class RateLimitExceeded(RateLimited):
    def __init__(self, state: RateLimitState, retry_after_seconds: int) -> None:
        super().__init__(retry_after_seconds)
        self.state = state


class KeyRateLimiter:
    def __init__(self) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._items: dict[int, RateLimitItemPerMinute] = {}

    def _item(self, per_minute: int) -> RateLimitItemPerMinute:
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = RateLimitItemPerMinute(per_minute)
        return item

    async def hit(self, principal: Principal) -> RateLimitState:
        """Count one request; raise RateLimitExceeded when over the limit."""
        item = self._item(principal.rate_limit_per_minute)
        allowed = await self._limiter.hit(item, principal.key_id)
        stats = await self._limiter.get_window_stats(item, principal.key_id)
        reset_at = math.ceil(stats.reset_time)
        state = RateLimitState(item.amount, stats.remaining, reset_at)
        if not allowed:
            raise RateLimitExceeded(state, max(1, math.ceil(stats.reset_time - time.time())))
        return state
