"""What the job queue and the delivery queue share about claiming.

Each claim is one write unit of work (so two processes never claim the same
item), and a claim that finds nothing to run records when the next item
comes due, so the worker's sleep needs no query of its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Generic, TypeVar

from koji_server.domain.clock import precise_now
from koji_server.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

Item = TypeVar("Item")


class ClaimingQueue(ABC, Generic[Item]):
    def __init__(self, units: UnitOfWorkFactory) -> None:
        self._units = units
        # Set by `_claim` whenever it returns None.
        self._next_due_at: datetime | None = None

    @property
    def units(self) -> UnitOfWorkFactory:
        return self._units

    async def claim(self) -> Item | None:
        """The next due item, claimed; None when there is none (and then
        `next_due_at` says when the next one comes due)."""
        now = precise_now()
        return await self._units.write(lambda uow: self._claim(uow, now))

    async def next_due_at(self) -> datetime | None:
        """As seen by the last claim that found nothing to run."""
        return self._next_due_at

    @abstractmethod
    def _claim(self, uow: UnitOfWork, now: datetime) -> Item | None:
        """Claim the next due item in `uow`; when there is none to run,
        set `_next_due_at` and return None."""
