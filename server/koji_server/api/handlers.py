"""Registers a servicer: every method inside the one RPC wrapper, with request
parsing that cannot crash.

Each method is called as `method(request, call)` inside `rpc_call` (see
api.servicer), so it only translates, calls the service and translates back.
Before it, the request is checked against its proto's rules (api.contract).
The generated `add_InterviewServiceServicer_to_server` parses requests with
`FromString`; undecodable bytes then end in a bare INTERNAL raised by grpc
itself. Here a request that does not parse reaches the same wrapper's error
mapping as INVALID_ARGUMENT (INVALID_REQUEST) like any other bad input.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, aclosing
from typing import Any

import grpc
from google.protobuf import message, message_factory
from google.protobuf.descriptor import ServiceDescriptor

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import link_service_pb2 as link_pb
from koji.v1 import search_service_pb2 as search_pb
from koji.v1 import study_service_pb2 as study_pb
from koji_server.api import contract
from koji_server.api.servicer import RpcCall
from koji_server.domain import validation
from koji_server.domain.errors import FieldViolation, InvalidRequest

SERVICE = pb.DESCRIPTOR.services_by_name["InterviewService"]
STUDY_SERVICE = study_pb.DESCRIPTOR.services_by_name["StudyService"]
SEARCH_SERVICE = search_pb.DESCRIPTOR.services_by_name["SearchService"]
LINK_SERVICE = link_pb.DESCRIPTOR.services_by_name["LinkService"]
# Unary in the proto, but served with a streaming-style handler so that a
# response message can precede an error status (see
# InterviewServicer.CompleteInterview). On the wire the two are identical.
STREAMED_RESPONSE_METHODS = frozenset({"CompleteInterview"})


UNDECODABLE = (
    "is not a valid protobuf message (malformed, or JSON nested more than "
    f"{validation.MAX_JSON_DEPTH} levels deep)"
)


class _Undecodable:
    """Stands in for a request whose bytes are not a valid message."""


def _lenient(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except (message.DecodeError, RecursionError, ValueError):
            return _Undecodable()

    return deserialize


def _check(request: Any) -> None:
    """Refuse a request that did not parse or breaks a rule of its proto."""
    if isinstance(request, _Undecodable):
        raise InvalidRequest([FieldViolation("request", UNDECODABLE)])
    contract.check(request)


Behavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
Method = Callable[[Any, RpcCall], Awaitable[Any]]
StreamMethod = Callable[[Any, RpcCall], AsyncIterator[Any]]
OpenCall = Callable[[grpc.aio.ServicerContext], AbstractAsyncContextManager[RpcCall]]


def _wrapped(method: Method, open_call: OpenCall, streamed: bool) -> Behavior:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        async with open_call(context) as call:  # aborts the call on any failure
            _check(request)
            response = await method(request, call)
        if not streamed:
            return response
        # After the wrapper has sent its metadata: a write sends it first.
        await context.write(response)
        return None

    return handle


def _streaming(method: StreamMethod, open_call: OpenCall, response_class: type[Any]) -> Behavior:
    """A server-streaming method: an async generator of responses, each sent
    as it comes (the first with the call's headers). A failure after the
    first is told to REST callers as a response whose `error` is set."""
    if "error" not in response_class.DESCRIPTOR.fields_by_name:
        raise TypeError(f"{response_class.DESCRIPTOR.full_name} has no `error` field (StreamError)")

    async def handle(request: Any, context: grpc.aio.ServicerContext) -> None:
        async with open_call(context) as call:  # aborts the call on any failure
            call.error_event = lambda error: response_class(error=error)
            _check(request)
            events = method(request, call)
            async with aclosing(events):
                async for event in events:
                    await call.send_event(event)

    return handle


def add_service(
    servicer: object, server: grpc.aio.Server, service: ServiceDescriptor, open_call: OpenCall
) -> None:
    """Serve `service` with `servicer`'s methods, each inside `open_call`."""
    handlers = {}
    for method in service.methods:
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        make_handler = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming or method.name in STREAMED_RESPONSE_METHODS
            else grpc.unary_unary_rpc_method_handler
        )
        behavior = getattr(servicer, method.name)
        handlers[method.name] = make_handler(
            _streaming(behavior, open_call, response_class)
            if method.server_streaming
            else _wrapped(behavior, open_call, method.name in STREAMED_RESPONSE_METHODS),
            request_deserializer=_lenient(request_class.FromString),
            response_serializer=response_class.SerializeToString,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)
