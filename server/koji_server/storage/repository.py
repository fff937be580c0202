"""Repositories: the only code that queries tables, one class per aggregate.

Synchronous, over a `Session`: units of work run them on the writer thread
or, for reads, inside `AsyncSession.run_sync`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from koji_server.domain.analysis_input import AnalysisOutput
from koji_server.domain.interview import Interview
from koji_server.domain.links import Link
from koji_server.domain.model import (
    Analysis,
    AnalysisStatus,
    CompletionReason,
    Insight,
    InterviewMode,
    InterviewStatus,
    Quality,
    Theme,
)
from koji_server.domain.ports import (
    AnalysedInterview,
    InterviewFilter,
    MessageRecord,
    StudyReportRecord,
)
from koji_server.storage.direct import DirectTable
from koji_server.storage.portable import utf8_bytes
from koji_server.storage.schema import (
    AnalysisRow,
    ApiKeyRow,
    EventRow,
    InterviewLinkRow,
    InterviewRow,
    JobAttemptRow,
    JobRow,
    MessageRow,
    ProjectRow,
    StudyReportRow,
    StudyRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)
from koji_server.storage.status import AttemptOutcome, DeliveryStatus, JobStatus


class ProjectRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, project: ProjectRow) -> None:
        self._session.add(project)

    def get(self, project_id: str) -> ProjectRow | None:
        return self._session.get(ProjectRow, project_id)


class ApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, key: ApiKeyRow) -> None:
        self._session.add(key)

    def get(self, key_id: str) -> ApiKeyRow | None:
        return self._session.get(ApiKeyRow, key_id)

    def by_hash(self, key_hash: str) -> ApiKeyRow | None:
        result = self._session.execute(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash))
        return result.scalar_one_or_none()

    def list(self, project_id: str | None = None) -> Sequence[ApiKeyRow]:
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        if project_id is not None:
            query = query.where(ApiKeyRow.project_id == project_id)
        return (self._session.execute(query)).scalars().all()


class StudyRepository:
    def __init__(self, session: Session, lock_rows: bool = False) -> None:
        self._session = session
        self._lock_rows = lock_rows

    def add(self, study: StudyRow) -> None:
        self._session.add(study)

    def get(
        self, study_id: str, project_id: str | None = None, lock: bool = False
    ) -> StudyRow | None:
        """The study, or None when missing or another project's; `lock`:
        for a change (PostgreSQL locks the row until the commit)."""
        study = self._session.get(StudyRow, study_id, with_for_update=lock and self._lock_rows)
        if study is None or (project_id is not None and study.project_id != project_id):
            return None
        return study

    def page(
        self, project_id: str, status: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> Sequence[StudyRow]:
        """Up to `limit` of a project's studies by (created_at, id), those
        after `after` (ix_studies_listing)."""
        query = select(StudyRow).where(StudyRow.project_id == project_id)
        if status is not None:
            query = query.where(StudyRow.status == status)
        if after is not None:
            created_at, study_id = after
            query = query.where(
                StudyRow.created_at >= created_at,
                or_(StudyRow.created_at > created_at, StudyRow.id > study_id),
            )
        query = query.order_by(StudyRow.created_at, StudyRow.id).limit(limit)
        return self._session.execute(query).scalars().all()

    def interview_counts(self, study_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Interviews started and completed, by study (studies without any
        are left out)."""
        if not study_ids:
            return {}
        query = (
            select(InterviewRow.study_id, func.count(), func.count(InterviewRow.completed_at))
            .where(InterviewRow.study_id.in_(list(study_ids)))
            .group_by(InterviewRow.study_id)
        )
        return {
            study_id: (int(started), int(completed))
            for study_id, started, completed in self._session.execute(query).all()
        }


def _values(record: Any) -> dict[str, Any]:
    return {field.name: getattr(record, field.name) for field in fields(record)}


_ENUM_COLUMNS = {
    "status": InterviewStatus,
    "mode": InterviewMode,
    "reason": CompletionReason,
    "analysis_status": AnalysisStatus,
}


def _interview(values: dict[str, Any]) -> Interview:
    """The entity from its row's values."""
    for name, kind in _ENUM_COLUMNS.items():
        if values[name] is not None:
            values[name] = kind(values[name])
    return Interview(**values)


def _columns(interview: Interview) -> dict[str, Any]:
    """The entity as its row's values (enums as their stored strings)."""
    values = _values(interview)
    for name in _ENUM_COLUMNS:
        if values[name] is not None:
            values[name] = values[name].value
    return values


