"""The domain's ports: what its use cases need of storage, and the records
that cross between them.

Storage implements these (`storage.repository`, `storage.unit_of_work`) and
imports the domain; the domain never imports storage. The protocols name only
what the domain's use cases call: the pipeline, koji-admin and the webhooks,
outside the domain, use storage's concrete unit of work directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from koji_server.domain.interview import Interview
from koji_server.domain.model import Analysis, AskedQuestion, Message, Role

if TYPE_CHECKING:
    from koji_server.domain.links import Link

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class InterviewFilter:
    """Which of a project's interviews ListInterviews reads."""

    project_id: str
    study_id: str
    status: str | None = None
    updated_after: datetime | None = None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: str
    interview_id: str
    seq: int
    role: str
    content: str
    created_at: datetime
    # Interviewer messages: the question served, and whether as a follow-up.
    question_id: str | None = None
    follow_up: bool | None = None

    def message(self, asked: AskedQuestion | None = None) -> Message:
        """As the API shows it (with the question it serves, if given)."""
        return Message(self.id, Role(self.role), self.content, self.created_at, asked)


@dataclass(frozen=True, slots=True)
class AnalysedInterview:
    """What a study's synthesis needs of one analysed interview."""

    interview_id: str
    passed: bool
    insights: list[Any]


@dataclass(frozen=True, slots=True)
class StudyReportRecord:
    report: dict[str, Any]
    updated_at: datetime


class KeyRecord(Protocol):
    """A stored API key, as authentication reads it."""

    @property
    def id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def key_hash(self) -> str: ...
    @property
    def permissions(self) -> str: ...
    @property
    def rate_limit_per_minute(self) -> int: ...
    @property
    def revoked_at(self) -> datetime | None: ...


class StudyRecord(Protocol):
    """A stored study, as the interview use cases read it."""

    @property
    def id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def questions(self) -> Sequence[Any]: ...
    @property
    def status(self) -> str: ...
    @property
    def brief(self) -> dict[str, Any] | None: ...


class Projects(Protocol):
    def get(self, project_id: str) -> object | None: ...


class Keys(Protocol):
    def by_hash(self, key_hash: str) -> KeyRecord | None: ...


class Studies(Protocol):
    def get(self, study_id: str, project_id: str | None = None) -> StudyRecord | None: ...


class StudyReports(Protocol):
    def report(self, study_id: str) -> StudyReportRecord | None: ...


class Links(Protocol):
    """Interview links (domain.links.Link), written only through add and save."""

    def add(self, link: Link) -> None: ...
    def get(self, link_id: str, lock: bool = False) -> Link | None: ...
    def by_token_hash(self, token_hash: str, lock: bool = False) -> Link | None: ...
    def of_study(self, study_id: str) -> list[Link]: ...
    def save(self, link: Link) -> None: ...


class Interviews(Protocol):
    """The interview aggregate: the entity, its messages and its analysis."""

    def record(self, interview_id: str, project_id: str | None = None) -> Interview | None: ...
    def create(self, interview: Interview) -> None: ...
    def save(self, interview: Interview, loaded: Interview) -> None: ...
    def append(self, messages: Sequence[MessageRecord]) -> None: ...
    def messages(self, interview_id: str) -> list[MessageRecord]: ...
    def respondent_bytes(self, interview_id: str) -> int: ...
    def page(
        self, where: InterviewFilter, after: tuple[datetime, str] | None, limit: int
    ) -> list[Interview]: ...
    def analysis(self, interview_id: str) -> Analysis | None: ...
    def usage(self, project_id: str) -> dict[str, int]: ...


class Jobs(Protocol):
    def enqueue(self, job_id: str, kind: str, interview_id: str, run_after: datetime) -> None: ...


class UnitOfWork(Protocol):
    """The repositories over one transaction."""

    @property
    def projects(self) -> Projects: ...
    @property
    def keys(self) -> Keys: ...
    @property
    def studies(self) -> Studies: ...
    @property
    def study_reports(self) -> StudyReports: ...
    @property
    def interviews(self) -> Interviews: ...
    @property
    def links(self) -> Links: ...
    @property
    def jobs(self) -> Jobs: ...


class UnitOfWorkFactory(Protocol):
    """Runs a function of a unit of work in a write transaction (committed
    when it returns, rolled back when it raises; StorageUnavailable when the
    database cannot be written) or in a read-only snapshot."""

    def write(self, work: Callable[[UnitOfWork], T]) -> Awaitable[T]: ...
    def read(self, work: Callable[[UnitOfWork], T]) -> Awaitable[T]: ...
