"""Following an interview live: its current state, then each change as it is
published, with heartbeats in between, until its analysis is final."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from koji_server.domain import validation
from koji_server.domain.auth import require
from koji_server.domain.changes import (
    AnalysisReady,
    AnalysisStatusChanged,
    Change,
    ChangeFeed,
    Closing,
    Completed,
    Event,
    Heartbeat,
    InterviewState,
    MessageAdded,
    Resync,
)
from koji_server.domain.errors import DomainError, RateLimited
from koji_server.domain.interview_queries import InterviewQueries
from koji_server.domain.model import AnalysisStatus, InterviewStatus, Permission, Principal
from koji_server.support.clock import precise_now

DEFAULT_HEARTBEAT_SECONDS = 10.0
DEFAULT_STREAMS_PER_KEY = 100
FINAL = (AnalysisStatus.COMPLETED, AnalysisStatus.FAILED)


class TooManyStreams(RateLimited):
    def __init__(self, limit: int) -> None:
        super().__init__(
            1, f"This API key already has {limit} open watch streams; close one and retry."
        )


class ShuttingDown(DomainError):
    code = "unavailable"
    default_message = "The server is shutting down; watch again to continue."


class _Seen:
    """What the watcher has been told, so that a change published between
    its subscription and its first read is not told twice."""

    def __init__(self, state: InterviewState) -> None:
        self.messages = state.stats.total_messages
        self.status = state.status
        self.analysis_status = state.analysis_status

    def is_new(self, change: Change) -> bool:
        if isinstance(change, MessageAdded):
            new = change.messages_count > self.messages
            self.messages = max(self.messages, change.messages_count)
            return new
        if isinstance(change, Completed):
            new = self.status is not InterviewStatus.COMPLETED
            self.status = InterviewStatus.COMPLETED
            return new
        if isinstance(change, AnalysisStatusChanged):
            new = change.status is not self.analysis_status
            self.analysis_status = change.status
            return new
        return True


def ends_watch(change: Change) -> bool:
    return isinstance(change, AnalysisReady) or (
        isinstance(change, AnalysisStatusChanged) and change.status is AnalysisStatus.FAILED
    )


class InterviewWatcher:
    """Watch streams of this process, at most `streams_per_key` open per API key."""

    def __init__(
        self,
        queries: InterviewQueries,
        feed: ChangeFeed,
        *,
        heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
        streams_per_key: int = DEFAULT_STREAMS_PER_KEY,
        clock: Callable[[], datetime] = precise_now,
    ) -> None:
        self._queries = queries
        self._feed = feed
        self._heartbeat_seconds = heartbeat_seconds
        self._streams_per_key = streams_per_key
        self._clock = clock
        self._open: Counter[str] = Counter()
        self._none_open = asyncio.Event()

    @property
    def open_streams(self) -> int:
        return self._open.total()

    def shut_down(self) -> None:
        """Ends every open watch with ShuttingDown (UNAVAILABLE: clients
        watch again, on another server or once this one is back)."""
        self._feed.close(self._clock())

    async def wait_closed(self) -> None:
        """Returns once no watch is open."""
        while self._open:
            self._none_open.clear()
            await self._none_open.wait()

    async def _state(self, principal: Principal, interview_id: str) -> InterviewState:
        detail = await self._queries.get_interview(principal, interview_id)
        return InterviewState(
            detail.interview_id, detail.status, detail.analysis_status, detail.stats
        )

    async def watch(self, principal: Principal, interview_id: str) -> AsyncIterator[Event]:
        """The interview's events; every failure (permission, id, unknown
        interview, too many streams) is raised before the first. Close it
        with `contextlib.aclosing` so that its stream slot is freed at once."""
        require(principal, Permission.READ)
        interview_id = validation.uuid_field("interview_id", interview_id)
        key = principal.key_id
        if self._open[key] >= self._streams_per_key:
            raise TooManyStreams(self._streams_per_key)
        self._open[key] += 1
        try:
            # Subscribe before reading, so no change falls in between.
            with self._feed.subscribe(interview_id) as subscription:
                state = await self._state(principal, interview_id)
                yield Event(self._clock(), state)
                if state.analysis_status in FINAL:
                    return
                seen = _Seen(state)
                while True:
                    try:
                        # (asyncio.timeout, not wait_for: no task per wait.)
                        async with asyncio.timeout(self._heartbeat_seconds):
                            event = await subscription.queue.get()
                    except TimeoutError:
                        yield Event(self._clock(), Heartbeat())
                        continue
                    if isinstance(event.change, Closing):
                        raise ShuttingDown()
                    if isinstance(event.change, Resync):
                        # Changes may have been missed: the state again.
                        state = await self._state(principal, interview_id)
                        yield Event(self._clock(), state)
                        if state.analysis_status in FINAL:
                            return
                        seen = _Seen(state)
                        continue
                    if seen.is_new(event.change):
                        yield event
                    if ends_watch(event.change):
                        return
        finally:
            self._open[key] -= 1
            if self._open[key] <= 0:
                del self._open[key]
                if not self._open:
                    self._none_open.set()
