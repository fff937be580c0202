"""Live changes of interviews, and the feed that hands them to watchers.

Whoever stores a change publishes it here once its transaction has committed
(the interview use cases, the analysis runner); `watching` reads it. The feed
lives in one process and is fed from that process's own writes. Another
source (a database's notifications, for a deployment of several processes)
would call `publish` the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from koji_server.domain.model import (
    Analysis,
    AnalysisStatus,
    CompletionSummary,
    InterviewStatus,
    Role,
    Stats,
)


@dataclass(frozen=True, slots=True)
class InterviewState:
    """Where an interview stands: the first event of every watch."""

    interview_id: str
    status: InterviewStatus
    analysis_status: AnalysisStatus | None
    stats: Stats


@dataclass(frozen=True, slots=True)
class MessageAdded:
    message_id: str
    role: Role
    messages_count: int
    interview_status: InterviewStatus


@dataclass(frozen=True, slots=True)
class Completed:
    summary: CompletionSummary


@dataclass(frozen=True, slots=True)
class AnalysisStatusChanged:
    status: AnalysisStatus


@dataclass(frozen=True, slots=True)
class QualityScored:
    quality_score: float
    counts_toward_usage: bool


@dataclass(frozen=True, slots=True)
class AnalysisReady:
    analysis: Analysis


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Nothing happened for a while."""


@dataclass(frozen=True, slots=True)
class Closing:
    """The feed is closing (the server is shutting down): watches end."""


Change = (
    InterviewState
    | MessageAdded
    | Completed
    | AnalysisStatusChanged
    | QualityScored
    | AnalysisReady
    | Heartbeat
    | Closing
)


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    change: Change


@dataclass(eq=False)
class Subscription:
    """The events of one interview published since it was opened, in order."""

    interview_id: str
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)


class ChangeFeed:
    """Publish-subscribe by interview, within one event loop. Publishing never
    waits: each subscription buffers its events (an interview has at most a
    few hundred in its whole life, see validation's limits)."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, set[Subscription]] = {}

    @contextmanager
    def subscribe(self, interview_id: str) -> Iterator[Subscription]:
        subscription = Subscription(interview_id)
        self._subscriptions.setdefault(interview_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            others = self._subscriptions.get(interview_id)
            if others is not None:
                others.discard(subscription)
                if not others:
                    del self._subscriptions[interview_id]

    def close(self, at: datetime) -> None:
        """Tells every subscription that no more events will come."""
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.queue.put_nowait(Event(at, Closing()))

    def publish(self, interview_id: str, at: datetime, *changes: Change) -> None:
        subscriptions = self._subscriptions.get(interview_id)
        if not subscriptions:
            return
        for change in changes:
            event = Event(at, change)
            for subscription in subscriptions:
                subscription.queue.put_nowait(event)

    @property
    def subscriptions(self) -> int:
        """Open subscriptions (a leak check for the tests and the metrics)."""
        return sum(len(s) for s in self._subscriptions.values())
