"""koji-mcp's client of the service's gRPC API.

Every call carries the caller's own credential (`authorization: Bearer
koji_sk_...`), so permissions, project scoping, rate limits and error codes
are the API's. A failed call becomes ApiError with the API's documented code
(the ErrorInfo reason, lower-cased) and message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from koji.v1 import interview_service_pb2 as ipb
from koji.v1 import interview_service_pb2_grpc as igrpc
from koji.v1 import study_service_pb2 as spb
from koji.v1 import study_service_pb2_grpc as sgrpc

DETAILS_TRAILER = "grpc-status-details-bin"
ERROR_DOMAIN = "koji.v1"
CALL_TIMEOUT_SECONDS = 15.0


class ApiError(Exception):
    """A call the API refused or failed: its documented code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _error_of(error: grpc.aio.AioRpcError) -> ApiError:
    for key, value in error.trailing_metadata() or ():
        if key == DETAILS_TRAILER and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info) and info.domain == ERROR_DOMAIN:
                    return ApiError(info.reason.lower(), status.message)
    # Not the server's own answer (it was unreachable, the deadline passed).
    code = error.code()
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return ApiError("unavailable", "The service is unavailable; retry shortly.")
    return ApiError("internal", error.details() or code.name.lower())


def as_dict(message: Message) -> dict[str, Any]:
    """A response as the REST API prints it (proto field names, enums by name,
    RFC 3339 times)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


@dataclass(frozen=True)
class KojiApi:
    """The API's stubs on one channel, each call made with one caller's key."""

    channel: grpc.aio.Channel

    @classmethod
    def connect(cls, target: str) -> KojiApi:
        # Several replicas (a comma-separated list): calls taken in turn.
        options = [("grpc.lb_policy_name", "round_robin")]
        if "," in target and ":///" not in target:
            target = "ipv4:" + target
        return cls(grpc.aio.insecure_channel(target, options=options))

    async def call(self, method: Any, request: Message, api_key: str) -> Any:
        try:
            return await method(
                request,
                metadata=(("authorization", f"Bearer {api_key}"),),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as error:
            raise _error_of(error) from None

    async def get_interview(self, api_key: str, interview_id: str) -> ipb.GetInterviewResponse:
        stub = igrpc.InterviewServiceStub(self.channel)
        request = ipb.GetInterviewRequest(interview_id=interview_id)
        return await self.call(stub.GetInterview, request, api_key)  # type: ignore[no-any-return]

    async def list_interviews(
        self, api_key: str, request: ipb.ListInterviewsRequest
    ) -> ipb.ListInterviewsResponse:
        stub = igrpc.InterviewServiceStub(self.channel)
        return await self.call(stub.ListInterviews, request, api_key)  # type: ignore[no-any-return]

    async def get_usage(self, api_key: str) -> ipb.GetUsageResponse:
        stub = igrpc.InterviewServiceStub(self.channel)
        return await self.call(stub.GetUsage, ipb.GetUsageRequest(), api_key)  # type: ignore[no-any-return]

    async def get_study_report(self, api_key: str, study_id: str) -> spb.GetStudyReportResponse:
        stub = sgrpc.StudyServiceStub(self.channel)
        request = spb.GetStudyReportRequest(study_id=study_id)
        return await self.call(stub.GetStudyReport, request, api_key)  # type: ignore[no-any-return]

    async def study_call(self, api_key: str, method: str, request: Message) -> spb.Study:
        """One of StudyService's study RPCs (CreateStudy, GetStudy,
        UpdateStudy, PublishStudy): each answers with the study."""
        stub = sgrpc.StudyServiceStub(self.channel)
        return await self.call(getattr(stub, method), request, api_key)  # type: ignore[no-any-return]

    async def list_studies(
        self, api_key: str, request: spb.ListStudiesRequest
    ) -> spb.ListStudiesResponse:
        stub = sgrpc.StudyServiceStub(self.channel)
        return await self.call(stub.ListStudies, request, api_key)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.channel.close()
