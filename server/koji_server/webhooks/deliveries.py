"""The delivery outbox: fan-out of events to endpoints, claims, attempt records.

Deliveries are created in the transaction that creates their event, so an
event is never lost between "happened" and "queued". Claims take a lease in
one transaction that locks the delivery (SQLite: BEGIN IMMEDIATE; PostgreSQL:
FOR UPDATE SKIP LOCKED), one process per delivery at a time;
delivery is at least once: a process that dies mid-attempt leaves the lease to
expire and the delivery is sent again (same `webhook-id`, for dedupe).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from koji_server.queueing.claims import ClaimingQueue, Idle
from koji_server.queueing.settings import QueueSettings
from koji_server.storage.schema import (
    EventRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)
from koji_server.storage.status import DeliveryStatus
from koji_server.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory
from koji_server.support.clock import precise_now
from koji_server.webhooks import signing
from koji_server.webhooks.sender import AttemptResult


def delivery_settings(
    max_retries: int = 3,
    retry_base_seconds: float = 1.0,
    retry_max_seconds: float = 600.0,
    lease_seconds: float = 30.0,
) -> QueueSettings:
    """A delivery gets its first attempt and `max_retries` more."""
    return QueueSettings(
        lease_seconds=lease_seconds,
        max_attempts=max_retries + 1,
        retry_base_seconds=retry_base_seconds,
        retry_max_seconds=retry_max_seconds,
    )


@dataclass(frozen=True, slots=True)
class DeliveryClaim:
    delivery_id: str
    claim_token: str
    attempt: int
    url: str
    event_id: str
    body: str
    signing_secrets: tuple[str, ...]


def fan_out(uow: UnitOfWork, event: EventRow, endpoints: Sequence[WebhookEndpointRow]) -> int:
    """Queue the event for every one of `endpoints` (its project's live ones)
    that wants it; how many deliveries were queued."""
    queued = 0
    for endpoint in endpoints:
        if endpoint.events and event.type not in endpoint.events:
            continue
        uow.webhooks.add_delivery(
            WebhookDeliveryRow(
                id=str(uuid.uuid4()),
                event_id=event.id,
                endpoint_id=endpoint.id,
                interview_id=event.interview_id,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=event.created_at,
                created_at=event.created_at,
            )
        )
        queued += 1
    return queued


def active_secrets(secret: str, previous: str | None, previous_expires_at: datetime | None,
                   now: datetime) -> tuple[str, ...]:  # fmt: skip
    if previous is not None and previous_expires_at is not None and previous_expires_at > now:
        return (secret, previous)
    return (secret,)


def prepare(uow: UnitOfWork, delivery: WebhookDeliveryRow, now: datetime) -> DeliveryClaim:
    """What sending this delivery needs: URL, body and the secrets to sign with."""
    endpoint = uow.webhooks.endpoint(delivery.endpoint_id)
    event = uow.events.get(delivery.event_id)
    assert endpoint is not None and event is not None
    return DeliveryClaim(
        delivery_id=delivery.id,
        claim_token=delivery.claim_token or "",
        attempt=delivery.attempts,
        url=endpoint.url,
        event_id=event.id,
        body=signing.body(event.payload),
        signing_secrets=active_secrets(
            endpoint.secret,
            endpoint.previous_secret,
            endpoint.previous_secret_expires_at,
            now,
        ),
    )


def attempt_row(delivery_id: str, result: AttemptResult, at: datetime) -> WebhookAttemptRow:
    return WebhookAttemptRow(
        id=str(uuid.uuid4()),
        delivery_id=delivery_id,
        attempted_at=at,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        error=result.error,
        response_excerpt=result.response_excerpt,
    )


class DeliveryQueue(ClaimingQueue[DeliveryClaim]):
    def __init__(
        self,
        units: UnitOfWorkFactory,
        settings: QueueSettings,
        clock: Callable[[], datetime] = precise_now,
    ) -> None:
        super().__init__(units, clock)
        self._settings = settings

    def _claim(self, uow: UnitOfWork, now: datetime) -> DeliveryClaim | Idle:
        delivery = uow.webhooks.next_ready(now)
        if delivery is None:
            return Idle(uow.webhooks.next_due_at())
        endpoint = uow.webhooks.endpoint(delivery.endpoint_id)
        if endpoint is None or endpoint.removed_at is not None:
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = "endpoint removed"
            return Idle(now)  # others may be due: look again at once
        delivery.status = DeliveryStatus.DELIVERING
        delivery.claim_token = str(uuid.uuid4())
        delivery.lease_expires_at = now + timedelta(seconds=self._settings.lease_seconds)
        delivery.attempts += 1
        return prepare(uow, delivery, now)

    async def record(self, claim: DeliveryClaim, result: AttemptResult, at: datetime) -> str:
        """Store the attempt and decide: succeeded, retry later, or failed."""
        now = self._clock()

        def store(uow: UnitOfWork) -> str:
            delivery = uow.webhooks.delivery(claim.delivery_id)
            if delivery is None or delivery.claim_token != claim.claim_token:
                return "lost"
            uow.webhooks.add_attempt(attempt_row(delivery.id, result, at))
            delivery.last_status_code = result.status_code
            delivery.last_error = result.error
            delivery.lease_expires_at = None
            delivery.claim_token = None
            if result.succeeded:
                delivery.status = DeliveryStatus.SUCCEEDED
                delivery.delivered_at = now
            elif result.retryable and self._settings.may_retry(delivery.attempts):
                delay = max(self.backoff(delivery.attempts), result.retry_after_seconds or 0.0)
                delivery.status = DeliveryStatus.PENDING
                delivery.next_attempt_at = now + timedelta(seconds=delay)
            else:
                delivery.status = DeliveryStatus.FAILED
            return delivery.status

        return await self._units.write(store)

    def backoff(self, attempts: int) -> float:
        return self._settings.backoff(attempts)
