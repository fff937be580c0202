"""Repositories: the only code that queries tables, one class per aggregate."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from koji_server.storage.schema import (
    AnalysisRow,
    ApiKeyRow,
    InterviewRow,
    JobRow,
    MessageRow,
    ProjectRow,
    StudyRow,
)


class ProjectRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, project: ProjectRow) -> None:
        self._session.add(project)

    async def get(self, project_id: str) -> ProjectRow | None:
        return await self._session.get(ProjectRow, project_id)


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, key: ApiKeyRow) -> None:
        self._session.add(key)

    async def get(self, key_id: str) -> ApiKeyRow | None:
        return await self._session.get(ApiKeyRow, key_id)

    async def by_hash(self, key_hash: str) -> ApiKeyRow | None:
        result = await self._session.execute(
            select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash)
        )
        return result.scalar_one_or_none()

    async def list(self, project_id: str | None = None) -> Sequence[ApiKeyRow]:
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        if project_id is not None:
            query = query.where(ApiKeyRow.project_id == project_id)
        return (await self._session.execute(query)).scalars().all()


class StudyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, study: StudyRow) -> None:
        self._session.add(study)

    async def get(self, study_id: str, project_id: str | None = None) -> StudyRow | None:
        study = await self._session.get(StudyRow, study_id)
        if study is None or (project_id is not None and study.project_id != project_id):
            return None
        return study


class InterviewRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, interview: InterviewRow) -> None:
        self._session.add(interview)

    async def get(self, interview_id: str, project_id: str | None = None) -> InterviewRow | None:
        """The interview, or None when it is missing or belongs to another project."""
        interview = await self._session.get(InterviewRow, interview_id)
        if interview is None or (project_id is not None and interview.project_id != project_id):
            return None
        return interview

    def add_message(self, message: MessageRow) -> None:
        self._session.add(message)

    async def transcript(self, interview_id: str) -> Sequence[MessageRow]:
        query = (
            select(MessageRow)
            .where(MessageRow.interview_id == interview_id)
            .order_by(MessageRow.seq)
        )
        return (await self._session.execute(query)).scalars().all()

    async def analysis(self, interview_id: str) -> AnalysisRow | None:
        return await self._session.get(AnalysisRow, interview_id)


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, job: JobRow) -> None:
        self._session.add(job)

    async def for_interview(self, interview_id: str) -> Sequence[JobRow]:
        query = select(JobRow).where(JobRow.interview_id == interview_id)
        return (await self._session.execute(query)).scalars().all()
