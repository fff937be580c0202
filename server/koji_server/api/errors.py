"""The one place where failures become `google.rpc.Status`.

Each status has its canonical gRPC code and exactly one ErrorInfo whose
reason is the upper-case documented code; invalid input adds BadRequest,
rate limiting adds RetryInfo, and already-completed adds the
CompleteInterviewResponse of the first completion so gRPC clients can read it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from koji_server.api import translate
from koji_server.api.observe import error_trailers
from koji_server.domain.errors import (
    AlreadyCompleted,
    DomainError,
    InvalidRequest,
    RateLimited,
)

ERROR_DOMAIN = "koji.v1"


@dataclass(frozen=True, slots=True)
class Answer:
    """How one documented error code is answered: its gRPC code, and its REST
    status. Envoy's transcoder derives a status from the gRPC code, which is
    wrong for some documented codes (413, and 409 for interview_completed), so
    the server states it; envoy/rest_shaping.lua applies it and builds the
    documented {"error", "message"} envelope (its own CODE_FOR_STATUS, for the
    errors Envoy makes itself, agrees with this table: tests/test_errors.py)."""

    grpc_code: int
    http_status: int


ANSWERS: dict[str, Answer] = {
    "invalid_request": Answer(code_pb2.INVALID_ARGUMENT, 400),
    "payload_too_large": Answer(code_pb2.INVALID_ARGUMENT, 413),
    "unauthorized": Answer(code_pb2.UNAUTHENTICATED, 401),
    "invalid_session_token": Answer(code_pb2.UNAUTHENTICATED, 401),
    "forbidden": Answer(code_pb2.PERMISSION_DENIED, 403),
    "not_found": Answer(code_pb2.NOT_FOUND, 404),
    "already_completed": Answer(code_pb2.ALREADY_EXISTS, 409),
    "interview_completed": Answer(code_pb2.FAILED_PRECONDITION, 409),
    "study_not_draft": Answer(code_pb2.FAILED_PRECONDITION, 409),
    "study_not_active": Answer(code_pb2.FAILED_PRECONDITION, 409),
    "rate_limited": Answer(code_pb2.RESOURCE_EXHAUSTED, 429),
    "internal": Answer(code_pb2.INTERNAL, 500),
    "unavailable": Answer(code_pb2.UNAVAILABLE, 503),
}

# Response metadata read (and removed) by envoy/rest_shaping.lua.
# Set by the REST edge (Envoy's Lua filter, which drops any client-sent one)
# on every request it forwards.
VIA_REST_HEADER = "x-koji-via-rest"
REST_STATUS_HEADER = "x-koji-http-status"
REST_ERROR_HEADER = "x-koji-error"
REST_MESSAGE_HEADER = "x-koji-error-message"
# Set when the response message (the body) is sent before the error status,
# so the envelope fields are merged into it instead of replacing it.
REST_WITH_BODY_HEADER = "x-koji-error-with-body"


def rest_hints(error: DomainError, with_body: bool) -> list[tuple[str, str]]:
    """Metadata that lets the REST edge answer with the documented status and
    envelope. The message is a JSON string literal (ASCII-only, header-safe)."""
    hints = [
        (REST_STATUS_HEADER, str(ANSWERS[error.code].http_status)),
        (REST_ERROR_HEADER, error.code),
        (REST_MESSAGE_HEADER, json.dumps(error.message, ensure_ascii=True)),
    ]
    if with_body:
        hints.append((REST_WITH_BODY_HEADER, "1"))
    return hints


def _packed(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_status(error: DomainError, metadata: Sequence[tuple[str, str]] = ()) -> grpc.Status:
    """The gRPC status for a domain error, with `metadata` added to its trailers."""
    details = [_packed(error_details_pb2.ErrorInfo(reason=error.code.upper(), domain=ERROR_DOMAIN))]
    if isinstance(error, InvalidRequest):
        details.append(
            _packed(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description
                        )
                        for v in error.violations
                    ]
                )
            )
        )
    if isinstance(error, RateLimited):
        details.append(
            _packed(
                error_details_pb2.RetryInfo(
                    retry_delay=duration_pb2.Duration(seconds=error.retry_after_seconds)
                )
            )
        )
    if isinstance(error, AlreadyCompleted):
        details.append(_packed(translate.completion(error.summary)))
    status = rpc_status.to_status(
        status_pb2.Status(
            code=ANSWERS[error.code].grpc_code, message=error.message, details=details
        )
    )
    if not metadata:
        return status
    # grpc_status returns a namedtuple: a copy with the trailers extended.
    return status._replace(  # type: ignore[attr-defined]
        trailing_metadata=(*status.trailing_metadata, *metadata)
    )


async def abort(
    context: grpc.aio.ServicerContext,
    failure: DomainError,
    via_rest: bool,
    response_metadata: Sequence[tuple[str, str]] = (),
    body: Message | None = None,
    *,
    streaming: bool = False,
) -> NoReturn:
    """End the call with `failure`: every failing RPC leaves through here.
    A gRPC caller gets `response_metadata` and the request id in the
    trailers; a REST caller gets them and the REST hints in the initial
    metadata (the edge made the request id), and `body`, if any, is sent as
    the response message ahead of the status."""
    trailing: list[tuple[str, str]] = []
    request_id = error_trailers(failure)
    if via_rest and streaming:
        # A stream's failure before its first event: all in one trailers-only
        # answer, which the transcoder hands on as headers (it rewrites a
        # status sent ahead in initial metadata).
        trailing = [*response_metadata, *rest_hints(failure, body is not None)]
    elif via_rest:
        await context.send_initial_metadata(
            [*response_metadata, *rest_hints(failure, body is not None)]
        )
    else:
        trailing = [*response_metadata, *request_id]
    if body is not None:
        await context.write(body)
    await context.abort_with_status(to_status(failure, trailing))
    raise AssertionError("abort_with_status returned")


def internal_error() -> DomainError:
    """Stands for any unexpected failure: no internals leak to the caller."""
    return DomainError("Internal error; it has been logged.")
