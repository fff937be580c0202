import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from koji.v1 import study_service_pb2 as _study_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InterviewStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTERVIEW_STATUS_UNSPECIFIED: _ClassVar[InterviewStatus]
    active: _ClassVar[InterviewStatus]
    concluded: _ClassVar[InterviewStatus]
    completed: _ClassVar[InterviewStatus]

class CompletionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPLETION_REASON_UNSPECIFIED: _ClassVar[CompletionReason]
    natural: _ClassVar[CompletionReason]
    respondent_left: _ClassVar[CompletionReason]
    timeout: _ClassVar[CompletionReason]
    manual: _ClassVar[CompletionReason]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    interviewer: _ClassVar[Role]
    respondent: _ClassVar[Role]

class InterviewMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTERVIEW_MODE_UNSPECIFIED: _ClassVar[InterviewMode]
    text: _ClassVar[InterviewMode]
    voice: _ClassVar[InterviewMode]
INTERVIEW_STATUS_UNSPECIFIED: InterviewStatus
active: InterviewStatus
concluded: InterviewStatus
completed: InterviewStatus
COMPLETION_REASON_UNSPECIFIED: CompletionReason
natural: CompletionReason
respondent_left: CompletionReason
timeout: CompletionReason
manual: CompletionReason
ROLE_UNSPECIFIED: Role
interviewer: Role
respondent: Role
INTERVIEW_MODE_UNSPECIFIED: InterviewMode
text: InterviewMode
voice: InterviewMode

class Respondent(_message.Message):
    __slots__ = ("external_id", "display_name", "metadata")
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    external_id: str
    display_name: str
    metadata: _struct_pb2.Struct
    def __init__(self, external_id: _Optional[str] = ..., display_name: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class TranscriptMessage(_message.Message):
    __slots__ = ("message_id", "role", "content", "created_at", "question")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    role: Role
    content: str
    created_at: _timestamp_pb2.Timestamp
    question: AskedQuestion
    def __init__(self, message_id: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., content: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., question: _Optional[_Union[AskedQuestion, _Mapping]] = ...) -> None: ...

class InterviewerMessage(_message.Message):
    __slots__ = ("message_id", "role", "content", "question")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    role: Role
    content: str
    question: AskedQuestion
    def __init__(self, message_id: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., content: _Optional[str] = ..., question: _Optional[_Union[AskedQuestion, _Mapping]] = ...) -> None: ...

class AskedQuestion(_message.Message):
    __slots__ = ("question_id", "type", "text", "config", "follow_up")
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_UP_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    type: _study_service_pb2.StudyQuestion.Type
    text: str
    config: _study_service_pb2.QuestionConfig
    follow_up: bool
    def __init__(self, question_id: _Optional[str] = ..., type: _Optional[_Union[_study_service_pb2.StudyQuestion.Type, str]] = ..., text: _Optional[str] = ..., config: _Optional[_Union[_study_service_pb2.QuestionConfig, _Mapping]] = ..., follow_up: _Optional[bool] = ...) -> None: ...

class WidgetAnswer(_message.Message):
    __slots__ = ("question_id", "scale_value", "option_ids", "yes_no")
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    SCALE_VALUE_FIELD_NUMBER: _ClassVar[int]
    OPTION_IDS_FIELD_NUMBER: _ClassVar[int]
    YES_NO_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    scale_value: int
    option_ids: _containers.RepeatedScalarFieldContainer[str]
    yes_no: bool
    def __init__(self, question_id: _Optional[str] = ..., scale_value: _Optional[int] = ..., option_ids: _Optional[_Iterable[str]] = ..., yes_no: _Optional[bool] = ...) -> None: ...

class QuestionAnswer(_message.Message):
    __slots__ = ("question_id", "type", "scale_value", "option_ids", "yes_no", "text", "message_id", "source", "skipped")
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SCALE_VALUE_FIELD_NUMBER: _ClassVar[int]
    OPTION_IDS_FIELD_NUMBER: _ClassVar[int]
    YES_NO_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    type: _study_service_pb2.StudyQuestion.Type
    scale_value: int
    option_ids: _containers.RepeatedScalarFieldContainer[str]
    yes_no: bool
    text: str
    message_id: str
    source: str
    skipped: bool
    def __init__(self, question_id: _Optional[str] = ..., type: _Optional[_Union[_study_service_pb2.StudyQuestion.Type, str]] = ..., scale_value: _Optional[int] = ..., option_ids: _Optional[_Iterable[str]] = ..., yes_no: _Optional[bool] = ..., text: _Optional[str] = ..., message_id: _Optional[str] = ..., source: _Optional[str] = ..., skipped: _Optional[bool] = ...) -> None: ...

class InterviewStats(_message.Message):
    __slots__ = ("duration_seconds", "respondent_messages", "interviewer_messages", "total_messages")
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RESPONDENT_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    INTERVIEWER_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    duration_seconds: int
    respondent_messages: int
    interviewer_messages: int
    total_messages: int
    def __init__(self, duration_seconds: _Optional[int] = ..., respondent_messages: _Optional[int] = ..., interviewer_messages: _Optional[int] = ..., total_messages: _Optional[int] = ...) -> None: ...

class Analysis(_message.Message):
    __slots__ = ("themes", "insights", "quality_score", "quality", "counts_toward_usage")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Analysis.Status]
        processing: _ClassVar[Analysis.Status]
        completed: _ClassVar[Analysis.Status]
        failed: _ClassVar[Analysis.Status]
    STATUS_UNSPECIFIED: Analysis.Status
    processing: Analysis.Status
    completed: Analysis.Status
    failed: Analysis.Status
    THEMES_FIELD_NUMBER: _ClassVar[int]
    INSIGHTS_FIELD_NUMBER: _ClassVar[int]
    QUALITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    COUNTS_TOWARD_USAGE_FIELD_NUMBER: _ClassVar[int]
    themes: _containers.RepeatedCompositeFieldContainer[Theme]
    insights: _containers.RepeatedCompositeFieldContainer[Insight]
    quality_score: float
    quality: QualityBreakdown
    counts_toward_usage: bool
    def __init__(self, themes: _Optional[_Iterable[_Union[Theme, _Mapping]]] = ..., insights: _Optional[_Iterable[_Union[Insight, _Mapping]]] = ..., quality_score: _Optional[float] = ..., quality: _Optional[_Union[QualityBreakdown, _Mapping]] = ..., counts_toward_usage: _Optional[bool] = ...) -> None: ...

