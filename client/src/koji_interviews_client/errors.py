"""Reading the Koji API's rich errors from a failed gRPC call.

Every failure carries a `google.rpc.Status` in the `grpc-status-details-bin`
trailer with exactly one `google.rpc.ErrorInfo` (domain `koji.v1`) whose
reason is the documented error code in upper case. Invalid input adds a
`google.rpc.BadRequest`, rate limiting a `google.rpc.RetryInfo`, and a repeated
CompleteInterview (ALREADY_EXISTS, reason ALREADY_COMPLETED) the
`koji.v1.CompleteInterviewResponse` of the first completion.

Works with the errors of both the blocking API (`grpc.RpcError`) and asyncio
(`grpc.aio.AioRpcError`)::

    try:
        stub.CompleteInterview(request, metadata=metadata)
    except grpc.RpcError as error:
        failure = read_error(error)
        if failure.reason == ALREADY_COMPLETED:
            first = failure.completion  # a CompleteInterviewResponse
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Protocol, TypeVar

import grpc
from google.protobuf import any_pb2, message
from google.rpc import error_details_pb2, status_pb2

from koji.v1 import interview_service_pb2

DETAILS_TRAILER: Final = "grpc-status-details-bin"
ERROR_DOMAIN: Final = "koji.v1"

# ErrorInfo reasons: the documented error codes in upper case.
INVALID_REQUEST: Final = "INVALID_REQUEST"
PAYLOAD_TOO_LARGE: Final = "PAYLOAD_TOO_LARGE"
UNAUTHORIZED: Final = "UNAUTHORIZED"
INVALID_SESSION_TOKEN: Final = "INVALID_SESSION_TOKEN"
FORBIDDEN: Final = "FORBIDDEN"
NOT_FOUND: Final = "NOT_FOUND"
ALREADY_COMPLETED: Final = "ALREADY_COMPLETED"
INTERVIEW_COMPLETED: Final = "INTERVIEW_COMPLETED"
STUDY_NOT_DRAFT: Final = "STUDY_NOT_DRAFT"
STUDY_NOT_ACTIVE: Final = "STUDY_NOT_ACTIVE"
RATE_LIMITED: Final = "RATE_LIMITED"
INTERNAL: Final = "INTERNAL"
UNAVAILABLE: Final = "UNAVAILABLE"

M = TypeVar("M", bound=message.Message)


class FailedCall(Protocol):
    """What both `grpc.RpcError` (blocking) and `grpc.aio.AioRpcError` offer."""

    def code(self) -> grpc.StatusCode: ...

    def details(self) -> str | None: ...

    def trailing_metadata(self) -> object: ...


@dataclass(frozen=True)
class KojiError:
    """A failed call, decoded. `reason` is None when the failure did not come
    from the service (no status details: a transport error, a deadline)."""

    code: grpc.StatusCode
    message: str
    reason: str | None = None
    # BadRequest: field name -> what is wrong with it.
    field_violations: dict[str, str] = field(default_factory=dict)
    # RetryInfo: seconds to wait before trying again.
    retry_delay_seconds: float | None = None
    # The first completion, carried by ALREADY_COMPLETED.
    completion: interview_service_pb2.CompleteInterviewResponse | None = None


def rich_status(error: FailedCall) -> status_pb2.Status | None:
    """The `google.rpc.Status` of a failed call, or None if it carries none."""
    trailers = error.trailing_metadata()
    if not isinstance(trailers, Iterable):
        return None
    for key, value in trailers:
        if key == DETAILS_TRAILER and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def read_error(error: FailedCall) -> KojiError:
    """Decode a failed call: code, message, ErrorInfo reason, field violations,
    retry delay and, for ALREADY_COMPLETED, the first completion."""
    code = error.code()
    status = rich_status(error)
    if status is None:
        return KojiError(code=code, message=error.details() or "")
    reason: str | None = None
    violations: dict[str, str] = {}
    retry_delay: float | None = None
    completion: interview_service_pb2.CompleteInterviewResponse | None = None
    for detail in status.details:
        if (info := _unpack(detail, error_details_pb2.ErrorInfo)) is not None:
            reason = info.reason if info.domain == ERROR_DOMAIN else reason
        elif (bad := _unpack(detail, error_details_pb2.BadRequest)) is not None:
            violations.update({v.field: v.description for v in bad.field_violations})
        elif (retry := _unpack(detail, error_details_pb2.RetryInfo)) is not None:
            retry_delay = retry.retry_delay.ToTimedelta().total_seconds()
        elif (done := _unpack(detail, interview_service_pb2.CompleteInterviewResponse)) is not None:
            completion = done
    return KojiError(
        code=code,
        message=status.message,
        reason=reason,
        field_violations=violations,
        retry_delay_seconds=retry_delay,
        completion=completion,
    )


def _unpack(detail: any_pb2.Any, message_type: type[M]) -> M | None:
    if not detail.Is(message_type.DESCRIPTOR):
        return None
    unpacked = message_type()
    detail.Unpack(unpacked)
    return unpacked
