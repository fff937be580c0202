"""InterviewService servicer: metadata -> principal, proto -> domain -> proto.

Every RPC runs inside `rpc_call`, which authenticates, applies the key's rate
limit, sends the rate-limit metadata and turns domain errors into statuses.

Where the rate-limit metadata goes: gRPC clients get it in the trailing
metadata, which leaves with the status at no cost; calls that come through
the REST edge (marked by Envoy) get it, with the hints that shape the REST
answer, in the initial metadata, which Envoy turns into response headers.
Sending initial metadata on its own costs a gRPC batch: about a sixth of a
cached GetInterview's time.

Streaming RPCs send their headers before their first event (`start_stream`);
a failure after that can only end the stream: with its status, REST callers
first getting an `error` event in the envelope's shape.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from dataclasses import dataclass, field

import grpc
from google.protobuf.message import Message

from koji.v1 import interview_service_pb2 as pb
from koji_server.api import errors, translate
from koji_server.api.observe import about_interview, error_trailers
from koji_server.domain.cache import TtlCache
from koji_server.domain.errors import AlreadyCompleted, DomainError, RateLimited
from koji_server.domain.model import InterviewDetail, Principal
from koji_server.domain.ratelimit import KeyRateLimiter, RateLimitExceeded, RateLimitState
from koji_server.domain.services import InterviewService
from koji_server.domain.watching import InterviewWatcher
from koji_server.observability import context as request_context

log = logging.getLogger(__name__)

AUTHORIZATION = "authorization"
SESSION_TOKEN = "x-session-token"


@dataclass
class _Call:
    """Per-RPC state: the caller's credentials and the metadata to send back."""

    context: grpc.aio.ServicerContext
    service: InterviewService
    limiter: KeyRateLimiter
    response_metadata: list[tuple[str, str]] = field(default_factory=list)
    # The REST status of a success when it is not 200 (201 for a start).
    rest_success_status: int | None = None
    # A response message to send ahead of an error status (already-completed).
    error_body: Message | None = None
    # A streaming RPC that has sent its first event (and so its headers).
    stream_started: bool = False
    # How a streaming RPC tells REST callers of a failure after its first event.
    error_event: Callable[[pb.StreamError], Message] | None = None

    headers: dict[str, str] | None = None

    def header(self, name: str) -> str | None:
        """The first value of a request header (the metadata is read once)."""
        if self.headers is None:
            self.headers = {}
            for key, value in self.context.invocation_metadata() or ():
                if isinstance(value, str):
                    self.headers.setdefault(key, value)
        return self.headers.get(name)

    @property
    def via_rest(self) -> bool:
        return self.header(errors.VIA_REST_HEADER) == "1"

    @property
    def session_token(self) -> str | None:
        return self.header(SESSION_TOKEN)

    async def principal(self) -> Principal:
        principal = await self.service.authenticate(_bearer(self.header(AUTHORIZATION)))
        known = request_context.current()
        if known is not None:
            known.project_id = principal.project_id
        try:
            self._report(self.limiter.hit(principal))
        except RateLimitExceeded as exceeded:
            self._report(exceeded.state)
            raise
        return principal

    async def send_event(self, event: Message) -> None:
        """Sends one event of a streaming RPC, its headers (REST callers'
        rate-limit headers) before the first."""
        if not self.stream_started:
            self.stream_started = True
            if self.via_rest and self.response_metadata:
                await self.context.send_initial_metadata(self.response_metadata)
        await self.context.write(event)

    def _report(self, state: RateLimitState) -> None:
        self.response_metadata += [
            ("x-ratelimit-limit", str(state.limit)),
            ("x-ratelimit-remaining", str(state.remaining)),
            ("x-ratelimit-reset", str(state.reset_at)),
        ]


