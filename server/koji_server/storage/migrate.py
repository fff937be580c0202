"""Applying the migrations: `koji-admin db upgrade`, `make run`, the tests.

An upgrade is one transaction on a connection of its own: every migration
it runs commits together or not at all (both engines have transactional
DDL). It starts by taking the database's write lock (SQLite: BEGIN
IMMEDIATE; PostgreSQL: a transaction-level advisory lock), so that two
upgrades started at once run one after the other and the second finds
nothing to do. A pre-Alembic SQLite file is brought to version 3 and stamped
with the first migration (storage.legacy) in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from koji_server.storage import legacy
from koji_server.storage.database import DEFAULT_SYNCHRONOUS, DatabaseUnusable, _configure
from koji_server.storage.schema_version import (
    BASELINE_REVISION,
    MIGRATIONS,
    SchemaOutOfDate,
    SchemaState,
    mismatch,
    read_state,
)

# pg_advisory_xact_lock's key for upgrades: "koji" in ASCII.
UPGRADE_LOCK_KEY = 0x6B6F6A69
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


@dataclass(frozen=True)
class Upgrade:
    """The schema before and after an upgrade (the same when nothing was due)."""

    before: SchemaState
    after: SchemaState


def display(url: str) -> str:
    """The URL as it may be printed (no password)."""
    return make_url(url).render_as_string(hide_password=True)


def async_url(url: str) -> URL:
    """`url` with an asyncio driver: SQLite files and PostgreSQL only."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ASYNC_DRIVERS:
        raise ValueError(
            "KOJI_DATABASE_URL must name a SQLite file (sqlite+aiosqlite:///koji.db) or a "
            f"PostgreSQL database (postgresql+asyncpg://...), got {display(url)}"
        )
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ValueError(
            "KOJI_DATABASE_URL must name a SQLite file, e.g. sqlite+aiosqlite:///koji.db"
        )
    if parsed.drivername == backend:
        parsed = parsed.set(drivername=ASYNC_DRIVERS[backend])
    return parsed


def migration_engine(url: str) -> AsyncEngine:
    parsed = async_url(url)
    engine = create_async_engine(parsed, poolclass=NullPool)
    if parsed.get_backend_name() == "sqlite":
        _configure(engine.sync_engine, "BEGIN IMMEDIATE", DEFAULT_SYNCHRONOUS)
    return engine


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration, from the package (no alembic.ini), running on
    `connection` (see migrations/env.py)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade_connection(connection: Connection, where: str) -> Upgrade:
    """Bring the database to the head revision, in the caller's transaction.
    Raises a SchemaMismatch other than SchemaOutOfDate (a newer or an
    unrecognised schema) without changing anything."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({UPGRADE_LOCK_KEY})")
    before = read_state(connection)
    problem = mismatch(before, where)
    if problem is None:
        return Upgrade(before, before)
    if not isinstance(problem, SchemaOutOfDate):
        raise problem
    config = alembic_config(connection)
    if before.revision is None and before.legacy_version:
        legacy.adopt(connection, before.legacy_version, where)
        command.stamp(config, BASELINE_REVISION)
    command.upgrade(config, "head")
    return Upgrade(before, read_state(connection))


async def upgrade(url: str) -> Upgrade:
    """`koji-admin db upgrade`: bring the database at `url` to the head revision."""
    engine = migration_engine(url)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(upgrade_connection, display(url))
    except (DBAPIError, OSError) as error:
        raise _unusable(url, error) from None
    finally:
        await engine.dispose()


async def current(url: str) -> SchemaState:
    """`koji-admin db current`: what the database at `url` says about its
    schema (a SQLite file that does not exist is not created)."""
    parsed = async_url(url)
    if _no_such_file(parsed):
        return SchemaState(revision=None, legacy_version=0, has_tables=False)
    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read_state)
    except (DBAPIError, OSError) as error:
        raise _unusable(url, error) from None
    finally:
        await engine.dispose()


def _no_such_file(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and not Path(str(url.database)).exists()


def _unusable(url: str, error: DBAPIError | OSError) -> DatabaseUnusable:
    original = error.orig if isinstance(error, DBAPIError) else None
    reason = str(original if original is not None else error)
    return DatabaseUnusable(f"cannot use the database {display(url)}: {reason}")
