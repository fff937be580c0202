"""InterviewService servicer: proto -> domain -> proto, and the RPC wrapper.

Every RPC runs inside `rpc_call`, applied where the handlers are registered
(`api.handlers.add_service`): it hands the servicer method an `RpcCall`, whose
first step, `authenticate_and_admit`, authenticates the caller's key and
applies its rate limit; on the way out it sends the rate-limit metadata and
turns every failure into its status.

Where the rate-limit metadata goes: gRPC clients get it in the trailing
metadata, which leaves with the status at no cost; calls that come through
the REST edge (marked by Envoy) get it, with the hints that shape the REST
answer, in the initial metadata, which Envoy turns into response headers.
Sending initial metadata on its own costs a gRPC batch of its own (README,
Benchmarks).

Streaming RPCs (async generators of responses) send their headers with their
first event (`RpcCall.send_event`); a failure after that can only end the
stream: with its status, REST callers first getting an `error` event in the
envelope's shape.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field

import grpc
from google.protobuf.message import Message

from koji.v1 import interview_service_pb2 as pb
from koji_server.api import errors, translate
from koji_server.api.observe import about_interview, error_trailers
from koji_server.api.ratelimit import RateLimiter, RateLimitExceeded, RateLimitState
from koji_server.domain.auth import Authenticator
from koji_server.domain.errors import AlreadyCompleted, DomainError, RateLimited
from koji_server.domain.model import InterviewDetail, Principal
from koji_server.domain.services import InterviewService
from koji_server.domain.watching import InterviewWatcher
from koji_server.observability import context as request_context
from koji_server.support.cache import TtlCache

log = logging.getLogger(__name__)

AUTHORIZATION = "authorization"
SESSION_TOKEN = "x-session-token"


@dataclass
class RpcCall:
    """Per-RPC state: the caller's credentials and the metadata to send back."""

    context: grpc.aio.ServicerContext
    authenticator: Authenticator
    limiter: RateLimiter
    response_metadata: list[tuple[str, str]] = field(default_factory=list)
    # The REST status of a success when it is not 200 (201 for a start).
    rest_success_status: int | None = None
    # A response message to send ahead of an error status (already-completed).
    error_body: Message | None = None
    # A streaming RPC that has sent its first event (and so its headers).
    stream_started: bool = False
    # Set by the wrapper of a server-streaming RPC (api.handlers): how it
    # tells REST callers of a failure after its first event.
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

    async def authenticate_and_admit(self, interview_id: str | None = None) -> Principal:
        """The RPC's first step: the caller's key to its principal
        (Unauthorized), then the key's rate limit (RateLimited), whose state
        goes out with the response's metadata either way. An RPC on one
        interview (`interview_id`) called with a session token and no
        `authorization` acts as the session of a link-started interview
        (Authenticator.session), rate-limited as its own key."""
        authorization = self.header(AUTHORIZATION)
        if authorization is None and interview_id is not None and self.session_token:
            principal = await self.authenticator.session(interview_id, self.session_token)
        else:
            principal = await self.authenticator.authenticate(_bearer(authorization))
        known = request_context.current()
        if known is not None:
            known.project_id = principal.project_id
        try:
            self._report(await self.limiter.admit(principal))
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
    context: grpc.aio.ServicerContext, authenticator: Authenticator, limiter: RateLimiter
) -> AsyncIterator[RpcCall]:
    """Runs one RPC's body: authentication and rate limiting through the
    `RpcCall` it yields (`authenticate_and_admit`), the rate-limit metadata
    on the way out, and every failure turned into its status (with the REST
    hints for Envoy)."""
    call = RpcCall(context, authenticator, limiter)
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
    if call.stream_started and call.via_rest and call.error_event is not None:
        await _end_rest_stream(call, failure)
    await errors.abort(
        context,
        failure,
        call.via_rest,
        call.response_metadata,
        call.error_body,
        streaming=call.error_event is not None,
    )


async def _end_rest_stream(call: RpcCall, failure: DomainError) -> None:
    """A failure after a REST stream's first event (its headers are gone):
    an `error` event, then the end of the stream."""
    error_trailers(failure)  # for the RPC's metrics and log line
    known = request_context.current()
    request_id = known.request_id if known is not None else ""
    await call.context.write(
        call.error_event(translate.stream_error(failure.code, failure.message, request_id))  # type: ignore[misc]
    )
    await call.context.abort_with_status(errors.to_status(failure))


