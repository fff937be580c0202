"""Which schema a database has, and whether this code can use it.

Alembic versions the schema (`storage/migrations`, applied by `koji-admin db
upgrade`): a database's revision is in its `alembic_version` table. SQLite
files written before Alembic carry a version number in `PRAGMA user_version`
instead (1 to 3; storage.legacy brings them in); the first migration sets it
to 4, which a server of that time refuses as "newer than this server".

The server and koji-admin's other commands run only on the head revision:
anything else is a SchemaMismatch whose message is one line saying what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect

from koji_server.storage.schema import Base

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision in migrations/versions (tests/test_migrations.py checks
# it): the server compares with it at start without importing Alembic, which
# would cost every server and analysis process about 0.1 s.
HEAD_REVISION = "0006"
# The last version number of before Alembic (PRAGMA user_version).
LEGACY_HEAD = 3
# PRAGMA user_version of a SQLite file managed by Alembic (migration 0001 sets it).
ALEMBIC_MARKER = 4
# The revision whose schema is LEGACY_HEAD's: pre-Alembic files are stamped with it.
BASELINE_REVISION = "0001"
# Alembic's table of the database's revision (one row; none before the first upgrade).
VERSION_TABLE = "alembic_version"
UPGRADE_HINT = "run `koji-admin db upgrade` (with the same KOJI_DATABASE_URL)"


class SchemaMismatch(RuntimeError):
    """The database's schema is not the one this code runs on."""


class SchemaOutOfDate(SchemaMismatch):
    """Older than this code (or empty): `koji-admin db upgrade` fixes it."""


class SchemaTooNew(SchemaMismatch):
    """Written by a newer version of this code: upgrade the code."""


class SchemaUnrecognised(SchemaMismatch):
    """Our tables without any version: nothing here knows what they are."""


@dataclass(frozen=True)
class SchemaState:
    """What a database says about its schema."""

    revision: str | None
    # SQLite's PRAGMA user_version (always 0 on PostgreSQL).
    legacy_version: int
    # Whether any of our tables exist.
    has_tables: bool

    def describe(self) -> str:
        if self.revision is not None:
            return f"revision {self.revision}"
        if self.legacy_version:
            return f"pre-Alembic schema version {self.legacy_version}"
        return "unversioned tables" if self.has_tables else "no schema (empty)"


def migrations() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS))


def head_revision() -> str:
    head = migrations().get_current_head()
    assert head is not None, "the migrations have no head"
    return head


def read_state(connection: Connection) -> SchemaState:
    """Read directly, not through Alembic's MigrationContext (which logs at
    INFO on every use: the server's first log lines would be Alembic's)."""
    tables = set(inspect(connection).get_table_names())
    revision = None
    if VERSION_TABLE in tables:
        revision = connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()
    legacy_version = 0
    if connection.dialect.name == "sqlite":
        legacy_version = int(connection.exec_driver_sql("PRAGMA user_version").scalar_one())
    return SchemaState(revision, legacy_version, bool(tables & set(Base.metadata.tables)))


def mismatch(state: SchemaState, where: str) -> SchemaMismatch | None:
    """None if `state` is the head revision; otherwise what is wrong, in one
    line that names the database (`where`) and what to do."""
    head = HEAD_REVISION
    if state.revision == head:
        return None
    if state.revision is not None:
        from alembic.util import CommandError

        try:
            migrations().get_revision(state.revision)
        except CommandError:
            return SchemaTooNew(
                f"the database {where} is at schema revision {state.revision}, which this "
                f"version does not know (written by a newer one?): upgrade koji-server"
            )
    elif state.legacy_version > ALEMBIC_MARKER:
        return SchemaTooNew(
            f"the database {where} has schema version {state.legacy_version}, newer than "
            f"this version knows: upgrade koji-server"
        )
    elif state.legacy_version == ALEMBIC_MARKER or (not state.legacy_version and state.has_tables):
        return SchemaUnrecognised(
            f"the database {where} has koji tables but no schema revision (no alembic_version "
            f"table): restore it from a backup, or point KOJI_DATABASE_URL at another database"
        )
    return SchemaOutOfDate(
        f"the database {where} has {state.describe()}, this version needs revision {head}: "
        f"{UPGRADE_HINT}"
    )
