"""The interview entity: its state, and the transitions the use cases apply.

The repository loads and saves it (storage maps it to its table); a
transition returns the interview as it is after, never changes this one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from koji_server.domain.errors import AlreadyCompleted, InterviewCompleted, InterviewNotCompleted
from koji_server.domain.interviewer import GuidePosition
from koji_server.domain.model import (
    AnalysisStatus,
    CompletionReason,
    CompletionSummary,
    InterviewMode,
    InterviewStatus,
    Respondent,
    Stats,
)
from koji_server.support.clock import whole_seconds


@dataclass(frozen=True, slots=True)
class Interview:
    id: str
    project_id: str
    study_id: str
    session_token_hash: str
    status: InterviewStatus
    mode: InterviewMode
    locale: str
    respondent_external_id: str
    respondent_display_name: str
    respondent_metadata: dict[str, Any] | None
    question_index: int
    follow_up_asked: bool
    respondent_messages: int
    interviewer_messages: int
    started_at: datetime
    completed_at: datetime | None = None
    reason: CompletionReason | None = None
    feedback: dict[str, Any] | None = None
    analysis_status: AnalysisStatus | None = None
    # Kept by the database on every change (ListInterviews' order).
    updated_at: datetime | None = None
    # The study questions' answers so far, as stored (domain.answers).
    answers: list[Any] | None = None
    # The interview link it was started from (None: an API key started it).
    link_id: str | None = None

    @property
    def respondent(self) -> Respondent:
        return Respondent(
            self.respondent_external_id, self.respondent_display_name, self.respondent_metadata
        )

    @property
    def position(self) -> GuidePosition:
        """Where the conversation stands in the study's guide."""
        return GuidePosition(self.question_index, self.follow_up_asked, self.status)

    @property
    def messages_count(self) -> int:
        return self.respondent_messages + self.interviewer_messages

    def stats(self, now: datetime) -> Stats:
        """Duration (up to its completion, else `now`) and message counts."""
        end = self.completed_at or now
        return Stats(
            duration_seconds=max(0, int((end - self.started_at).total_seconds())),
            respondent_messages=self.respondent_messages,
            interviewer_messages=self.interviewer_messages,
        )

    def summary(self) -> CompletionSummary:
        """What completing it answered (it must be completed)."""
        assert self.completed_at is not None and self.analysis_status is not None
        return CompletionSummary(
            interview_id=self.id,
            completed_at=self.completed_at,
            analysis_status=self.analysis_status,
            stats=self.stats(self.completed_at),
        )

    def ensure_open(self) -> None:
        """Raises InterviewCompleted once it is completed."""
        if self.status == InterviewStatus.COMPLETED:
            raise InterviewCompleted(self.id)

    def exchanged(self, after: GuidePosition, answers: list[Any] | None = None) -> Interview:
        """One respondent message and the interviewer's reply later, at `after`,
        with the answers so far (None: unchanged)."""
        self.ensure_open()
        return replace(
            self,
            answers=self.answers if answers is None else answers,
            respondent_messages=self.respondent_messages + 1,
            interviewer_messages=self.interviewer_messages + 1,
            question_index=after.question_index,
            follow_up_asked=after.follow_up_asked,
            status=after.status,
        )

    def completed(
        self, reason: CompletionReason | None, feedback: dict[str, Any] | None, at: datetime
    ) -> Interview:
        """Completed at `at` (kept to the API's whole seconds), analysis to
        come; raises AlreadyCompleted, with the first completion, if it was."""
        if self.status == InterviewStatus.COMPLETED:
            raise AlreadyCompleted(self.summary())
        return replace(
            self,
            status=InterviewStatus.COMPLETED,
            completed_at=whole_seconds(at),
            reason=reason or CompletionReason.MANUAL,
            feedback=feedback,
            analysis_status=AnalysisStatus.PROCESSING,
        )

    def ensure_completed(self) -> None:
        """Raises InterviewNotCompleted until it is completed (only a
        completed interview has an analysis to run)."""
        if self.completed_at is None:
            raise InterviewNotCompleted(self.id)

    def analysed(self) -> Interview:
        """Its analysis stored (by the pipeline, or an operator's reanalysis)."""
        self.ensure_completed()
        return replace(self, analysis_status=AnalysisStatus.COMPLETED)

    def analysis_failed(self) -> Interview:
        """Its analysis given up for good."""
        self.ensure_completed()
        return replace(self, analysis_status=AnalysisStatus.FAILED)
