"""A generic in-process queue worker: claims due items and runs them, a few at a time.

Local producers wake it at once (`wake`); otherwise it polls, which also picks
up items written by other processes, retries that came due, and items whose
runner died (expired lease). Used for analysis jobs and webhook deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Generic, TypeVar

from koji_server.support.clock import precise_now

log = logging.getLogger(__name__)

Item = TypeVar("Item")


class QueueWorker(Generic[Item]):
    def __init__(
        self,
        name: str,
        claim: Callable[[], Awaitable[Item | None]],
        process: Callable[[Item], Awaitable[None]],
        next_due_at: Callable[[], Awaitable[datetime | None]],
        concurrency: int,
        poll_interval: float,
        clock: Callable[[], datetime] = precise_now,
    ) -> None:
        self._name = name
        self._claim = claim
        self._process = process
        self._next_due_at = next_due_at
        self._slots = asyncio.Semaphore(concurrency)
        self._poll_interval = poll_interval
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self, grace: float) -> None:
        """Stop claiming; give running items `grace` seconds, then cancel them
        (their leases expire and they are claimed again later)."""
        # The flag as well as the cancel: on Python 3.11 asyncio.wait_for (and
        # so anything awaiting with a timeout) can swallow a cancellation that
        # lands as its inner wait finishes, and a worker that lost it kept
        # polling and made shutdown wait for ever.
        self._stopping = True
        self._wakeup.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            try:
                await self._claim_while_free()
                delay = await self._sleep_for()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: claiming failed; retrying", self._name)
                delay = self._poll_interval
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wakeup.wait()

    async def _claim_while_free(self) -> None:
        while not self._stopping:
            await self._slots.acquire()
            try:
                item = await self._claim()
            except BaseException:
                self._slots.release()
                raise
            if item is None or self._stopping:
                # (An item claimed as we stop is left to its lease, like one
                # whose process died: it is claimed again later.)
                self._slots.release()
                return
            task = asyncio.create_task(self._run_one(item))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _sleep_for(self) -> float:
        due = await self._next_due_at()
        if due is None:
            return self._poll_interval
        wait = (due - self._clock()).total_seconds()
        return max(0.0, min(self._poll_interval, wait))

    async def _run_one(self, item: Item) -> None:
        try:
            await self._process(item)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: unexpected failure", self._name)
        finally:
            self._slots.release()
            self.wake()
