"""One HTTP attempt: no redirects followed, bounded time, response read with a cap."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from koji_server.webhooks.destination import UnresolvableDestination, UnsafeDestination, resolve

RESPONSE_CAP_BYTES = 4096
MAX_RETRY_AFTER_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status_code: int | None
    latency_ms: float
    error: str | None
    retry_after_seconds: float | None
    response_excerpt: str | None
    unsafe: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        """Timeouts, connection errors, 408, 429 and 5xx are worth another try;
        other answers (and unsafe destinations) are final."""
        if self.unsafe:
            return False
        if self.status_code is None:
            return True
        return self.status_code in (408, 429) or self.status_code >= 500


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)


async def send(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    data: str,
    allow_private: bool = False,
) -> AttemptResult:
    started = time.perf_counter()

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 2)

    try:
        target = await resolve(url, allow_private)
    except UnsafeDestination as refused:
        return AttemptResult(None, elapsed(), f"refused: {refused}", None, None, unsafe=True)
    except UnresolvableDestination as error:
        return AttemptResult(None, elapsed(), str(error), None, None)
    try:
        async with client.stream(
            "POST",
            target.connect_url,
            headers={**headers, "host": target.host_header},
            content=data.encode(),
            follow_redirects=False,
            extensions={"sni_hostname": target.server_name},
        ) as response:
            excerpt = bytearray()
            async for chunk in response.aiter_bytes():
                excerpt += chunk[: RESPONSE_CAP_BYTES - len(excerpt)]
                if len(excerpt) >= RESPONSE_CAP_BYTES:
                    break
            error = None
            if response.is_redirect:
                error = "redirects are not followed"
            elif not response.is_success:
                error = f"HTTP {response.status_code}"
            return AttemptResult(
                response.status_code,
                elapsed(),
                error,
                _retry_after(response.headers.get("retry-after")),
                excerpt.decode("utf-8", "replace") or None,
            )
    except httpx.TimeoutException:
        return AttemptResult(None, elapsed(), "timeout", None, None)
    except httpx.HTTPError as error:
        return AttemptResult(None, elapsed(), f"{type(error).__name__}: {error}", None, None)