@dataclass(frozen=True, slots=True)
class DirectTables:
    """The hot tables' direct SQL for one engine (see storage.direct), and
    whether the repositories lock the rows they load by key (`lock_rows`:
    PostgreSQL's write units, where transactions run side by side; SQLite's
    writes hold the whole database's lock already)."""

    interviews: DirectTable
    messages: DirectTable
    jobs: DirectTable
    lock_rows: bool = False

    @classmethod
    def for_dialect(cls, dialect: Dialect, writing: bool = False) -> DirectTables:
        """The set for one engine; `writing`: for its write units."""
        lock_rows = writing and dialect.name != "sqlite"
        return cls(
            DirectTable(InterviewRow.__table__, dialect, lock_rows),
            DirectTable(MessageRow.__table__, dialect),
            DirectTable(JobRow.__table__, dialect, lock_rows),
            lock_rows,
        )


# Built once: constructing the statement on each call cost more than running it.
_RESPONDENT_BYTES = select(func.coalesce(func.sum(utf8_bytes(MessageRow.content)), 0)).where(
    MessageRow.interview_id == bindparam("interview_id"), MessageRow.role == "respondent"
)


class InterviewRepository:
    """Interviews and their messages. The interview is read as the entity
    (`record`) and written only through `create` and `save`: the one write
    path of the aggregate. The conversation's hot path (record, create, save,
    append) runs as direct SQL (see storage.direct)."""

    def __init__(self, session: Session, tables: DirectTables) -> None:
        self._session = session
        self._interviews = tables.interviews
        self._messages = tables.messages

    def record(self, interview_id: str, project_id: str | None = None) -> Interview | None:
        """The interview, or None when missing or another project's."""
        values = self._interviews.get(self._session, interview_id)
        if values is None or (project_id is not None and values["project_id"] != project_id):
            return None
        return _interview(values)

    def create(self, interview: Interview) -> None:
        values = _columns(interview)
        values["updated_at"] = values["updated_at"] or values["started_at"]
        self._interviews.insert(self._session, [values])

    def save(self, interview: Interview, loaded: Interview) -> None:
        """Write what changed since `loaded` (the database keeps updated_at)."""
        before, after = _columns(loaded), _columns(interview)
        changed = {name: value for name, value in after.items() if value != before[name]}
        if changed and self._interviews.update(self._session, interview.id, changed) != 1:
            raise LookupError(f"interview {interview.id} is gone")

    def page(
        self, where: InterviewFilter, after: tuple[datetime, str] | None, limit: int
    ) -> list[Interview]:
        """Up to `limit` interviews by (updated_at, id), those after `after`:
        a keyset page, as cheap at any depth (ix_interviews_listing)."""
        query = select(InterviewRow).where(
            InterviewRow.study_id == where.study_id, InterviewRow.project_id == where.project_id
        )
        if where.status is not None:
            query = query.where(InterviewRow.status == where.status)
        if where.updated_after is not None:
            query = query.where(InterviewRow.updated_at > where.updated_after)
        if after is not None:
            updated_at, interview_id = after
            # The first term is the index range (where the page starts); an
            # OR alone would make SQLite walk the index from the beginning.
            query = query.where(
                InterviewRow.updated_at >= updated_at,
                or_(InterviewRow.updated_at > updated_at, InterviewRow.id > interview_id),
            )
        query = query.order_by(InterviewRow.updated_at, InterviewRow.id).limit(limit)
        rows = self._session.execute(query).scalars().all()
        names = [field.name for field in fields(Interview)]
        return [_interview({name: getattr(row, name) for name in names}) for row in rows]

    def append(self, messages: Sequence[MessageRecord]) -> None:
        self._messages.insert(self._session, [_values(message) for message in messages])

    def messages(self, interview_id: str) -> list[MessageRecord]:
        """The transcript in order, as values."""
        rows = self._messages.where(self._session, "interview_id", interview_id, order_by="seq")
        return [MessageRecord(**row) for row in rows]

    def respondent_bytes(self, interview_id: str) -> int:
        """The respondent's text so far, in UTF-8 bytes."""
        parameters = {"interview_id": interview_id}
        return int(self._session.execute(_RESPONDENT_BYTES, parameters).scalar_one())

    def analysis(self, interview_id: str) -> Analysis | None:
        """The stored analysis, if any."""
        row = self._session.get(AnalysisRow, interview_id)
        return None if row is None else _analysis(row)

    def replace_analysis(
        self,
        interview_id: str,
        output: AnalysisOutput,
        transcript_sha256: str,
        stages: dict[str, str],
        now: datetime,
    ) -> None:
        """Delete-then-insert in the caller's transaction: at most one row, ever."""
        self._session.execute(delete(AnalysisRow).where(AnalysisRow.interview_id == interview_id))
        self._session.add(_analysis_row(interview_id, output, transcript_sha256, stages, now))

    def usage(self, project_id: str) -> dict[str, int]:
        """Completed interviews of a project by analysis outcome."""
        counted = func.sum(AnalysisRow.counts_toward_usage.cast(Integer))
        query = (
            select(InterviewRow.analysis_status, func.count(), counted)
            .outerjoin(AnalysisRow, AnalysisRow.interview_id == InterviewRow.id)
            .where(InterviewRow.project_id == project_id, InterviewRow.completed_at.is_not(None))
            .group_by(InterviewRow.analysis_status)
        )
        totals = {"counted": 0, "excluded": 0, "processing": 0, "failed": 0}
        for status, count, counted_count in (self._session.execute(query)).all():
            if status == "completed":
                totals["counted"] += int(counted_count or 0)
                totals["excluded"] += count - int(counted_count or 0)
            elif status in totals:
                totals[status] += count
        return totals


