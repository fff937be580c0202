"""The fast tier: use cases and queues over a real SQLite file, on a fake clock.

No server, no wire, no analysis process: the domain services, the job queue
and the analysis run here, so durations, backoff and give-up are exact.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from koji_server.analysis.analyze import analyze
from koji_server.domain.model import (
    AnalysisStatus,
    CompletionReason,
    InterviewMode,
    InterviewStatus,
    Permission,
    Principal,
    Respondent,
)
from koji_server.domain.services import InterviewService
from koji_server.operations.projects import AdminService
from koji_server.pipeline.jobs import JobQueue
from koji_server.queueing.settings import QueueSettings
from koji_server.storage.database import Database
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from tests.transcripts import ENGAGED, GUIDE, SPAM, TITLE

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class World:
    clock: FakeClock
    service: InterviewService
    jobs: JobQueue
    principal: Principal
    study_id: str


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'koji.db'}")
    await database.create_schema()
    units = UnitOfWorkFactory(database)
    admin = AdminService(units)
    project_id = await admin.create_project("Fast tier")
    key = await admin.create_key(project_id, "k", frozenset(Permission), 60)
    study_id = await admin.create_study(project_id, TITLE, list(GUIDE))
    clock = FakeClock(START)
    service = InterviewService(units, clock=clock)
    settings = QueueSettings(lease_seconds=30, max_attempts=2, retry_base_seconds=10)
    jobs = JobQueue(units, settings, "fast-tier", clock=clock)
    try:
        yield World(clock, service, jobs, await service.authenticate(key.api_key), study_id)
    finally:
        await database.dispose()


async def interview(world: World, answers: list[str], lasting: int) -> str:
    """A completed interview whose answers take `lasting` seconds in all."""
    started = await world.service.start_interview(
        world.principal, world.study_id, Respondent(), InterviewMode.TEXT, ""
    )
    step = lasting / (len(answers) + 1)
    for answer in answers:
        world.clock.advance(step)
        await world.service.send_message(
            world.principal, started.interview_id, started.session_token, answer
        )
    world.clock.now = started.started_at + timedelta(seconds=lasting)
    summary = await world.service.complete_interview(
        world.principal,
        started.interview_id,
        started.session_token,
        CompletionReason.NATURAL,
        None,
    )
    assert summary.completed_at == started.started_at + timedelta(seconds=lasting)
    assert summary.stats.duration_seconds == lasting
    assert summary.analysis_status is AnalysisStatus.PROCESSING
    return started.interview_id


async def analyse_next(world: World) -> None:
    claim = await world.jobs.claim()
    assert claim is not None
    await world.jobs.finish(claim, analyze(claim.transcript))


@pytest.mark.parametrize(
    ("lasting", "score", "reasons"),
    [(900, 5.0, ()), (60, 4.8, ("short_duration",)), (5, 4.7, ("short_duration",))],
)
async def test_an_engaged_interview_is_scored_on_its_exact_duration(
    world: World, lasting: int, score: float, reasons: tuple[str, ...]
) -> None:
    interview_id = await interview(world, ENGAGED, lasting)
    claim = await world.jobs.claim()
    assert claim is not None and claim.interview_id == interview_id
    assert claim.transcript.duration_seconds == lasting
    assert await world.jobs.finish(claim, analyze(claim.transcript)) == 0  # no endpoints
    detail = await world.service.get_interview(world.principal, interview_id)
    assert detail.analysis_status is AnalysisStatus.COMPLETED
    assert detail.analysis is not None
    assert detail.analysis.quality.score == score
    assert detail.analysis.quality.reasons == reasons
    assert detail.stats.duration_seconds == lasting


async def test_usage_counts_exactly_the_completed_interviews_by_verdict(world: World) -> None:
    good = await interview(world, ENGAGED, 900)
    await interview(world, SPAM, 900)
    await world.service.start_interview(
        world.principal, world.study_id, Respondent(), InterviewMode.TEXT, ""
    )
    usage = await world.service.usage(world.principal)
    assert (usage.counted, usage.excluded, usage.processing, usage.failed) == (0, 0, 2, 0)
    await analyse_next(world)
    await analyse_next(world)
    assert await world.jobs.claim() is None and await world.jobs.next_due_at() is None
    usage = await world.service.usage(world.principal)
    assert (usage.counted, usage.excluded, usage.processing, usage.failed) == (1, 1, 0, 0)
    detail = await world.service.get_interview(world.principal, good)
    assert detail.status is InterviewStatus.COMPLETED


async def test_a_failed_attempt_waits_its_backoff_then_the_job_gives_up(world: World) -> None:
    interview_id = await interview(world, ENGAGED, 900)
    first = await world.jobs.claim()
    assert first is not None and first.attempt == 1
    assert await world.jobs.fail(first, "boom") == "pending"
    failed_at = world.clock()
    assert await world.jobs.claim() is None
    due = await world.jobs.next_due_at()
    assert due is not None
    # The first retry waits between half and all of the 10 s base.
    assert 5.0 <= (due.replace(tzinfo=UTC) - failed_at).total_seconds() <= 10.0
    world.clock.now = due.replace(tzinfo=UTC)
    second = await world.jobs.claim()
    assert second is not None and second.attempt == 2
    assert await world.jobs.fail(second, "boom again") == "failed"
    detail = await world.service.get_interview(world.principal, interview_id)
    assert detail.analysis_status is AnalysisStatus.FAILED and detail.analysis is None
    usage = await world.service.usage(world.principal)
    assert (usage.counted, usage.failed) == (0, 1)


async def test_a_job_whose_runner_keeps_dying_is_given_up_after_its_attempts(
    world: World,
) -> None:
    interview_id = await interview(world, ENGAGED, 900)
    first = await world.jobs.claim()
    assert first is not None
    world.clock.advance(29)
    assert await world.jobs.claim() is None  # the lease still holds
    world.clock.advance(1)
    second = await world.jobs.claim()  # the first runner died
    assert second is not None and second.attempt == 2 and second.job_id == first.job_id
    assert await world.jobs.finish(first, analyze(first.transcript)) is None  # lease lost
    world.clock.advance(30)
    assert await world.jobs.claim() is None  # given up: no third attempt
    assert await world.jobs.next_due_at() == world.clock()  # others may be due: look again
    detail = await world.service.get_interview(world.principal, interview_id)
    assert detail.analysis_status is AnalysisStatus.FAILED


async def test_the_interviewer_follows_the_guide_for_every_interview_of_a_study(
    world: World,
) -> None:
    for _ in range(2):  # the second interview reads the guide kept by the first
        started = await world.service.start_interview(
            world.principal, world.study_id, Respondent(), InterviewMode.TEXT, ""
        )
        assert started.initial_message.content.endswith(GUIDE[0])
        exchange = await world.service.send_message(
            world.principal,
            started.interview_id,
            started.session_token,
            "We import spreadsheets every morning and it takes an hour.",
        )
        assert exchange.interview_status is InterviewStatus.ACTIVE
        assert exchange.messages_count == 3
