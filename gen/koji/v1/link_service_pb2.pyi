import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from koji.v1 import interview_service_pb2 as _interview_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Link(_message.Message):
    __slots__ = ("link_id", "url", "expires_at", "max_interviews", "interview_count", "created_at", "revoked_at")
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    MAX_INTERVIEWS_FIELD_NUMBER: _ClassVar[int]
    INTERVIEW_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    link_id: str
    url: str
    expires_at: _timestamp_pb2.Timestamp
    max_interviews: int
    interview_count: int
    created_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    def __init__(self, link_id: _Optional[str] = ..., url: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_interviews: _Optional[int] = ..., interview_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateLinkRequest(_message.Message):
    __slots__ = ("study_id", "expires_at", "max_interviews")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    MAX_INTERVIEWS_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    expires_at: _timestamp_pb2.Timestamp
    max_interviews: int
    def __init__(self, study_id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_interviews: _Optional[int] = ...) -> None: ...

class ListLinksRequest(_message.Message):
    __slots__ = ("study_id",)
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    def __init__(self, study_id: _Optional[str] = ...) -> None: ...

class ListLinksResponse(_message.Message):
    __slots__ = ("links",)
    LINKS_FIELD_NUMBER: _ClassVar[int]
    links: _containers.RepeatedCompositeFieldContainer[Link]
    def __init__(self, links: _Optional[_Iterable[_Union[Link, _Mapping]]] = ...) -> None: ...

class RevokeLinkRequest(_message.Message):
    __slots__ = ("study_id", "link_id")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    link_id: str
    def __init__(self, study_id: _Optional[str] = ..., link_id: _Optional[str] = ...) -> None: ...

class StartLinkInterviewRequest(_message.Message):
    __slots__ = ("token", "respondent", "locale", "rid")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESPONDENT_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    RID_FIELD_NUMBER: _ClassVar[int]
    token: str
    respondent: _interview_service_pb2.Respondent
    locale: str
    rid: str
    def __init__(self, token: _Optional[str] = ..., respondent: _Optional[_Union[_interview_service_pb2.Respondent, _Mapping]] = ..., locale: _Optional[str] = ..., rid: _Optional[str] = ...) -> None: ...

class GetLinkPageRequest(_message.Message):
    __slots__ = ("token", "rid")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    RID_FIELD_NUMBER: _ClassVar[int]
    token: str
    rid: str
    def __init__(self, token: _Optional[str] = ..., rid: _Optional[str] = ...) -> None: ...

class StartLinkInterviewResponse(_message.Message):
    __slots__ = ("interview_id", "session_token", "status", "started_at", "initial_message")
    INTERVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    INITIAL_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    interview_id: str
    session_token: str
    status: _interview_service_pb2.InterviewStatus
    started_at: _timestamp_pb2.Timestamp
    initial_message: _interview_service_pb2.InterviewerMessage
    def __init__(self, interview_id: _Optional[str] = ..., session_token: _Optional[str] = ..., status: _Optional[_Union[_interview_service_pb2.InterviewStatus, str]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., initial_message: _Optional[_Union[_interview_service_pb2.InterviewerMessage, _Mapping]] = ...) -> None: ...
