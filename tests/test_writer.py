"""The single writer's group commits: what one unit of a group does to the others."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from koji_server.storage.database import Database
from koji_server.storage.schema import ProjectRow, StudyRow
from koji_server.support.clock import utc_now

pytestmark = pytest.mark.sqlite_only(
    reason="SQLite's single writer and its group commits (PostgreSQL runs each unit alone)"
)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


def add_project(project_id: str):  # type: ignore[no-untyped-def]
    def work(session: Session) -> str:
        session.add(ProjectRow(id=project_id, name=project_id, created_at=utc_now()))
        return project_id

    return work


class Gate:
    """A unit that holds the writer until released, so that the units queued
    meanwhile run as one group (no sleep: the test knows when it is inside)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()

    def work(self, session: Session) -> None:
        self.entered.set()
        assert self.released.wait(30), "the test never released the writer"

    async def hold(self, database: Database) -> asyncio.Future[None]:
        """The writer, busy in this unit; the future of the unit."""
        held = asyncio.ensure_future(database.writer.run(self.work))
        assert await asyncio.to_thread(self.entered.wait, 30), "the writer never ran the gate"
        return held


async def queued(database: Database, *works) -> list[asyncio.Future]:  # type: ignore[no-untyped-def]
    """`works` put on the writer's queue, in order; their futures. A task's
    first step runs in the order the tasks were made, before this coroutine
    resumes, and `run` queues its unit in that first step."""
    futures = [asyncio.ensure_future(database.writer.run(work)) for work in works]
    await asyncio.sleep(0)
    return futures


async def projects(database: Database) -> set[str]:
    return set(await database.writer.run(lambda s: s.scalars(select(ProjectRow.id)).all()))


async def as_one_group(database: Database, *works):  # type: ignore[no-untyped-def]
    batches: list[int] = []
    database.writer.on_commit = lambda units, seconds: batches.append(units)
    gate = Gate()
    held = await gate.hold(database)
    futures = await queued(database, *works)
    gate.released.set()
    results = await asyncio.gather(*futures, return_exceptions=True)
    await held
    # The group committed together, unless a unit took its transaction down
    # (then the others ran alone, each committing on its own).
    assert batches[0] == 1 and (batches[1:] == [len(works)] or len(batches) > 2), batches
    return results


async def test_a_failing_unit_rolls_back_alone(database: Database) -> None:
    def half_then_fail(session: Session) -> None:
        session.add(ProjectRow(id="half", name="half", created_at=utc_now()))
        session.flush()
        raise LookupError("changed its mind")

    results = await as_one_group(database, add_project("a"), half_then_fail, add_project("b"))
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], LookupError)
    assert await projects(database) == {"a", "b"}


async def test_a_failed_flush_does_not_take_the_group_down(database: Database) -> None:
    # A foreign-key violation at flush rolls back the whole transaction under
    # SQLAlchemy: the other units run again on their own and still commit.
    def orphan_study(session: Session) -> None:
        session.add(
            StudyRow(id="s", project_id="nope", title="t", questions=["q"], created_at=utc_now())
        )

    results = await as_one_group(database, add_project("c"), orphan_study, add_project("d"))
    assert results[0] == "c" and results[2] == "d"
    assert isinstance(results[1], IntegrityError)
    assert await projects(database) == {"c", "d"}
    count = await database.writer.run(
        lambda s: s.scalar(select(func.count()).select_from(StudyRow))
    )
    assert count == 0


async def test_a_unit_whose_caller_gave_up_is_skipped(database: Database) -> None:
    gate = Gate()
    held = await gate.hold(database)
    abandoned, kept = await queued(database, add_project("never"), add_project("kept"))
    abandoned.cancel()
    gate.released.set()
    await held
    assert await kept == "kept"
    assert abandoned.cancelled()
    assert await projects(database) == {"kept"}


async def test_units_see_what_earlier_units_of_their_group_wrote(database: Database) -> None:
    def count_projects(session: Session) -> int:
        return int(session.scalar(select(func.count()).select_from(ProjectRow)) or 0)

    results = await as_one_group(
        database, add_project("e"), count_projects, add_project("f"), count_projects
    )
    assert results == ["e", 1, "f", 2]


async def test_a_unit_that_fills_the_database_leaves_its_group_to_run(database: Database) -> None:
    # SQLite rolls back the whole transaction on "database or disk is full":
    # the other units of the group run again on their own.
    def freeze_size(session: Session) -> None:
        connection = session.connection()
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
        connection.exec_driver_sql(f"PRAGMA max_page_count = {pages + 2}")

    def too_big(session: Session) -> None:
        # Plain SQL, as the hot paths write (storage.direct): no ORM flush
        # to notice that the transaction is gone.
        session.connection().exec_driver_sql(
            "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)",
            ("big", "x" * 1_000_000, "2026-01-01 00:00:00"),
        )

    await database.writer.run(freeze_size)
    before, full, after = await as_one_group(
        database, add_project("before"), too_big, add_project("after")
    )
    assert (before, after) == ("before", "after")
    assert "full" in str(full)
    assert await projects(database) == {"before", "after"}