class StudyReportRepository:
    def __init__(self, session: Session, lock_rows: bool = False) -> None:
        self._session = session
        self._lock_rows = lock_rows

    def report(self, study_id: str) -> StudyReportRecord | None:
        """The served part only (the working state can be megabytes)."""
        row = self._session.execute(
            select(StudyReportRow.report, StudyReportRow.updated_at).where(
                StudyReportRow.study_id == study_id
            )
        ).first()
        return None if row is None else StudyReportRecord(row.report, row.updated_at)

    def get(self, study_id: str) -> StudyReportRow | None:
        return self._session.get(StudyReportRow, study_id, with_for_update=self._lock_rows)

    def add(self, row: StudyReportRow) -> None:
        self._session.add(row)

    def analysed(
        self, study_id: str, interview_ids: Sequence[str] | None = None
    ) -> list[AnalysedInterview]:
        """The study's analysed interviews (all, or those named), in the
        order they were completed."""
        query = (
            select(AnalysisRow.interview_id, AnalysisRow.counts_toward_usage, AnalysisRow.insights)
            .join(InterviewRow, InterviewRow.id == AnalysisRow.interview_id)
            .where(InterviewRow.study_id == study_id)
            .order_by(InterviewRow.completed_at, InterviewRow.id)
        )
        if interview_ids is not None:
            query = query.where(AnalysisRow.interview_id.in_(list(interview_ids)))
        return [
            AnalysedInterview(row.interview_id, bool(row.counts_toward_usage), row.insights)
            for row in self._session.execute(query)
        ]

    def completed_ids(self, study_id: str) -> list[str]:
        """The study's completed interviews, in completion order."""
        query = (
            select(InterviewRow.id)
            .where(InterviewRow.study_id == study_id, InterviewRow.completed_at.is_not(None))
            .order_by(InterviewRow.completed_at, InterviewRow.id)
        )
        return list(self._session.scalars(query))

    def gated_answers(self, study_id: str) -> list[list[Any] | None]:
        """The stored answers of the study's interviews that passed the
        quality gate."""
        query = (
            select(InterviewRow.answers)
            .join(AnalysisRow, AnalysisRow.interview_id == InterviewRow.id)
            .where(InterviewRow.study_id == study_id, AnalysisRow.counts_toward_usage.is_(True))
        )
        return list(self._session.scalars(query))

    def analysed_ids(self, study_id: str) -> list[str]:
        query = (
            select(AnalysisRow.interview_id)
            .join(InterviewRow, InterviewRow.id == AnalysisRow.interview_id)
            .where(InterviewRow.study_id == study_id)
        )
        return list(self._session.scalars(query))


