"""Which database a URL names: a SQLite file (storage.database, the single
writer) or PostgreSQL (storage.postgres, a pool). Both offer what the units
of work, the server and koji-admin need (`Storage`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from koji_server.storage import database, postgres
from koji_server.storage.database import DEFAULT_SYNCHRONOUS, Database
from koji_server.storage.postgres import PostgresDatabase
from koji_server.storage.repository import DirectTables

T = TypeVar("T")


class Storage(Protocol):
    """A database the service runs on."""

    url: str
    read_engine: AsyncEngine
    read_tables: DirectTables
    write_tables: DirectTables

    async def write(self, work: Callable[[Session], T]) -> T: ...
    def observe_commits(self, callback: Callable[[int, float], None]) -> None: ...
    def describe(self) -> str: ...
    async def check_schema(self) -> None: ...
    def queue_depths(self) -> dict[str, dict[str, int]]: ...
    async def dispose(self) -> None: ...


def open_database(url: str, synchronous: str = DEFAULT_SYNCHRONOUS) -> Database | PostgresDatabase:
    """The database at `url` (`synchronous` applies to SQLite only)."""
    if postgres.is_postgres(url):
        return PostgresDatabase(url)
    if make_url(url).get_backend_name() != "sqlite":
        raise ValueError(
            "KOJI_DATABASE_URL must name a SQLite file (sqlite+aiosqlite:///koji.db) or a "
            "PostgreSQL database (postgresql+asyncpg://user:pass@host/db), got "
            f"{make_url(url).render_as_string(hide_password=True)}"
        )
    return Database(url, synchronous)


def sync_engines(url: str) -> tuple[Engine, Engine]:
    """A (read, write) pair of synchronous engines, for another process on the
    same database (the analysis processes): SQLite's pair (storage.database),
    or one psycopg engine for both on PostgreSQL."""
    if postgres.is_postgres(url):
        engine = postgres.sync_engine(url, pool_size=2)
        return engine, engine
    return database.sync_engines(url)
