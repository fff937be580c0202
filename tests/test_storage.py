"""Storage set-up: foreign keys, the schema check at start, concurrent writers,
direct SQL read back by the ORM (on the engine under test); SQLite's own: WAL,
synchronous, a pre-Alembic file. (The migrations themselves:
tests/test_migrations.py.)"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from koji_server.config import Settings
from koji_server.interviewer.listening import Listener
from koji_server.operations.projects import AdminService
from koji_server.storage import migrate
from koji_server.storage.backends import open_database
from koji_server.storage.database import Database
from koji_server.storage.schema import MessageRow, StudyRow
from koji_server.storage.schema_version import ALEMBIC_MARKER, SchemaTooNew, head_revision
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from koji_server.support.clock import utc_now


@pytest.mark.sqlite_only(reason="PRAGMA journal_mode, foreign_keys and user_version")
async def test_wal_foreign_keys_and_schema_version(database_url) -> None:
    database = Database(database_url)
    await database.check_schema()
    async with database.read_engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one() == 1
        assert (await conn.exec_driver_sql("PRAGMA user_version")).scalar_one() == ALEMBIC_MARKER
        revision = (await conn.exec_driver_sql("SELECT * FROM alembic_version")).scalar_one()
        assert revision == head_revision()
    await database.check_schema()  # again on restart
    await database.dispose()


async def test_foreign_keys_are_enforced(database_url) -> None:
    database = open_database(database_url)
    units = UnitOfWorkFactory(database)
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        await units.write(
            lambda uow: uow.studies.add(
                StudyRow(
                    id="s", project_id="missing", title="t", questions=["q"], created_at=utc_now()
                )
            )
        )
    await database.dispose()


async def test_a_newer_schema_is_refused(database_url) -> None:
    database = open_database(database_url)
    await database.write(
        lambda session: session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    )
    with pytest.raises(SchemaTooNew, match="revision 9999, which this version does not know"):
        await database.check_schema()
    await database.dispose()


def _synchronous(session: Session) -> int:
    return int(session.connection().exec_driver_sql("PRAGMA synchronous").scalar_one())


@pytest.mark.sqlite_only(reason="PRAGMA synchronous on SQLite's writer connection")
async def test_acknowledged_writes_are_fsynced_by_default(database_url, monkeypatch) -> None:
    """FULL (2) unless KOJI_SQLITE_SYNCHRONOUS asks for NORMAL (1); on the
    writer's connection, the one that commits."""
    monkeypatch.delenv("KOJI_SQLITE_SYNCHRONOUS", raising=False)
    assert Settings().sqlite_synchronous == "FULL"
    monkeypatch.setenv("KOJI_SQLITE_SYNCHRONOUS", "normal")
    assert Settings().sqlite_synchronous == "NORMAL"
    for database, expected in (
        (Database(database_url), 2),
        (Database(database_url, Settings().sqlite_synchronous), 1),
    ):
        try:
            assert await database.writer.run(_synchronous) == expected
        finally:
            await database.dispose()
    monkeypatch.setenv("KOJI_SQLITE_SYNCHRONOUS", "OFF")
    with pytest.raises(ValidationError, match="FULL, NORMAL"):
        Settings()
    with pytest.raises(ValueError, match="KOJI_SQLITE_SYNCHRONOUS"):
        Database(database_url, "OFF")


@pytest.mark.parametrize(
    "url", ["sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite://", "postgresql://x/y"]
)
def test_only_sqlite_files_are_accepted(url) -> None:
    with pytest.raises(ValueError, match="SQLite file"):
        Database(url)


async def test_concurrent_writers_in_two_databases_objects_never_fail(database_url) -> None:
    # Two database objects on one database act like two processes: writes
    # from both interleave without errors ("database is locked" on SQLite).
    first, second = open_database(database_url), open_database(database_url)
    admins = [AdminService(UnitOfWorkFactory(db)) for db in (first, second)]
    ids = await asyncio.gather(*(admins[i % 2].create_project(f"p{i}") for i in range(60)))
    assert len(set(ids)) == 60
    await first.dispose()
    await second.dispose()


