"""PostgreSQL's write path below the server: a claim skips the job another
transaction holds (FOR UPDATE SKIP LOCKED) instead of waiting for it, two
write units on one row run one after the other, a conversation unit that
loses a race to another writer runs again on the new row (storage.
postgres_writes), one that needs a transaction writes nothing before it gets
one, and a database that cannot be written is StorageUnavailable while reads
go on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from koji_server.domain.errors import StorageUnavailable
from koji_server.domain.ports import MessageRecord
from koji_server.storage import postgres
from koji_server.storage.backends import open_database
from koji_server.storage.database import Database
from koji_server.storage.postgres import PostgresDatabase
from koji_server.storage.schema import InterviewRow, JobRow, ProjectRow, StudyRow
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from tools.local_postgres import ThrowawayPostgres

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
INTERVIEWS = ("i1", "i2")
# Long enough that a claim waiting on the held row would be caught.
NO_WAIT_SECONDS = 3.0
# Connections the fixture's writes can have left in the pool.
POOLED_AT_MOST = 2


def rows() -> list[object]:
    interviews = [
        InterviewRow(
            id=interview_id, project_id="p", study_id="s", session_token_hash="h" * 64,
            mode="text", locale="en", status="completed", started_at=T0, completed_at=T0,
            analysis_status="processing", updated_at=T0,
        )
        for interview_id in INTERVIEWS
    ]  # fmt: skip
    jobs = [
        JobRow(
            id=f"j{n}", kind="analysis", interview_id=interview_id, status="pending",
            attempts=0, run_after=T0 + timedelta(seconds=n), created_at=T0,
        )
        for n, interview_id in enumerate(INTERVIEWS, start=1)
    ]  # fmt: skip
    return [
        ProjectRow(id="p", name="Project", created_at=T0),
        StudyRow(id="s", project_id="p", title="Study", questions=["q1"], created_at=T0),
        *interviews,
        *jobs,
    ]


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[PostgresDatabase]:
    database = PostgresDatabase(postgres_url)

    def add(session: Session) -> None:
        for row in rows():  # in order: the ORM knows no relationships here
            session.add(row)
            session.flush()

    try:
        await database.write(add)
        yield database
    finally:
        await database.dispose()


async def test_a_claim_skips_the_job_another_transaction_holds(
    database: PostgresDatabase,
) -> None:
    units = UnitOfWorkFactory(database)
    now = T0 + timedelta(minutes=1)
    async with database.engine.connect() as other, other.begin():
        held = select(JobRow.id).where(JobRow.id == "j1").with_for_update()
        assert (await other.execute(held)).scalar_one() == "j1"
        claimed = await asyncio.wait_for(
            units.write(lambda uow: (job := uow.jobs.next_ready(now)) and job.id),
            NO_WAIT_SECONDS,
        )
        assert claimed == "j2"  # j1 is older, but held
    assert await units.write(lambda uow: (job := uow.jobs.next_ready(now)) and job.id) == "j1"


async def test_write_units_on_one_row_run_one_after_the_other(
    database: PostgresDatabase,
) -> None:
    """Each unit reads the job's attempts and writes them plus one: with the
    row locked while a unit runs, no increment is lost."""
    units = UnitOfWorkFactory(database)

    def increment(uow) -> None:  # type: ignore[no-untyped-def]
        job = uow.jobs.get("j1")
        job.attempts = job.attempts + 1

    await asyncio.gather(*(units.write(increment) for _ in range(20)))
    assert await units.read(lambda uow: uow.jobs.get("j1").attempts) == 20


async def test_a_conversation_unit_that_loses_a_race_runs_again_on_the_new_row(
    database: PostgresDatabase, postgres_url: str
) -> None:
    """Another writer changes the interview between the unit's read and its
    write: the unit's statement writes nothing, and the unit runs again on
    what the other wrote (no lost update, no message from the first run)."""
    units = UnitOfWorkFactory(database)
    other = postgres.sync_engine(postgres_url)
    seen: list[int] = []

    def reply(uow) -> None:  # type: ignore[no-untyped-def]
        interview = uow.interviews.record("i1")
        seen.append(interview.interviewer_messages)
        if len(seen) == 1:  # the other writer, between this run's read and write
            with other.begin() as connection:
                connection.execute(
                    text(
                        "UPDATE interviews SET interviewer_messages = interviewer_messages + 1"
                        " WHERE id = 'i1'"
                    )
                )
        count = interview.interviewer_messages + 1
        uow.interviews.save(replace(interview, interviewer_messages=count), interview)
        uow.interviews.append([MessageRecord(f"m{count}", "i1", count, "interviewer", "Hi", T0)])

    try:
        await units.write(reply)
    finally:
        other.dispose()
    assert seen == [0, 1]
    assert await units.read(lambda uow: uow.interviews.record("i1").interviewer_messages) == 2
    transcript = await units.read(lambda uow: uow.interviews.messages("i1"))
    assert [(message.id, message.seq) for message in transcript] == [("m2", 2)]


async def test_a_conversation_unit_whose_insert_fails_writes_nothing(
    database: PostgresDatabase,
) -> None:
    """The interview's update and its messages are one statement: a message
    that breaks a constraint (a seq already taken) leaves the interview as it
    was, and the error is SQLAlchemy's IntegrityError as on any unit."""
    units = UnitOfWorkFactory(database)

    def reply(uow) -> None:  # type: ignore[no-untyped-def]
        interview = uow.interviews.record("i1")
        count = interview.interviewer_messages + 1
        uow.interviews.save(replace(interview, interviewer_messages=count), interview)
        uow.interviews.append([MessageRecord(f"r{count}", "i1", 1, "interviewer", "Hi", T0)])

    await units.write(reply)
    with pytest.raises(IntegrityError):
        await units.write(reply)  # seq 1 again
    assert await units.read(lambda uow: uow.interviews.record("i1").interviewer_messages) == 1
    transcript = await units.read(lambda uow: uow.interviews.messages("i1"))
    assert [message.id for message in transcript] == ["r1"]


