"""Completion under races: one winner, identical answers, exactly one job."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest
from sqlalchemy import event, select

from koji.v1 import interview_service_pb2 as pb
from koji_server.storage.schema import JobRow
from tests.conftest import make_tenant
from tests.helpers import assert_error, auth, send, start

RACERS = 50


async def test_fifty_concurrent_completes_one_wins_the_rest_see_the_same_data(
    stub, tenant, server
) -> None:
    started = await start(stub, tenant)
    await send(stub, tenant, started, "I heard about you from a colleague at work")
    request = pb.CompleteInterviewRequest(interview_id=started.interview_id, reason=pb.natural)
    metadata = auth(tenant.api_key, started.session_token)
    outcomes = await asyncio.gather(
        *(stub.CompleteInterview(request, metadata=metadata) for _ in range(RACERS)),
        return_exceptions=True,
    )
    wins = [o for o in outcomes if isinstance(o, pb.CompleteInterviewResponse)]
    losses = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(wins) == 1
    assert len(losses) == RACERS - 1
    for loss in losses:
        details = assert_error(loss, grpc.StatusCode.ALREADY_EXISTS, "ALREADY_COMPLETED")
        seen = details["CompleteInterviewResponse"]
        # Identical, but for analysis_status, which is reported as it is now.
        assert seen.analysis_status in (pb.Analysis.processing, pb.Analysis.completed)
        seen.analysis_status = wins[0].analysis_status
        assert seen == wins[0]
    async with server.database.read_engine.connect() as conn:
        jobs = (
            await conn.execute(select(JobRow).where(JobRow.interview_id == started.interview_id))
        ).all()
    assert len(jobs) == 1
    assert jobs[0].status in ("pending", "running", "done")


async def test_concurrent_messages_keep_a_gapless_transcript(stub, tenant) -> None:
    started = await start(stub, tenant)
    replies = await asyncio.gather(
        *(send(stub, tenant, started, f"answer number {i} with enough words") for i in range(20))
    )
    assert sorted(r.messages_count for r in replies) == list(range(3, 42, 2))
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert len(got.transcript) == 41
    assert got.stats.total_messages == 41
    roles = [m.role for m in got.transcript]
    assert roles == [pb.interviewer] + [pb.respondent, pb.interviewer] * 20


@contextmanager
def counting_selects(server, table: str) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """The SELECTs from `table` that the server's read engine runs meanwhile."""
    seen: list[str] = []

    def count(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and f"FROM {table}" in statement:
            seen.append(statement)

    engine = server.database.read_engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_concurrent_reads_of_one_interview_share_one_load(stub, tenant, server) -> None:
    started = await start(stub, tenant)  # in progress: never served from the cache
    request = pb.GetInterviewRequest(interview_id=started.interview_id)
    with counting_selects(server, "messages") as loads:
        got = await asyncio.gather(
            *(stub.GetInterview(request, metadata=auth(tenant.api_key)) for _ in range(RACERS))
        )
    assert all(g.interview_id == started.interview_id for g in got)
    # One transcript query per load; without sharing there would be one per
    # call. How many calls a load serves depends on how the calls arrive (on
    # PostgreSQL a load is a round trip: 11 loads for 50 calls were seen).
    assert 1 <= len(loads) < RACERS // 2, len(loads)


async def test_a_shared_load_still_hides_other_projects_interviews(
    stub, tenant, database_url
) -> None:
    other_tenant = await make_tenant(database_url)
    started = await start(stub, tenant)
    request = pb.GetInterviewRequest(interview_id=started.interview_id)
    calls = [
        stub.GetInterview(request, metadata=auth(t.api_key))
        for t in (tenant, other_tenant) * (RACERS // 2)
    ]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    for index, outcome in enumerate(outcomes):
        if index % 2 == 0:
            assert isinstance(outcome, pb.GetInterviewResponse)
        else:
            assert isinstance(outcome, grpc.aio.AioRpcError)
            assert_error(outcome, grpc.StatusCode.NOT_FOUND, "NOT_FOUND")


async def test_a_burst_with_an_uncached_key_shares_one_key_lookup(stub, tenant, server) -> None:
    with counting_selects(server, "api_keys") as lookups:
        got = await asyncio.gather(
            *(stub.GetUsage(pb.GetUsageRequest(), metadata=auth(tenant.api_key))
              for _ in range(RACERS))
        )  # fmt: skip
    assert len(got) == RACERS
    assert 1 <= len(lookups) < RACERS // 5, len(lookups)


@pytest.mark.sqlite_only(
    reason="fills the file with PRAGMA max_page_count on SQLite's writer, repeats in its group "
    "commits (unwritable on any engine: tests/test_faults.py's read-only database)"
)
async def test_a_repeat_complete_is_409_while_writes_fail_for_lack_of_space(
    stub, tenant, server
) -> None:
    # SQLite's own "database or disk is full", on the server's writer
    # connection: no page may be added any more.
    started = await start(stub, tenant)
    request = pb.CompleteInterviewRequest(interview_id=started.interview_id, reason=pb.natural)
    metadata = auth(tenant.api_key, started.session_token)
    first = await stub.CompleteInterview(request, metadata=metadata)

    def freeze_size(session) -> None:  # type: ignore[no-untyped-def]
        connection = session.connection()
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
        connection.exec_driver_sql(f"PRAGMA max_page_count = {pages}")

    await server.database.writer.run(freeze_size)
    for _ in range(200):  # fill the last pages
        try:
            await start(stub, tenant)
        except grpc.aio.AioRpcError as full:
            assert_error(full, grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE")
            break
    else:
        raise AssertionError("the database never filled up")

    async def repeat() -> grpc.aio.AioRpcError:
        try:
            await stub.CompleteInterview(request, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            return error
        raise AssertionError("a repeat completion succeeded")

    async def doomed_start() -> None:
        with contextlib.suppress(grpc.aio.AioRpcError):
            await start(stub, tenant)

    # Repeats in the same group commits as writes that fail.
    outcomes = await asyncio.gather(*(repeat() if i % 2 else doomed_start() for i in range(60)))
    repeats = [outcome for outcome in outcomes if outcome is not None]
    assert len(repeats) == 30
    for error in repeats:
        details = assert_error(error, grpc.StatusCode.ALREADY_EXISTS, "ALREADY_COMPLETED")
        again = details["CompleteInterviewResponse"]
        # The first completion's data; analysis_status as it is now (the
        # pipeline may have finished meanwhile).
        again.analysis_status = first.analysis_status
        assert again == first
