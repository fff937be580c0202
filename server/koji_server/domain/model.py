"""Domain values: lifecycle enums, permissions and the read models services return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class InterviewStatus(StrEnum):
    ACTIVE = "active"
    CONCLUDED = "concluded"
    COMPLETED = "completed"


class AnalysisStatus(StrEnum):
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class CompletionReason(StrEnum):
    NATURAL = "natural"
    RESPONDENT_LEFT = "respondent_left"
    TIMEOUT = "timeout"
    MANUAL = "manual"


class Role(StrEnum):
    INTERVIEWER = "interviewer"
    RESPONDENT = "respondent"


class InterviewMode(StrEnum):
    TEXT = "text"
    VOICE = "voice"


class InsightType(StrEnum):
    """The kinds of finding the analysis reports (an insight's `type`, a
    study theme's `insight_counts`)."""

    PAIN_POINT = "pain_point"
    REQUEST = "request"
    PRAISE = "praise"

    @property
    def title(self) -> str:
        """For people: "Pain point"."""
        return self.value.replace("_", " ").capitalize()


class Permission(StrEnum):
    START = "interview:start"
    CHAT = "interview:chat"
    COMPLETE = "interview:complete"
    READ = "interview:read"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: one API key of one project."""

    key_id: str
    project_id: str
    permissions: frozenset[Permission]
    rate_limit_per_minute: int

    def allows(self, permission: Permission) -> bool:
        return permission in self.permissions


@dataclass(frozen=True, slots=True)
class Operator:
    """The local operator (koji-admin, the server's own reads): no project of
    its own (`project_id` is None: it reads any), every permission, and reads
    that never come from the API's caches."""

    project_id: None = None

    def allows(self, permission: Permission) -> bool:
        return True


OPERATOR = Operator()
# Whoever a use case acts for.
Caller = Principal | Operator


@dataclass(frozen=True, slots=True)
class Respondent:
    external_id: str = ""
    display_name: str = ""
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    duration_seconds: int
    respondent_messages: int
    interviewer_messages: int

    @property
    def total_messages(self) -> int:
        return self.respondent_messages + self.interviewer_messages


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str
    role: Role
    content: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StartedInterview:
    interview_id: str
    session_token: str
    status: InterviewStatus
    started_at: datetime
    initial_message: Message


@dataclass(frozen=True, slots=True)
class MessageExchange:
    message_id: str
    interviewer_response: Message
    interview_status: InterviewStatus
    messages_count: int


@dataclass(frozen=True, slots=True)
class ReplyPiece:
    """A piece of an interviewer message as it is produced."""

    message_id: str
    content: str


@dataclass(frozen=True, slots=True)
class CompletionSummary:
    interview_id: str
    completed_at: datetime
    analysis_status: AnalysisStatus
    stats: Stats
    status: InterviewStatus = InterviewStatus.COMPLETED


@dataclass(frozen=True, slots=True)
class Theme:
    label: str
    message_ids: tuple[str, ...]
    weight: float


@dataclass(frozen=True, slots=True)
class Insight:
    type: str
    summary: str
    message_id: str
    quote: str
    sentiment: float


@dataclass(frozen=True, slots=True)
class Quality:
    """The quality gate's verdict: a 1.0-5.0 score (one decimal), its
    sub-scores (each 1.0-5.0), the penalty subtracted, and the reason codes of
    whatever lowered it."""

    score: float
    depth: float
    coverage: float
    engagement: float
    penalty: float
    reasons: tuple[str, ...]

    @property
    def counts_toward_usage(self) -> bool:
        return self.score >= QUALITY_GATE


# Interviews scoring below this fail the quality gate and do not count toward usage.
QUALITY_GATE = 3.0


@dataclass(frozen=True, slots=True)
class Analysis:
    quality: Quality
    themes: tuple[Theme, ...] = ()
    insights: tuple[Insight, ...] = ()


@dataclass(frozen=True, slots=True)
class Usage:
    """Completed interviews of a project: counted toward usage (passed the
    quality gate), excluded (failed it), still being analysed, or failed."""

    project_id: str
    counted: int
    excluded: int
    processing: int
    failed: int


@dataclass(frozen=True, slots=True)
class InterviewDetail:
    interview_id: str
    study_id: str
    status: InterviewStatus
    mode: InterviewMode
    locale: str
    respondent: Respondent
    started_at: datetime
    stats: Stats
    transcript: tuple[Message, ...]
    completed_at: datetime | None = None
    reason: CompletionReason | None = None
    feedback: dict[str, Any] | None = None
    analysis_status: AnalysisStatus | None = None
    analysis: Analysis | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InterviewPage:
    """A page of ListInterviews: interviews without transcript or analysis."""

    interviews: tuple[InterviewDetail, ...]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class StudyQuote:
    interview_id: str
    message_id: str
    quote: str
    type: str


@dataclass(frozen=True, slots=True)
class StudyTheme:
    theme_id: str
    label: str
    interview_count: int
    share: float
    sentiment: float
    insight_counts: dict[str, int]
    quotes: tuple[StudyQuote, ...]


@dataclass(frozen=True, slots=True)
class StudyReport:
    """Themes across a study's interviews (updated_at is None until the
    first of them is analysed)."""

    study_id: str
    interviews_analyzed: int
    interviews_excluded: int
    updated_at: datetime | None
    themes: tuple[StudyTheme, ...]