async def test_direct_sql_rows_read_back_like_orm_rows(database_url) -> None:
    # The hot paths write interviews with direct SQL (storage.direct); the
    # ORM must read them back field for field, on the writer and on a read
    # session, and the direct reader must agree with the ORM.
    from koji_server.domain.model import InterviewMode, Permission, Respondent
    from koji_server.domain.services import InterviewService
    from koji_server.storage.schema import InterviewRow

    database = open_database(database_url)
    units = UnitOfWorkFactory(database)
    admin = AdminService(units)
    project = await admin.create_project("p")
    key = await admin.create_key(project, "k", frozenset(Permission))
    study = await admin.create_study(project, "t", ["q1", "q2"])
    service = InterviewService(units, Listener())
    principal = await service.authenticate(key.api_key)
    started = await service.start_interview(
        principal, study, Respondent("ext-1", "Ana", {"plan": "pro"}), InterviewMode.TEXT, "en-GB"
    )
    await service.send_message(principal, started.interview_id, started.session_token, "hello")

    def both(uow):  # type: ignore[no-untyped-def]
        record = uow.interviews.record(started.interview_id)
        row = uow.session.get(InterviewRow, started.interview_id)
        messages = uow.interviews.messages(started.interview_id)
        transcript = uow.session.scalars(
            select(MessageRow)
            .where(MessageRow.interview_id == started.interview_id)
            .order_by(MessageRow.seq)
        ).all()
        return record, row, messages, transcript

    for run in (units.read, units.write):
        record, row, messages, transcript = await run(both)
        for field in ("respondent_metadata", "started_at", "follow_up_asked", "status", "locale"):
            assert getattr(record, field) == getattr(row, field), field
        assert record.respondent_metadata == {"plan": "pro"}
        assert record.started_at.tzinfo is not None
        assert [(m.id, m.seq, m.role, m.content, m.created_at) for m in messages] == [
            (m.id, m.seq, m.role, m.content, m.created_at) for m in transcript
        ]
        assert [m.seq for m in messages] == [1, 2, 3]
    await database.dispose()


@pytest.mark.sqlite_only(reason="a SQLite file of before Alembic (schema version 2)")
async def test_a_version_2_file_gets_updated_at_and_the_trigger_keeps_it(
    database_url, stub, server
) -> None:
    from koji.v1 import interview_service_pb2 as pb
    from tests.conftest import make_tenant
    from tests.helpers import auth

    tenant = await make_tenant(database_url)
    started = await stub.StartInterview(
        pb.StartInterviewRequest(study_id=tenant.study_id), metadata=auth(tenant.api_key)
    )
    # Back to a file of before Alembic, schema version 2 (without what later
    # migrations added); `koji-admin db upgrade`.
    path = database_url.split("///", 1)[1]
    with sqlite3.connect(path) as connection:
        connection.executescript(
            "DROP TABLE rate_limit_windows; DROP TABLE oauth_tokens; DROP TABLE oauth_clients;"
            "DROP TRIGGER search_fts_insert; DROP TRIGGER search_fts_delete;"
            "DROP TRIGGER search_fts_update; DROP TABLE search_fts; DROP TABLE search_entries;"
            "DROP INDEX ix_studies_listing; ALTER TABLE studies DROP COLUMN status;"
            "ALTER TABLE studies DROP COLUMN brief; ALTER TABLE studies DROP COLUMN updated_at;"
            "ALTER TABLE studies DROP COLUMN published_at;"
            "ALTER TABLE interviews DROP COLUMN answers;"
            "ALTER TABLE interviews DROP COLUMN conversation;"
            "ALTER TABLE interviews DROP COLUMN link_id; DROP TABLE interview_links;"
            "ALTER TABLE messages DROP COLUMN question_id;"
            "ALTER TABLE messages DROP COLUMN follow_up;"
            "DROP TRIGGER interviews_touch; DROP INDEX ix_interviews_listing;"
            "ALTER TABLE interviews DROP COLUMN updated_at; DROP TABLE alembic_version;"
            "PRAGMA user_version = 2;"
        )
    upgraded = await migrate.upgrade(database_url)
    assert upgraded.before.describe() == "pre-Alembic schema version 2"
    assert upgraded.after.revision == head_revision()
    with sqlite3.connect(path) as connection:
        started_at, updated_at = connection.execute(
            "SELECT started_at, updated_at FROM interviews WHERE id = ?", (started.interview_id,)
        ).fetchone()
        assert updated_at == started_at
        connection.execute(
            "UPDATE interviews SET locale = 'fr' WHERE id = ?", (started.interview_id,)
        )
        (touched,) = connection.execute(
            "SELECT updated_at FROM interviews WHERE id = ?", (started.interview_id,)
        ).fetchone()
        assert touched > started_at and len(touched) == len("2026-01-01 00:00:00.000000")
        assert connection.execute("PRAGMA user_version").fetchone()[0] == ALEMBIC_MARKER
        plan = " ".join(
            str(row)
            for row in connection.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM interviews WHERE study_id = 'x' "
                "ORDER BY updated_at, id LIMIT 51"
            )
        )
        assert "ix_interviews_listing" in plan and "TEMP B-TREE" not in plan