class JobRepository:
    def __init__(self, session: Session, tables: DirectTables) -> None:
        self._session = session
        self._jobs = tables.jobs
        self._lock_rows = tables.lock_rows

    def enqueue(self, job_id: str, kind: str, interview_id: str, run_after: datetime) -> None:
        """A new pending job (direct SQL: it is on the completion's hot path)."""
        self._jobs.insert(
            self._session,
            [
                {
                    "id": job_id,
                    "kind": kind,
                    "interview_id": interview_id,
                    "status": JobStatus.PENDING.value,
                    "attempts": 0,
                    "run_after": run_after,
                    "created_at": run_after,
                }
            ],
        )

    def add_attempt(self, attempt: JobAttemptRow) -> None:
        self._session.add(attempt)

    def for_interview(self, interview_id: str) -> Sequence[JobRow]:
        query = select(JobRow).where(JobRow.interview_id == interview_id)
        return (self._session.execute(query)).scalars().all()

    def next_ready(self, now: datetime) -> JobRow | None:
        """The oldest job that is due, or whose runner's lease has expired,
        locked for the caller's transaction: PostgreSQL skips jobs another
        transaction is claiming (`FOR UPDATE SKIP LOCKED`); SQLite has no
        row locks (nothing is rendered) and claims under its write lock."""
        query = (
            select(JobRow)
            .where(
                or_(
                    and_(JobRow.status == JobStatus.PENDING, JobRow.run_after <= now),
                    and_(JobRow.status == JobStatus.RUNNING, JobRow.lease_expires_at <= now),
                )
            )
            .order_by(JobRow.run_after, JobRow.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return (self._session.execute(query)).scalar_one_or_none()

    def next_due_at(self) -> datetime | None:
        """When the next pending job becomes due (for the worker's sleep)."""
        query = select(func.min(JobRow.run_after)).where(JobRow.status == JobStatus.PENDING)
        return (self._session.execute(query)).scalar_one_or_none()

    def abandon_open_attempts(self, job_id: str, now: datetime) -> None:
        self._session.execute(
            update(JobAttemptRow)
            .where(JobAttemptRow.job_id == job_id, JobAttemptRow.outcome.is_(None))
            .values(outcome=AttemptOutcome.ABANDONED, finished_at=now)
        )

    def attempt(self, attempt_id: str) -> JobAttemptRow | None:
        return self._session.get(JobAttemptRow, attempt_id)

    def get(self, job_id: str) -> JobRow | None:
        return self._session.get(JobRow, job_id, with_for_update=self._lock_rows)


class EventRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, event_id: str) -> EventRow | None:
        return self._session.get(EventRow, event_id)

    def add(self, event: EventRow) -> None:
        self._session.add(event)

    def for_interview(self, interview_id: str) -> Sequence[EventRow]:
        query = select(EventRow).where(EventRow.interview_id == interview_id)
        return (self._session.execute(query.order_by(EventRow.created_at))).scalars().all()


class WebhookRepository:
    def __init__(self, session: Session, lock_rows: bool = False) -> None:
        self._session = session
        self._lock_rows = lock_rows

    def add_endpoint(self, endpoint: WebhookEndpointRow) -> None:
        self._session.add(endpoint)

    def endpoint(self, endpoint_id: str) -> WebhookEndpointRow | None:
        return self._session.get(WebhookEndpointRow, endpoint_id)

    def endpoints(self, project_id: str | None = None) -> Sequence[WebhookEndpointRow]:
        query = select(WebhookEndpointRow).where(WebhookEndpointRow.removed_at.is_(None))
        if project_id is not None:
            query = query.where(WebhookEndpointRow.project_id == project_id)
        query = query.order_by(WebhookEndpointRow.created_at, WebhookEndpointRow.id)
        return (self._session.execute(query)).scalars().all()

    def add_delivery(self, delivery: WebhookDeliveryRow) -> None:
        self._session.add(delivery)

    def add_attempt(self, attempt: WebhookAttemptRow) -> None:
        self._session.add(attempt)

    def delivery(self, delivery_id: str) -> WebhookDeliveryRow | None:
        return self._session.get(WebhookDeliveryRow, delivery_id, with_for_update=self._lock_rows)

    def deliveries(self, interview_id: str | None = None) -> Sequence[WebhookDeliveryRow]:
        query = select(WebhookDeliveryRow).order_by(
            WebhookDeliveryRow.created_at, WebhookDeliveryRow.id
        )
        if interview_id is not None:
            query = query.where(WebhookDeliveryRow.interview_id == interview_id)
        return (self._session.execute(query)).scalars().all()

    def attempts(self, delivery_id: str) -> Sequence[WebhookAttemptRow]:
        query = (
            select(WebhookAttemptRow)
            .where(WebhookAttemptRow.delivery_id == delivery_id)
            .order_by(WebhookAttemptRow.attempted_at)
        )
        return (self._session.execute(query)).scalars().all()

    def next_ready(self, now: datetime) -> WebhookDeliveryRow | None:
        """The oldest delivery that is due, or whose lease has expired, locked
        as JobRepository.next_ready locks a job."""
        query = (
            select(WebhookDeliveryRow)
            .where(
                or_(
                    and_(
                        WebhookDeliveryRow.status == DeliveryStatus.PENDING,
                        WebhookDeliveryRow.next_attempt_at <= now,
                    ),
                    and_(
                        WebhookDeliveryRow.status == DeliveryStatus.DELIVERING,
                        WebhookDeliveryRow.lease_expires_at <= now,
                    ),
                )
            )
            .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return (self._session.execute(query)).scalar_one_or_none()

    def next_due_at(self) -> datetime | None:
        query = select(func.min(WebhookDeliveryRow.next_attempt_at)).where(
            WebhookDeliveryRow.status == DeliveryStatus.PENDING
        )
        return (self._session.execute(query)).scalar_one_or_none()


def _analysis_row(
    interview_id: str,
    output: AnalysisOutput,
    transcript_sha256: str,
    stages: dict[str, str],
    now: datetime,
) -> AnalysisRow:
    quality = output.quality
    return AnalysisRow(
        interview_id=interview_id,
        quality_score=quality.score,
        quality={
            "depth": quality.depth,
            "coverage": quality.coverage,
            "engagement": quality.engagement,
            "penalty": quality.penalty,
            "reasons": list(quality.reasons),
            **({"structured": quality.structured} if quality.structured is not None else {}),
        },
        counts_toward_usage=quality.counts_toward_usage,
        themes=[
            {"label": t.label, "message_ids": list(t.message_ids), "weight": t.weight}
            for t in output.themes
        ],
        insights=[
            {
                "type": i.type,
                "summary": i.summary,
                "message_id": i.message_id,
                "quote": i.quote,
                "sentiment": i.sentiment,
            }
            for i in output.insights
        ],
        stages=stages,
        transcript_sha256=transcript_sha256,
        created_at=now,
    )


def _analysis(row: AnalysisRow) -> Analysis:
    quality = row.quality
    return Analysis(
        quality=Quality(
            score=row.quality_score,
            depth=quality["depth"],
            coverage=quality["coverage"],
            engagement=quality["engagement"],
            penalty=quality["penalty"],
            reasons=tuple(quality["reasons"]),
            structured=quality.get("structured"),
        ),
        themes=tuple(Theme(t["label"], tuple(t["message_ids"]), t["weight"]) for t in row.themes),
        insights=tuple(
            Insight(i["type"], i["summary"], i["message_id"], i["quote"], i["sentiment"])
            for i in row.insights
        ),
    )


class LinkRepository:
    """Interview links: the entity (domain.links.Link) to and from its row."""

    def __init__(self, session: Session, lock_rows: bool = False) -> None:
        self._session = session
        self._lock_rows = lock_rows

    def add(self, link: Link) -> None:
        self._session.add(InterviewLinkRow(**_values(link)))

    def get(self, link_id: str, lock: bool = False) -> Link | None:
        row = self._session.get(InterviewLinkRow, link_id, with_for_update=lock and self._lock_rows)
        return None if row is None else _link(row)

    def by_token_hash(self, token_hash: str, lock: bool = False) -> Link | None:
        query = select(InterviewLinkRow).where(InterviewLinkRow.token_hash == token_hash)
        if lock and self._lock_rows:
            query = query.with_for_update()
        row = self._session.execute(query).scalar_one_or_none()
        return None if row is None else _link(row)

    def of_study(self, study_id: str) -> list[Link]:
        """Newest first."""
        query = (
            select(InterviewLinkRow)
            .where(InterviewLinkRow.study_id == study_id)
            .order_by(InterviewLinkRow.created_at.desc(), InterviewLinkRow.id)
        )
        return [_link(row) for row in self._session.execute(query).scalars()]

    def save(self, link: Link) -> None:
        row = self._session.get(InterviewLinkRow, link.id)
        assert row is not None
        for name, value in _values(link).items():
            setattr(row, name, value)


def _link(row: InterviewLinkRow) -> Link:
    return Link(**{f.name: getattr(row, f.name) for f in fields(Link)})
