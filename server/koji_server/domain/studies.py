"""The study use cases: designing a study, its life cycle, and reading its
report across its interviews. One write path: every change of a study goes
through StudyService."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from koji_server.domain import study_aggregates, study_validation, validation
from koji_server.domain.auth import require
from koji_server.domain.errors import NotFound, StudyNotActive, StudyNotDraft
from koji_server.domain.interview_commands import new_id
from koji_server.domain.interview_queries import DEFAULT_PAGE_SIZE
from koji_server.domain.model import (
    Caller,
    Permission,
    QuestionOption,
    Study,
    StudyPage,
    StudyQuestion,
    StudyQuote,
    StudyReport,
    StudyStatus,
    StudyTheme,
)
from koji_server.domain.page_tokens import PageTokens, Position
from koji_server.domain.ports import StudyReportRecord, UnitOfWork, UnitOfWorkFactory
from koji_server.domain.study_design import (
    brief_from_stored,
    brief_to_stored,
    question_to_stored,
    questions_from_stored,
)
from koji_server.storage.schema import StudyRow
from koji_server.support.clock import Clock, precise_now


def report_from_stored(study_id: str, stored: StudyReportRecord | None) -> StudyReport:
    if stored is None:
        return StudyReport(study_id, 0, 0, None, ())
    data: dict[str, Any] = stored.report
    return StudyReport(
        study_id=study_id,
        interviews_analyzed=data["interviews_analyzed"],
        interviews_excluded=data["interviews_excluded"],
        updated_at=stored.updated_at,
        themes=tuple(
            StudyTheme(
                theme_id=t["theme_id"],
                label=t["label"],
                interview_count=t["interview_count"],
                share=t["share"],
                sentiment=t["sentiment"],
                insight_counts=dict(t["insight_counts"]),
                quotes=tuple(StudyQuote(**q) for q in t["quotes"]),
            )
            for t in data["themes"]
        ),
        questions=study_aggregates.from_stored(data.get("questions") or ()),
    )


MAX_STUDY_PAGE = 500


@dataclass(frozen=True, slots=True)
class StudyQuery:
    """ListStudies' parameters."""

    status: StudyStatus | None = None
    page_size: int = 0
    page_token: str = ""


def study_from_row(row: StudyRow, counts: tuple[int, int] = (0, 0)) -> Study:
    return Study(
        study_id=row.id,
        project_id=row.project_id,
        title=row.title,
        status=StudyStatus(row.status or StudyStatus.ACTIVE.value),
        brief=brief_from_stored(row.brief),
        questions=questions_from_stored(row.id, row.questions),
        created_at=row.created_at,
        updated_at=row.updated_at or row.created_at,
        published_at=row.published_at,
        interview_count=counts[0],
        completed_count=counts[1],
    )


def with_ids(
    questions: tuple[StudyQuestion, ...], before: tuple[StudyQuestion, ...] = ()
) -> tuple[StudyQuestion, ...]:
    """The questions with the server's ids: a question (or option) sent with
    the id of an existing one keeps it; any other gets a new one (options:
    `o1`, `o2`, ... within their question, never reused)."""
    existing = {q.question_id: q for q in before}
    taken: set[str] = set()
    assigned = []
    for question in questions:
        old = existing.get(question.question_id)
        question_id = question.question_id
        if old is None or question_id in taken:
            old, question_id = None, new_id()
        taken.add(question_id)
        old_options = {o.option_id for o in old.config.options} if old is not None else set()
        used = set(old_options)
        options = []
        for option in question.config.options:
            option_id = option.option_id
            if option_id not in old_options or option_id in {o.option_id for o in options}:
                option_id = _next_option_id(used)
            used.add(option_id)
            options.append(QuestionOption(option_id, option.label))
        config = replace(question.config, options=tuple(options))
        assigned.append(replace(question, question_id=question_id, config=config))
    return tuple(assigned)


def _next_option_id(used: set[str]) -> str:
    number = 1
    while f"o{number}" in used:
        number += 1
    return f"o{number}"


def _stored_questions(questions: tuple[StudyQuestion, ...]) -> list[dict[str, Any]]:
    return [question_to_stored(q) for q in questions]


UPDATABLE = ("title", "brief", "questions")


