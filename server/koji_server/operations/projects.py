"""Operator use cases behind `koji-admin`: projects, API keys and studies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from koji_server.domain import credentials, validation
from koji_server.domain.errors import FieldViolation, InvalidRequest, NotFound
from koji_server.domain.interview_commands import new_id
from koji_server.domain.model import Permission, StudyQuestion, StudyStatus
from koji_server.domain.study_design import question_to_stored
from koji_server.storage.schema import ApiKeyRow, ProjectRow, StudyRow
from koji_server.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory
from koji_server.support.clock import utc_now

DEFAULT_RATE_LIMIT_PER_MINUTE = 60
MAX_RATE_LIMIT_PER_MINUTE = 1_000_000


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key_id: str
    api_key: str


@dataclass(frozen=True, slots=True)
class KeyListing:
    key_id: str
    project_id: str
    name: str
    display_prefix: str
    permissions: tuple[str, ...]
    rate_limit_per_minute: int
    created_at: datetime
    revoked_at: datetime | None


def parse_permissions(text: str) -> frozenset[Permission]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    known = {p.value for p in Permission}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InvalidRequest(
            [
                FieldViolation(
                    "permissions",
                    f"unknown or missing permission {', '.join(unknown) or '(none)'}; "
                    f"choose from {', '.join(sorted(known))}",
                )
            ]
        )
    return frozenset(Permission(n) for n in names)


class AdminService:
    def __init__(self, units: UnitOfWorkFactory) -> None:
        self._units = units

    async def create_project(self, name: str) -> str:
        name = _required_name("name", name)
        project = ProjectRow(id=new_id(), name=name, created_at=utc_now())
        await self._units.write(lambda uow: uow.projects.add(project))
        return project.id

    async def create_key(
        self,
        project_id: str,
        name: str,
        permissions: frozenset[Permission],
        rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE,
    ) -> CreatedKey:
        name = _required_name("name", name)
        if not 1 <= rate_limit_per_minute <= MAX_RATE_LIMIT_PER_MINUTE:
            raise validation.invalid(
                "rate_limit", f"must be between 1 and {MAX_RATE_LIMIT_PER_MINUTE} per minute"
            )
        api_key = credentials.new_api_key()
        key = ApiKeyRow(
            id=new_id(),
            project_id=project_id,
            name=name,
            key_hash=credentials.hash_secret(api_key),
            display_prefix=credentials.display_prefix(api_key),
            permissions=",".join(sorted(p.value for p in permissions)),
            rate_limit_per_minute=rate_limit_per_minute,
            created_at=utc_now(),
            revoked_at=None,
        )

        def add(uow: UnitOfWork) -> None:
            if uow.projects.get(project_id) is None:
                raise NotFound("project", project_id)
            uow.keys.add(key)

        await self._units.write(add)
        return CreatedKey(key.id, api_key)

    async def list_keys(self, project_id: str | None = None) -> Sequence[KeyListing]:
        keys = await self._units.read(lambda uow: uow.keys.list(project_id))
        return [
            KeyListing(
                key_id=k.id,
                project_id=k.project_id,
                name=k.name,
                display_prefix=k.display_prefix,
                permissions=tuple(k.permissions.split(",")),
                rate_limit_per_minute=k.rate_limit_per_minute,
                created_at=k.created_at,
                revoked_at=k.revoked_at,
            )
            for k in keys
        ]

    async def revoke_key(self, key_id: str) -> None:

        def revoke(uow: UnitOfWork) -> None:
            key = uow.keys.get(key_id)
            if key is None:
                raise NotFound("API key", key_id)
            if key.revoked_at is None:
                key.revoked_at = utc_now()

        await self._units.write(revoke)

    async def create_study(self, project_id: str, title: str, questions: list[str]) -> str:
        title = _required_name("title", title)
        questions = [q.strip() for q in questions if q.strip()]
        if not questions:
            raise validation.invalid("questions", "a study needs at least one question")
        now = utc_now()
        # As before studies had a design: active at once, open questions.
        study = StudyRow(
            id=new_id(),
            project_id=project_id,
            title=title,
            questions=[question_to_stored(StudyQuestion(new_id(), text)) for text in questions],
            created_at=now,
            status=StudyStatus.ACTIVE.value,
            updated_at=now,
            published_at=now,
        )

        def add(uow: UnitOfWork) -> None:
            if uow.projects.get(project_id) is None:
                raise NotFound("project", project_id)
            uow.studies.add(study)

        await self._units.write(add)
        return study.id


def _required_name(field: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise validation.invalid(field, "is required")
    return validation.short_text(field, value)