class QualityBreakdown(_message.Message):
    __slots__ = ("depth", "coverage", "engagement", "penalty", "reasons", "structured")
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    ENGAGEMENT_FIELD_NUMBER: _ClassVar[int]
    PENALTY_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    STRUCTURED_FIELD_NUMBER: _ClassVar[int]
    depth: float
    coverage: float
    engagement: float
    penalty: float
    reasons: _containers.RepeatedScalarFieldContainer[str]
    structured: float
    def __init__(self, depth: _Optional[float] = ..., coverage: _Optional[float] = ..., engagement: _Optional[float] = ..., penalty: _Optional[float] = ..., reasons: _Optional[_Iterable[str]] = ..., structured: _Optional[float] = ...) -> None: ...

class Theme(_message.Message):
    __slots__ = ("label", "message_ids", "weight")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    label: str
    message_ids: _containers.RepeatedScalarFieldContainer[str]
    weight: float
    def __init__(self, label: _Optional[str] = ..., message_ids: _Optional[_Iterable[str]] = ..., weight: _Optional[float] = ...) -> None: ...

class Insight(_message.Message):
    __slots__ = ("type", "summary", "message_id", "quote", "sentiment")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTE_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    type: str
    summary: str
    message_id: str
    quote: str
    sentiment: float
    def __init__(self, type: _Optional[str] = ..., summary: _Optional[str] = ..., message_id: _Optional[str] = ..., quote: _Optional[str] = ..., sentiment: _Optional[float] = ...) -> None: ...

class StartInterviewRequest(_message.Message):
    __slots__ = ("study_id", "respondent", "mode", "locale")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONDENT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    respondent: Respondent
    mode: InterviewMode
    locale: str
    def __init__(self, study_id: _Optional[str] = ..., respondent: _Optional[_Union[Respondent, _Mapping]] = ..., mode: _Optional[_Union[InterviewMode, str]] = ..., locale: _Optional[str] = ...) -> None: ...

