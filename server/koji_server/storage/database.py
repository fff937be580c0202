"""Engines and connection set-up for SQLite (PostgreSQL: storage.postgres;
storage.backends picks one from the URL).

Two engines share one file. Writes go through the single writer
(`storage.writer`): one thread, one connection, transactions that begin with
BEGIN IMMEDIATE and commit in groups, so concurrent writers queue in memory
instead of spinning in SQLite's busy back-off (which is what gives pooled
writers multi-second tails). Reads use a small async pool of their own and
never block on writes (WAL). Another process sharing the file is still safe:
busy_timeout makes its writers wait their turn.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Session

from koji_server.config import DEFAULT_SYNCHRONOUS, SYNCHRONOUS_MODES
from koji_server.storage.repository import DirectTables
from koji_server.storage.schema_version import mismatch, read_state
from koji_server.storage.writer import Writer

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
READ_POOL_SIZE = 4


class DatabaseUnusable(ValueError):
    """The configured file cannot be opened or written as a SQLite database
    (a bad KOJI_DATABASE_URL, like the ValueError for a bad URL); the message
    says which file and why, in one line."""


def _configure(engine: Engine, begin_statement: str, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _switch_to_wal(cursor)
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin_statement)


def _switch_to_wal(cursor: Any) -> None:
    """The switch of a new file to WAL takes its lock without waiting for
    busy_timeout: two processes opening a new file at once (two upgrades)
    may see "database is locked"; the switch is retried for a while."""
    for _attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error):
                raise
            time.sleep(0.02)
    cursor.execute("PRAGMA journal_mode = WAL")


def sync_engines(url: str, synchronous: str = DEFAULT_SYNCHRONOUS) -> tuple[Engine, Engine]:
    """A (read, write) pair of synchronous engines on the database, for
    another process that shares the file (the analysis processes)."""
    parsed = make_url(url).set(drivername="sqlite")
    read, write = create_engine(parsed), create_engine(parsed, pool_size=1, max_overflow=0)
    _configure(read, "BEGIN", synchronous)
    _configure(write, "BEGIN IMMEDIATE", synchronous)
    return read, write


class Database:
    """The writer and the read engine over one SQLite file."""

    def __init__(self, url: str, synchronous: str = DEFAULT_SYNCHRONOUS) -> None:
        parsed = make_url(url)
        if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
            raise ValueError(
                "KOJI_DATABASE_URL must name a SQLite file, e.g. sqlite+aiosqlite:///koji.db"
            )
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(
                f"KOJI_SQLITE_SYNCHRONOUS must be one of {', '.join(SYNCHRONOUS_MODES)}, "
                f"got {synchronous!r}"
            )
        self.url = url
        self.synchronous = synchronous.upper()
        self.path = Path(parsed.database)
        # The writer's connection is made, used and closed on its own thread.
        write_engine = create_engine(parsed.set(drivername="sqlite"), pool_size=1, max_overflow=0)
        _configure(write_engine, "BEGIN IMMEDIATE", self.synchronous)
        self.writer = Writer(write_engine)
        self.read_engine = create_async_engine(url, pool_size=READ_POOL_SIZE, max_overflow=0)
        _configure(self.read_engine.sync_engine, "BEGIN", self.synchronous)
        # One set per engine: the writer thread's and the event loop's.
        self.write_tables = DirectTables.for_dialect(write_engine.dialect, writing=True)
        self.read_tables = DirectTables.for_dialect(self.read_engine.sync_engine.dialect)

    async def write(self, work: Callable[[Session], T]) -> T:
        """Run `work` in a write transaction on the writer thread; its result
        once committed (see storage.writer)."""
        return await self.writer.run(work)

    def observe_commits(self, callback: Callable[[int, float], None]) -> None:
        """Tell `callback` of every group commit: its units and COMMIT time."""
        self.writer.on_commit = callback

    def describe(self) -> str:
        """What the start-up log line says of the database."""
        return f"database {self.path}, synchronous {self.synchronous}"

    async def check_schema(self) -> None:
        """Refuse a database whose schema is not this code's head revision
        (storage.schema_version.SchemaMismatch: one line saying what to do;
        `koji-admin db upgrade` applies the migrations), or that cannot be
        opened as a SQLite database (DatabaseUnusable)."""
        try:  # the first use of the file: open and read, on the writer's connection
            state = await self.writer.run(lambda session: read_state(session.connection()))
        except DBAPIError as error:
            reason = str(error.orig) if error.orig is not None else type(error).__name__
            if "unable to open" in reason:
                reason += " (does its directory exist, and may this user write there?)"
            raise DatabaseUnusable(f"cannot use the database {self.path}: {reason}") from None
        problem = mismatch(state, str(self.path))
        if problem is not None:
            raise problem

    def queue_depths(self) -> dict[str, dict[str, int]]:
        """Jobs and webhook deliveries not yet final, by status. Synchronous,
        on a short-lived read-only connection of its own: called from the
        metrics endpoint's thread at scrape time."""
        try:
            with contextlib.closing(
                sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=1.0)
            ) as connection:
                jobs = connection.execute(
                    "SELECT status, count(*) FROM jobs"
                    " WHERE status IN ('pending', 'running') GROUP BY status"
                ).fetchall()
                deliveries = connection.execute(
                    "SELECT status, count(*) FROM webhook_deliveries"
                    " WHERE status IN ('pending', 'delivering') GROUP BY status"
                ).fetchall()
        except sqlite3.Error:
            return {}
        return {
            "jobs": {"pending": 0, "running": 0, **dict(jobs)},
            "deliveries": {"pending": 0, "delivering": 0, **dict(deliveries)},
        }

    async def dispose(self) -> None:
        await self.writer.close()
        await self.read_engine.dispose()
