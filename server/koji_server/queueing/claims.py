"""What the job queue and the delivery queue share about claiming.

Each claim is one write unit of work (so two processes never claim the same
item), and a claim that finds nothing to run returns when the next item comes
due, so the worker's sleep needs no query of its own. The unit returns that
value; the queue keeps it on the event loop (a unit changes nothing outside
its session).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from koji_server.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory
from koji_server.support.clock import precise_now

Item = TypeVar("Item")


@dataclass(frozen=True, slots=True)
class Idle:
    """A claim that found nothing to run, and when to look again (None: no
    item is waiting)."""

    next_due_at: datetime | None


class ClaimingQueue(ABC, Generic[Item]):
    def __init__(
        self, units: UnitOfWorkFactory, clock: Callable[[], datetime] = precise_now
    ) -> None:
        self._units = units
        self._clock = clock
        self._next_due_at: datetime | None = None

    @property
    def units(self) -> UnitOfWorkFactory:
        return self._units

    async def claim(self) -> Item | None:
        """The next due item, claimed; None when there is none (and then
        `next_due_at` says when the next one comes due)."""
        now = self._clock()
        claimed = await self._units.write(lambda uow: self._claim(uow, now))
        if isinstance(claimed, Idle):
            self._idle(claimed)
            return None
        return claimed

    def _idle(self, idle: Idle) -> None:
        """After a claim that found nothing to run has committed."""
        self._next_due_at = idle.next_due_at

    async def next_due_at(self) -> datetime | None:
        """As seen by the last claim that found nothing to run."""
        return self._next_due_at

    @abstractmethod
    def _claim(self, uow: UnitOfWork, now: datetime) -> Item | Idle:
        """Claim the next due item in `uow`, or say when to look again."""
