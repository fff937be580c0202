"""The job queue's transactions: claim, finish, fail. Safe across processes.

A claim runs in one write transaction that locks the job (SQLite: BEGIN
IMMEDIATE, the whole database; PostgreSQL: the job's row, FOR UPDATE SKIP
LOCKED, so concurrent claimers take different jobs), so two processes sharing
the database can never claim the same job; finishing is conditional on still
holding the claim, so a runner that lost its lease writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from koji_server.domain import answers
from koji_server.domain.analysis_input import AnalysisOutput, TranscriptInput, Utterance
from koji_server.domain.changes import (
    AnalysisReady,
    AnalysisStatusChanged,
    Change,
    ChangeFeed,
    QualityScored,
)
from koji_server.domain.events import (
    EVENT_ANALYSIS_READY,
    EVENT_COMPLETED,
    EVENT_FAILED_GATE,
    EVENT_QUALITY_SCORED,
)
from koji_server.domain.interview import Interview
from koji_server.domain.model import Analysis, AnalysisStatus
from koji_server.domain.study_design import brief_from_stored, questions_from_stored
from koji_server.queueing.claims import ClaimingQueue, Idle
from koji_server.queueing.settings import QueueSettings
from koji_server.storage.schema import EventRow, JobAttemptRow, JobRow
from koji_server.storage.status import AttemptOutcome, JobStatus
from koji_server.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory
from koji_server.support.clock import iso_utc, precise_now
from koji_server.webhooks.deliveries import fan_out


@dataclass(frozen=True, slots=True)
class Claim:
    job_id: str
    claim_token: str
    attempt_id: str
    attempt: int
    interview_id: str
    transcript: TranscriptInput
    transcript_sha256: str
    finalized_at: datetime
    # When the job was queued: the interview's completion (same transaction).
    queued_at: datetime | None = None


def stage_times(
    finalized_at: datetime, output: AnalysisOutput, last: str, now: datetime
) -> dict[str, str]:
    """When each stage finished; `last` names the final step (events queued,
    or an operator's re-analysis)."""
    return {
        "finalized_at": iso_utc(finalized_at),
        "scored_at": iso_utc(datetime.fromtimestamp(output.scored_at, UTC)),
        "analyzed_at": iso_utc(datetime.fromtimestamp(output.analyzed_at, UTC)),
        last: iso_utc(now),
    }


def load_transcript(uow: UnitOfWork, interview_id: str) -> tuple[TranscriptInput, str]:
    """The frozen transcript of a completed interview, and its SHA-256."""
    interview = uow.interviews.record(interview_id)
    assert interview is not None and interview.completed_at is not None
    study = uow.studies.get(interview.study_id)
    assert study is not None
    messages = uow.interviews.messages(interview_id)
    utterances = tuple(Utterance(m.id, m.role, m.content) for m in messages)
    digest = hashlib.sha256(
        json.dumps([[u.message_id, u.role, u.content] for u in utterances]).encode()
    ).hexdigest()
    duration = int((interview.completed_at - interview.started_at).total_seconds())
    questions = questions_from_stored(study.id, study.questions)
    answered = {
        a.question_id for a in answers.all_from_stored(interview.answers) if a.source is not None
    }
    transcript = TranscriptInput(
        interview_id=interview_id,
        title=study.title,
        questions=tuple(q.text for q in questions),
        utterances=utterances,
        duration_seconds=max(0, duration),
        question_types=tuple(q.type.value for q in questions),
        mode=brief_from_stored(study.brief).mode.value,
        structured_answered=sum(q.type.structured and q.question_id in answered for q in questions),
    )
    return transcript, digest


def analysis_changes(output: AnalysisOutput) -> tuple[Change, ...]:
    """What a stored analysis announces to watchers, in order."""
    quality = output.quality
    return (
        QualityScored(quality.score, quality.counts_toward_usage),
        AnalysisStatusChanged(AnalysisStatus.COMPLETED),
        AnalysisReady(Analysis(quality, output.themes, output.insights)),
    )


def record_events(
    uow: UnitOfWork, interview: Interview, output: AnalysisOutput, now: datetime
) -> int:
    """The quality_scored, gate verdict and analysis_ready events, with their deliveries queued
    in the caller's transaction: never lost between "happened" and "queued".
    Returns how many deliveries were queued."""
    endpoints = uow.webhooks.endpoints(interview.project_id)
    queued = 0
    passed = output.quality.counts_toward_usage
    summary = {
        "interview_id": interview.id,
        "study_id": interview.study_id,
        "analysis_status": AnalysisStatus.COMPLETED.value,
        "quality_score": output.quality.score,
        "counts_toward_usage": passed,
        "analysis": {
            "theme_labels": [t.label for t in output.themes],
            "insight_count": len(output.insights),
        },
    }
    verdict = EVENT_COMPLETED if passed else EVENT_FAILED_GATE
    # The answers to the study's questions, as GetInterview shows them.
    with_answers = {EVENT_COMPLETED, EVENT_ANALYSIS_READY}
    recorded = answers.settled(answers.all_from_stored(interview.answers))
    answer_list: list[dict[str, Any]] = []
    if recorded:
        contents = {m.id: m.content for m in uow.interviews.messages(interview.id)}
        answer_list = [answers.as_json(a) for a in answers.detailed(recorded, contents)]
    for event_type in (EVENT_QUALITY_SCORED, verdict, EVENT_ANALYSIS_READY):
        event_id = str(uuid.uuid4())
        payload = {"id": event_id, "type": event_type, "created_at": iso_utc(now), **summary}
        if event_type in with_answers:
            payload["answers"] = answer_list
        event = EventRow(
            id=event_id,
            project_id=interview.project_id,
            interview_id=interview.id,
            type=event_type,
            payload=payload,
            created_at=now,
        )
        uow.events.add(event)
        queued += fan_out(uow, event, endpoints)
    return queued


@dataclass(frozen=True, slots=True)
class GaveUp(Idle):
    """A claim that found a job whose runs keep dying, and gave it up."""

    interview_id: str


class JobQueue(ClaimingQueue[Claim]):
    def __init__(
        self,
        units: UnitOfWorkFactory,
        settings: QueueSettings,
        worker_id: str,
        clock: Callable[[], datetime] = precise_now,
        changes: ChangeFeed | None = None,
    ) -> None:
        super().__init__(units, clock)
        self._settings = settings
        self.worker_id = worker_id
        # Where the analysis status changes this queue stores are announced.
        self._changes = changes or ChangeFeed()

    def _claim(self, uow: UnitOfWork, now: datetime) -> Claim | Idle:
        job = uow.jobs.next_ready(now)
        if job is None:
            return Idle(uow.jobs.next_due_at())
        if job.status == JobStatus.RUNNING:  # its runner died: that attempt is over
            uow.jobs.abandon_open_attempts(job.id, now)
            if not self._settings.may_retry(job.attempts):
                # Its runs keep dying (or outliving their lease): give up.
                _give_up(uow, job, now)
                job.last_error = f"abandoned {job.attempts} times (runner died or stalled)"
                return GaveUp(now, job.interview_id)  # others may be due: look again at once
        job.status = JobStatus.RUNNING
        job.claim_token = str(uuid.uuid4())
        job.claimed_by = self.worker_id
        job.lease_expires_at = now + timedelta(seconds=self._settings.lease_seconds)
        job.attempts += 1
        attempt = JobAttemptRow(
            id=str(uuid.uuid4()), job_id=job.id, worker_id=self.worker_id, started_at=now
        )
        uow.jobs.add_attempt(attempt)
        transcript, digest = load_transcript(uow, job.interview_id)
        return Claim(
            job_id=job.id,
            claim_token=job.claim_token,
            attempt_id=attempt.id,
            attempt=job.attempts,
            interview_id=job.interview_id,
            transcript=transcript,
            transcript_sha256=digest,
            finalized_at=now,
            queued_at=job.created_at,
        )

    async def finish(self, claim: Claim, output: AnalysisOutput) -> int | None:
        """Store the analysis, mark the job done and enqueue the events, in one
        transaction. Returns how many webhook deliveries were queued, or None
        (and nothing written) if the claim was lost."""
        now = self._clock()

        def store(uow: UnitOfWork) -> int | None:
            job = _held(uow, claim)
            if job is None:
                return None
            interview = uow.interviews.record(claim.interview_id)
            assert interview is not None
            stages = stage_times(claim.finalized_at, output, "events_enqueued_at", now)
            uow.interviews.replace_analysis(
                claim.interview_id, output, claim.transcript_sha256, stages, now
            )
            uow.interviews.save(interview.analysed(), interview)
            # An operator's reanalyze may have run meanwhile and announced its
            # result: those events stand for this one (same transcript), so
            # the job is done without a second set.
            announced = bool(uow.events.for_interview(claim.interview_id))
            queued = 0 if announced else record_events(uow, interview, output, now)
            job.status = JobStatus.DONE
            job.finished_at = now
            job.lease_expires_at = None
            _close_attempt(uow, claim, now, AttemptOutcome.SUCCEEDED, None)
            return queued

        queued = await self._units.write(store)
        if queued is not None:
            self._changes.publish(claim.interview_id, self._clock(), *analysis_changes(output))
        return queued

    def _idle(self, idle: Idle) -> None:
        super()._idle(idle)
        if isinstance(idle, GaveUp):
            self._analysis_failed(idle.interview_id)

    def _analysis_failed(self, interview_id: str) -> None:
        self._changes.publish(
            interview_id, self._clock(), AnalysisStatusChanged(AnalysisStatus.FAILED)
        )

    async def renew(self, claim: Claim) -> bool:
        """Extend the lease of a job still running here; False if it was lost."""
        now = self._clock()

        def extend(uow: UnitOfWork) -> bool:
            job = _held(uow, claim)
            if job is None:
                return False
            job.lease_expires_at = now + timedelta(seconds=self._settings.lease_seconds)
            return True

        return await self._units.write(extend)

    @property
    def renew_every(self) -> float:
        return self._settings.lease_seconds / 3

    async def fail(self, claim: Claim, error: str) -> str:
        """Record a failed attempt; retry with backoff, or give up for good.
        Returns the job's new status."""
        now = self._clock()

        def record(uow: UnitOfWork) -> str:
            job = _held(uow, claim)
            if job is None:
                return "lost"
            job.last_error = error[:2000]
            job.lease_expires_at = None
            if self._settings.may_retry(job.attempts):
                job.status = JobStatus.PENDING
                job.run_after = now + timedelta(seconds=self.backoff(job.attempts))
            else:
                _give_up(uow, job, now)
            _close_attempt(uow, claim, now, AttemptOutcome.FAILED, error[:2000])
            return job.status

        status = await self._units.write(record)
        if status == JobStatus.FAILED:
            self._analysis_failed(claim.interview_id)
        return status

    def backoff(self, attempts: int) -> float:
        return self._settings.backoff(attempts)


def _give_up(uow: UnitOfWork, job: JobRow, now: datetime) -> None:
    """The job is over without a result: its interview's analysis failed."""
    job.status = JobStatus.FAILED
    job.finished_at = now
    job.lease_expires_at = None
    interview = uow.interviews.record(job.interview_id)
    assert interview is not None
    uow.interviews.save(interview.analysis_failed(), interview)


def _held(uow: UnitOfWork, claim: Claim) -> JobRow | None:
    job = uow.jobs.get(claim.job_id)
    if job is None or job.status != JobStatus.RUNNING or job.claim_token != claim.claim_token:
        return None
    return job


def _close_attempt(
    uow: UnitOfWork, claim: Claim, now: datetime, outcome: str, error: str | None
) -> None:
    attempt = uow.jobs.attempt(claim.attempt_id)
    assert attempt is not None
    attempt.finished_at = now
    attempt.outcome = outcome
    attempt.error = error
