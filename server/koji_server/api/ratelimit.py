"""Per-API-key rate limiting: a sliding-window counter over one minute.

Two counters per key (this fixed window and the previous one); the previous
window counts with the share of it that still overlaps the last minute. The
algorithm, and how the reset time is reported, follow the `limits`
library's SlidingWindowCounterRateLimiter, which this replaced: its asyncio
storage schedules expiry tasks and takes several awaits per request (README,
Benchmarks, for its cost); this is a few arithmetic operations, synchronous,
on the event loop that owns it.

KeyRateLimiter keeps the windows in this process: the limiter on SQLite,
where one process serves. Replicas on one PostgreSQL database share theirs
through api.ratelimit_postgres (the same algorithm, the counting done by a
function in the database); both say what they decided through `settle`, so a
client cannot tell them apart (README, Rate limits across replicas).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from koji_server.domain.errors import RateLimited
from koji_server.domain.model import Principal

PERIOD_SECONDS = 60.0


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


class RateLimiter(Protocol):
    async def admit(self, principal: Principal) -> RateLimitState:
        """Count one request of the principal's key; raise RateLimitExceeded
        when over its limit."""
        ...

    async def close(self) -> None: ...


def window_start(now: float) -> float:
    """The start of the fixed window `now` falls in (exact in floating point)."""
    return now - now % PERIOD_SECONDS


def settle(
    now: float, limit: int, left_in_window: float, current: int, previous: int, allowed: bool
) -> RateLimitState:
    """What the caller is told, once a request has been counted (`allowed`)
    or not: `current` and `previous` are the window's counts before it.
    Raises RateLimitExceeded when it was not allowed."""
    weighted = previous * left_in_window / PERIOD_SECONDS + current
    if allowed:
        current += 1
        weighted += 1
    remaining = max(0, limit - math.floor(weighted))
    # When the next request would be allowed again: one previous-window
    # request ages out, or the current window ends.
    reset_in = math.inf
    if previous:
        reset_in = left_in_window % (PERIOD_SECONDS / previous)
    if current:
        reset_in = min(reset_in, left_in_window)
    reset_time = now if reset_in == math.inf else now + reset_in
    state = RateLimitState(limit, remaining, math.ceil(reset_time))
    if not allowed:
        raise RateLimitExceeded(state, max(1, math.ceil(reset_time - now)))
    return state


class _Window:
    __slots__ = ("current", "previous", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.current = 0
        self.previous = 0


class KeyRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._swept_at = 0.0

    def tracked_keys(self) -> frozenset[str]:
        """The keys whose windows are kept (idle ones are forgotten)."""
        return frozenset(self._windows)

    def hit(self, principal: Principal) -> RateLimitState:
        """Count one request; raise RateLimitExceeded when over the limit."""
        now = self._clock()
        limit = principal.rate_limit_per_minute
        allowed, current, previous = self.count(principal.key_id, limit, now)
        left_in_window = PERIOD_SECONDS - (now - window_start(now))
        return settle(now, limit, left_in_window, current, previous, allowed)

    def count(self, key: str, limit: int, now: float) -> tuple[bool, int, int]:
        """Decide one request of `key` at `now`, counting it if allowed:
        (allowed, the window's count before it, the previous window's)."""
        window = self._window(key, now)
        left_in_window = PERIOD_SECONDS - (now - window.start)
        current = window.current
        allowed = window.previous * left_in_window / PERIOD_SECONDS + current + 1 <= limit
        if allowed:
            window.current += 1
        return allowed, current, window.previous

    async def admit(self, principal: Principal) -> RateLimitState:
        """`hit`, as the RateLimiter the RPCs await (never suspends)."""
        return self.hit(principal)

    async def close(self) -> None:
        """Nothing to release."""

    def _window(self, key: str, now: float) -> _Window:
        start = window_start(now)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(start)
        elif window.start != start:
            adjacent = start - window.start == PERIOD_SECONDS
            window.previous = window.current if adjacent else 0
            window.current = 0
            window.start = start
        if now - self._swept_at > PERIOD_SECONDS:
            self._sweep(start)
        return window

    def _sweep(self, start: float) -> None:
        """Forget keys idle for two windows (they would count nothing)."""
        self._swept_at = start
        stale = [key for key, w in self._windows.items() if start - w.start > PERIOD_SECONDS]
        for key in stale:
            del self._windows[key]
