import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StudyTheme(_message.Message):
    __slots__ = ("theme_id", "label", "interview_count", "share", "sentiment", "insight_counts", "quotes")
    THEME_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    INTERVIEW_COUNT_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    INSIGHT_COUNTS_FIELD_NUMBER: _ClassVar[int]
    QUOTES_FIELD_NUMBER: _ClassVar[int]
    theme_id: str
    label: str
    interview_count: int
    share: float
    sentiment: float
    insight_counts: InsightCounts
    quotes: _containers.RepeatedCompositeFieldContainer[StudyQuote]
    def __init__(self, theme_id: _Optional[str] = ..., label: _Optional[str] = ..., interview_count: _Optional[int] = ..., share: _Optional[float] = ..., sentiment: _Optional[float] = ..., insight_counts: _Optional[_Union[InsightCounts, _Mapping]] = ..., quotes: _Optional[_Iterable[_Union[StudyQuote, _Mapping]]] = ...) -> None: ...

class InsightCounts(_message.Message):
    __slots__ = ("pain_point", "request", "praise")
    PAIN_POINT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    PRAISE_FIELD_NUMBER: _ClassVar[int]
    pain_point: int
    request: int
    praise: int
    def __init__(self, pain_point: _Optional[int] = ..., request: _Optional[int] = ..., praise: _Optional[int] = ...) -> None: ...

