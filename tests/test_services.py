"""The fast tier: use cases and queues over a real SQLite file, on a fake clock.

No server, no wire, no analysis process: the domain services, the job queue
and the analysis run here, so durations, backoff and give-up are exact.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from koji_server.analysis.analyze import analyze
from koji_server.domain.conversation import State
from koji_server.domain.errors import AlreadyCompleted, InterviewCompleted, InterviewNotCompleted
from koji_server.domain.interview import Interview
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
from koji_server.interviewer.listening import Listener
from koji_server.operations.projects import AdminService
from koji_server.pipeline.jobs import JobQueue
from koji_server.queueing.settings import QueueSettings
from koji_server.storage.backends import open_database
from koji_server.storage.schema import WebhookEndpointRow
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from koji_server.webhooks.deliveries import DeliveryQueue, delivery_settings
from koji_server.webhooks.sender import AttemptResult
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
async def world(database_url: str) -> AsyncIterator[World]:
    database = open_database(database_url)
    await database.check_schema()
    units = UnitOfWorkFactory(database)
    admin = AdminService(units)
    project_id = await admin.create_project("Fast tier")
    key = await admin.create_key(project_id, "k", frozenset(Permission), 60)
    study_id = await admin.create_study(project_id, TITLE, list(GUIDE))
    clock = FakeClock(START)
    service = InterviewService(units, Listener(), clock=clock)
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


# --- the Interview entity's transitions ----------------------------------------------


def _open_interview() -> Interview:
    return Interview(
        id="i1",
        project_id="p1",
        study_id="s1",
        session_token_hash="h",
        status=InterviewStatus.ACTIVE,
        mode=InterviewMode.TEXT,
        locale="en",
        respondent_external_id="",
        respondent_display_name="",
        respondent_metadata=None,
        question_index=0,
        follow_up_asked=False,
        respondent_messages=0,
        interviewer_messages=1,
        started_at=START,
    )


def test_an_exchange_counts_both_messages_and_moves_along_the_guide() -> None:
    before = _open_interview()
    after = before.exchanged(State(question=1, follow_ups=1, probes_used=("why",)))
    assert (after.respondent_messages, after.interviewer_messages) == (1, 2)
    assert after.conversation_state == State(question=1, follow_ups=1, probes_used=("why",))
    assert (after.question_index, after.follow_up_asked) == (1, True)
    assert after.status is InterviewStatus.ACTIVE
    concluded = after.exchanged(State(question=3, concluded=True))
    assert concluded.status is InterviewStatus.CONCLUDED
    assert before.messages_count == 1 and after.messages_count == 3  # before is unchanged
    assert after.stats(START + timedelta(seconds=42)).duration_seconds == 42


def test_completing_keeps_whole_seconds_and_completing_again_answers_the_first() -> None:
    at = START + timedelta(seconds=90, microseconds=999_999)
    done = _open_interview().completed(None, {"rating": 5}, at)
    assert done.completed_at == START + timedelta(seconds=90)
    assert done.reason is CompletionReason.MANUAL
    assert done.analysis_status is AnalysisStatus.PROCESSING
    assert done.summary().stats.duration_seconds == 90
    with pytest.raises(AlreadyCompleted) as again:
        done.completed(CompletionReason.NATURAL, None, at + timedelta(hours=1))
    assert again.value.summary == done.summary()
    with pytest.raises(InterviewCompleted):
        done.exchanged(State(question=1))


def test_the_analysis_outcome_is_a_transition_of_a_completed_interview() -> None:
    with pytest.raises(InterviewNotCompleted):
        _open_interview().analysed()
    with pytest.raises(InterviewNotCompleted):
        _open_interview().analysis_failed()
    done = _open_interview().completed(None, None, START)
    assert done.analysed().analysis_status is AnalysisStatus.COMPLETED
    assert done.analysis_failed().analysis_status is AnalysisStatus.FAILED


# --- the delivery queue: backoff, Retry-After and giving up ---------------------------


async def _one_delivery(world: World, units: UnitOfWorkFactory, max_retries: int) -> DeliveryQueue:
    """An endpoint for analysis_ready, an analysed interview: one delivery queued."""
    endpoint = WebhookEndpointRow(
        id=str(uuid.uuid4()),
        project_id=world.principal.project_id,
        url="https://receiver.example/hooks",
        events=["interview.analysis_ready"],
        secret="whsec_test",
        created_at=world.clock(),
    )
    await units.write(lambda uow: uow.webhooks.add_endpoint(endpoint))
    await interview(world, ENGAGED, 900)
    claim = await world.jobs.claim()
    assert claim is not None
    assert await world.jobs.finish(claim, analyze(claim.transcript)) == 1
    settings = delivery_settings(max_retries=max_retries, retry_base_seconds=10)
    return DeliveryQueue(units, settings, clock=world.clock)


def _answered(status: int, retry_after: float | None = None) -> AttemptResult:
    return AttemptResult(status, 12.0, None if status < 300 else f"HTTP {status}", retry_after, "")


async def test_a_failing_delivery_backs_off_honours_retry_after_then_fails(
    world: World,
) -> None:
    units = world.jobs.units
    deliveries = await _one_delivery(world, units, max_retries=2)
    first = await deliveries.claim()
    assert first is not None and first.attempt == 1
    assert await deliveries.record(first, _answered(503), world.clock()) == "pending"
    assert await deliveries.claim() is None
    due = await deliveries.next_due_at()
    assert due is not None
    assert 5.0 <= (due.replace(tzinfo=UTC) - world.clock()).total_seconds() <= 10.0
    world.clock.now = due.replace(tzinfo=UTC)
    second = await deliveries.claim()
    assert second is not None and second.attempt == 2
    # The receiver's Retry-After (60 s) is longer than the backoff (10-20 s).
    assert await deliveries.record(second, _answered(429, 60), world.clock()) == "pending"
    assert await deliveries.claim() is None
    assert await deliveries.next_due_at() == world.clock() + timedelta(seconds=60)
    world.clock.advance(60)
    third = await deliveries.claim()
    assert third is not None and third.attempt == 3
    assert await deliveries.record(third, _answered(500), world.clock()) == "failed"
    world.clock.advance(3600)
    assert await deliveries.claim() is None


async def test_a_final_answer_is_not_retried(world: World) -> None:
    deliveries = await _one_delivery(world, world.jobs.units, max_retries=3)
    claim = await deliveries.claim()
    assert claim is not None
    assert await deliveries.record(claim, _answered(410), world.clock()) == "failed"
    world.clock.advance(3600)
    assert await deliveries.claim() is None
