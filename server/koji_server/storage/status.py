"""The values of the queue tables' `status` columns.

They live with the tables (the repositories query by them); the queues in
`queueing/`, `pipeline/` and `webhooks/` move items between them."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """An analysis job (`jobs.status`)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class DeliveryStatus(StrEnum):
    """A webhook delivery (`webhook_deliveries.status`)."""

    PENDING = "pending"
    DELIVERING = "delivering"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class AttemptOutcome(StrEnum):
    """How one analysis attempt ended (`job_attempts.outcome`)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"  # its process died; the job was claimed again
