"""Live changes of interviews, and the feed that hands them to watchers.

Whoever stores a change publishes it here once its transaction has committed
(the interview commands, the job queue, an operator's reanalysis): the one
place after-commit effects start from. `watching` reads it, the interview
queries forget what they cached of a changed interview, and the handlers
registered with `on_committed` run the effects of this process's own commits
(waking the analysis worker on a completion; the study backlog and the
webhook worker on a stored analysis). The feed lives in one process. With
several processes on one database, a relay (storage.change_relay:
PostgreSQL's LISTEN/NOTIFY) sends what is published here to the others and
`deliver`s what they publish; if it may have missed some, it asks every
watch to read the state again (`resync`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

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
class Resync:
    """Changes may have been missed (the relay lost its connection for a
    while): whoever follows one reads the interview again."""


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
    | Resync
    | Closing
)
Relay = Callable[[str, datetime, tuple[Change, ...]], None]
C = TypeVar("C")


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
        self._relays: list[Relay] = []
        self._observers: list[Callable[[str], None]] = []
        self._handlers: dict[type, list[Callable[[str, Any], None]]] = {}

    def relay_to(self, relay: Relay) -> None:
        """Also hand what this process publishes to `relay` (other processes)."""
        self._relays.append(relay)

    def observe(self, changed: Callable[[str], None]) -> None:
        """Call `changed(interview_id)` for every change, from here or elsewhere."""
        self._observers.append(changed)

    def on_committed(self, kind: type[C], handler: Callable[[str, C], None]) -> None:
        """Call `handler(interview_id, change)` for every change of `kind`
        this process commits and publishes (not those relayed from others)."""
        self._handlers.setdefault(kind, []).append(handler)

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

    def resync(self, at: datetime) -> None:
        """Tells every subscription that changes may have been missed."""
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.queue.put_nowait(Event(at, Resync()))

    def publish(self, interview_id: str, at: datetime, *changes: Change) -> None:
        """Changes this process committed: to its watchers, and to the relays."""
        self.deliver(interview_id, at, *changes)
        for relay in self._relays:
            relay(interview_id, at, changes)
        for change in changes:
            for handler in self._handlers.get(type(change), ()):
                handler(interview_id, change)

    def deliver(self, interview_id: str, at: datetime, *changes: Change) -> None:
        """Changes committed here or by another process: to this process's watchers."""
        for changed in self._observers:
            changed(interview_id)
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
