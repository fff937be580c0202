"""Every repository read gives the same answer on SQLite and on PostgreSQL.

The same rows are written with the ORM into a migrated SQLite file and a
migrated PostgreSQL database; then each read of the repositories (what
`units.read` runs, including the direct SQL of storage.direct) runs on both,
and the answers must be equal, value for value. (Writes on PostgreSQL:
tests/test_postgres_storage.py and tests/test_server_on_postgres.py.)
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.pool import NullPool

from koji_server.storage import migrate
from koji_server.storage.direct import placeholders
from koji_server.storage.repository import DirectTables, InterviewFilter
from koji_server.storage.schema import (
    AnalysisRow,
    ApiKeyRow,
    EventRow,
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
from koji_server.storage.unit_of_work import UnitOfWork
from tests.conftest import copy_of
from tools.local_postgres import ThrowawayPostgres

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
# Backslashes, non-ASCII and astral characters: byte counts differ from character counts.
ANSWERS = ["Plain answer", "A path like C:\\temp\\new and \\x00", "Café ☕ 😀 ünïcödé"]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rows() -> list[DeclarativeBase]:
    interview = {
        "project_id": "p",
        "study_id": "s",
        "session_token_hash": "h" * 64,
        "mode": "text",
        "locale": "en",
        "respondent_external_id": "ext",
        "respondent_display_name": "Ana",
        "question_index": 1,
        "respondent_messages": len(ANSWERS),
        "interviewer_messages": 2,
    }
    return [
        ProjectRow(id="p", name="Project", created_at=at(0)),
        ApiKeyRow(
            id="k", project_id="p", name="key", key_hash="k" * 64, display_prefix="koji_sk_x",
            permissions="interview:read", rate_limit_per_minute=60, created_at=at(1),
        ),
        StudyRow(id="s", project_id="p", title="Study", questions=["q1", "q2"], created_at=at(2)),
        InterviewRow(
            id="i1", status="completed", respondent_metadata={"plan": "pro", "seats": 3},
            follow_up_asked=True, started_at=at(10), completed_at=at(20), reason="natural",
            feedback={"rating": 5}, analysis_status="completed", updated_at=at(30), **interview,
        ),
        InterviewRow(
            id="i2", status="active", respondent_metadata=None, follow_up_asked=False,
            started_at=at(11), updated_at=at(11), **interview,
        ),
        *(
            MessageRow(
                id=f"m{n}", interview_id="i1", seq=n + 1,
                role="respondent" if n else "interviewer",
                content=text, created_at=at(12 + n),
            )
            for n, text in enumerate(["Hello", *ANSWERS])
        ),
        AnalysisRow(
            interview_id="i1", quality_score=4.2,
            quality={"depth": 4.0, "coverage": 4.5, "engagement": 4.1, "penalty": 0.0,
                     "reasons": []},
            counts_toward_usage=True,
            themes=[{"label": "Import", "message_ids": ["m2"], "weight": 1.0}],
            insights=[{"type": "pain_point", "summary": "Import", "message_id": "m2",
                       "quote": "Café", "sentiment": -0.4}],
            stages={"done": at(25).isoformat()},
            transcript_sha256="0" * 64, created_at=at(25),
        ),
        JobRow(
            id="j1", kind="analysis", interview_id="i1", status="done", attempts=1,
            run_after=at(20), created_at=at(20), finished_at=at(25),
        ),
        JobRow(
            id="j2", kind="analysis", interview_id="i2", status="pending", attempts=0,
            run_after=at(40), created_at=at(21),
        ),
        JobAttemptRow(id="a1", job_id="j1", worker_id="w", started_at=at(21), outcome=None),
        EventRow(
            id="e1", project_id="p", interview_id="i1", type="interview.completed",
            payload={"quality_score": 4.2, "nested": {"list": [1, 2]}}, created_at=at(26),
        ),
        WebhookEndpointRow(
            id="w1", project_id="p", url="https://example.com/hooks", events=[], secret="whsec_x",
            created_at=at(3),
        ),
        WebhookDeliveryRow(
            id="d1", event_id="e1", endpoint_id="w1", interview_id="i1", status="pending",
            attempts=1, next_attempt_at=at(27), created_at=at(26), last_status_code=503,
        ),
        WebhookAttemptRow(
            id="t1", delivery_id="d1", attempted_at=at(26.5), status_code=503, latency_ms=12.5,
        ),
        StudyReportRow(
            study_id="s", project_id="p", report={"themes": [], "interviews_analyzed": 1},
            state="{}", included=["i1"], version=2, updated_at=at(31),
        ),
    ]  # fmt: skip


def plain(value: Any) -> Any:
    """Rows and records as dicts of their values, recursively."""
    if isinstance(value, DeclarativeBase):
        return {
            column.key: plain(getattr(value, column.key)) for column in value.__mapper__.columns
        }
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def read_everything(session: Session) -> dict[str, Any]:
    uow = UnitOfWork(session, DirectTables.for_dialect(session.get_bind().dialect))
    listing = InterviewFilter(project_id="p", study_id="s")
    return plain(
        {
            "project": uow.projects.get("p"),
            "key": uow.keys.get("k"),
            "key by hash": uow.keys.by_hash("k" * 64),
            "keys": uow.keys.list("p"),
            "study": uow.studies.get("s", "p"),
            "other project's study": uow.studies.get("s", "q"),
            "record": uow.interviews.record("i1", "p"),
            "record of an open interview": uow.interviews.record("i2"),
            "page": uow.interviews.page(listing, None, 10),
            "page after": uow.interviews.page(listing, (at(11), "i2"), 10),
            "page updated after": uow.interviews.page(
                InterviewFilter("p", "s", "completed", at(29)), None, 10
            ),
            "messages": uow.interviews.messages("i1"),
            "respondent bytes": uow.interviews.respondent_bytes("i1"),
            "analysis": uow.interviews.analysis("i1"),
            "usage": uow.interviews.usage("p"),
            "report": uow.study_reports.report("s"),
            "report row": uow.study_reports.get("s"),
            "analysed": uow.study_reports.analysed("s"),
            "analysed, named": uow.study_reports.analysed("s", ["i1", "i2"]),
            "completed ids": uow.study_reports.completed_ids("s"),
            "analysed ids": uow.study_reports.analysed_ids("s"),
            "jobs": uow.jobs.for_interview("i1"),
            "next job": uow.jobs.next_ready(at(50)),
            "no job due": uow.jobs.next_ready(at(30)),
            "next job due at": uow.jobs.next_due_at(),
            "job": uow.jobs.get("j1"),
            "attempt": uow.jobs.attempt("a1"),
            "event": uow.events.get("e1"),
            "events": uow.events.for_interview("i1"),
            "endpoint": uow.webhooks.endpoint("w1"),
            "endpoints": uow.webhooks.endpoints("p"),
            "delivery": uow.webhooks.delivery("d1"),
            "deliveries": uow.webhooks.deliveries("i1"),
            "attempts": uow.webhooks.attempts("d1"),
            "next delivery": uow.webhooks.next_ready(at(28)),
            "next delivery due at": uow.webhooks.next_due_at(),
        }
    )


def add_in_order(session: Session) -> None:
    """One flush per row: the models declare no relationships for the ORM to
    order inserts by, and PostgreSQL checks foreign keys at once."""
    for row in rows():
        session.add(row)
        session.flush()


async def write_and_read(url: str) -> dict[str, Any]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with AsyncSession(engine) as session:
            await session.run_sync(add_in_order)
            await session.commit()
        async with AsyncSession(engine) as session:
            return await session.run_sync(read_everything)  # type: ignore[no-any-return]
    finally:
        await engine.dispose()


async def test_every_read_answers_the_same_on_sqlite_and_postgresql(
    tmp_path: Path, sqlite_template: Path, postgres: ThrowawayPostgres
) -> None:
    postgres_url = postgres.create_database("reads")
    await migrate.upgrade(postgres_url)
    on_sqlite = await write_and_read(copy_of(sqlite_template, tmp_path / "reads.db"))
    on_postgresql = await write_and_read(postgres_url)
    for name, answer in on_sqlite.items():
        assert on_postgresql[name] == answer, name
    assert on_sqlite["respondent bytes"] == sum(len(text.encode()) for text in ANSWERS)
    assert [m["content"] for m in on_sqlite["messages"]] == ["Hello", *ANSWERS]
    assert on_sqlite["record"]["respondent_metadata"] == {"plan": "pro", "seats": 3}
    assert on_sqlite["record"]["updated_at"] == at(30)
    assert [item["id"] for item in on_sqlite["page"]] == ["i2", "i1"]
    assert [item["id"] for item in on_sqlite["page after"]] == ["i1"]
    assert on_sqlite["usage"] == {"counted": 1, "excluded": 0, "processing": 0, "failed": 0}
    assert on_sqlite["next job"]["id"] == "j2" and on_sqlite["no job due"] is None


def test_direct_sql_is_rendered_in_the_drivers_placeholder_style() -> None:
    sql = "UPDATE t SET a = ?, b = ? WHERE id = ?"
    assert placeholders(sql, "qmark") == sql
    assert placeholders(sql, "numeric_dollar") == "UPDATE t SET a = $1, b = $2 WHERE id = $3"
    assert placeholders(sql, "format") == "UPDATE t SET a = %s, b = %s WHERE id = %s"
    with pytest.raises(ValueError, match="named"):
        placeholders(sql, "named")
