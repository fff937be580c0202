"""PostgreSQL: one asyncpg pool for reads and writes, no writer thread.

A write unit of work is the same synchronous function of a `Session` as on
SQLite; here it runs through `AsyncSession.run_sync` in a transaction of its
own on a pooled connection, so writes run side by side. What SQLite's single
write lock gave for free is kept with row locks: the write units' repositories
lock the rows they load by key (`FOR UPDATE`, storage.repository.DirectTables:
two completions of one interview run one after the other, the second sees the
first's), and the queues claim with `FOR UPDATE SKIP LOCKED`. A unit that
loses a deadlock or a serialization conflict runs again (units have no
effects outside their session, storage.writer's rule too).

Once started, a unit runs to its commit or rollback even if its caller gives
up (as on the writer thread): a cancelled request does not cut a transaction
in half on the wire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from koji_server.storage.database import DatabaseUnusable
from koji_server.storage.repository import DirectTables
from koji_server.storage.schema_version import mismatch, read_state

log = logging.getLogger(__name__)

T = TypeVar("T")

ASYNC_DRIVER = "postgresql+asyncpg"
# The analysis processes' and the metrics thread's synchronous driver.
SYNC_DRIVER = "postgresql+psycopg"
# Connections per process, shared by reads and writes (the pipeline's claims
# included); writes waiting on one interview's row lock each hold one.
POOL_SIZE = 10
MAX_OVERFLOW = 10
# SQLSTATEs after which a unit runs again: serialization_failure,
# deadlock_detected.
RETRYABLE = frozenset({"40001", "40P01"})
MAX_TRIES = 5
RETRY_PAUSE_SECONDS = 0.01
# SQLSTATEs meaning "cannot write now, through no fault of the request":
# disk_full, read_only_sql_transaction (a read-only server or standby).
UNWRITABLE = frozenset({"53100", "25006"})


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def async_url(url: str) -> URL:
    """`url` with asyncpg (`postgresql://` means asyncpg); another driver is refused."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        return parsed.set(drivername=ASYNC_DRIVER)
    if parsed.drivername != ASYNC_DRIVER:
        raise ValueError(
            f"KOJI_DATABASE_URL must use asyncpg for PostgreSQL ({ASYNC_DRIVER}://...), "
            f"got {parsed.drivername}"
        )
    return parsed


def sync_engine(url: str, pool_size: int = 1) -> Engine:
    """A synchronous engine (psycopg) on the same database."""
    return create_engine(
        async_url(url).set(drivername=SYNC_DRIVER), pool_size=pool_size, max_overflow=0
    )


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a driver error, wrapped by SQLAlchemy or not."""
    original = getattr(error, "orig", None) or error
    return getattr(original, "sqlstate", None)


class PostgresDatabase:
    """The pooled asyncpg engine over one PostgreSQL database."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = async_url(url)
        self.where = parsed.render_as_string(hide_password=True)
        self.engine = create_async_engine(parsed, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW)
        self.read_engine = self.engine
        dialect = self.engine.sync_engine.dialect
        self.read_tables = DirectTables.for_dialect(dialect)
        self.write_tables = DirectTables.for_dialect(dialect, writing=True)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._running: set[asyncio.Task[Any]] = set()
        self._metrics_engine: Engine | None = None

    async def write(self, work: Callable[[Session], T]) -> T:
        """Run `work` in a transaction of its own; its result once committed."""
        return await self.shielded(self._write(work))

    def shielded(self, writing: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """`writing` run to its end even if its caller gives up (and awaited
        by `dispose`)."""
        task = asyncio.ensure_future(writing)
        self._running.add(task)
        task.add_done_callback(self._finished)
        return asyncio.shield(task)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a caller that gave up does not hear of it

    async def _write(self, work: Callable[[Session], T]) -> T:
        for attempt in range(1, MAX_TRIES + 1):
            try:
                async with self._sessions() as session, session.begin():
                    return await session.run_sync(work)
            except DBAPIError as error:
                if sqlstate(error) not in RETRYABLE or attempt == MAX_TRIES:
                    raise
                log.debug("a write unit runs again after SQLSTATE %s", sqlstate(error))
                await asyncio.sleep(RETRY_PAUSE_SECONDS * attempt)
        raise AssertionError("unreachable")

    def connect_args(self) -> dict[str, Any]:
        """asyncpg.connect's arguments for a connection of one's own (the change relay's)."""
        _args, kwargs = self.engine.sync_engine.dialect.create_connect_args(self.engine.url)
        return dict(kwargs)

    def observe_commits(self, callback: Callable[[int, float], None]) -> None:
        """No group commits here: nothing to observe."""

    def describe(self) -> str:
        return f"database {self.where}"

    async def check_schema(self) -> None:
        """As storage.database.Database.check_schema, for PostgreSQL."""
        try:
            async with self.engine.connect() as connection:
                state = await connection.run_sync(read_state)
        except (DBAPIError, OSError) as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise DatabaseUnusable(f"cannot use the database {self.where}: {reason}") from None
        problem = mismatch(state, self.where)
        if problem is not None:
            raise problem

    def queue_depths(self) -> dict[str, dict[str, int]]:
        """Jobs and deliveries not yet final, by status; from the metrics
        endpoint's thread, on a synchronous connection of its own."""
        try:
            if self._metrics_engine is None:
                self._metrics_engine = sync_engine(self.url)
            with self._metrics_engine.connect() as connection:
                jobs = connection.execute(
                    text(
                        "SELECT status, count(*) FROM jobs"
                        " WHERE status IN ('pending', 'running') GROUP BY status"
                    )
                ).all()
                deliveries = connection.execute(
                    text(
                        "SELECT status, count(*) FROM webhook_deliveries"
                        " WHERE status IN ('pending', 'delivering') GROUP BY status"
                    )
                ).all()
        except (DBAPIError, OSError):
            return {}
        return {
            "jobs": {"pending": 0, "running": 0, **{s: int(n) for s, n in jobs}},
            "deliveries": {"pending": 0, "delivering": 0, **{s: int(n) for s, n in deliveries}},
        }

    async def dispose(self) -> None:
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        await self.engine.dispose()
        if self._metrics_engine is not None:
            self._metrics_engine.dispose()
