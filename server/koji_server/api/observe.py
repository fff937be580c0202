"""The one place that times, counts and logs every RPC: a server interceptor.

It gives each call a request id (the caller's `x-request-id`, which Envoy
sets on every REST call, or a new one), makes it the current request context
for the handler (log lines, error trailers), and when the call ends records
its gRPC code and duration in the metrics and in one log line.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from koji_server.domain.errors import DomainError
from koji_server.observability import context as request_context
from koji_server.observability.metrics import Metrics

log = logging.getLogger("koji_server.rpc")

# Health checks come every second from Envoy: their lines only at DEBUG.
QUIET_RPC_PREFIXES = ("grpc.health.", "grpc.reflection.")

Behavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


def _code_name(code: object) -> str:
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int):
        for status in grpc.StatusCode:
            if status.value[0] == code:
                return status.name
    return grpc.StatusCode.UNKNOWN.name


def _request_id(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == request_context.REQUEST_ID_HEADER:
            return request_context.request_id_from(value)
    return request_context.request_id_from(None)


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: Metrics | None) -> None:
        self._metrics = metrics
        # method -> (the handler as registered, the observed one): built once
        # per method, not on every call.
        self._observed_handlers: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        known = self._observed_handlers.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        observed = self._observe(handler, method.lstrip("/"))
        self._observed_handlers[method] = (handler, observed)
        return observed

    def _observe(self, handler: grpc.RpcMethodHandler, rpc: str) -> grpc.RpcMethodHandler:
        if handler.unary_unary is not None:
            return handler._replace(  # type: ignore[attr-defined, no-any-return]
                unary_unary=self._observed(handler.unary_unary, rpc)
            )
        if handler.unary_stream is not None and not inspect.isasyncgenfunction(
            handler.unary_stream
        ):
            return handler._replace(  # type: ignore[attr-defined, no-any-return]
                unary_stream=self._observed(handler.unary_stream, rpc)
            )
        return handler  # streaming requests (reflection): not ours to time

    def _observed(self, behavior: Behavior, rpc: str) -> Behavior:
        async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            call, token = request_context.begin(rpc, _request_id(context))
            code = "OK"
            try:
                return await behavior(request, context)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED.name
                raise
            except BaseException:
                code = _code_name(context.code())
                raise
            finally:
                self._answered(call, code, time.perf_counter() - started)
                request_context.end(token)

        return observed

    def _answered(self, call: request_context.RequestContext, code: str, seconds: float) -> None:
        if self._metrics is not None:
            self._metrics.rpc_answered(call.rpc, code, seconds, call.error)
        if code in ("INTERNAL", "UNKNOWN"):
            level = logging.ERROR
        elif call.rpc.startswith(QUIET_RPC_PREFIXES):
            level = logging.DEBUG
        else:
            level = logging.INFO
        if log.isEnabledFor(level):
            fields: dict[str, object] = {"code": code, "duration_ms": round(seconds * 1000, 3)}
            if call.error is not None:
                fields["error"] = call.error
            log.log(level, "rpc", extra=fields)


def about_interview(interview_id: str) -> None:
    """Names the interview the current RPC is about, for its log lines."""
    known = request_context.current()
    if known is not None and interview_id:
        known.interview_id = interview_id


def error_trailers(failure: DomainError) -> list[tuple[str, str]]:
    """Notes the failure's documented code for the RPC's metrics and log line;
    the request id a caller can quote, for gRPC callers' trailers."""
    known = request_context.current()
    if known is None:
        return []
    known.error = failure.code
    return [(request_context.REQUEST_ID_HEADER, known.request_id)]
