"""Rate limits shared by the replicas on one PostgreSQL database.

The same sliding-window counter as api.ratelimit.KeyRateLimiter, with the
windows in the database's rate_limit_windows table: the function
koji_rate_limit_hit (migration 0002) rolls a key's windows over, decides and
counts atomically (the key's row locked), so a key limited to 60 a minute
gets 60 allowed requests a window however its requests are spread over
replicas. A request alone goes in a round trip of its own; requests that
come while IN_FLIGHT round trips are under way wait and go together in the
next, through koji_rate_limit_hits (each decided as if alone, in the order
they came), as the SQLite writer groups commits. The answer for each (the
counts before it, and whether it was allowed) goes through the same
`settle` as in-process, so clients see the same headers and Retry-After.

On its own asyncpg pool, not the storage engine's: no SQLAlchemy on a path
every request takes, and its connections are never held up behind a write
unit. A connection goes back to the pool without asyncpg's reset (`RESET
ALL`, `UNLISTEN *`...: a second round trip per request): nothing here leaves
state on it, it only ever calls the function (README, Rate limits across
replicas, for the measurements).

Fails closed: when the database cannot answer in time, the request is
refused with `unavailable` (retry shortly) rather than let through
uncounted. A database that answers but refuses writes (read-only, as
during a failover) still serves reads: meanwhile each server counts on its
own (api.ratelimit's windows), so a key may get up to its limit from each.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from koji_server.api.ratelimit import (
    PERIOD_SECONDS,
    KeyRateLimiter,
    RateLimitState,
    settle,
    window_start,
)
from koji_server.domain.errors import StorageUnavailable
from koji_server.domain.model import Principal

log = logging.getLogger(__name__)

HIT = "SELECT allowed, current_before, previous FROM koji_rate_limit_hit($1, $2, $3, $4, $5)"
HITS = (
    "SELECT ordinal, allowed, current_before, previous"
    " FROM koji_rate_limit_hits($1, $2, $3, $4, $5)"
)
# Round trips under way at once (a connection each); requests that come
# meanwhile wait and go together in the next. Measured with make
# bench-ratelimit (README): 1 makes bigger batches but adds a round trip of
# waiting under load; 4 barely batches.
IN_FLIGHT = 2
POOL_SIZE = IN_FLIGHT
# Requests per round trip at most.
BATCH = 200
# How long a request waits for the limiter's answer (a connection, then the
# call) before it is refused with `unavailable`: under Envoy's 15 s, so a
# REST caller gets the documented 503; not less, since a saturated machine
# (the suite's two runs side by side on 2 cores, a benchmark) can take
# seconds to answer (2 s refused calls there).
TIMEOUT_SECONDS = 10.0


@dataclass(slots=True)
class _Hit:
    key: str
    limit: int
    start: float
    left_in_window: float
    answer: asyncio.Future[tuple[bool, int, int]]


async def _keep(connection: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo (see the module's doc)."""


class RateLimiterUnavailable(StorageUnavailable):
    default_message = "The rate limiter cannot be reached; retry shortly."


def _refuse(hits: list[_Hit]) -> None:
    for hit in hits:
        if not hit.answer.done():
            hit.answer.set_exception(RateLimiterUnavailable())


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
        # Counts while the database refuses writes.
        self._here = KeyRateLimiter(clock)
        self._pool: asyncpg.Pool | None = None
        self._opening: asyncio.Lock | None = None
        self._pending: list[_Hit] = []
        self._in_flight = 0
        self._sending: set[asyncio.Task[None]] = set()
        # Round trips made and requests they carried (bench.ratelimit).
        self.round_trips = 0
        self.requests_sent = 0

    async def admit(self, principal: Principal) -> RateLimitState:
        """Count one request; RateLimitExceeded when over the limit,
        RateLimiterUnavailable when the database does not answer."""
        now = self._clock()
        limit = principal.rate_limit_per_minute
        start = window_start(now)
        left_in_window = PERIOD_SECONDS - (now - start)
        answer: asyncio.Future[tuple[bool, int, int]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Hit(principal.key_id, limit, start, left_in_window, answer))
        if self._in_flight < IN_FLIGHT:
            self._in_flight += 1
            task = asyncio.ensure_future(self._send())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        allowed, current, previous = await answer
        return settle(now, limit, left_in_window, current, previous, allowed)

    async def _send(self) -> None:
        """Sends what is waiting, a batch a round trip, until nothing is."""
        try:
            while self._pending:
                batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
                self.round_trips += 1
                self.requests_sent += len(batch)
                try:
                    rows = await self._call(batch)
                except asyncpg.ReadOnlySQLTransactionError:
                    log.warning("rate limits counted per server while the database is read-only")
                    rows = [self._count_here(i, hit) for i, hit in enumerate(batch, 1)]
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as e:
                    log.warning(
                        "rate limiter unavailable, %d request(s) refused: %r", len(batch), e
                    )
                    rows = []
                except Exception:
                    log.exception("rate limiter failed, %d request(s) refused", len(batch))
                    rows = []
                except BaseException:  # cancelled: no request waits forever
                    _refuse(batch + self._pending)
                    self._pending = []
                    raise
                for ordinal, allowed, current, previous in rows:
                    hit = batch[ordinal - 1]
                    if not hit.answer.done():
                        hit.answer.set_result((allowed, current, previous))
                _refuse(batch)  # those the answer did not name (none when it came)
        finally:
            self._in_flight -= 1

    def _count_here(self, ordinal: int, hit: _Hit) -> tuple[int, bool, int, int]:
        now = hit.start + PERIOD_SECONDS - hit.left_in_window
        return (ordinal, *self._here.count(hit.key, hit.limit, now))

    async def _call(self, batch: list[_Hit]) -> list[Any]:
        async with asyncio.timeout(self._timeout):
            pool = self._pool or await self._open()
            if len(batch) == 1:
                (hit,) = batch
                row = await pool.fetchrow(
                    HIT, hit.key, hit.limit, hit.start, hit.left_in_window, PERIOD_SECONDS
                )
                return [(1, *row)]
            return await pool.fetch(
                HITS,
                [hit.key for hit in batch],
                [hit.limit for hit in batch],
                [hit.start for hit in batch],
                [hit.left_in_window for hit in batch],
                PERIOD_SECONDS,
            )

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
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
