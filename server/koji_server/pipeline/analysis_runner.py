"""Runs one claimed analysis job: analysis in the process pool, then finish or fail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool

from koji_server.pipeline.executor import analyze_in_worker, warm_up
from koji_server.pipeline.jobs import Claim, JobQueue

log = logging.getLogger(__name__)


class AnalysisRunner:
    def __init__(
        self,
        queue: JobQueue,
        executor_factory: Callable[[], Executor],
        executor: Executor | None = None,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        self._queue = queue
        self._executor_factory = executor_factory
        self._owns_executor = executor is None
        self._executor = executor or executor_factory()
        # Called after a result commits (wakes the webhook delivery worker).
        self._on_finished = on_finished or (lambda: None)
        self._warm_up: asyncio.Future[bool] | None = None

    def start(self) -> None:
        # Spawn the analysis process and import its libraries now, not on the
        # first completion (that would add a second or two to its latency).
        self._warm_up = asyncio.get_running_loop().run_in_executor(self._executor, warm_up)

    async def stop(self) -> None:
        if self._warm_up is not None:
            self._warm_up.cancel()
            await asyncio.gather(self._warm_up, return_exceptions=True)
        if self._owns_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _keep_lease(self, claim: Claim) -> None:
        """Renew the lease while the analysis runs, so a long analysis is never
        claimed a second time by another process."""
        while True:
            await asyncio.sleep(self._queue.renew_every)
            if not await self._queue.renew(claim):
                return

    async def process(self, claim: Claim) -> None:
        try:
            loop = asyncio.get_running_loop()
            heartbeat = asyncio.create_task(self._keep_lease(claim))
            try:
                output = await loop.run_in_executor(
                    self._executor, analyze_in_worker, claim.transcript
                )
            except BrokenProcessPool:
                if self._owns_executor:
                    self._executor.shutdown(wait=False, cancel_futures=True)
                    self._executor = self._executor_factory()
                raise
            finally:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
            queued = await self._queue.finish(claim, output)
            if queued is None:
                log.warning("job %s: lease lost before finishing; result dropped", claim.job_id)
            elif queued:
                self._on_finished()  # wakes the webhook worker
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
