"""Changes between the processes on one PostgreSQL database: LISTEN/NOTIFY.

Each server process keeps one connection of its own (outside the pool) that
listens on the `koji_changes` channel and sends what its ChangeFeed
publishes: after the commit, in publishing order, from a queue (publishing
never waits on the database). What another process sends is delivered to
this process's feed (its watches, its caches); its own notifications come
back too and are skipped by origin (they were delivered when published).

If the connection drops, the relay connects again (with backoff) and then
tells every watch to read its interview again: what was sent meanwhile never
reached it. A process that dies between a commit and its notification leaves
the other processes without that change; their watches see it at their next
read (a new watch, or a resync), their caches when the entry expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from koji_server.domain import change_wire
from koji_server.domain.changes import AnalysisReady, Change, ChangeFeed, Resync
from koji_server.domain.model import Analysis

log = logging.getLogger(__name__)

CHANNEL = "koji_changes"
# Payloads sent in one statement, at most.
BATCH = 100
RECONNECT_PAUSES_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)
NOTIFY_MANY = (
    "SELECT pg_notify($1, payload)"
    " FROM unnest($2::text[]) WITH ORDINALITY AS sent(payload, position) ORDER BY position"
)
ReadAnalysis = Callable[[str], Awaitable[Analysis | None]]


def new_origin() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


Announced = tuple[str, datetime, tuple[Change, ...]]


async def announce(engine: AsyncEngine, announced: list[Announced]) -> None:
    """Notify the server processes of changes committed elsewhere (koji-admin):
    (interview id, when, changes) each, in order, in one statement."""
    if not announced:
        return
    origin = new_origin()
    payloads = [change_wire.encode(origin, *each) for each in announced]
    async with engine.connect() as connection:
        await connection.execute(
            text(
                "SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[]))"
                " WITH ORDINALITY AS sent(payload, position) ORDER BY position"
            ),
            {"channel": CHANNEL, "payloads": payloads},
        )
        await connection.commit()


class PostgresChangeRelay:
    """Relays `feed`'s changes to and from the other processes on the database
    that `connect_args` (asyncpg.connect's arguments) names."""

    def __init__(
        self,
        connect_args: dict[str, Any],
        feed: ChangeFeed,
        read_analysis: ReadAnalysis,
        clock: Callable[[], datetime],
    ) -> None:
        self._connect_args = connect_args
        self._feed = feed
        self._read_analysis = read_analysis
        self._clock = clock
        self.origin = new_origin()
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._inbox: asyncio.Queue[str] = asyncio.Queue()
        self._connection: asyncpg.Connection | None = None
        self._connected = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.received = 0

    async def start(self) -> None:
        """Listen (failing if the database cannot be reached), then relay."""
        await self._connect()
        self._tasks = [
            asyncio.create_task(self._sending(), name="change-relay-send"),
            asyncio.create_task(self._receiving(), name="change-relay-receive"),
        ]

    def send(self, interview_id: str, at: datetime, changes: tuple[Change, ...]) -> None:
        """ChangeFeed's relay: queue the changes for the other processes."""
        self._outbox.put_nowait(change_wire.encode(self.origin, interview_id, at, changes))

    async def stop(self, grace: float = 1.0) -> None:
        """Send what is queued (within `grace` seconds), then close."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._outbox.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), grace)

    async def _connect(self) -> None:
        settings = {
            **self._connect_args.get("server_settings", {}),
            "application_name": "koji-change-relay",
            # A notification is not data: its commit need not wait for a flush.
            "synchronous_commit": "off",
        }
        connection = await asyncpg.connect(**{**self._connect_args, "server_settings": settings})
        await connection.add_listener(CHANNEL, self._notified)
        connection.add_termination_listener(self._lost)
        self._connection = connection
        self._connected.set()

    def _notified(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self._inbox.put_nowait(payload)

    def _lost(self, connection: object) -> None:
        if connection is self._connection:
            self._drop()

    def _drop(self) -> None:
        if self._connection is None:
            return
        log.warning("lost the database connection that relays changes; reconnecting")
        self._connection = None
        self._connected.clear()
        self._tasks.append(asyncio.create_task(self._reconnect(), name="change-relay-reconnect"))

    async def _reconnect(self) -> None:
        attempt = 0
        while self._connection is None:
            await asyncio.sleep(RECONNECT_PAUSES_SECONDS[attempt])
            attempt = min(attempt + 1, len(RECONNECT_PAUSES_SECONDS) - 1)
            try:
                await self._connect()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("cannot reconnect the change relay yet: %s", error)
                continue
            log.info("change relay reconnected; watches read their interviews again")
            self._feed.resync(self._clock())

    async def _sending(self) -> None:
        while True:
            payloads = [await self._outbox.get()]
            while len(payloads) < BATCH and not self._outbox.empty():
                payloads.append(self._outbox.get_nowait())
            while True:
                await self._connected.wait()
                connection = self._connection
                assert connection is not None
                try:
                    await connection.execute(NOTIFY_MANY, CHANNEL, payloads)
                    break
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                    if not connection.is_closed():
                        # Refused on its own account (nothing here should be):
                        # retrying would refuse it again.
                        log.error("changes not sent to the other processes: %s", error)
                        break
                    log.warning("cannot send changes to the other processes yet: %s", error)
                    if connection is self._connection:
                        self._drop()
            for _ in payloads:
                self._outbox.task_done()

    async def _receiving(self) -> None:
        while True:
            payload = await self._inbox.get()
            try:
                incoming = change_wire.decode(payload)
            except (ValueError, KeyError, TypeError):
                log.warning("ignored a notification on %s that is not a change", CHANNEL)
                continue
            if incoming.origin == self.origin:
                continue
            self.received += 1
            changes: list[Change] = []
            for change in incoming.changes:
                if change is not None:
                    changes.append(change)
                    continue
                try:
                    analysis = await self._read_analysis(incoming.interview_id)
                except Exception:  # a watch reads again rather than stall
                    log.warning("cannot read a relayed analysis; its watches read again")
                    changes.append(Resync())
                    continue
                if analysis is not None:
                    changes.append(AnalysisReady(analysis))
            self._feed.deliver(incoming.interview_id, incoming.at, *changes)
