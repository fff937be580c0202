"""Engines and connection set-up for SQLite.

Two engines share one file. Writes go through a single pooled connection,
one transaction at a time (an asyncio lock in front of it), and begin with
BEGIN IMMEDIATE: concurrent writers queue in memory instead of spinning in
SQLite's busy back-off, which is what gives pooled writers multi-second
tails. Reads use a small pool of their own and never block on writes (WAL).
Another process sharing the file is still safe: busy_timeout makes its
writers wait their turn.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from koji_server.storage.schema import SCHEMA_VERSION, Base

BUSY_TIMEOUT_MS = 10_000
READ_POOL_SIZE = 4


class SchemaTooNew(RuntimeError):
    pass


def _configure(engine: AsyncEngine, begin_statement: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL: a committed transaction survives a process crash
        # (kill -9); only an OS crash or power cut can lose the last commits.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin_statement)


class Database:
    """The write and read engines over one SQLite file, plus the write lock."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
            raise ValueError(
                "KOJI_DATABASE_URL must name a SQLite file, e.g. sqlite+aiosqlite:///koji.db"
            )
        self.url = url
        self.path = Path(parsed.database)
        self.write_engine = create_async_engine(url, pool_size=1, max_overflow=0)
        self.read_engine = create_async_engine(url, pool_size=READ_POOL_SIZE, max_overflow=0)
        _configure(self.write_engine, "BEGIN IMMEDIATE")
        _configure(self.read_engine, "BEGIN")
        self.write_lock = asyncio.Lock()

    async def create_schema(self) -> None:
        """Create or check the schema; safe to run on every start."""
        async with self.write_lock, self.write_engine.begin() as conn:
            version = (await conn.exec_driver_sql("PRAGMA user_version")).scalar_one()
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"database schema version {version} is newer than this server's "
                    f"{SCHEMA_VERSION}; upgrade the server"
                )
            await conn.run_sync(Base.metadata.create_all)
            await conn.execute(text(f"PRAGMA user_version = {SCHEMA_VERSION}"))

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        await self.read_engine.dispose()
