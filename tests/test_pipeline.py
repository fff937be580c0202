"""After completion: quality gate, analysis, events, usage, retries, re-analysis."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import grpc
import pytest
from sqlalchemy import select

from koji.v1 import interview_service_pb2 as pb
from koji_server.analysis.analyze import analyze
from koji_server.app import start_server
from koji_server.config import Settings
from koji_server.storage.schema import AnalysisRow, EventRow, JobAttemptRow, JobRow
from koji_server.storage.status import JobStatus
from tests.conftest import Tenant, make_guide_tenant, make_tenant
from tests.helpers import auth, run_interview, wait_analysed
from tests.processes import admin_async
from tests.transcripts import (
    COPY_PASTE,
    ENGAGED,
    SPAM,
    TERSE,
    respondent_ids,
    transcript,
)

# --- the analysis itself, on realistic transcripts --------------------------------


def test_engaged_respondent_scores_high_with_cited_themes_and_insights() -> None:
    engaged = transcript(ENGAGED, duration_seconds=900, name="engaged")
    result = analyze(engaged)
    assert result.quality.score >= 4.0
    assert result.quality.counts_toward_usage
    assert result.quality.reasons == ()
    assert result.themes, "an engaged interview has themes"
    ids = respondent_ids(engaged)
    for theme in result.themes:
        assert theme.label
        assert set(theme.message_ids) <= ids
        assert 0 < theme.weight <= 1
    assert abs(sum(t.weight for t in result.themes) - 1.0) < 0.01
    kinds = {i.type for i in result.insights}
    assert {"pain_point", "request", "praise"} <= kinds
    for insight in result.insights:
        assert insight.message_id in ids
        source = next(u for u in engaged.utterances if u.message_id == insight.message_id)
        assert insight.quote.rstrip(".") in source.content
        assert -1.0 <= insight.sentiment <= 1.0
    pain = [i for i in result.insights if i.type == "pain_point"]
    assert any("import" in i.quote.lower() or "csv" in i.quote.lower() for i in pain)


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        (TERSE, "short_answers"),
        (SPAM, "gibberish"),
        (COPY_PASTE, "duplicate_answers"),
    ],
    ids=["terse", "spam", "copy-paste"],
)
def test_poor_interviews_fail_the_gate_with_reasons(answers: list[str], reason: str) -> None:
    result = analyze(transcript(answers, duration_seconds=300, name="poor"))
    assert 1.0 <= result.quality.score < 3.0
    assert not result.quality.counts_toward_usage
    assert reason in result.quality.reasons
    assert result.quality.score == round(result.quality.score, 1)


def test_spam_is_flagged_off_topic_and_not_mined_for_insights() -> None:
    result = analyze(transcript(SPAM, duration_seconds=60, name="spam"))
    assert "off_topic" in result.quality.reasons
    assert result.insights == ()


def test_analysis_is_deterministic() -> None:
    engaged = transcript(ENGAGED, duration_seconds=900, name="same")
    first, second = analyze(engaged), analyze(engaged)
    assert (first.quality, first.themes, first.insights) == (
        second.quality,
        second.themes,
        second.insights,
    )


def test_sub_scores_stay_on_the_scale() -> None:
    for answers in (ENGAGED, TERSE, SPAM, COPY_PASTE, []):
        quality = analyze(transcript(answers, duration_seconds=0, name="s")).quality
        for value in (quality.score, quality.depth, quality.coverage, quality.engagement):
            assert 1.0 <= value <= 5.0


# --- through the running server -----------------------------------------------------


@pytest.fixture
async def guide_tenant(server, database_url) -> Tenant:
    return await make_guide_tenant(database_url)


async def rows(server, model, **where):  # type: ignore[no-untyped-def]
    async with server.database.read_engine.connect() as conn:
        query = select(model).filter_by(**where)
        return (await conn.execute(query)).all()


async def test_completion_runs_the_pipeline_and_records_everything(
    stub, server, guide_tenant
) -> None:
    started = await run_interview(stub, guide_tenant, ENGAGED)
    got = await wait_analysed(stub, guide_tenant, started.interview_id)
    assert got.analysis_status == pb.Analysis.completed
    analysis = got.analysis
    # A test interview lasts well under the guide's 90 s: an engaged one still
    # scores high, with the short duration named (exact durations: test_services).
    assert analysis.quality_score >= 4.0
    assert "short_duration" in analysis.quality.reasons
    assert analysis.counts_toward_usage == (analysis.quality_score >= 3.0)
    assert 1.0 <= analysis.quality.depth <= 5.0
    respondent = {m.message_id for m in got.transcript if m.role == pb.respondent}
    assert analysis.themes
    for theme in analysis.themes:
        assert set(theme.message_ids) <= respondent
    for insight in analysis.insights:
        assert insight.message_id in respondent

    (job,) = await rows(server, JobRow, interview_id=started.interview_id)
    assert job.status == JobStatus.DONE and job.attempts == 1 and job.finished_at is not None
    (attempt,) = await rows(server, JobAttemptRow, job_id=job.id)
    assert attempt.outcome == "succeeded"
    (stored,) = await rows(server, AnalysisRow, interview_id=started.interview_id)
    stages = stored.stages
    assert list(stages) == ["finalized_at", "scored_at", "analyzed_at", "events_enqueued_at"]
    assert sorted(stages.values()) == list(stages.values())  # in order
    assert len(stored.transcript_sha256) == 64
    events = await rows(server, EventRow, interview_id=started.interview_id)
    types = sorted(e.type for e in events)
    expected_first = (
        "interview.completed" if analysis.counts_toward_usage else "interview.failed_quality_gate"
    )
    assert types == sorted([expected_first, "interview.analysis_ready", "interview.quality_scored"])
    for event in events:
        payload = event.payload
        assert payload["id"] == event.id and payload["type"] == event.type
        assert payload["interview_id"] == started.interview_id
        assert payload["study_id"] == guide_tenant.study_id
        assert payload["analysis_status"] == "completed"
        assert payload["quality_score"] == analysis.quality_score
        assert payload["counts_toward_usage"] == analysis.counts_toward_usage
        assert payload["analysis"]["insight_count"] == len(analysis.insights)
        assert payload["analysis"]["theme_labels"] == [t.label for t in analysis.themes]
        assert payload["created_at"].endswith("Z")


async def test_usage_counts_only_interviews_that_pass_the_gate(
    stub, server, guide_tenant, database_url
) -> None:
    good = await run_interview(stub, guide_tenant, ENGAGED * 2)
    bad = await run_interview(stub, guide_tenant, SPAM)
    open_one = await stub.StartInterview(
        pb.StartInterviewRequest(study_id=guide_tenant.study_id),
        metadata=auth(guide_tenant.api_key),
    )
    good_got = await wait_analysed(stub, guide_tenant, good.interview_id)
    bad_got = await wait_analysed(stub, guide_tenant, bad.interview_id)
    assert bad_got.analysis.quality_score < 3.0
    assert not bad_got.analysis.counts_toward_usage
    events = await rows(server, EventRow, interview_id=bad.interview_id)
    assert "interview.failed_quality_gate" in {e.type for e in events}
    assert good_got.analysis.counts_toward_usage  # 3.6 even at a test's short duration
    counted = 1
    usage = await stub.GetUsage(pb.GetUsageRequest(), metadata=auth(guide_tenant.api_key))
    assert usage.project_id == guide_tenant.project_id
    assert (usage.counted_interviews, usage.excluded_interviews) == (counted, 2 - counted)
    assert usage.processing_interviews == 0 and usage.failed_interviews == 0
    # The open interview is in no column of the report.
    assert (
        sum(
            (
                usage.counted_interviews,
                usage.excluded_interviews,
                usage.processing_interviews,
                usage.failed_interviews,
            )
        )
        == 2
    )
    still_open = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=open_one.interview_id),
        metadata=auth(guide_tenant.api_key),
    )
    assert still_open.status == pb.active and not still_open.HasField("analysis")
    out, _ = await admin_async(database_url, "usage", "--project", guide_tenant.project_id)
    assert f"{counted} counted toward usage, {2 - counted} excluded" in out


async def test_completing_again_after_analysis_changes_nothing(stub, server, guide_tenant) -> None:
    started = await run_interview(stub, guide_tenant, ENGAGED)
    await wait_analysed(stub, guide_tenant, started.interview_id)
    before = await rows(server, EventRow, interview_id=started.interview_id)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CompleteInterview(
            pb.CompleteInterviewRequest(interview_id=started.interview_id),
            metadata=auth(guide_tenant.api_key, started.session_token),
        )
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    # A job would have been written with the completion, before its answer;
    # the one job there is has run, so nothing more can come of it.
    (job,) = await rows(server, JobRow, interview_id=started.interview_id)
    assert job.status == JobStatus.DONE
    assert len(await rows(server, AnalysisRow, interview_id=started.interview_id)) == 1
    assert len(await rows(server, EventRow, interview_id=started.interview_id)) == len(before)


def _crash_on_start() -> None:
    os._exit(3)


async def test_failing_analysis_is_retried_then_marked_failed_then_reanalyzed(
    tmp_path, database_url
) -> None:
    # A process pool whose worker dies at once: every attempt fails for real.
    broken = ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_crash_on_start,
    )
    settings = Settings(
        listen="127.0.0.1:0",
        database_url=database_url,
        job_max_attempts=3,
        job_retry_base_seconds=0.05,
        pipeline_poll_seconds=0.05,
    )
    running = await start_server(settings, broken)
    try:
        tenant = await make_tenant(database_url)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            from koji.v1 import interview_service_pb2_grpc as pb_grpc

            stub = pb_grpc.InterviewServiceStub(channel)
            started = await run_interview(stub, tenant, ENGAGED)
            got = await wait_analysed(stub, tenant, started.interview_id)
            assert got.analysis_status == pb.Analysis.failed
            assert not got.HasField("analysis")
            (job,) = await rows(running, JobRow, interview_id=started.interview_id)
            assert job.status == "failed" and job.attempts == 3
            assert "BrokenProcessPool" in job.last_error
            attempts = await rows(running, JobAttemptRow, job_id=job.id)
            assert [a.outcome for a in attempts] == ["failed"] * 3
            starts = sorted(a.started_at for a in attempts)
            assert starts[1] > starts[0] and starts[2] > starts[1]

            out, _ = await admin_async(
                database_url, "interviews", "reanalyze", started.interview_id
            )
            shown = json.loads(out)
            assert shown["analysis_status"] == "completed"
            assert 1.0 <= shown["analysis"]["quality_score"] <= 5.0
            got = await stub.GetInterview(
                pb.GetInterviewRequest(interview_id=started.interview_id),
                metadata=auth(tenant.api_key),
            )
            assert got.analysis_status == pb.Analysis.completed
            assert len(await rows(running, AnalysisRow, interview_id=started.interview_id)) == 1
            # Its first analysis never finished: the reanalysis is announced once.
            events = await rows(running, EventRow, interview_id=started.interview_id)
            assert "interview.analysis_ready" in {e.type for e in events}
            assert len(events) == 3
    finally:
        await running.stop(0)
        broken.shutdown(wait=False, cancel_futures=True)


async def test_reanalyze_replaces_the_result_atomically(stub, server, guide_tenant, database_url):
    started = await run_interview(stub, guide_tenant, ENGAGED)
    first = await wait_analysed(stub, guide_tenant, started.interview_id)
    out, _ = await admin_async(database_url, "interviews", "reanalyze", started.interview_id)
    again = json.loads(out)
    assert again["analysis"]["quality_score"] == pytest.approx(first.analysis.quality_score)
    assert [t["label"] for t in again["analysis"]["themes"]] == [
        t.label for t in first.analysis.themes
    ]
    (stored,) = await rows(server, AnalysisRow, interview_id=started.interview_id)
    assert "reanalyzed_at" in stored.stages
    assert len(await rows(server, EventRow, interview_id=started.interview_id)) == 3


async def test_reanalyze_refuses_an_open_interview(stub, guide_tenant, database_url) -> None:
    from tests.processes import BIN

    started = await stub.StartInterview(
        pb.StartInterviewRequest(study_id=guide_tenant.study_id),
        metadata=auth(guide_tenant.api_key),
    )
    process = await asyncio.create_subprocess_exec(
        str(BIN / "koji-admin"), "interviews", "reanalyze", started.interview_id,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "KOJI_DATABASE_URL": database_url},
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode != 0
    assert b"not completed" in err


async def test_analysed_interviews_served_from_memory_keep_project_scoping(
    stub, server, guide_tenant, database_url
) -> None:
    started = await run_interview(stub, guide_tenant, ENGAGED)
    first = await wait_analysed(stub, guide_tenant, started.interview_id)
    again = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id),
        metadata=auth(guide_tenant.api_key),
    )
    assert again == first
    other = await make_tenant(database_url)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetInterview(
            pb.GetInterviewRequest(interview_id=started.interview_id),
            metadata=auth(other.api_key),
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reanalyze_while_the_job_runs_leaves_one_set_of_events_and_completed(
    database_url, analysis_executor
) -> None:
    # The race, step by step with the real queue: the pipeline has claimed the
    # job (its analysis is running) when the operator's reanalyze stores an
    # analysis and announces it; then the pipeline finishes.
    from koji.v1 import interview_service_pb2_grpc as pb_grpc
    from koji_server.pipeline.jobs import JobQueue
    from koji_server.queueing.settings import QueueSettings
    from koji_server.storage.unit_of_work import UnitOfWorkFactory

    settings = Settings(listen="127.0.0.1:0", database_url=database_url, pipeline_enabled=False)
    running = await start_server(settings, analysis_executor)
    try:
        tenant = await make_guide_tenant(database_url)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.InterviewServiceStub(channel)
            started = await run_interview(stub, tenant, ENGAGED)
            queue = JobQueue(UnitOfWorkFactory(running.database), QueueSettings(), "racer")
            claim = await queue.claim()
            assert claim is not None and claim.interview_id == started.interview_id
            await admin_async(database_url, "interviews", "reanalyze", started.interview_id)
            assert await queue.finish(claim, analyze(claim.transcript)) == 0
            got = await stub.GetInterview(
                pb.GetInterviewRequest(interview_id=started.interview_id),
                metadata=auth(tenant.api_key),
            )
            assert got.analysis_status == pb.Analysis.completed
            events = await rows(running, EventRow, interview_id=started.interview_id)
            assert sorted(e.type for e in events) == [
                "interview.analysis_ready",
                "interview.completed",
                "interview.quality_scored",
            ]
            (job,) = await rows(running, JobRow, interview_id=started.interview_id)
            assert job.status == JobStatus.DONE and job.attempts == 1
            assert len(await rows(running, AnalysisRow, interview_id=started.interview_id)) == 1
    finally:
        await running.stop(0)
