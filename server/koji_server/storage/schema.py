"""Tables, as SQLAlchemy 2 declarative models.

The models are the schema's definition; the database gets it from the
Alembic migrations (storage/migrations: a change here needs a new revision,
and tests/test_migrations.py fails until its migration produces exactly
these tables on SQLite and PostgreSQL). Types are portable: naive-UTC
DATETIME / TIMESTAMP, JSON, VARCHAR ids.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

INTERVIEW_LISTING_INDEX = "ix_interviews_listing"
STUDY_LISTING_INDEX = "ix_studies_listing"


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC and gives them back aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(16))
    permissions: Mapped[str] = mapped_column(String(200))
    rate_limit_per_minute: Mapped[int]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class StudyRow(Base):
    """A study. `questions` holds the key questions in the API's shape
    (question_id, text, type, required, config, probing; domain.study_design
    reads and writes it); `brief` the research brief (NULL: none given).
    `status` defaults to active: the studies of before migration 0003, and
    rows written without it, are published studies of open questions."""

    __tablename__ = "studies"
    # ListStudies' keyset: a project's studies by (created_at, id).
    __table_args__ = (Index(STUDY_LISTING_INDEX, "project_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    questions: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    brief: Mapped[dict[str, Any] | None]
    updated_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]


class InterviewLinkRow(Base):
    """A study's interview link: its token (a capability) stored hashed."""

    __tablename__ = "interview_links"
    __table_args__ = (Index("ix_interview_links_study", "study_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None]
    max_interviews: Mapped[int] = mapped_column(Integer, default=0)
    interview_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class InterviewRow(Base):
    __tablename__ = "interviews"
    # ListInterviews' keyset: a study's interviews by (updated_at, id).
    __table_args__ = (Index(INTERVIEW_LISTING_INDEX, "study_id", "updated_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"), index=True)
    session_token_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(35))
    respondent_external_id: Mapped[str] = mapped_column(String(200), default="")
    respondent_display_name: Mapped[str] = mapped_column(String(200), default="")
    respondent_metadata: Mapped[dict[str, Any] | None]
    question_index: Mapped[int] = mapped_column(Integer, default=0)
    follow_up_asked: Mapped[bool] = mapped_column(default=False)
    respondent_messages: Mapped[int] = mapped_column(Integer, default=0)
    interviewer_messages: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(32))
    feedback: Mapped[dict[str, Any] | None]
    analysis_status: Mapped[str | None] = mapped_column(String(16))
    # The interview link it was started from (NULL: started with an API key):
    # its session token alone is then its credential.
    link_id: Mapped[str | None] = mapped_column(ForeignKey("interview_links.id"))
    # Kept by the interviews_touch trigger (migration 0001); set to started_at on insert.
    updated_at: Mapped[datetime | None]
    # The study questions' answers so far, in the study's order
    # (domain.answers reads and writes it); NULL: none yet.
    answers: Mapped[list[Any] | None] = mapped_column(JSON)


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("interview_id", "seq"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    interview_id: Mapped[str] = mapped_column(ForeignKey("interviews.id"))
    seq: Mapped[int]
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    # Interviewer messages: the study question served, and whether as a
    # follow-up (NULL: none, or a message of before migration 0003).
    question_id: Mapped[str | None] = mapped_column(String(36))
    follow_up: Mapped[bool | None]


class JobRow(Base):
    """Durable work for the post-completion pipeline; one row per (kind, interview).

    status: pending -> running (claimed under a lease) -> done | failed; a
    running job whose lease expired (its process died) is claimable again.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("kind", "interview_id"),
        Index("ix_jobs_ready", "status", "run_after"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    interview_id: Mapped[str] = mapped_column(ForeignKey("interviews.id"))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime]
    created_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class JobAttemptRow(Base):
    """One row per claim of a job: who ran it, when, and how it ended."""

    __tablename__ = "job_attempts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    worker_id: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # succeeded | failed | abandoned (its process died; the job was reclaimed)
    outcome: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)


class AnalysisRow(Base):
    """Exactly one per interview (the primary key): re-analysis replaces it."""

    __tablename__ = "analyses"

    interview_id: Mapped[str] = mapped_column(ForeignKey("interviews.id"), primary_key=True)
    quality_score: Mapped[float]
    quality: Mapped[dict[str, Any]] = mapped_column(JSON)
    counts_toward_usage: Mapped[bool]
    themes: Mapped[list[Any]] = mapped_column(JSON)
    insights: Mapped[list[Any]] = mapped_column(JSON)
    # When each pipeline stage finished (ISO 8601 with microseconds).
    stages: Mapped[dict[str, Any]] = mapped_column(JSON)
    transcript_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class EventRow(Base):
    """Outbox of webhook events, written in the transaction that caused them."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("interview_id", "type"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    interview_id: Mapped[str] = mapped_column(ForeignKey("interviews.id"))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class WebhookEndpointRow(Base):
    """A project's webhook receiver. The signing secret must be kept in clear
    (HMAC needs it); it is only ever printed once, on creation or rotation."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    # Event types it receives; empty means all.
    events: Mapped[list[str]]
    secret: Mapped[str] = mapped_column(String(100))
    # The secret before the last rotation, still signed with until it expires.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class WebhookDeliveryRow(Base):
    """One event to one endpoint. pending -> delivering (leased) ->
    succeeded | failed; retried deliveries go back to pending."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index("ix_webhook_deliveries_ready", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    interview_id: Mapped[str] = mapped_column(ForeignKey("interviews.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claim_token: Mapped[str | None] = mapped_column(String(36))
    lease_expires_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class WebhookAttemptRow(Base):
    """Every delivery attempt: when, the answer, how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None]
    latency_ms: Mapped[float]
    error: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(Text)


class StudyReportRow(Base):
    """A study's report across its interviews, kept up to date by the
    pipeline. `report` is what GetStudyReport serves; `state` is the
    synthesis's working state (theme centroids and mentions, JSON kept as
    text: only the analysis process parses it, megabytes for a big study);
    `included` lists the interviews taken in; `version` guards against two
    writers updating from the same state."""

    __tablename__ = "study_reports"

    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(Text)
    included: Mapped[list[str]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class RateLimitWindowRow(Base):
    """One API key's rate-limit windows, shared by the replicas on one
    PostgreSQL database (api.ratelimit_postgres): the start of its current
    one-minute window (Unix seconds) and the requests allowed in it and in
    the window before. Written only by the database function
    koji_rate_limit_hit (migration 0002), which also makes the table
    UNLOGGED: counts that a crash may lose, like a restart's in-process ones.
    Unused on SQLite, where the counts stay in the one process."""

    __tablename__ = "rate_limit_windows"

    key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    window_start: Mapped[float] = mapped_column(Double)
    current_count: Mapped[int] = mapped_column(Integer)
    previous_count: Mapped[int] = mapped_column(Integer)


class SearchEntryRow(Base):
    """What the analysis knows of one respondent message, for search by
    meaning and its filters (domain.search): written by the analysis
    process (storage.search_index) once the interview is analysed,
    replaced on reanalysis. `embedding` is the message's vector as
    little-endian float32 bytes of `dimensions` values (the encoder may
    change: a reindex rewrites them). Keyword search needs no row here: the
    full-text index follows the messages table itself (migration 0004)."""

    __tablename__ = "search_entries"
    # The vector cache's catch-up read: a project's rows changed since.
    __table_args__ = (Index("ix_search_entries_changes", "project_id", "indexed_at"),)

    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    interview_id: Mapped[str] = mapped_column(ForeignKey("interviews.id"), index=True)
    project_id: Mapped[str] = mapped_column(String(36))
    study_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime]
    insight_type: Mapped[str | None] = mapped_column(String(16))
    sentiment: Mapped[float | None] = mapped_column(Double)
    theme_id: Mapped[str | None] = mapped_column(String(64))
    theme_label: Mapped[str | None] = mapped_column(String(200))
    quality_score: Mapped[float | None] = mapped_column(Double)
    passed: Mapped[bool]
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    dimensions: Mapped[int] = mapped_column(Integer)
    indexed_at: Mapped[datetime]


class OAuthClientRow(Base):
    """A client registered at /oauth/register (RFC 7591) for koji-mcp: its
    metadata as registered (redirect URIs, name, grant types) as JSON. Public
    clients: no secret is issued (PKCE protects the code)."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class OAuthTokenRow(Base):
    """A secret koji-mcp's authorization server issued: an authorization code,
    an access token or a refresh token (`kind`), stored by its SHA-256 only.
    It acts as one API key (`api_key_id`) narrowed to `scopes`; the key itself
    is kept sealed (AES-GCM) under a key derived from this token, so the
    database alone never yields a usable secret. Tokens of one consent share
    `grant_id`: a refresh rotates within the grant; a revoked API key
    revokes them all."""

    __tablename__ = "oauth_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    grant_id: Mapped[str] = mapped_column(String(36), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.client_id"), index=True)
    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    scopes: Mapped[str] = mapped_column(String(200))
    sealed_key: Mapped[str] = mapped_column(Text)
    # Authorization codes only: the PKCE challenge and where the code goes.
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    redirect_uri: Mapped[str | None] = mapped_column(Text)
    redirect_uri_explicit: Mapped[bool | None]
    resource: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # Set when a code is exchanged, a refresh token rotated, or either revoked.
    used_at: Mapped[datetime | None]
