"""The sliding-window counter behind the x-ratelimit-* headers, on a fake clock."""

from __future__ import annotations

import pytest

from koji_server.api.ratelimit import KeyRateLimiter, RateLimitExceeded
from tests.helpers import FakeTicks, principal


def test_counts_down_then_refuses_until_the_window_moves() -> None:
    clock = FakeTicks(60 * 16_667 + 20.0)  # 20 s into a minute window
    limiter = KeyRateLimiter(clock)
    states = [limiter.hit(principal(3)) for _ in range(3)]
    assert [s.remaining for s in states] == [2, 1, 0]
    assert all(s.limit == 3 for s in states)
    # The current window ends in 40 s: that is when a request is allowed again.
    assert states[-1].reset_at == 60 * 16_668
    with pytest.raises(RateLimitExceeded) as refused:
        limiter.hit(principal(3))
    assert refused.value.state.remaining == 0
    assert refused.value.retry_after_seconds == 40


def test_the_previous_window_counts_by_its_remaining_overlap() -> None:
    start = 60 * 20_000.0
    clock = FakeTicks(start + 59)
    limiter = KeyRateLimiter(clock)
    for _ in range(10):
        limiter.hit(principal(10))
    # A quarter into the next window, the previous 10 weigh 7.5.
    clock.now = start + 60 + 15
    state = limiter.hit(principal(10))
    assert state.remaining == 10 - 8  # floor(7.5 + 1)
    limiter.hit(principal(10))  # 9.5 used
    with pytest.raises(RateLimitExceeded):
        limiter.hit(principal(10))
    # Two windows later nothing from before counts.
    clock.now = start + 180
    assert limiter.hit(principal(10)).remaining == 9


def test_keys_are_counted_separately_and_idle_ones_forgotten() -> None:
    start = 60 * 30_000.0
    clock = FakeTicks(start)
    limiter = KeyRateLimiter(clock)
    limiter.hit(principal(1, "a"))
    assert limiter.hit(principal(1, "b")).remaining == 0
    with pytest.raises(RateLimitExceeded):
        limiter.hit(principal(1, "a"))
    clock.now = start + 300
    limiter.hit(principal(1, "c"))
    assert limiter.tracked_keys() == {"c"}
