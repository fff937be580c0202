"""Domain values: lifecycle enums, permissions and the read models services return."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    STUDY_READ = "study:read"
    STUDY_WRITE = "study:write"


class StudyStatus(StrEnum):
    """draft -> active (published) -> completed (closed); any -> archived."""

    DRAFT = "draft"
    ACTIVE = "active"
    COMPLETED = "completed"
    ARCHIVED = "archived"


class BriefMode(StrEnum):
    """How a study weighs its key questions against open conversation."""

    STRUCTURED = "structured"
    EXPLORATORY = "exploratory"
    HYBRID = "hybrid"


class QuestionType(StrEnum):
    """The six kinds of study question: the one table of what each takes
    (a scale, options, nothing) and whether its answer is structured."""

    OPEN_ENDED = "open_ended"
    SCALE = "scale"
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    RANKING = "ranking"
    YES_NO = "yes_no"

    @property
    def takes_scale(self) -> bool:
        return self is QuestionType.SCALE

    @property
    def takes_options(self) -> bool:
        return self in _OPTION_TYPES

    @property
    def structured(self) -> bool:
        """Its answer is a value (a number, options, yes or no), not words."""
        return self is not QuestionType.OPEN_ENDED


_OPTION_TYPES = frozenset(
    {QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE, QuestionType.RANKING}
)


class AnswerSource(StrEnum):
    WIDGET = "widget"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: one API key of one project."""

    key_id: str
    project_id: str
    permissions: frozenset[Permission]
    rate_limit_per_minute: int
    # A link-started interview's session (domain.auth.Authenticator.session):
    # the one interview it acts on; None for an API key.
    interview_id: str | None = None

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
class AskedQuestion:
    """The study question an interviewer message serves; `follow_up`: not
    its first asking (a probe, or a structured question asked again)."""

    question: StudyQuestion
    follow_up: bool = False


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str
    role: Role
    content: str
    created_at: datetime
    question: AskedQuestion | None = None


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
    # Share of structured questions answered, 1.0-5.0; None: the study has none.
    structured: float | None = None

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
    answers: tuple[AnswerDetail, ...] = ()


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
    questions: tuple[QuestionAggregate, ...] = ()


@dataclass(frozen=True, slots=True)
class QuestionOption:
    option_id: str
    label: str


@dataclass(frozen=True, slots=True)
class QuestionConfig:
    """A scale (its bounds and labelled points) or options; empty for the
    types that take neither."""

    scale_min: int | None = None
    scale_max: int | None = None
    scale_labels: dict[int, str] = field(default_factory=dict)
    options: tuple[QuestionOption, ...] = ()


@dataclass(frozen=True, slots=True)
class Probing:
    max_follow_ups: int = 1
    instructions: str = ""


@dataclass(frozen=True, slots=True)
class StudyQuestion:
    question_id: str
    text: str
    type: QuestionType = QuestionType.OPEN_ENDED
    required: bool = True
    config: QuestionConfig = field(default_factory=QuestionConfig)
    probing: Probing = field(default_factory=Probing)

    def option_label(self, option_id: str) -> str:
        return next((o.label for o in self.config.options if o.option_id == option_id), "")


@dataclass(frozen=True, slots=True)
class Brief:
    problem_statement: str = ""
    decision_to_inform: str = ""
    hypothesis: str = ""
    target_participant: str = ""
    methodology: str = ""
    mode: BriefMode = BriefMode.HYBRID


@dataclass(frozen=True, slots=True)
class Study:
    study_id: str
    project_id: str
    title: str
    status: StudyStatus
    brief: Brief
    questions: tuple[StudyQuestion, ...]
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    interview_count: int = 0
    completed_count: int = 0

    def question(self, question_id: str) -> StudyQuestion | None:
        return next((q for q in self.questions if q.question_id == question_id), None)


@dataclass(frozen=True, slots=True)
class StudyPage:
    studies: tuple[Study, ...]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class GivenAnswer:
    """A structured answer as a widget gives it (not yet checked against
    its question)."""

    question_id: str
    scale_value: int | None = None
    option_ids: tuple[str, ...] = ()
    yes_no: bool | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A question's answer in an interview, as recorded: its value (for the
    structured types), the respondent messages that gave it, how, or that
    it was skipped."""

    question_id: str
    type: QuestionType
    scale_value: int | None = None
    option_ids: tuple[str, ...] = ()
    yes_no: bool | None = None
    message_ids: tuple[str, ...] = ()
    source: AnswerSource | None = None
    skipped: bool = False


@dataclass(frozen=True, slots=True)
class AnswerDetail:
    """An answer as GetInterview shows it: with the respondent's words."""

    answer: Answer
    text: str


@dataclass(frozen=True, slots=True)
class OptionAggregate:
    option_id: str
    label: str
    count: int
    share: float
    mean_rank: float | None = None


@dataclass(frozen=True, slots=True)
class QuestionAggregate:
    question_id: str
    text: str
    type: QuestionType
    responses: int
    skipped: int
    mean: float | None = None
    median: float | None = None
    distribution: dict[int, int] = field(default_factory=dict)
    options: tuple[OptionAggregate, ...] = ()