class StudyQuote(_message.Message):
    __slots__ = ("interview_id", "message_id", "quote", "type")
    INTERVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    interview_id: str
    message_id: str
    quote: str
    type: str
    def __init__(self, interview_id: _Optional[str] = ..., message_id: _Optional[str] = ..., quote: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class GetStudyReportRequest(_message.Message):
    __slots__ = ("study_id",)
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    def __init__(self, study_id: _Optional[str] = ...) -> None: ...

class GetStudyReportResponse(_message.Message):
    __slots__ = ("study_id", "interviews_analyzed", "interviews_excluded", "updated_at", "themes", "questions")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    INTERVIEWS_ANALYZED_FIELD_NUMBER: _ClassVar[int]
    INTERVIEWS_EXCLUDED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    THEMES_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    interviews_analyzed: int
    interviews_excluded: int
    updated_at: _timestamp_pb2.Timestamp
    themes: _containers.RepeatedCompositeFieldContainer[StudyTheme]
    questions: _containers.RepeatedCompositeFieldContainer[QuestionAggregate]
    def __init__(self, study_id: _Optional[str] = ..., interviews_analyzed: _Optional[int] = ..., interviews_excluded: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., themes: _Optional[_Iterable[_Union[StudyTheme, _Mapping]]] = ..., questions: _Optional[_Iterable[_Union[QuestionAggregate, _Mapping]]] = ...) -> None: ...

class Study(_message.Message):
    __slots__ = ("study_id", "title", "status", "brief", "questions", "interview_count", "completed_count", "created_at", "updated_at", "published_at")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Study.Status]
        draft: _ClassVar[Study.Status]
        active: _ClassVar[Study.Status]
        completed: _ClassVar[Study.Status]
        archived: _ClassVar[Study.Status]
    STATUS_UNSPECIFIED: Study.Status
    draft: Study.Status
    active: Study.Status
    completed: Study.Status
    archived: Study.Status
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BRIEF_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    INTERVIEW_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    title: str
    status: Study.Status
    brief: Brief
    questions: _containers.RepeatedCompositeFieldContainer[StudyQuestion]
    interview_count: int
    completed_count: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    published_at: _timestamp_pb2.Timestamp
    def __init__(self, study_id: _Optional[str] = ..., title: _Optional[str] = ..., status: _Optional[_Union[Study.Status, str]] = ..., brief: _Optional[_Union[Brief, _Mapping]] = ..., questions: _Optional[_Iterable[_Union[StudyQuestion, _Mapping]]] = ..., interview_count: _Optional[int] = ..., completed_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Brief(_message.Message):
    __slots__ = ("problem_statement", "decision_to_inform", "hypothesis", "target_participant", "methodology", "mode")
    class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MODE_UNSPECIFIED: _ClassVar[Brief.Mode]
        structured: _ClassVar[Brief.Mode]
        exploratory: _ClassVar[Brief.Mode]
        hybrid: _ClassVar[Brief.Mode]
    MODE_UNSPECIFIED: Brief.Mode
    structured: Brief.Mode
    exploratory: Brief.Mode
    hybrid: Brief.Mode
    PROBLEM_STATEMENT_FIELD_NUMBER: _ClassVar[int]
    DECISION_TO_INFORM_FIELD_NUMBER: _ClassVar[int]
    HYPOTHESIS_FIELD_NUMBER: _ClassVar[int]
    TARGET_PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    METHODOLOGY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    problem_statement: str
    decision_to_inform: str
    hypothesis: str
    target_participant: str
    methodology: str
    mode: Brief.Mode
    def __init__(self, problem_statement: _Optional[str] = ..., decision_to_inform: _Optional[str] = ..., hypothesis: _Optional[str] = ..., target_participant: _Optional[str] = ..., methodology: _Optional[str] = ..., mode: _Optional[_Union[Brief.Mode, str]] = ...) -> None: ...

class StudyQuestion(_message.Message):
    __slots__ = ("question_id", "text", "type", "required", "config", "probing")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[StudyQuestion.Type]
        open_ended: _ClassVar[StudyQuestion.Type]
        scale: _ClassVar[StudyQuestion.Type]
        single_choice: _ClassVar[StudyQuestion.Type]
        multiple_choice: _ClassVar[StudyQuestion.Type]
        ranking: _ClassVar[StudyQuestion.Type]
        yes_no: _ClassVar[StudyQuestion.Type]
    TYPE_UNSPECIFIED: StudyQuestion.Type
    open_ended: StudyQuestion.Type
    scale: StudyQuestion.Type
    single_choice: StudyQuestion.Type
    multiple_choice: StudyQuestion.Type
    ranking: StudyQuestion.Type
    yes_no: StudyQuestion.Type
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    PROBING_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    text: str
    type: StudyQuestion.Type
    required: bool
    config: QuestionConfig
    probing: Probing
    def __init__(self, question_id: _Optional[str] = ..., text: _Optional[str] = ..., type: _Optional[_Union[StudyQuestion.Type, str]] = ..., required: _Optional[bool] = ..., config: _Optional[_Union[QuestionConfig, _Mapping]] = ..., probing: _Optional[_Union[Probing, _Mapping]] = ...) -> None: ...

class QuestionConfig(_message.Message):
    __slots__ = ("scale_min", "scale_max", "scale_labels", "options")
    class ScaleLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: str
        def __init__(self, key: _Optional[int] = ..., value: _Optional[str] = ...) -> None: ...
    SCALE_MIN_FIELD_NUMBER: _ClassVar[int]
    SCALE_MAX_FIELD_NUMBER: _ClassVar[int]
    SCALE_LABELS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    scale_min: int
    scale_max: int
    scale_labels: _containers.ScalarMap[int, str]
    options: _containers.RepeatedCompositeFieldContainer[QuestionOption]
    def __init__(self, scale_min: _Optional[int] = ..., scale_max: _Optional[int] = ..., scale_labels: _Optional[_Mapping[int, str]] = ..., options: _Optional[_Iterable[_Union[QuestionOption, _Mapping]]] = ...) -> None: ...

class QuestionOption(_message.Message):
    __slots__ = ("option_id", "label")
    OPTION_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    option_id: str
    label: str
    def __init__(self, option_id: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class Probing(_message.Message):
    __slots__ = ("max_follow_ups", "instructions")
    MAX_FOLLOW_UPS_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    max_follow_ups: int
    instructions: str
    def __init__(self, max_follow_ups: _Optional[int] = ..., instructions: _Optional[str] = ...) -> None: ...

class QuestionAggregate(_message.Message):
    __slots__ = ("question_id", "text", "type", "responses", "skipped", "mean", "median", "distribution", "options")
    class DistributionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    text: str
    type: StudyQuestion.Type
    responses: int
    skipped: int
    mean: float
    median: float
    distribution: _containers.ScalarMap[int, int]
    options: _containers.RepeatedCompositeFieldContainer[OptionAggregate]
    def __init__(self, question_id: _Optional[str] = ..., text: _Optional[str] = ..., type: _Optional[_Union[StudyQuestion.Type, str]] = ..., responses: _Optional[int] = ..., skipped: _Optional[int] = ..., mean: _Optional[float] = ..., median: _Optional[float] = ..., distribution: _Optional[_Mapping[int, int]] = ..., options: _Optional[_Iterable[_Union[OptionAggregate, _Mapping]]] = ...) -> None: ...

class OptionAggregate(_message.Message):
    __slots__ = ("option_id", "label", "count", "share", "mean_rank")
    OPTION_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    MEAN_RANK_FIELD_NUMBER: _ClassVar[int]
    option_id: str
    label: str
    count: int
    share: float
    mean_rank: float
    def __init__(self, option_id: _Optional[str] = ..., label: _Optional[str] = ..., count: _Optional[int] = ..., share: _Optional[float] = ..., mean_rank: _Optional[float] = ...) -> None: ...

class CreateStudyRequest(_message.Message):
    __slots__ = ("study",)
    STUDY_FIELD_NUMBER: _ClassVar[int]
    study: Study
    def __init__(self, study: _Optional[_Union[Study, _Mapping]] = ...) -> None: ...

class GetStudyRequest(_message.Message):
    __slots__ = ("study_id",)
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    def __init__(self, study_id: _Optional[str] = ...) -> None: ...

class ListStudiesRequest(_message.Message):
    __slots__ = ("status", "page_size", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: Study.Status
    page_size: int
    page_token: str
    def __init__(self, status: _Optional[_Union[Study.Status, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStudiesResponse(_message.Message):
    __slots__ = ("studies", "next_page_token")
    STUDIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    studies: _containers.RepeatedCompositeFieldContainer[Study]
    next_page_token: str
    def __init__(self, studies: _Optional[_Iterable[_Union[Study, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateStudyRequest(_message.Message):
    __slots__ = ("study_id", "study", "update_mask")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    STUDY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    study: Study
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, study_id: _Optional[str] = ..., study: _Optional[_Union[Study, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class PublishStudyRequest(_message.Message):
    __slots__ = ("study_id",)
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    def __init__(self, study_id: _Optional[str] = ...) -> None: ...

class CloseStudyRequest(_message.Message):
    __slots__ = ("study_id",)
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    def __init__(self, study_id: _Optional[str] = ...) -> None: ...

class ArchiveStudyRequest(_message.Message):
    __slots__ = ("study_id",)
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    def __init__(self, study_id: _Optional[str] = ...) -> None: ...