async def test_a_unit_that_needs_a_transaction_writes_once_in_one(
    database: PostgresDatabase,
) -> None:
    """A unit that appends, then asks for another repository: the append is
    not sent before the unit runs again in a transaction, where it is written
    once; the next run of the same unit goes there directly, as correct."""
    units = UnitOfWorkFactory(database)

    def note(uow) -> str:  # type: ignore[no-untyped-def]
        interview = uow.interviews.record("i2")
        seq = interview.interviewer_messages + 1
        uow.interviews.save(replace(interview, interviewer_messages=seq), interview)
        uow.interviews.append([MessageRecord(f"n{seq}", "i2", seq, "interviewer", "Hi", T0)])
        return uow.projects.get("p").name

    assert await units.write(note) == "Project"
    assert await units.write(note) == "Project"
    transcript = await units.read(lambda uow: uow.interviews.messages("i2"))
    assert [(message.id, message.seq) for message in transcript] == [("n1", 1), ("n2", 2)]


async def test_a_conversation_unit_on_a_dropped_connection_leaves_it_out_of_the_pool(
    database: PostgresDatabase, postgres: ThrowawayPostgres, postgres_url: str
) -> None:
    """The server drops the pooled connections: a unit that finds its
    connection gone fails as a database error, and the connection is not
    handed to the next unit, which works."""
    units = UnitOfWorkFactory(database)

    def reply(uow) -> int:  # type: ignore[no-untyped-def]
        interview = uow.interviews.record("i1")
        count = interview.interviewer_messages + 1
        uow.interviews.save(replace(interview, interviewer_messages=count), interview)
        return count

    assert await units.write(reply) == 1
    name = make_url(postgres_url).database
    postgres.psql(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    )
    outcomes: list[object] = []
    for _ in range(POOLED_AT_MOST + 1):
        try:
            outcomes.append(await units.write(reply))
            break
        except DBAPIError as error:
            outcomes.append(type(error))
    assert outcomes[-1] == 2
    assert all(outcome is DBAPIError for outcome in outcomes[:-1])


async def test_a_read_only_database_is_storage_unavailable_and_reads_go_on(
    postgres: ThrowawayPostgres, postgres_url: str, database: PostgresDatabase
) -> None:
    name = make_url(postgres_url).database
    postgres.psql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    read_only = PostgresDatabase(postgres_url)  # new connections take the setting
    try:
        units = UnitOfWorkFactory(read_only)

        def add_project(uow) -> None:  # type: ignore[no-untyped-def]
            uow.projects.add(ProjectRow(id="p2", name="Another", created_at=T0))

        with pytest.raises(StorageUnavailable):
            await units.write(add_project)
        assert await units.read(lambda uow: uow.projects.get("p").name) == "Project"
    finally:
        await read_only.dispose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", PostgresDatabase),
        ("postgresql+asyncpg://u@h/db", PostgresDatabase),
        ("sqlite+aiosqlite:///koji.db", Database),
    ],
)
async def test_the_url_picks_the_engine(url: str, expected: type) -> None:
    database = open_database(url)
    try:
        assert isinstance(database, expected)
    finally:
        await database.dispose()


@pytest.mark.parametrize("url", ["mysql+aiomysql://u:secret@h/db", "postgresql+psycopg://u@h/db"])
def test_other_databases_and_drivers_are_refused_without_the_password(url: str) -> None:
    with pytest.raises(ValueError, match="KOJI_DATABASE_URL must") as refused:
        open_database(url)
    assert "secret" not in str(refused.value)
