"""What every durable queue is tuned by: lease, attempts and retry backoff."""

from __future__ import annotations

import random
from dataclasses import dataclass


def backoff(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: between half and all of
    base * 2^(attempts - 1), capped."""
    step = min(cap, base * 2 ** (attempts - 1))
    return step / 2 + random.uniform(0, step / 2)


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """A claimed item's lease, how many attempts it gets and how long to wait
    between them."""

    lease_seconds: float = 30.0
    max_attempts: int = 5
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0

    def may_retry(self, attempts: int) -> bool:
        """Whether an item that has made `attempts` attempts gets another."""
        return attempts < self.max_attempts

    def backoff(self, attempts: int) -> float:
        """The wait before the next attempt, after `attempts` of them."""
        return backoff(attempts, self.retry_base_seconds, self.retry_max_seconds)