class StartInterviewResponse(_message.Message):
    __slots__ = ("interview_id", "session_token", "status", "started_at", "initial_message")
    INTERVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    INITIAL_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    interview_id: str
    session_token: str
    status: InterviewStatus
    started_at: _timestamp_pb2.Timestamp
    initial_message: InterviewerMessage
    def __init__(self, interview_id: _Optional[str] = ..., session_token: _Optional[str] = ..., status: _Optional[_Union[InterviewStatus, str]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., initial_message: _Optional[_Union[InterviewerMessage, _Mapping]] = ...) -> None: ...

class SendMessageRequest(_message.Message):
    __slots__ = ("interview_id", "content", "answer")
    INTERVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    interview_id: str
    content: str
    answer: WidgetAnswer
    def __init__(self, interview_id: _Optional[str] = ..., content: _Optional[str] = ..., answer: _Optional[_Union[WidgetAnswer, _Mapping]] = ...) -> None: ...

class SendMessageResponse(_message.Message):
    __slots__ = ("message_id", "interviewer_response", "interview_status", "messages_count")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    INTERVIEWER_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    INTERVIEW_STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_COUNT_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    interviewer_response: InterviewerMessage
    interview_status: InterviewStatus
    messages_count: int
    def __init__(self, message_id: _Optional[str] = ..., interviewer_response: _Optional[_Union[InterviewerMessage, _Mapping]] = ..., interview_status: _Optional[_Union[InterviewStatus, str]] = ..., messages_count: _Optional[int] = ...) -> None: ...

class CompleteInterviewRequest(_message.Message):
    __slots__ = ("interview_id", "reason", "feedback")
    INTERVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    interview_id: str
    reason: CompletionReason
    feedback: _struct_pb2.Struct
    def __init__(self, interview_id: _Optional[str] = ..., reason: _Optional[_Union[CompletionReason, str]] = ..., feedback: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class CompleteInterviewResponse(_message.Message):
    __slots__ = ("interview_id", "status", "completed_at", "analysis_status", "stats")
    INTERVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_STATUS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    interview_id: str
    status: InterviewStatus
    completed_at: _timestamp_pb2.Timestamp
    analysis_status: Analysis.Status
    stats: InterviewStats
    def __init__(self, interview_id: _Optional[str] = ..., status: _Optional[_Union[InterviewStatus, str]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., analysis_status: _Optional[_Union[Analysis.Status, str]] = ..., stats: _Optional[_Union[InterviewStats, _Mapping]] = ...) -> None: ...

class GetInterviewRequest(_message.Message):
    __slots__ = ("interview_id",)
    INTERVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    interview_id: str
    def __init__(self, interview_id: _Optional[str] = ...) -> None: ...

class GetInterviewResponse(_message.Message):
    __slots__ = ("interview_id", "study_id", "status", "analysis_status", "reason", "feedback", "started_at", "completed_at", "transcript", "analysis", "stats", "respondent", "mode", "locale", "answers")
    INTERVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    RESPONDENT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    interview_id: str
    study_id: str
    status: InterviewStatus
    analysis_status: Analysis.Status
    reason: CompletionReason
    feedback: _struct_pb2.Struct
    started_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    transcript: _containers.RepeatedCompositeFieldContainer[TranscriptMessage]
    analysis: Analysis
    stats: InterviewStats
    respondent: Respondent
    mode: InterviewMode
    locale: str
    answers: _containers.RepeatedCompositeFieldContainer[QuestionAnswer]
    def __init__(self, interview_id: _Optional[str] = ..., study_id: _Optional[str] = ..., status: _Optional[_Union[InterviewStatus, str]] = ..., analysis_status: _Optional[_Union[Analysis.Status, str]] = ..., reason: _Optional[_Union[CompletionReason, str]] = ..., feedback: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., transcript: _Optional[_Iterable[_Union[TranscriptMessage, _Mapping]]] = ..., analysis: _Optional[_Union[Analysis, _Mapping]] = ..., stats: _Optional[_Union[InterviewStats, _Mapping]] = ..., respondent: _Optional[_Union[Respondent, _Mapping]] = ..., mode: _Optional[_Union[InterviewMode, str]] = ..., locale: _Optional[str] = ..., answers: _Optional[_Iterable[_Union[QuestionAnswer, _Mapping]]] = ...) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetUsageResponse(_message.Message):
    __slots__ = ("project_id", "counted_interviews", "excluded_interviews", "processing_interviews", "failed_interviews")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    COUNTED_INTERVIEWS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_INTERVIEWS_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_INTERVIEWS_FIELD_NUMBER: _ClassVar[int]
    FAILED_INTERVIEWS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    counted_interviews: int
    excluded_interviews: int
    processing_interviews: int
    failed_interviews: int
    def __init__(self, project_id: _Optional[str] = ..., counted_interviews: _Optional[int] = ..., excluded_interviews: _Optional[int] = ..., processing_interviews: _Optional[int] = ..., failed_interviews: _Optional[int] = ...) -> None: ...

class InterviewSummary(_message.Message):
    __slots__ = ("interview_id", "study_id", "status", "analysis_status", "reason", "started_at", "completed_at", "updated_at", "stats", "respondent", "mode", "locale")
    INTERVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    RESPONDENT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    interview_id: str
    study_id: str
    status: InterviewStatus
    analysis_status: Analysis.Status
    reason: CompletionReason
    started_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    stats: InterviewStats
    respondent: Respondent
    mode: InterviewMode
    locale: str
    def __init__(self, interview_id: _Optional[str] = ..., study_id: _Optional[str] = ..., status: _Optional[_Union[InterviewStatus, str]] = ..., analysis_status: _Optional[_Union[Analysis.Status, str]] = ..., reason: _Optional[_Union[CompletionReason, str]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stats: _Optional[_Union[InterviewStats, _Mapping]] = ..., respondent: _Optional[_Union[Respondent, _Mapping]] = ..., mode: _Optional[_Union[InterviewMode, str]] = ..., locale: _Optional[str] = ...) -> None: ...

class ListInterviewsRequest(_message.Message):
    __slots__ = ("study_id", "status", "updated_after", "page_size", "page_token")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    status: InterviewStatus
    updated_after: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, study_id: _Optional[str] = ..., status: _Optional[_Union[InterviewStatus, str]] = ..., updated_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListInterviewsResponse(_message.Message):
    __slots__ = ("interviews", "next_page_token")
    INTERVIEWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    interviews: _containers.RepeatedCompositeFieldContainer[InterviewSummary]
    next_page_token: str
    def __init__(self, interviews: _Optional[_Iterable[_Union[InterviewSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StreamMessageRequest(_message.Message):
    __slots__ = ("interview_id", "content", "answer")
    INTERVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    interview_id: str
    content: str
    answer: WidgetAnswer
    def __init__(self, interview_id: _Optional[str] = ..., content: _Optional[str] = ..., answer: _Optional[_Union[WidgetAnswer, _Mapping]] = ...) -> None: ...

class StreamMessageResponse(_message.Message):
    __slots__ = ("delta", "reply", "error")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    delta: ReplyDelta
    reply: SendMessageResponse
    error: StreamError
    def __init__(self, delta: _Optional[_Union[ReplyDelta, _Mapping]] = ..., reply: _Optional[_Union[SendMessageResponse, _Mapping]] = ..., error: _Optional[_Union[StreamError, _Mapping]] = ...) -> None: ...

class ReplyDelta(_message.Message):
    __slots__ = ("message_id", "content")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    content: str
    def __init__(self, message_id: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class StreamError(_message.Message):
    __slots__ = ("error", "message", "request_id")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    error: str
    message: str
    request_id: str
    def __init__(self, error: _Optional[str] = ..., message: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class WatchInterviewRequest(_message.Message):
    __slots__ = ("interview_id",)
    INTERVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    interview_id: str
    def __init__(self, interview_id: _Optional[str] = ...) -> None: ...

class WatchInterviewResponse(_message.Message):
    __slots__ = ("event_time", "state", "message_added", "completed", "analysis_status", "quality_scored", "analysis_ready", "heartbeat", "error")
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ADDED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_STATUS_FIELD_NUMBER: _ClassVar[int]
    QUALITY_SCORED_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_READY_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    event_time: _timestamp_pb2.Timestamp
    state: InterviewState
    message_added: MessageAdded
    completed: CompleteInterviewResponse
    analysis_status: AnalysisStatusChange
    quality_scored: QualityScored
    analysis_ready: Analysis
    heartbeat: Heartbeat
    error: StreamError
    def __init__(self, event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[InterviewState, _Mapping]] = ..., message_added: _Optional[_Union[MessageAdded, _Mapping]] = ..., completed: _Optional[_Union[CompleteInterviewResponse, _Mapping]] = ..., analysis_status: _Optional[_Union[AnalysisStatusChange, _Mapping]] = ..., quality_scored: _Optional[_Union[QualityScored, _Mapping]] = ..., analysis_ready: _Optional[_Union[Analysis, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., error: _Optional[_Union[StreamError, _Mapping]] = ...) -> None: ...

class InterviewState(_message.Message):
    __slots__ = ("interview_id", "status", "analysis_status", "stats")
    INTERVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_STATUS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    interview_id: str
    status: InterviewStatus
    analysis_status: Analysis.Status
    stats: InterviewStats
    def __init__(self, interview_id: _Optional[str] = ..., status: _Optional[_Union[InterviewStatus, str]] = ..., analysis_status: _Optional[_Union[Analysis.Status, str]] = ..., stats: _Optional[_Union[InterviewStats, _Mapping]] = ...) -> None: ...

class MessageAdded(_message.Message):
    __slots__ = ("message_id", "role", "messages_count", "interview_status")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_COUNT_FIELD_NUMBER: _ClassVar[int]
    INTERVIEW_STATUS_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    role: Role
    messages_count: int
    interview_status: InterviewStatus
    def __init__(self, message_id: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., messages_count: _Optional[int] = ..., interview_status: _Optional[_Union[InterviewStatus, str]] = ...) -> None: ...

class AnalysisStatusChange(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: Analysis.Status
    def __init__(self, status: _Optional[_Union[Analysis.Status, str]] = ...) -> None: ...

class QualityScored(_message.Message):
    __slots__ = ("quality_score", "counts_toward_usage")
    QUALITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_TOWARD_USAGE_FIELD_NUMBER: _ClassVar[int]
    quality_score: float
    counts_toward_usage: bool
    def __init__(self, quality_score: _Optional[float] = ..., counts_toward_usage: _Optional[bool] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
