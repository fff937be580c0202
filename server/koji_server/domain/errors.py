"""Domain errors: each carries the documented lowercase error code.

The API layer maps them to gRPC codes in one place (koji_server.api.errors).
"""

from __future__ import annotations

from dataclasses import dataclass

from koji_server.domain.model import CompletionSummary


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every expected failure; `code` is the documented error code."""

    code = "internal"
    default_message = "Internal error."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        return str(self.args[0])


class InvalidRequest(DomainError):
    code = "invalid_request"
    default_message = "The request is invalid."

    def __init__(self, violations: list[FieldViolation], message: str | None = None) -> None:
        if message is None:
            message = "; ".join(f"{v.field}: {v.description}" for v in violations)
        super().__init__(message)
        self.violations = violations


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"


class Unauthorized(DomainError):
    code = "unauthorized"
    default_message = "Missing, invalid or revoked API key."


class InvalidSessionToken(DomainError):
    code = "invalid_session_token"
    default_message = "Missing or invalid session token for this interview."


class Forbidden(DomainError):
    code = "forbidden"

    def __init__(self, permission: str) -> None:
        super().__init__(f"The API key lacks the {permission} permission.")
        self.permission = permission


class NotFound(DomainError):
    code = "not_found"

    def __init__(self, kind: str, identifier: str) -> None:
        super().__init__(f"{kind.capitalize()} {identifier} does not exist.")


class AlreadyCompleted(DomainError):
    """Not a failure for the caller: it carries the first completion's data."""

    code = "already_completed"

    def __init__(self, summary: CompletionSummary) -> None:
        super().__init__(f"Interview {summary.interview_id} was already completed.")
        self.summary = summary


class InterviewCompleted(DomainError):
    code = "interview_completed"

    def __init__(self, interview_id: str) -> None:
        super().__init__(f"Interview {interview_id} is completed and accepts no more messages.")


class StudyNotDraft(DomainError):
    code = "study_not_draft"

    def __init__(self, study_id: str, status: str) -> None:
        super().__init__(
            f"Study {study_id} is {status}: its questions change, and it is published, "
            "only in draft."
        )


class StudyNotActive(DomainError):
    code = "study_not_active"

    def __init__(self, study_id: str, status: str) -> None:
        super().__init__(
            f"Study {study_id} is {status}: interviews start, and it closes, only while active."
        )


class InterviewNotCompleted(DomainError):
    """Operator-only: the interview has no analysis to redo yet."""

    code = "invalid_request"

    def __init__(self, interview_id: str) -> None:
        super().__init__(f"Interview {interview_id} is not completed yet.")


class LinkUnavailable(DomainError):
    """An interview link that starts no interview any more: revoked, expired,
    full, or its study not active."""

    code = "link_unavailable"

    def __init__(self, why: str) -> None:
        super().__init__(f"This interview link is no longer open: {why}.")
        self.why = why


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        super().__init__(message or f"Too many requests; retry in {retry_after_seconds} s.")
        self.retry_after_seconds = retry_after_seconds


class StorageUnavailable(DomainError):
    """Writes cannot be stored right now (the disk is full, the database
    read-only): nothing was written; the same request succeeds once the
    operator has made room, without a restart."""

    code = "unavailable"
    default_message = "The service cannot store data right now; retry shortly."
