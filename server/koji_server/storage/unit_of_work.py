"""Unit of work: one AsyncSession, its repositories, rollback unless committed.

Leaving the block closes the session, which rolls back anything uncommitted;
loaded rows stay readable (closing detaches them without expiring them).

`Database.writing()` serialises write transactions through the single write
connection; `Database.reading()` uses the read pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from koji_server.storage.database import Database
from koji_server.storage.repository import (
    ApiKeyRepository,
    EventRepository,
    InterviewRepository,
    JobRepository,
    ProjectRepository,
    StudyRepository,
    WebhookRepository,
)


class UnitOfWork:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.projects = ProjectRepository(session)
        self.keys = ApiKeyRepository(session)
        self.studies = StudyRepository(session)
        self.interviews = InterviewRepository(session)
        self.jobs = JobRepository(session)
        self.events = EventRepository(session)
        self.webhooks = WebhookRepository(session)

    async def commit(self) -> None:
        await self.session.commit()


class UnitOfWorkFactory:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._write_sessions = async_sessionmaker(database.write_engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(database.read_engine, expire_on_commit=False)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[UnitOfWork]:
        """A write transaction (BEGIN IMMEDIATE), one at a time per process."""
        async with self._database.write_lock, self._write_sessions() as session:
            yield UnitOfWork(session)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[UnitOfWork]:
        """A read-only snapshot; never blocks on writers."""
        async with self._read_sessions() as session:
            yield UnitOfWork(session)
