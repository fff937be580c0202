"""SQLite files written before Alembic (PRAGMA user_version 1 to 3).

Such a file is brought to version 3 the way the code of that time did it
(version 1 had no study_reports; version 2 no interviews.updated_at, its
listing index or the trigger that keeps it), checked against version 3's
tables and columns, marked as managed by Alembic (user_version 4, as the
first migration does) and then stamped with that migration, whose schema is
exactly version 3's. Everything here is frozen as of version 3: it must
not follow later changes to the models.
"""

from __future__ import annotations

from sqlalchemy import Connection

from koji_server.storage.schema_version import ALEMBIC_MARKER, SchemaUnrecognised

V3_COLUMNS: dict[str, tuple[str, ...]] = {
    "projects": ("id", "name", "created_at"),
    "api_keys": (
        "id", "project_id", "name", "key_hash", "display_prefix", "permissions",
        "rate_limit_per_minute", "created_at", "revoked_at",
    ),
    "studies": ("id", "project_id", "title", "questions", "created_at"),
    "interviews": (
        "id", "project_id", "study_id", "session_token_hash", "status", "mode", "locale",
        "respondent_external_id", "respondent_display_name", "respondent_metadata",
        "question_index", "follow_up_asked", "respondent_messages", "interviewer_messages",
        "started_at", "completed_at", "reason", "feedback", "analysis_status", "updated_at",
    ),
    "messages": ("id", "interview_id", "seq", "role", "content", "created_at"),
    "jobs": (
        "id", "kind", "interview_id", "status", "attempts", "run_after", "created_at",
        "last_error", "claim_token", "claimed_by", "lease_expires_at", "finished_at",
    ),
    "job_attempts": ("id", "job_id", "worker_id", "started_at", "finished_at", "outcome", "error"),
    "analyses": (
        "interview_id", "quality_score", "quality", "counts_toward_usage", "themes", "insights",
        "stages", "transcript_sha256", "created_at",
    ),
    "events": ("id", "project_id", "interview_id", "type", "payload", "created_at"),
    "webhook_endpoints": (
        "id", "project_id", "url", "events", "secret", "previous_secret",
        "previous_secret_expires_at", "created_at", "removed_at",
    ),
    "webhook_deliveries": (
        "id", "event_id", "endpoint_id", "interview_id", "status", "attempts", "next_attempt_at",
        "claim_token", "lease_expires_at", "last_status_code", "last_error", "created_at",
        "delivered_at",
    ),
    "webhook_attempts": (
        "id", "delivery_id", "attempted_at", "status_code", "latency_ms", "error",
        "response_excerpt",
    ),
    "study_reports": (
        "study_id", "project_id", "report", "state", "included", "version", "updated_at",
    ),
}  # fmt: skip

V2_STUDY_REPORTS = """
CREATE TABLE study_reports (
	study_id VARCHAR(36) NOT NULL,
	project_id VARCHAR(36) NOT NULL,
	report JSON NOT NULL,
	state TEXT NOT NULL,
	included JSON NOT NULL,
	version INTEGER NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (study_id),
	FOREIGN KEY(study_id) REFERENCES studies (id),
	FOREIGN KEY(project_id) REFERENCES projects (id)
)
"""
V3_TOUCH_TRIGGER = """
CREATE TRIGGER interviews_touch AFTER UPDATE ON interviews
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE interviews SET updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'
  WHERE id = NEW.id;
END
"""


def adopt(connection: Connection, version: int, where: str) -> None:
    """Upgrade the pre-Alembic file `where` of `version` (1-3) to version 3,
    check it has version 3's tables and columns (raises SchemaUnrecognised if
    not) and mark it as Alembic's; the caller stamps it."""
    if version < 2:
        connection.exec_driver_sql(V2_STUDY_REPORTS)
        connection.exec_driver_sql(
            "CREATE INDEX ix_study_reports_project_id ON study_reports (project_id)"
        )
    if version < 3:
        connection.exec_driver_sql("ALTER TABLE interviews ADD COLUMN updated_at DATETIME")
        connection.exec_driver_sql(
            "UPDATE interviews SET updated_at = coalesce(completed_at, started_at)"
        )
        connection.exec_driver_sql(
            "CREATE INDEX ix_interviews_listing ON interviews (study_id, updated_at, id)"
        )
        connection.exec_driver_sql(V3_TOUCH_TRIGGER)
    _check_version_3(connection, where)
    connection.exec_driver_sql(f"PRAGMA user_version = {ALEMBIC_MARKER}")


def _check_version_3(connection: Connection, where: str) -> None:
    for table, expected in V3_COLUMNS.items():
        found = tuple(row[1] for row in connection.exec_driver_sql(f"PRAGMA table_info({table})"))
        if found != expected:
            raise SchemaUnrecognised(
                f"the database {where} says schema version 3, but its table {table} has columns "
                f"{', '.join(found) or '(none: no such table)'}; expected {', '.join(expected)}: "
                f"restore it from a backup"
            )
    (trigger,) = connection.exec_driver_sql(
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'interviews_touch'"
    ).one()
    if not trigger:
        raise SchemaUnrecognised(
            f"the database {where} says schema version 3, but it has no interviews_touch "
            "trigger: "
            "restore it from a backup"
        )
