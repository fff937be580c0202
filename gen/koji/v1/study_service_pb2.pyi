import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
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
    __slots__ = ("study_id", "interviews_analyzed", "interviews_excluded", "updated_at", "themes")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    INTERVIEWS_ANALYZED_FIELD_NUMBER: _ClassVar[int]
    INTERVIEWS_EXCLUDED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    THEMES_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    interviews_analyzed: int
    interviews_excluded: int
    updated_at: _timestamp_pb2.Timestamp
    themes: _containers.RepeatedCompositeFieldContainer[StudyTheme]
    def __init__(self, study_id: _Optional[str] = ..., interviews_analyzed: _Optional[int] = ..., interviews_excluded: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., themes: _Optional[_Iterable[_Union[StudyTheme, _Mapping]]] = ...) -> None: ...
