"""The server on PostgreSQL: the documented lifecycle over gRPC, completion
to analysis (jobs claimed with FOR UPDATE SKIP LOCKED), idempotent
completion under a race, listing and usage.

Each test gets a fresh database in the session's throwaway PostgreSQL
(`CREATE DATABASE ... TEMPLATE` of one database migrated by
storage.migrate.upgrade, as `koji-admin db upgrade` does) and a real server
on port 0 over it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from sqlalchemy import func, select

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji.v1 import study_service_pb2 as study_pb
from koji.v1 import study_service_pb2_grpc as study_grpc
from koji_server.app import RunningServer
from koji_server.storage.schema import AnalysisRow, JobAttemptRow, JobRow
from tests.conftest import ServerFactory, Tenant, make_guide_tenant
from tests.helpers import PATIENCE, assert_error, auth, scrape, start, wait_analysed
from tests.transcripts import ENGAGED

RACERS = 50


@pytest.fixture
async def pg_server(postgres_url: str, make_server: ServerFactory) -> RunningServer:
    return await make_server(postgres_url, pipeline_poll_seconds=0.1)


@pytest.fixture
async def channel(pg_server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{pg_server.port}") as channel:
        yield channel


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> pb_grpc.InterviewServiceStub:
    return pb_grpc.InterviewServiceStub(channel)


@pytest.fixture
async def tenant(pg_server: RunningServer, postgres_url: str) -> Tenant:
    return await make_guide_tenant(postgres_url)


async def answer(
    stub: pb_grpc.InterviewServiceStub, tenant: Tenant, started: pb.StartInterviewResponse
) -> None:
    for content in ENGAGED:
        await stub.SendMessage(
            pb.SendMessageRequest(interview_id=started.interview_id, content=content),
            metadata=auth(tenant.api_key, started.session_token),
        )


async def count(server: RunningServer, model: type, interview_id: str) -> int:
    async with server.database.read_engine.connect() as connection:
        query = select(func.count()).select_from(model).filter_by(interview_id=interview_id)
        return int((await connection.execute(query)).scalar_one())


async def test_the_lifecycle_runs_to_an_analysis_usage_and_a_study_report(
    stub, tenant, pg_server, channel
) -> None:
    started = await start(stub, tenant)
    assert started.status == pb.active
    await answer(stub, tenant, started)
    completed = await stub.CompleteInterview(
        pb.CompleteInterviewRequest(interview_id=started.interview_id, reason=pb.natural),
        metadata=auth(tenant.api_key, started.session_token),
    )
    assert completed.status == pb.completed
    assert completed.stats.respondent_messages == len(ENGAGED)

    got = await wait_analysed(stub, tenant, started.interview_id)
    assert got.analysis_status == pb.Analysis.completed
    assert got.analysis.themes and got.analysis.quality_score >= 3.0
    assert len(got.transcript) == 1 + 2 * len(ENGAGED)
    assert [m.role for m in got.transcript[:3]] == [pb.interviewer, pb.respondent, pb.interviewer]
    assert await count(pg_server, AnalysisRow, started.interview_id) == 1
    async with pg_server.database.read_engine.connect() as connection:
        (job,) = (
            await connection.execute(select(JobRow).filter_by(interview_id=started.interview_id))
        ).all()
    assert (job.status, job.attempts) == ("done", 1)

    usage = await stub.GetUsage(pb.GetUsageRequest(), metadata=auth(tenant.api_key))
    assert (usage.counted_interviews, usage.excluded_interviews) == (1, 0)
    assert (usage.processing_interviews, usage.failed_interviews) == (0, 0)

    # The analysis process took it into the study report (psycopg there).
    studies = study_grpc.StudyServiceStub(channel)
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while True:
        report = await studies.GetStudyReport(
            study_pb.GetStudyReportRequest(study_id=tenant.study_id),
            metadata=auth(tenant.api_key),
        )
        if report.interviews_analyzed == 1:
            break
        assert asyncio.get_running_loop().time() < deadline, "the study report was not updated"
        await asyncio.sleep(0.1)
    assert report.themes

    # The queue depths, read at scrape time over psycopg.
    samples = await scrape(pg_server.metrics_port)
    for status in ("pending", "running"):
        assert samples[("koji_analysis_queue_depth", frozenset({("status", status)}))] == 0


async def test_fifty_concurrent_completes_one_wins_the_rest_see_the_same_data(
    stub, tenant, pg_server
) -> None:
    started = await start(stub, tenant)
    await answer(stub, tenant, started)
    request = pb.CompleteInterviewRequest(interview_id=started.interview_id, reason=pb.natural)
    metadata = auth(tenant.api_key, started.session_token)
    outcomes = await asyncio.gather(
        *(stub.CompleteInterview(request, metadata=metadata) for _ in range(RACERS)),
        return_exceptions=True,
    )
    wins = [o for o in outcomes if isinstance(o, pb.CompleteInterviewResponse)]
    losses = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(wins) == 1, [o for o in outcomes if not isinstance(o, grpc.aio.AioRpcError)]
    assert len(losses) == RACERS - 1
    for loss in losses:
        details = assert_error(loss, grpc.StatusCode.ALREADY_EXISTS, "ALREADY_COMPLETED")
        seen = details["CompleteInterviewResponse"]
        assert seen.analysis_status in (pb.Analysis.processing, pb.Analysis.completed)
        seen.analysis_status = wins[0].analysis_status
        assert seen == wins[0]
    got = await wait_analysed(stub, tenant, started.interview_id)
    assert got.analysis_status == pb.Analysis.completed
    assert await count(pg_server, JobRow, started.interview_id) == 1
    assert await count(pg_server, AnalysisRow, started.interview_id) == 1


async def test_concurrent_messages_keep_a_gapless_transcript(stub, tenant) -> None:
    started = await start(stub, tenant)
    replies = await asyncio.gather(
        *(
            stub.SendMessage(
                pb.SendMessageRequest(
                    interview_id=started.interview_id, content=f"answer {i} with enough words"
                ),
                metadata=auth(tenant.api_key, started.session_token),
            )
            for i in range(20)
        )
    )
    assert sorted(r.messages_count for r in replies) == list(range(3, 42, 2))


async def test_list_interviews_pages_through_every_interview_once(stub, tenant) -> None:
    ids = [(await start(stub, tenant)).interview_id for _ in range(5)]
    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListInterviews(
            pb.ListInterviewsRequest(study_id=tenant.study_id, page_size=2, page_token=token),
            metadata=auth(tenant.api_key),
        )
        seen += [summary.interview_id for summary in page.interviews]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(ids)  # each once
    completed = await stub.ListInterviews(
        pb.ListInterviewsRequest(study_id=tenant.study_id, status=pb.completed),
        metadata=auth(tenant.api_key),
    )
    assert list(completed.interviews) == []


async def test_many_jobs_are_each_claimed_once_by_concurrent_claimers(
    stub, tenant, pg_server
) -> None:
    """Eight completions at once, two claims at a time per worker: every job
    runs once (one attempt each), none is lost."""
    interviews = [await start(stub, tenant) for _ in range(8)]
    for started in interviews:
        await stub.SendMessage(
            pb.SendMessageRequest(interview_id=started.interview_id, content=ENGAGED[0]),
            metadata=auth(tenant.api_key, started.session_token),
        )
    await asyncio.gather(
        *(
            stub.CompleteInterview(
                pb.CompleteInterviewRequest(interview_id=s.interview_id, reason=pb.natural),
                metadata=auth(tenant.api_key, s.session_token),
            )
            for s in interviews
        )
    )
    for started in interviews:
        got = await wait_analysed(stub, tenant, started.interview_id)
        assert got.analysis_status == pb.Analysis.completed
    async with pg_server.database.read_engine.connect() as connection:
        attempts = (await connection.execute(select(JobAttemptRow.job_id))).scalars().all()
        jobs = (await connection.execute(select(JobRow.status, JobRow.attempts))).all()
    assert sorted(jobs) == [("done", 1)] * len(interviews)
    assert len(attempts) == len(set(attempts)) == len(interviews)
