"""Sends claimed deliveries over one shared HTTP client with bounded timeouts."""

from __future__ import annotations

import logging

import httpx

from koji_server.observability.metrics import Metrics
from koji_server.storage.status import DeliveryStatus
from koji_server.support.clock import precise_now
from koji_server.webhooks import signing
from koji_server.webhooks.deliveries import DeliveryClaim, DeliveryQueue
from koji_server.webhooks.sender import send

log = logging.getLogger(__name__)


def make_client(timeout_seconds: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 3.0)),
        follow_redirects=False,
        trust_env=False,  # never route webhooks through an environment proxy
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
    )


class DeliveryRunner:
    def __init__(
        self,
        queue: DeliveryQueue,
        timeout_seconds: float,
        allow_private_networks: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._queue = queue
        self._client = make_client(timeout_seconds)
        self._allow_private = allow_private_networks

    async def process(self, claim: DeliveryClaim) -> None:
        at = precise_now()
        headers = signing.headers(claim.event_id, at, claim.body, claim.signing_secrets)
        result = await send(self._client, claim.url, headers, claim.body, self._allow_private)
        status = await self._queue.record(claim, result, at)
        if self._metrics is not None and status is not None:
            self._metrics.webhook_attempted(status, claim.attempt)
        if status != DeliveryStatus.SUCCEEDED:
            # The URL may carry tokens in its query: log the delivery id only.
            log.info(
                "webhook delivery %s attempt %d: %s (%s)",
                claim.delivery_id,
                claim.attempt,
                status,
                result.error,
            )

    async def close(self) -> None:
        await self._client.aclose()
