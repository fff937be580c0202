"""The single writer: one thread owns the write connection and commits in groups.

Every write unit of work is a plain function of a synchronous `Session`. It is
queued here and runs on the writer thread, start to finish, without coming
back to the event loop: one thread hop per transaction instead of one per
statement (aiosqlite hops for every cursor call, and each hop waits its turn
on a busy event loop while the write lock is held).

Whatever is queued when the thread is free (after a short window for more
to arrive) runs as one transaction (a group commit): each unit inside a
SAVEPOINT of its own, so one unit's failure rolls back only that unit, then
a single COMMIT. Callers learn their outcome only after that COMMIT, so
nothing is reported that is not durable.

A unit whose caller gave up (its future was cancelled) before the thread
reached it is skipped; once started, a unit runs to completion.

A unit may run more than once before it commits (when a failed flush takes
its group's transaction down, the group runs again one unit at a time), so
units must have no effects outside their session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

T = TypeVar("T")
# Enough to amortise the COMMIT; small enough that no caller waits long
# behind a batch.
MAX_BATCH = 64
# The writer waits this long after a batch's first unit arrives before it
# starts, so that under load a batch is a group rather than one or two units
# (an idle server's writes take a millisecond longer); shorter and longer
# windows did worse (README, Benchmarks). Sleeping also hands the GIL to the
# event loop instead of contending for it.
GROUP_COMMIT_WINDOW_SECONDS = 0.001


@dataclass(slots=True)
class _Unit:
    work: Callable[[Session], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


_STOP = object()


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in outcomes:
        if future.done():  # the caller was cancelled meanwhile
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def _run_isolated(session: Session, work: Callable[[Session], Any]) -> tuple[Any, Exception | None]:
    """One unit of a group, in a savepoint of its own.

    Raw SAVEPOINT statements, not `Session.begin_nested()`: the ORM's nested
    transaction costs more than a whole message write. The unit's ORM changes
    are flushed inside the savepoint, and the identity map is emptied after
    each unit, so every unit sees the database as the previous ones left it
    (as if it had a session of its own) and a rolled-back unit leaves nothing
    behind.
    """
    driver = session.connection().connection.driver_connection
    assert driver is not None
    driver.execute("SAVEPOINT unit")
    try:
        result = work(session)
        session.flush()
    except Exception as error:
        if not session.is_active or not driver.in_transaction:
            # A failed flush, or SQLite itself (SQLITE_FULL rolls back the
            # whole transaction), has ended the transaction, and the units
            # before this one with it.
            raise _GroupLost from error
        driver.execute("ROLLBACK TO unit")
        driver.execute("RELEASE unit")
        session.expunge_all()
        return None, error
    driver.execute("RELEASE unit")
    session.expunge_all()
    return result, None


class _GroupLost(Exception):
    """The group's transaction is gone; its units must run again, one by one."""


class Writer:
    """Runs write units of work on one thread, in group-committed batches."""

    def __init__(self, engine: Engine, name: str = "koji-writer") -> None:
        self._engine = engine
        self._name = name
        self._queue: queue.SimpleQueue[_Unit | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        # Told (on the writer thread) of every committed batch: its number of
        # units and how long its COMMIT took. Set by whoever keeps metrics.
        self.on_commit: Callable[[int, float], None] | None = None

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run `work` in a write transaction; its result once committed."""
        if self._closed:
            raise RuntimeError("the database is closed")
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Unit(work, loop, future))
        return await future

    async def close(self) -> None:
        """Finish what is queued, then stop the thread and close the connection."""
        self._closed = True
        thread = self._thread
        if thread is None:
            self._engine.dispose()
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(thread.join)

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                thread.start()
                self._thread = thread

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Unit] = []
            item = self._queue.get()
            time.sleep(GROUP_COMMIT_WINDOW_SECONDS)
            while True:
                if item is _STOP:
                    stopping = True
                    break
                assert isinstance(item, _Unit)
                if not item.future.cancelled():
                    batch.append(item)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                try:
                    self._run_batch(batch)
                except Exception as error:  # never let the thread die: writes would hang
                    log.exception("the writer failed to finish a batch")
                    self._answer([(unit, None, error) for unit in batch])
        self._engine.dispose()

    def _run_batch(self, batch: list[_Unit]) -> None:
        outcomes: list[tuple[_Unit, Any, BaseException | None]] = []
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                if len(batch) == 1:
                    outcomes.append((batch[0], batch[0].work(session), None))
                else:
                    for unit in batch:
                        outcomes.append((unit, *_run_isolated(session, unit.work)))
                committing = time.perf_counter()
            if self.on_commit is not None:
                self.on_commit(len(batch), time.perf_counter() - committing)
        except _GroupLost:
            for unit in batch:
                self._run_batch([unit])
            return
        except Exception as error:
            # The transaction did not commit: every unit in it failed.
            if len(batch) > 1:
                log.warning("a group commit of %d units failed: %s", len(batch), type(error))
            outcomes = [(unit, None, error) for unit in batch]
        self._answer(outcomes)

    def _answer(self, outcomes: list[tuple[_Unit, Any, BaseException | None]]) -> None:
        """Hand each caller its result, on its own loop (one wake-up per loop)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for unit, result, error in outcomes:
            by_loop.setdefault(unit.loop, []).append((unit.future, result, error))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
                loop.call_soon_threadsafe(_settle, settled)
