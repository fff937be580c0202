"""What is known about the request being served, for its log lines and metrics.

Set by the gRPC interceptor (`api.observe`) for the task that runs one RPC;
the servicer adds the project and interview once it knows them. Logging
reads it through `logs.RequestFields`, so every line written while the RPC
runs carries its request id.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token
from dataclasses import dataclass

REQUEST_ID_HEADER = "x-request-id"
# A caller's own id is kept if it looks like an id (Envoy's are UUIDs);
# anything else is replaced, so a log line never carries arbitrary input.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass(slots=True)
class RequestContext:
    rpc: str
    request_id: str
    project_id: str | None = None
    interview_id: str | None = None
    # The documented error code (e.g. "rate_limited") when the RPC failed with one.
    error: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("koji_request", default=None)


def request_id_from(value: str | bytes | None) -> str:
    """The caller's x-request-id if acceptable, else a new one."""
    if isinstance(value, str) and _ACCEPTABLE_ID.fullmatch(value):
        return value
    return str(uuid.uuid4())


def begin(rpc: str, request_id: str) -> tuple[RequestContext, Token[RequestContext | None]]:
    context = RequestContext(rpc=rpc, request_id=request_id)
    return context, _current.set(context)


def end(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def current() -> RequestContext | None:
    return _current.get()