class InterviewServicer:
    def __init__(self, service: InterviewService, watcher: InterviewWatcher) -> None:
        self._service = service
        self._watcher = watcher
        self._translated: TtlCache[str, tuple[InterviewDetail, pb.GetInterviewResponse]] = TtlCache(
            ttl_seconds=600, max_entries=10_000
        )

    async def StartInterview(
        self, request: pb.StartInterviewRequest, call: RpcCall
    ) -> pb.StartInterviewResponse:
        call.rest_success_status = 201
        started = await self._service.start_interview(
            await call.authenticate_and_admit(),
            request.study_id,
            translate.respondent_from_proto(request),
            translate.mode_from_proto(request.mode),
            request.locale,
        )
        about_interview(started.interview_id)
        return translate.started(started)

    async def SendMessage(
        self, request: pb.SendMessageRequest, call: RpcCall
    ) -> pb.SendMessageResponse:
        about_interview(request.interview_id)
        exchange = await self._service.send_message(
            await call.authenticate_and_admit(request.interview_id),
            request.interview_id,
            call.session_token,
            request.content,
            translate.given_answer(request),
        )
        return translate.exchange(exchange)

    async def StreamMessage(
        self, request: pb.StreamMessageRequest, call: RpcCall
    ) -> AsyncIterator[pb.StreamMessageResponse]:
        about_interview(request.interview_id)
        events = self._service.stream_message(
            await call.authenticate_and_admit(request.interview_id),
            request.interview_id,
            call.session_token,
            request.content,
            translate.given_answer(request),
        )
        async with aclosing(events):
            async for event in events:
                yield translate.reply_event(event)

    async def WatchInterview(
        self, request: pb.WatchInterviewRequest, call: RpcCall
    ) -> AsyncIterator[pb.WatchInterviewResponse]:
        about_interview(request.interview_id)
        events = self._watcher.watch(await call.authenticate_and_admit(), request.interview_id)
        async with aclosing(events):
            async for event in events:
                yield translate.watch_event(event)

    async def CompleteInterview(
        self, request: pb.CompleteInterviewRequest, call: RpcCall
    ) -> pb.CompleteInterviewResponse:
        """Registered with a streaming-style response (see api.handlers): on a
        repeat completion it sends the first completion's data as the response
        message and then ALREADY_EXISTS, so the REST 409 body carries every
        field of the 200 (grpc.aio drops the message of a unary handler that
        ends with a non-OK status). Unary clients still read a unary answer,
        and get the same data in the status details."""
        about_interview(request.interview_id)
        try:
            summary = await self._service.complete_interview(
                await call.authenticate_and_admit(request.interview_id),
                request.interview_id,
                call.session_token,
                translate.reason_from_proto(request.reason),
                translate.struct_to_dict(request, "feedback"),
            )
        except AlreadyCompleted as done:
            call.error_body = translate.completion(done.summary)
            raise
        return translate.completion(summary)

    async def GetInterview(
        self, request: pb.GetInterviewRequest, call: RpcCall
    ) -> pb.GetInterviewResponse:
        about_interview(request.interview_id)
        detail = await self._service.get_interview(
            await call.authenticate_and_admit(request.interview_id), request.interview_id
        )
        # The service hands out the same object for an interview it serves
        # from memory: translate it once.
        known = self._translated.get(detail.interview_id)
        if known is not None and known[0] is detail:
            return known[1]
        response = translate.interview(detail)
        if detail.analysis is not None:
            self._translated.put(detail.interview_id, (detail, response))
        return response

    async def ListInterviews(
        self, request: pb.ListInterviewsRequest, call: RpcCall
    ) -> pb.ListInterviewsResponse:
        principal = await call.authenticate_and_admit()
        page = await self._service.list_interviews(principal, translate.list_query(request))
        return translate.interview_page(page)

    async def GetUsage(self, request: pb.GetUsageRequest, call: RpcCall) -> pb.GetUsageResponse:
        return translate.usage(await self._service.usage(await call.authenticate_and_admit()))
