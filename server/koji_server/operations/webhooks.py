"""Operator use cases for webhooks: endpoints, rotation, delivery history, redelivery."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from koji_server.domain import validation
from koji_server.domain.errors import DomainError, NotFound
from koji_server.domain.events import EVENT_TYPES
from koji_server.storage.schema import WebhookAttemptRow, WebhookDeliveryRow, WebhookEndpointRow
from koji_server.storage.status import DeliveryStatus
from koji_server.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory
from koji_server.support.clock import iso_utc, precise_now
from koji_server.webhooks import signing
from koji_server.webhooks.deliveries import DeliveryClaim, attempt_row, prepare
from koji_server.webhooks.destination import (
    UnresolvableDestination,
    UnsafeDestination,
    resolve,
)
from koji_server.webhooks.runner import make_client
from koji_server.webhooks.sender import AttemptResult, send

VERIFICATION_EVENT = "webhook.verification"


class VerificationFailed(DomainError):
    code = "invalid_request"


class RedeliveryRefused(DomainError):
    code = "invalid_request"


@dataclass(frozen=True, slots=True)
class Endpoint:
    endpoint_id: str
    project_id: str
    url: str
    events: tuple[str, ...]
    created_at: datetime
    rotating_until: datetime | None


@dataclass(frozen=True, slots=True)
class Delivery:
    delivery_id: str
    event_type: str
    event_id: str
    endpoint_url: str
    interview_id: str
    status: str
    attempts: tuple[WebhookAttemptRow, ...]
    created_at: datetime
    delivered_at: datetime | None


def parse_events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise validation.invalid(
            "events", f"unknown event {', '.join(unknown)}; choose from {', '.join(EVENT_TYPES)}"
        )
    return sorted(set(events))


class WebhookAdmin:
    def __init__(
        self,
        units: UnitOfWorkFactory,
        timeout_seconds: float = 5.0,
        allow_private_networks: bool = False,
    ) -> None:
        self._units = units
        self._timeout = timeout_seconds
        self._allow_private = allow_private_networks

    async def _send(
        self, url: str, message_id: str, body: str, secrets: tuple[str, ...]
    ) -> AttemptResult:
        client = make_client(self._timeout)
        try:
            headers = signing.headers(message_id, precise_now(), body, secrets)
            return await send(client, url, headers, body, self._allow_private)
        finally:
            await client.aclose()

    async def add(self, project_id: str, url: str, events: Sequence[str]) -> tuple[str, str]:
        """Verify the receiver with a signed test event, then store it.
        Returns (endpoint id, secret); nothing is stored if verification fails."""
        chosen = parse_events(events)
        try:
            await resolve(url, self._allow_private)
        except (UnsafeDestination, UnresolvableDestination) as refused:
            raise validation.invalid("url", str(refused)) from None
        if await self._units.read(lambda uow: uow.projects.get(project_id)) is None:
            raise NotFound("project", project_id)
        endpoint_id = str(uuid.uuid4())
        secret = signing.new_secret()
        message_id = str(uuid.uuid4())
        body = signing.body(
            {
                "id": message_id,
                "type": VERIFICATION_EVENT,
                "created_at": iso_utc(precise_now()),
                "endpoint_id": endpoint_id,
                "project_id": project_id,
            }
        )
        result = await self._send(url, message_id, body, (secret,))
        if not result.succeeded:
            # The same words whatever happened: the endpoint's own answer
            # (status, timing of a refusal) is not shown to whoever adds it.
            raise VerificationFailed(
                "the verification request did not get a 2xx answer; "
                "the endpoint must answer 2xx to be added"
            )
        endpoint = WebhookEndpointRow(
            id=endpoint_id,
            project_id=project_id,
            url=url,
            events=chosen,
            secret=secret,
            created_at=precise_now(),
        )
        await self._units.write(lambda uow: uow.webhooks.add_endpoint(endpoint))
        return endpoint_id, secret

    async def list(self, project_id: str | None = None) -> list[Endpoint]:
        now = precise_now()
        rows = await self._units.read(lambda uow: uow.webhooks.endpoints(project_id))
        return [
            Endpoint(
                endpoint_id=row.id,
                project_id=row.project_id,
                url=row.url,
                events=tuple(row.events),
                created_at=row.created_at,
                rotating_until=row.previous_secret_expires_at
                if row.previous_secret_expires_at and row.previous_secret_expires_at > now
                else None,
            )
            for row in rows
        ]

    async def remove(self, endpoint_id: str) -> None:

        def remove(uow: UnitOfWork) -> None:
            endpoint = _live_endpoint(uow, endpoint_id)
            endpoint.removed_at = precise_now()

        await self._units.write(remove)

    async def rotate_secret(self, endpoint_id: str, grace: timedelta) -> str:
        """New secret; the old one keeps signing (alongside) for `grace`."""

        def rotate(uow: UnitOfWork) -> str:
            endpoint = _live_endpoint(uow, endpoint_id)
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_expires_at = precise_now() + grace
            endpoint.secret = signing.new_secret()
            return endpoint.secret

        return await self._units.write(rotate)

    async def deliveries(self, interview_id: str | None = None) -> list[Delivery]:
        return await self._units.read(
            lambda uow: [_describe(uow, row) for row in uow.webhooks.deliveries(interview_id)]
        )

    async def redeliver(self, delivery_id: str) -> Delivery:
        """Send once more, now (same webhook-id), and record the attempt."""
        now = precise_now()

        def sendable(uow: UnitOfWork) -> DeliveryClaim:
            row = uow.webhooks.delivery(delivery_id)
            if row is None:
                raise NotFound("delivery", delivery_id)
            if row.status not in (DeliveryStatus.FAILED, DeliveryStatus.SUCCEEDED):
                # The server's worker owns it until it succeeds or gives up.
                raise RedeliveryRefused(f"delivery {delivery_id} is {row.status}; try again later")
            endpoint = uow.webhooks.endpoint(row.endpoint_id)
            if endpoint is None or endpoint.removed_at is not None:
                raise RedeliveryRefused(f"the endpoint of delivery {delivery_id} was removed")
            return prepare(uow, row, now)

        claim = await self._units.read(sendable)
        result = await self._send(claim.url, claim.event_id, claim.body, claim.signing_secrets)

        def record(uow: UnitOfWork) -> Delivery:
            row = uow.webhooks.delivery(delivery_id)
            assert row is not None
            uow.webhooks.add_attempt(attempt_row(row.id, result, now))
            row.attempts += 1
            row.last_status_code = result.status_code
            row.last_error = result.error
            if result.succeeded:
                row.status = DeliveryStatus.SUCCEEDED
                row.delivered_at = precise_now()
            uow.session.flush()
            return _describe(uow, row)

        return await self._units.write(record)


def _live_endpoint(uow: UnitOfWork, endpoint_id: str) -> WebhookEndpointRow:
    endpoint = uow.webhooks.endpoint(endpoint_id)
    if endpoint is None or endpoint.removed_at is not None:
        raise NotFound("webhook endpoint", endpoint_id)
    return endpoint


def _describe(uow: UnitOfWork, row: WebhookDeliveryRow) -> Delivery:
    event = uow.events.get(row.event_id)
    endpoint = uow.webhooks.endpoint(row.endpoint_id)
    assert event is not None and endpoint is not None  # foreign keys
    return Delivery(
        delivery_id=row.id,
        event_type=event.type,
        event_id=event.id,
        endpoint_url=endpoint.url,
        interview_id=row.interview_id,
        status=row.status,
        attempts=tuple(uow.webhooks.attempts(row.id)),
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )
