"""Unit of work: a function of the repositories over one session, one transaction.

Use cases hand their unit of work to the factory as a plain function:

- `write(work)` runs it on the single writer thread (`storage.writer`) in a
  BEGIN IMMEDIATE transaction on SQLite, in a pooled transaction of its own
  on PostgreSQL (`storage.postgres`); it commits if `work` returns and rolls
  back (only that unit) if it raises.
- `read(work)` runs it in a read-only snapshot from the async read pool
  (`AsyncSession.run_sync`); it never blocks on writers.

Rows a unit of work returns stay readable afterwards (sessions do not expire
them), but must not be changed outside one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session

from koji_server.domain.errors import StorageUnavailable
from koji_server.storage import postgres
from koji_server.storage.backends import Storage
from koji_server.storage.postgres import PostgresDatabase
from koji_server.storage.postgres_writes import PostgresWrites
from koji_server.storage.repository import (
    ApiKeyRepository,
    DirectTables,
    EventRepository,
    InterviewRepository,
    JobRepository,
    LinkRepository,
    ProjectRepository,
    StudyReportRepository,
    StudyRepository,
    WebhookRepository,
)

T = TypeVar("T")

# SQLite's words for "cannot write now, through no fault of the request":
# SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR.
UNWRITABLE = ("database or disk is full", "readonly database", "disk i/o error")


class UnitOfWork:
    def __init__(self, session: Session, tables: DirectTables) -> None:
        self.session = session
        self.projects = ProjectRepository(session)
        self.keys = ApiKeyRepository(session)
        self.studies = StudyRepository(session, tables.lock_rows)
        self.links = LinkRepository(session, tables.lock_rows)
        self.study_reports = StudyReportRepository(session, tables.lock_rows)
        self.interviews = InterviewRepository(session, tables)
        self.jobs = JobRepository(session, tables)
        self.events = EventRepository(session)
        self.webhooks = WebhookRepository(session, tables.lock_rows)


def unwritable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be written now (disk full,
    read-only), through no fault of the request."""
    if postgres.sqlstate(error) in postgres.UNWRITABLE:
        return True
    if isinstance(error, (DBAPIError, sqlite3.OperationalError)):
        reason = str(getattr(error, "orig", None) or error).lower()
        return any(words in reason for words in UNWRITABLE)
    return False


class UnitOfWorkFactory:
    def __init__(self, database: Storage) -> None:
        self._write = database.write
        self._write_tables = database.write_tables
        self._read_tables = database.read_tables
        self._read_sessions = async_sessionmaker(database.read_engine, expire_on_commit=False)
        # PostgreSQL: the conversation's units in two round trips (storage.postgres_writes).
        self._direct = PostgresWrites(database) if isinstance(database, PostgresDatabase) else None

    async def write(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run `work` in a write transaction; its result once committed.
        Raises StorageUnavailable when the database cannot be written."""

        def transactional() -> Awaitable[T]:
            return self._write(lambda session: work(UnitOfWork(session, self._write_tables)))

        try:
            if self._direct is not None:
                return await self._direct.write(work, transactional)
            return await transactional()
        except (DBAPIError, sqlite3.OperationalError) as error:
            # Direct SQL (storage.direct) on SQLite raises the driver's own error.
            if unwritable(error):
                raise StorageUnavailable() from error
            raise

    async def read(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run `work` in a read-only snapshot."""
        async with self._read_sessions() as session:
            return await session.run_sync(
                lambda sync_session: work(UnitOfWork(sync_session, self._read_tables))
            )
