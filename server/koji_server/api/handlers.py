"""Registers the servicer with request parsing that cannot crash.

The generated `add_InterviewServiceServicer_to_server` parses requests with
`FromString`; undecodable bytes then end in a bare INTERNAL raised by grpc
itself. Here a request that does not parse reaches our error mapping as
INVALID_ARGUMENT (INVALID_REQUEST) like any other bad input.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import message, message_factory
from google.protobuf.descriptor import ServiceDescriptor

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import study_service_pb2 as study_pb
from koji_server.api import errors
from koji_server.domain import validation
from koji_server.domain.errors import FieldViolation, InvalidRequest

SERVICE = pb.DESCRIPTOR.services_by_name["InterviewService"]
STUDY_SERVICE = study_pb.DESCRIPTOR.services_by_name["StudyService"]
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


Behavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


def _guarded(behavior: Behavior) -> Behavior:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, _Undecodable):
            # The REST edge needs its hints here too, or the caller gets the
            # transcoder's raw status instead of the envelope.
            via_rest = dict(context.invocation_metadata() or ()).get(errors.VIA_REST_HEADER) == "1"
            error = InvalidRequest([FieldViolation("request", UNDECODABLE)])
            await errors.abort(context, error, via_rest)
        return await behavior(request, context)

    return handle


def add_service(servicer: object, server: grpc.aio.Server, service: ServiceDescriptor) -> None:
    handlers = {}
    for method in service.methods:
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        make_handler = (
            grpc.unary_stream_rpc_method_handler
            if method.name in STREAMED_RESPONSE_METHODS
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make_handler(
            _guarded(getattr(servicer, method.name)),
            request_deserializer=_lenient(request_class.FromString),
            response_serializer=response_class.SerializeToString,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)
