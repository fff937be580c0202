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

class SearchInterviewsRequest(_message.Message):
    __slots__ = ("q", "study_id", "type", "theme_id", "sentiment", "min_quality", "after", "before", "metadata", "include_excluded", "page_size", "page_token")
    Q_FIELD_NUMBER: _ClassVar[int]
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    THEME_ID_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    MIN_QUALITY_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EXCLUDED_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    q: str
    study_id: str
    type: str
    theme_id: str
    sentiment: str
    min_quality: float
    after: _timestamp_pb2.Timestamp
    before: _timestamp_pb2.Timestamp
    metadata: _containers.RepeatedScalarFieldContainer[str]
    include_excluded: bool
    page_size: int
    page_token: str
    def __init__(self, q: _Optional[str] = ..., study_id: _Optional[str] = ..., type: _Optional[str] = ..., theme_id: _Optional[str] = ..., sentiment: _Optional[str] = ..., min_quality: _Optional[float] = ..., after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Iterable[str]] = ..., include_excluded: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchResult(_message.Message):
    __slots__ = ("interview_id", "message_id", "study_id", "quote", "highlight", "score", "type", "theme_id", "theme_label", "sentiment", "quality_score", "created_at")
    INTERVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTE_FIELD_NUMBER: _ClassVar[int]
    HIGHLIGHT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    THEME_ID_FIELD_NUMBER: _ClassVar[int]
    THEME_LABEL_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    interview_id: str
    message_id: str
    study_id: str
    quote: str
    highlight: str
    score: float
    type: str
    theme_id: str
    theme_label: str
    sentiment: float
    quality_score: float
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, interview_id: _Optional[str] = ..., message_id: _Optional[str] = ..., study_id: _Optional[str] = ..., quote: _Optional[str] = ..., highlight: _Optional[str] = ..., score: _Optional[float] = ..., type: _Optional[str] = ..., theme_id: _Optional[str] = ..., theme_label: _Optional[str] = ..., sentiment: _Optional[float] = ..., quality_score: _Optional[float] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SearchInterviewsResponse(_message.Message):
    __slots__ = ("results", "next_page_token")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SearchResult]
    next_page_token: str
    def __init__(self, results: _Optional[_Iterable[_Union[SearchResult, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
