"""Run inside a fresh venv holding only the koji-interviews-client wheel and its
dependencies (tests/test_client_wheel.py): start an interview, send a message,
complete it, complete it again and read the ALREADY_EXISTS details with the
wheel's helper, with the blocking API and with asyncio; then read an
INVALID_REQUEST and a transport failure. Prints one JSON object per step.

Usage: python complete_twice.py ADDRESS API_KEY STUDY_ID CLOSED_ADDRESS
"""

from __future__ import annotations

import asyncio
import json
import sys

import grpc

import koji_interviews_client
from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_interviews_client import ALREADY_COMPLETED, KojiError, read_error


def emit(step: str, **fields: object) -> None:
    print(json.dumps({"step": step, **fields}), flush=True)


def described(failure: KojiError) -> dict[str, object]:
    first = failure.completion
    return {
        "code": failure.code.name,
        "reason": failure.reason,
        "field_violations": sorted(failure.field_violations),
        "completion": None
        if first is None
        else {
            "interview_id": first.interview_id,
            "completed_at": first.completed_at.ToJsonString(),
            "total_messages": first.stats.total_messages,
        },
    }


async def complete_again_async(
    address: str, request: pb.CompleteInterviewRequest, session: tuple[tuple[str, str], ...]
) -> KojiError:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            await pb_grpc.InterviewServiceStub(channel).CompleteInterview(request, metadata=session)
        except grpc.aio.AioRpcError as error:
            return read_error(error)
    raise AssertionError("the second completion succeeded")


def main(address: str, api_key: str, study_id: str, closed_address: str) -> None:
    emit(
        "installed",
        version=koji_interviews_client.__version__,
        stubs=pb.__file__,
        helper=koji_interviews_client.__file__,
        protos=sorted(p.name for p in (koji_interviews_client.proto_path() / "koji/v1").iterdir()),
    )
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.InterviewServiceStub(channel)
        key = (("authorization", f"Bearer {api_key}"),)
        started = stub.StartInterview(pb.StartInterviewRequest(study_id=study_id), metadata=key)
        emit(
            "started",
            interview_id=started.interview_id,
            status=pb.InterviewStatus.Name(started.status),
        )
        session = (*key, ("x-session-token", started.session_token))
        sent = stub.SendMessage(
            pb.SendMessageRequest(
                interview_id=started.interview_id, content="We found you through a podcast."
            ),
            metadata=session,
        )
        emit("sent", messages_count=sent.messages_count)
        request = pb.CompleteInterviewRequest(interview_id=started.interview_id)
        completed = stub.CompleteInterview(request, metadata=session)
        emit(
            "completed",
            status=pb.InterviewStatus.Name(completed.status),
            completed_at=completed.completed_at.ToJsonString(),
            total_messages=completed.stats.total_messages,
        )
        try:
            stub.CompleteInterview(request, metadata=session)
        except grpc.RpcError as error:
            failure = read_error(error)
            emit(
                "completed_again",
                is_already_completed=failure.reason == ALREADY_COMPLETED,
                **described(failure),
            )
        else:
            emit("completed_again", code="OK")
        emit(
            "completed_again_aio",
            **described(asyncio.run(complete_again_async(address, request, session))),
        )
        try:
            stub.StartInterview(pb.StartInterviewRequest(study_id="not-a-uuid"), metadata=key)
        except grpc.RpcError as error:
            emit("invalid", **described(read_error(error)))
    with grpc.insecure_channel(closed_address) as channel:
        try:
            pb_grpc.InterviewServiceStub(channel).GetInterview(
                pb.GetInterviewRequest(interview_id=started.interview_id), metadata=key, timeout=5
            )
        except grpc.RpcError as error:
            emit("unreachable", **described(read_error(error)))


if __name__ == "__main__":
    main(*sys.argv[1:5])