class StudyService:
    def __init__(
        self,
        units: UnitOfWorkFactory,
        page_tokens: PageTokens | None = None,
        clock: Clock = precise_now,
    ) -> None:
        self._units = units
        self._page_tokens = page_tokens or PageTokens(secrets.token_bytes(32))
        self._clock = clock

    def _now(self) -> datetime:
        # Precise: studies are listed by when they were created.
        return self._clock()

    async def create(
        self, caller: Caller, data: dict[str, Any], project_id: str | None = None
    ) -> Study:
        """A new study in draft, from its document (the API's shape); the
        operator (OPERATOR) names the project."""
        require(caller, Permission.STUDY_WRITE)
        project_id = caller.project_id or project_id
        assert project_id is not None
        given = study_validation.design(data)
        assert given.title is not None and given.brief is not None and given.questions is not None
        now = self._now()
        row = StudyRow(
            id=new_id(),
            project_id=project_id,
            title=given.title,
            questions=_stored_questions(with_ids(given.questions)),
            created_at=now,
            status=StudyStatus.DRAFT.value,
            brief=brief_to_stored(given.brief),
            updated_at=now,
            published_at=None,
        )

        def add(uow: UnitOfWork) -> Study:
            if caller.project_id is None and uow.projects.get(project_id) is None:
                raise NotFound("project", project_id)
            uow.studies.add(row)
            return study_from_row(row)

        return await self._units.write(add)

    async def get(self, caller: Caller, study_id: str) -> Study:
        require(caller, Permission.STUDY_READ)
        study_id = validation.uuid_field("study_id", study_id)
        project_id = caller.project_id

        def read(uow: UnitOfWork) -> Study:
            row = uow.studies.get(study_id, project_id)
            if row is None:
                raise NotFound("study", study_id)
            counts = uow.studies.interview_counts([row.id]).get(row.id, (0, 0))
            return study_from_row(row, counts)

        return await self._units.read(read)

    async def list_studies(
        self, caller: Caller, query: StudyQuery, project_id: str | None = None
    ) -> StudyPage:
        """A page of a project's studies by (created_at, id)."""
        require(caller, Permission.STUDY_READ)
        project_id = caller.project_id or project_id
        assert project_id is not None
        if query.page_size < 0:
            raise validation.invalid("page_size", "must not be negative")
        size = min(query.page_size or DEFAULT_PAGE_SIZE, MAX_STUDY_PAGE)
        status = query.status.value if query.status is not None else None
        scope = f"studies|{project_id}|{status or ''}"
        after = None
        if query.page_token:
            position = self._page_tokens.read(scope, query.page_token)
            after = (position.updated_at, position.interview_id)

        def read(uow: UnitOfWork) -> StudyPage:
            rows = uow.studies.page(project_id, status, after, size + 1)
            listed = rows[:size]
            counts = uow.studies.interview_counts([row.id for row in listed])
            token = ""
            if len(rows) > size:
                last = listed[-1]
                token = self._page_tokens.issue(scope, Position(last.created_at, last.id))
            return StudyPage(
                tuple(study_from_row(row, counts.get(row.id, (0, 0))) for row in listed), token
            )

        return await self._units.read(read)

    async def update(
        self,
        caller: Caller,
        study_id: str,
        data: dict[str, Any],
        mask: Sequence[str] = (),
    ) -> Study:
        """Changes the fields named by `mask` (empty: those `data` sets);
        questions change only in draft."""
        require(caller, Permission.STUDY_WRITE)
        study_id = validation.uuid_field("study_id", study_id)
        unknown = [path for path in mask if path not in UPDATABLE]
        if unknown:
            raise validation.invalid(
                "update_mask", f"{', '.join(unknown)}: only {', '.join(UPDATABLE)} can be updated"
            )
        fields = set(mask) or {name for name in UPDATABLE if name in data}
        given = study_validation.design({name: data.get(name) for name in fields}, partial=True)
        project_id = caller.project_id
        now = self._now()

        def change(uow: UnitOfWork) -> Study:
            row = uow.studies.get(study_id, project_id, lock=True)
            if row is None:
                raise NotFound("study", study_id)
            if given.questions is not None:
                if row.status != StudyStatus.DRAFT:
                    raise StudyNotDraft(row.id, row.status)
                before = questions_from_stored(row.id, row.questions)
                row.questions = _stored_questions(with_ids(given.questions, before))
            if given.title is not None:
                row.title = given.title
            if "brief" in fields:
                row.brief = brief_to_stored(given.brief) if given.brief is not None else None
            row.updated_at = now
            counts = uow.studies.interview_counts([row.id]).get(row.id, (0, 0))
            return study_from_row(row, counts)

        return await self._units.write(change)

    async def publish(self, caller: Caller, study_id: str) -> Study:
        def publish(row: StudyRow, now: datetime) -> None:
            if row.status != StudyStatus.DRAFT:
                raise StudyNotDraft(row.id, row.status)
            row.status = StudyStatus.ACTIVE.value
            row.published_at = now

        return await self._transition(caller, study_id, publish)

    async def close(self, caller: Caller, study_id: str) -> Study:
        def close(row: StudyRow, now: datetime) -> None:
            if row.status != StudyStatus.ACTIVE:
                raise StudyNotActive(row.id, row.status)
            row.status = StudyStatus.COMPLETED.value

        return await self._transition(caller, study_id, close)

    async def archive(self, caller: Caller, study_id: str) -> Study:
        def archive(row: StudyRow, now: datetime) -> None:
            row.status = StudyStatus.ARCHIVED.value

        return await self._transition(caller, study_id, archive)

    async def _transition(
        self,
        caller: Caller,
        study_id: str,
        apply: Callable[[StudyRow, datetime], None],
    ) -> Study:
        require(caller, Permission.STUDY_WRITE)
        study_id = validation.uuid_field("study_id", study_id)
        project_id = caller.project_id
        now = self._now()

        def change(uow: UnitOfWork) -> Study:
            row = uow.studies.get(study_id, project_id, lock=True)
            if row is None:
                raise NotFound("study", study_id)
            status = row.status
            apply(row, now)
            if row.status != status:
                row.updated_at = now
            counts = uow.studies.interview_counts([row.id]).get(row.id, (0, 0))
            return study_from_row(row, counts)

        return await self._units.write(change)

    async def get_report(self, caller: Caller, study_id: str) -> StudyReport:
        """The study's report (the operator's: of any project)."""
        require(caller, Permission.READ)
        study_id = validation.uuid_field("study_id", study_id)

        def read(uow: UnitOfWork) -> StudyReport:
            if uow.studies.get(study_id, caller.project_id) is None:
                raise NotFound("study", study_id)
            return report_from_stored(study_id, uow.study_reports.report(study_id))

        return await self._units.read(read)
