"""The interview's queries: one interview, a page of a study's interviews, a
project's usage. Each runs in one read unit of work; finished interviews are
served from memory."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from koji_server.domain import answers, validation
from koji_server.domain.auth import require
from koji_server.domain.changes import ChangeFeed
from koji_server.domain.errors import NotFound
from koji_server.domain.interview import Interview
from koji_server.domain.model import (
    Analysis,
    AnalysisStatus,
    AskedQuestion,
    Caller,
    InterviewDetail,
    InterviewPage,
    InterviewStatus,
    Operator,
    Permission,
    Principal,
    StudyQuestion,
    Usage,
)
from koji_server.domain.page_tokens import PageTokens, Position
from koji_server.domain.ports import InterviewFilter, MessageRecord, UnitOfWork, UnitOfWorkFactory
from koji_server.domain.study_design import questions_from_stored
from koji_server.support.cache import TtlCache
from koji_server.support.clock import Clock, Ticks, precise_now, whole_seconds
from koji_server.support.singleflight import SingleFlight

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class InterviewQuery:
    """ListInterviews' parameters."""

    study_id: str
    status: InterviewStatus | None = None
    updated_after: datetime | None = None
    page_size: int = 0
    page_token: str = ""


class InterviewQueries:
    """Read interviews for an API key's project, or for the operator (any
    project, never from the cache)."""

    def __init__(
        self,
        units: UnitOfWorkFactory,
        changes: ChangeFeed,
        page_tokens: PageTokens | None = None,
        clock: Clock = precise_now,
        final_seconds: float = 60.0,
        final_entries: int = 10_000,
        ticks: Ticks = time.monotonic,
    ) -> None:
        self._units = units
        self._clock = clock
        # A secret of this process unless configured (several processes must
        # share one to honour each other's tokens).
        self._page_tokens = page_tokens or PageTokens(secrets.token_bytes(32))
        # Completed, analysed interviews no longer change (but for an operator's
        # reanalyze, seen within final_seconds)...
        self._final: TtlCache[str, tuple[str, InterviewDetail]] = TtlCache(
            final_seconds, final_entries, ticks
        )
        # ...and a reanalysis announced on the feed (by any process) drops it.
        changes.observe(self._final.discard)
        self._detail_loads: SingleFlight[str, tuple[str, InterviewDetail]] = SingleFlight()

    async def usage(self, caller: Caller, project_id: str | None = None) -> Usage:
        """Completed interviews of the caller's project (or, for the operator,
        of project_id) by quality-gate outcome."""
        require(caller, Permission.READ)
        operator = isinstance(caller, Operator)
        scope = project_id if operator else caller.project_id
        assert scope is not None

        def count(uow: UnitOfWork) -> dict[str, int]:
            if operator and uow.projects.get(scope) is None:
                raise NotFound("project", scope)
            return uow.interviews.usage(scope)

        return Usage(project_id=scope, **await self._units.read(count))

    async def list_interviews(self, caller: Caller, query: InterviewQuery) -> InterviewPage:
        """A page of a study's interviews by (updated_at, id), without their
        transcripts."""
        require(caller, Permission.READ)
        study_id = validation.uuid_field("study_id", query.study_id)
        if query.page_size < 0:
            raise validation.invalid("page_size", validation.NEGATIVE)
        size = min(query.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)

        def read(uow: UnitOfWork) -> InterviewPage:
            study = uow.studies.get(study_id, caller.project_id)
            if study is None:
                raise NotFound("study", study_id)
            where = InterviewFilter(
                study.project_id,
                study_id,
                query.status.value if query.status is not None else None,
                query.updated_after,
            )
            scope = "|".join(
                [where.project_id, study_id, where.status or "", _iso(where.updated_after)]
            )
            after = None
            if query.page_token:
                position = self._page_tokens.read(scope, query.page_token)
                after = (position.updated_at, position.interview_id)
            rows = uow.interviews.page(where, after, size + 1)
            now = self._now()
            listed = tuple(
                replace(detail(row, (), None, now), updated_at=row.updated_at)  # type: ignore[arg-type]
                for row in rows[:size]
            )
            token = ""
            if len(rows) > size:
                last = rows[size - 1]
                assert last.updated_at is not None
                token = self._page_tokens.issue(scope, Position(last.updated_at, last.id))
            return InterviewPage(listed, token)

        return await self._units.read(read)

    async def get_interview(self, caller: Caller, interview_id: str) -> InterviewDetail:
        """Read an interview of the caller's project (the operator's: any)."""
        require(caller, Permission.READ)
        interview_id = validation.uuid_field("interview_id", interview_id)
        found = self._final.get(interview_id) if isinstance(caller, Principal) else None
        if found is None:
            found = await self._load_detail(interview_id)
        owner, read = found
        if caller.project_id is not None and owner != caller.project_id:
            raise NotFound("interview", interview_id)
        if isinstance(caller, Principal) and caller.interview_id not in (None, interview_id):
            raise NotFound("interview", interview_id)  # a link's session reads its own only
        return read

    async def _load_detail(self, interview_id: str) -> tuple[str, InterviewDetail]:
        """(owner project, detail) from the database; concurrent reads of one
        interview share a single load."""

        def load(uow: UnitOfWork) -> tuple[str, InterviewDetail]:
            interview = uow.interviews.record(interview_id)
            if interview is None:
                raise NotFound("interview", interview_id)
            transcript = uow.interviews.messages(interview_id)
            analysis = uow.interviews.analysis(interview_id)
            questions = _questions(uow, interview.study_id)
            found = detail(interview, transcript, analysis, self._now(), questions)
            return interview.project_id, found

        def keep_if_final(found: tuple[str, InterviewDetail]) -> None:
            if found[1].analysis_status is AnalysisStatus.COMPLETED:
                self._final.put(interview_id, found)

        return await self._detail_loads.run(
            interview_id, lambda: self._units.read(load), keep_if_final
        )

    def _now(self) -> datetime:
        return whole_seconds(self._clock())


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def detail(
    interview: Interview,
    transcript: Sequence[MessageRecord],
    analysis: Analysis | None,
    now: datetime,
    questions: Sequence[StudyQuestion] = (),
) -> InterviewDetail:
    """The interview as GetInterview shows it (`questions`: its study's,
    for the questions its messages serve)."""
    by_id = {q.question_id: q for q in questions}
    contents = {m.id: m.content for m in transcript}
    shown = answers.settled(answers.all_from_stored(interview.answers)) if transcript else ()
    return InterviewDetail(
        interview_id=interview.id,
        study_id=interview.study_id,
        status=interview.status,
        mode=interview.mode,
        locale=interview.locale,
        respondent=interview.respondent,
        started_at=interview.started_at,
        stats=interview.stats(now),
        transcript=tuple(m.message(_asked(m, by_id)) for m in transcript),
        completed_at=interview.completed_at,
        reason=interview.reason,
        feedback=interview.feedback,
        analysis_status=interview.analysis_status,
        analysis=analysis if interview.analysis_status == AnalysisStatus.COMPLETED else None,
        answers=answers.detailed(shown, contents),
    )


def _asked(message: MessageRecord, questions: dict[str, StudyQuestion]) -> AskedQuestion | None:
    """The question an interviewer message served, if it says."""
    question = questions.get(message.question_id or "")
    return AskedQuestion(question, bool(message.follow_up)) if question is not None else None


def _questions(uow: UnitOfWork, study_id: str) -> tuple[StudyQuestion, ...]:
    study = uow.studies.get(study_id)
    assert study is not None  # foreign key
    return questions_from_stored(study.id, study.questions)