def _bearer(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, _, credential = value.strip().partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else None


@asynccontextmanager
async def rpc_call(
    context: grpc.aio.ServicerContext, service: InterviewService, limiter: KeyRateLimiter
) -> AsyncIterator[_Call]:
    """Runs one RPC's body: authentication and rate limiting through the
    `_Call` it yields, the rate-limit metadata on the way out, and every
    failure turned into its status (with the REST hints for Envoy)."""
    call = _Call(context, service, limiter)
    try:
        yield call
    except DomainError as error:
        failure = error
    except Exception:
        log.exception("unexpected failure in an RPC")
        failure = errors.internal_error()
    else:
        if not call.via_rest:
            context.set_trailing_metadata(call.response_metadata)
            return
        if call.stream_started:
            return
        metadata = call.response_metadata
        if call.rest_success_status is not None:
            metadata = [*metadata, (errors.REST_STATUS_HEADER, str(call.rest_success_status))]
        if metadata:
            await context.send_initial_metadata(metadata)
        return
    if isinstance(failure, RateLimited):
        call.response_metadata.append(("retry-after", str(failure.retry_after_seconds)))
    request_id = error_trailers(failure)
    if call.stream_started:
        await _end_stream(call, failure, request_id)
        return
    with_body = call.error_body is not None
    trailing: list[tuple[str, str]] = []
    if call.via_rest and call.error_event is not None:
        # A stream's error before its first event: all in one trailers-only
        # answer, which the transcoder hands on as headers (it would
        # rewrite a status sent ahead in initial metadata).
        trailing = call.response_metadata + errors.rest_hints(failure, with_body)
    elif call.via_rest:
        # The REST edge has the request id already (it made it).
        await context.send_initial_metadata(
            call.response_metadata + errors.rest_hints(failure, with_body)
        )
    else:
        trailing = call.response_metadata + request_id
    if call.error_body is not None:
        await context.write(call.error_body)
    await context.abort_with_status(errors.to_status(failure, trailing))


async def _end_stream(call: _Call, failure: DomainError, request_id: list[tuple[str, str]]) -> None:
    """A failure after a stream's first event: its headers are gone."""
    if not call.via_rest:
        trailing = call.response_metadata + request_id
        await call.context.abort_with_status(errors.to_status(failure, trailing))
    if call.error_event is not None:
        known = request_context.current()
        await call.context.write(
            call.error_event(
                translate.stream_error(
                    failure.code, failure.message, known.request_id if known else ""
                )
            )
        )
    # The event said it all: Envoy would turn an error status into a reset.
    await call.context.abort_with_status(errors.to_status(failure))


class InterviewServicer:
    def __init__(
        self, service: InterviewService, limiter: KeyRateLimiter, watcher: InterviewWatcher
    ) -> None:
        self._service = service
        self._limiter = limiter
        self._watcher = watcher
        self._translated: TtlCache[str, tuple[InterviewDetail, pb.GetInterviewResponse]] = TtlCache(
            ttl_seconds=600, max_entries=10_000
        )

    def _rpc(self, context: grpc.aio.ServicerContext) -> AbstractAsyncContextManager[_Call]:
        return rpc_call(context, self._service, self._limiter)

    async def StartInterview(
        self, request: pb.StartInterviewRequest, context: grpc.aio.ServicerContext
    ) -> pb.StartInterviewResponse:
        async with self._rpc(context) as call:
            call.rest_success_status = 201
            started = await self._service.start_interview(
                await call.principal(),
                request.study_id,
                translate.respondent_from_proto(request),
                translate.mode_from_proto(request.mode),
                request.locale,
            )
            about_interview(started.interview_id)
            return translate.started(started)
        raise AssertionError("unreachable")  # _rpc aborts on every failure

    async def SendMessage(
        self, request: pb.SendMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.SendMessageResponse:
        about_interview(request.interview_id)
        async with self._rpc(context) as call:
            exchange = await self._service.send_message(
                await call.principal(), request.interview_id, call.session_token, request.content
            )
            return translate.exchange(exchange)
        raise AssertionError("unreachable")

    async def StreamMessage(
        self, request: pb.StreamMessageRequest, context: grpc.aio.ServicerContext
    ) -> None:
        about_interview(request.interview_id)
        async with self._rpc(context) as call:
            call.error_event = lambda error: pb.StreamMessageResponse(error=error)
            principal = await call.principal()
            events = self._service.stream_message(
                principal, request.interview_id, call.session_token, request.content
            )
            async with aclosing(events):
                async for event in events:
                    await call.send_event(translate.reply_event(event))

    async def WatchInterview(
        self, request: pb.WatchInterviewRequest, context: grpc.aio.ServicerContext
    ) -> None:
        about_interview(request.interview_id)
        async with self._rpc(context) as call:
            call.error_event = lambda error: pb.WatchInterviewResponse(error=error)
            events = self._watcher.watch(await call.principal(), request.interview_id)
            async with aclosing(events):
                async for event in events:
                    await call.send_event(translate.watch_event(event))

    async def CompleteInterview(
        self, request: pb.CompleteInterviewRequest, context: grpc.aio.ServicerContext
    ) -> None:
        """Registered with a streaming-style response (see api.handlers): on a
        repeat completion it sends the first completion's data as the response
        message and then ALREADY_EXISTS, so the REST 409 body carries every
        field of the 200 (grpc.aio drops the message of a unary handler that
        ends with a non-OK status). Unary clients still read a unary answer,
        and get the same data in the status details."""
        about_interview(request.interview_id)
        async with self._rpc(context) as call:
            try:
                summary = await self._service.complete_interview(
                    await call.principal(),
                    request.interview_id,
                    call.session_token,
                    translate.reason_from_proto(request.reason),
                    translate.struct_to_dict(request, "feedback"),
                )
            except AlreadyCompleted as done:
                call.error_body = translate.completion(done.summary)
                raise
        await context.write(translate.completion(summary))

    async def GetInterview(
        self, request: pb.GetInterviewRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetInterviewResponse:
        about_interview(request.interview_id)
        async with self._rpc(context) as call:
            detail = await self._service.get_interview(await call.principal(), request.interview_id)
            # The service hands out the same object for an interview it serves
            # from memory: translate it once.
            known = self._translated.get(detail.interview_id)
            if known is not None and known[0] is detail:
                return known[1]
            response = translate.interview(detail)
            if detail.analysis is not None:
                self._translated.put(detail.interview_id, (detail, response))
            return response
        raise AssertionError("unreachable")

    async def ListInterviews(
        self, request: pb.ListInterviewsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListInterviewsResponse:
        async with self._rpc(context) as call:
            principal = await call.principal()
            page = await self._service.list_interviews(principal, translate.list_query(request))
            return translate.interview_page(page)
        raise AssertionError("unreachable")

    async def GetUsage(
        self, request: pb.GetUsageRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUsageResponse:
        async with self._rpc(context) as call:
            return translate.usage(await self._service.usage(await call.principal()))
        raise AssertionError("unreachable")
