"""Alembic's environment script.

`koji-admin db upgrade` (storage.migrate) hands over its connection, already
in a transaction, through `config.attributes["connection"]`: the whole
upgrade commits or rolls back as one. Run from the `alembic` command during
development (`alembic -c .../migrations/alembic.ini revision --autogenerate`),
it connects to KOJI_DATABASE_URL itself.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from koji_server.storage.schema import Base


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite alters most things by copying the table: autogenerate
        # writes such changes as batch operations.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_on_configured_url() -> None:
    from koji_server.config import Settings

    engine = create_async_engine(Settings().database_url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    asyncio.run(run_on_configured_url())
