"""Rate limits shared by the replicas on one PostgreSQL database.

The same sliding-window counter as api.ratelimit.KeyRateLimiter, with the
windows in the database's rate_limit_windows table: one call of the function
koji_rate_limit_hit (migration 0002) per request, one round trip, rolls the
key's windows over, decides and counts atomically (the key's row locked), so
a key limited to 60 a minute gets 60 allowed requests a window however its
requests are spread over replicas. The answer it gives back (the counts
before this request, and whether it was allowed) goes through the same
`settle` as in-process, so clients see the same headers and Retry-After.

On its own asyncpg pool, not the storage engine's: no SQLAlchemy on a path
every request takes, and its connections are never held up behind a write
unit. A connection goes back to the pool without asyncpg's reset (`RESET
ALL`, `UNLISTEN *`...: a second round trip per request): nothing here leaves
state on it, it only ever calls the function (README, Rate limits across
replicas, for the measurements).

Fails closed: when the database cannot answer in time, the request is
refused with `unavailable` (retry shortly) rather than let through
uncounted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import asyncpg

from koji_server.api.ratelimit import PERIOD_SECONDS, RateLimitState, settle, window_start
from koji_server.domain.errors import StorageUnavailable
from koji_server.domain.model import Principal

log = logging.getLogger(__name__)

HIT = "SELECT allowed, current_before, previous FROM koji_rate_limit_hit($1, $2, $3, $4, $5)"
# Connections per process: a hit holds one for a round trip.
POOL_SIZE = 10
# How long a request waits for the limiter's answer (a connection, then the
# call) before it is refused with `unavailable`.
TIMEOUT_SECONDS = 2.0


async def _keep(connection: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo (see the module's doc)."""


class RateLimiterUnavailable(StorageUnavailable):
    default_message = "The rate limiter cannot be reached; retry shortly."


class PostgresRateLimiter:
    def __init__(
        self,
        connect_args: dict[str, Any],
        clock: Callable[[], float] = time.time,
        pool_size: int = POOL_SIZE,
        timeout: float = TIMEOUT_SECONDS,
        server_settings: dict[str, str] | None = None,
    ) -> None:
        self._connect_args = connect_args
        self._clock = clock
        self._pool_size = pool_size
        self._timeout = timeout
        self._server_settings = server_settings
        self._pool: asyncpg.Pool | None = None
        self._opening: asyncio.Lock | None = None

    async def admit(self, principal: Principal) -> RateLimitState:
        """Count one request; RateLimitExceeded when over the limit,
        RateLimiterUnavailable when the database does not answer."""
        now = self._clock()
        limit = principal.rate_limit_per_minute
        start = window_start(now)
        left_in_window = PERIOD_SECONDS - (now - start)
        try:
            async with asyncio.timeout(self._timeout):
                pool = self._pool or await self._open()
                row = await pool.fetchrow(
                    HIT, principal.key_id, limit, start, left_in_window, PERIOD_SECONDS
                )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as error:
            log.warning("rate limiter unavailable, request refused: %r", error)
            raise RateLimiterUnavailable() from None
        allowed, current, previous = row
        return settle(now, limit, left_in_window, current, previous, allowed)

    async def _open(self) -> asyncpg.Pool:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    **self._connect_args,
                    min_size=1,
                    max_size=self._pool_size,
                    reset=_keep,
                    server_settings=self._server_settings,
                )
            return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
