"""The in-process pipeline worker: claims due jobs and runs them, a few at a time.

Completions wake it at once (same process); otherwise it polls, which also
picks up jobs completed by other processes, retries that came due, and jobs
whose runner died (expired lease). The analysis itself runs in the process
pool, so RPCs keep flowing while it works.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime

from koji_server.pipeline.executor import analyze_in_worker, warm_up
from koji_server.pipeline.jobs import Claim, JobQueue

log = logging.getLogger(__name__)


class PipelineWorker:
    def __init__(
        self,
        queue: JobQueue,
        executor_factory: Callable[[], Executor],
        executor: Executor | None = None,
        concurrency: int = 2,
        poll_interval: float = 0.5,
    ) -> None:
        self._queue = queue
        self._executor_factory = executor_factory
        self._owns_executor = executor is None
        self._executor = executor or executor_factory()
        self._slots = asyncio.Semaphore(concurrency)
        self._poll_interval = poll_interval
        self._wakeup = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._warm_up: asyncio.Future[bool] | None = None

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        # Spawn the analysis process and import its libraries now, not on the
        # first completion (that would add a second or two to its latency).
        self._warm_up = asyncio.get_running_loop().run_in_executor(self._executor, warm_up)
        self._loop_task = asyncio.create_task(self._run(), name="pipeline-worker")

    async def stop(self, grace: float) -> None:
        if self._warm_up is not None:
            self._warm_up.cancel()
            await asyncio.gather(self._warm_up, return_exceptions=True)
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self._running:
            # Unfinished jobs keep their lease and are reclaimed after it expires.
            _, pending = await asyncio.wait(self._running, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._owns_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                await self._claim_while_free()
                delay = await self._sleep_for()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pipeline worker: claiming failed; retrying")
                delay = self._poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=delay)

    async def _claim_while_free(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                claim = await self._queue.claim()
            except BaseException:
                self._slots.release()
                raise
            if claim is None:
                self._slots.release()
                return
            task = asyncio.create_task(self._process(claim), name=f"job-{claim.job_id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _sleep_for(self) -> float:
        due = await self._queue.next_due_at()
        if due is None:
            return self._poll_interval
        wait = (due - datetime.now(UTC)).total_seconds()
        return max(0.0, min(self._poll_interval, wait))

    async def _process(self, claim: Claim) -> None:
        try:
            loop = asyncio.get_running_loop()
            try:
                output = await loop.run_in_executor(
                    self._executor, analyze_in_worker, claim.transcript
                )
            except BrokenProcessPool:
                if self._owns_executor:
                    self._executor = self._executor_factory()
                raise
            if not await self._queue.finish(claim, output):
                log.warning("job %s: lease lost before finishing; result dropped", claim.job_id)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            status = await self._queue.fail(claim, f"{type(error).__name__}: {error}")
            log.warning(
                "job %s attempt %d failed (%s); job is now %s",
                claim.job_id,
                claim.attempt,
                type(error).__name__,
                status,
            )
        finally:
            self._slots.release()
            self.wake()
