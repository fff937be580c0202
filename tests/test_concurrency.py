"""Completion under races: one winner, identical answers, exactly one job."""

from __future__ import annotations

import asyncio

import grpc
from sqlalchemy import select

from koji.v1 import interview_service_pb2 as pb
from koji_server.storage.schema import JobRow
from tests.helpers import assert_error, auth
from tests.test_lifecycle import send, start

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
