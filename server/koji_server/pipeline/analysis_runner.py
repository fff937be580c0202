"""Runs one claimed analysis job: analysis in the process pool, then finish or
fail. Finished analyses go into their studies' reports in the background: a
burst of completions in one study costs one report update, not one each."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC

from koji_server.observability.metrics import Metrics
from koji_server.pipeline import study_reports
from koji_server.pipeline.executor import MeasuredAnalysis, analyze_measured, warm_up
from koji_server.pipeline.jobs import Claim, JobQueue
from koji_server.storage import search_index
from koji_server.storage.status import JobStatus
from koji_server.support.clock import precise_now

log = logging.getLogger(__name__)

STUDY_REPORT_DELAY_SECONDS = 0.5
STUDY_REPORT_MAX_GAP_SECONDS = 10.0


class AnalysisRunner:
    def __init__(
        self,
        queue: JobQueue,
        executor_factory: Callable[[], Executor],
        executor: Executor | None = None,
        *,
        database_url: str,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._queue = queue
        self._executor_factory = executor_factory
        self._owns_executor = executor is None
        self._executor = executor or executor_factory()
        self._warm_up: asyncio.Future[bool] | None = None
        # Study reports are updated by the analysis process itself, over its
        # own connections to this database.
        self._database_url = database_url
        # Interviews whose analysis landed and whose study report is not yet
        # updated (lost on a crash: the study's next update catches them up).
        self._study_backlog: set[str] = set()
        self._study_wakeup = asyncio.Event()
        self._study_task: asyncio.Task[None] | None = None

    async def _in_worker(self, function: Callable[..., object], *args: object) -> object:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, function, *args)
        except BrokenProcessPool:
            if self._owns_executor:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._executor_factory()
            raise

    def start(self) -> None:
        # Spawn the analysis process and import its libraries now, not on the
        # first completion (that would add a second or two to its latency).
        self._warm_up = asyncio.get_running_loop().run_in_executor(self._executor, warm_up)
        self._study_task = asyncio.create_task(self._update_studies(), name="study-reports")

    async def stop(self) -> None:
        if self._study_task is not None:
            self._study_task.cancel()
            await asyncio.gather(self._study_task, return_exceptions=True)
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

    async def _update_studies(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._study_wakeup.wait()
            # Let a burst of completions land first: one update then takes in
            # all of them, and analyses are not kept waiting behind updates.
            await asyncio.sleep(STUDY_REPORT_DELAY_SECONDS)
            self._study_wakeup.clear()
            began = loop.time()
            while self._study_backlog:
                interview_id = self._study_backlog.pop()
                # The analysis is stored whatever happens here: a report
                # update that fails is caught up by the study's next one.
                try:
                    await self._in_worker(study_reports.take_in, self._database_url, interview_id)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("study report update for interview %s failed", interview_id)
                # Then search's entries, with the themes the report now has.
                try:
                    await self._in_worker(search_index.take_in, self._database_url, interview_id)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("search index update for interview %s failed", interview_id)
            # A big study's update reads and writes its whole state: under a
            # stream of completions, spend at most a tenth of the time on it.
            spent = loop.time() - began
            await asyncio.sleep(min(STUDY_REPORT_MAX_GAP_SECONDS, spent * 9))

    def analysis_stored(self, interview_id: str, _change: object = None) -> None:
        """An analysis this process stored (the change feed's after-commit
        handler for AnalysisReady): its study's report is brought up to date
        in the background."""
        self._study_backlog.add(interview_id)
        self._study_wakeup.set()

    async def process(self, claim: Claim) -> None:
        try:
            heartbeat = asyncio.create_task(self._keep_lease(claim))
            try:
                measured = await self._in_worker(analyze_measured, claim.transcript)
            finally:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
            assert isinstance(measured, MeasuredAnalysis)
            queued = await self._queue.finish(claim, measured.output)
            self._observe(claim, measured, lost=queued is None)
            if queued is None:
                log.warning("job %s: lease lost before finishing; result dropped", claim.job_id)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            status = await self._queue.fail(claim, f"{type(error).__name__}: {error}")
            if self._metrics is not None:
                self._metrics.analysis_finished(
                    "failed" if status == JobStatus.FAILED else "retrying", None, None
                )
            log.warning(
                "job %s attempt %d failed (%s); job is now %s",
                claim.job_id,
                claim.attempt,
                type(error).__name__,
                status,
            )

    def _observe(self, claim: Claim, measured: MeasuredAnalysis, lost: bool) -> None:
        if self._metrics is None:
            return
        if lost:
            self._metrics.analysis_finished("lost_lease", measured.seconds, None)
            return
        latency = None
        if claim.queued_at is not None:
            queued_at = claim.queued_at
            if queued_at.tzinfo is None:  # SQLite hands back naive UTC
                queued_at = queued_at.replace(tzinfo=UTC)
            latency = max(0.0, (precise_now() - queued_at).total_seconds())
        self._metrics.analysis_finished("done", measured.seconds, latency)
