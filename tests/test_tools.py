"""grpcurl against the real server: reflection, health and the whole lifecycle."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

pytestmark = pytest.mark.tooling

GRPCURL = shutil.which("grpcurl") or str(Path(sys.executable).parent / "grpcurl")


async def grpcurl(port: int, *args: str, flags: tuple[str, ...] = ()) -> tuple[int, str, str]:
    """Run `grpcurl -plaintext FLAGS 127.0.0.1:PORT ARGS`."""
    process = await asyncio.create_subprocess_exec(
        GRPCURL,
        "-plaintext",
        *flags,
        f"127.0.0.1:{port}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_reflection_lists_the_services(server) -> None:
    code, out, err = await grpcurl(server.port, "list")
    assert code == 0, err
    assert set(out.split()) == {
        "koji.v1.InterviewService",
        "koji.v1.StudyService",
        "koji.v1.SearchService",
        "koji.v1.LinkService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    code, out, err = await grpcurl(server.port, "describe", "koji.v1.InterviewService")
    assert code == 0, err
    for rpc in ("StartInterview", "SendMessage", "CompleteInterview", "GetInterview"):
        assert f"rpc {rpc}" in out
    for rpc in ("StreamMessage", "WatchInterview"):
        assert f"rpc {rpc} " in out and "returns ( stream ." in out


async def test_health_answers_serving(server, channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", "koji.v1.InterviewService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    code, out, err = await grpcurl(server.port, "grpc.health.v1.Health/Check")
    assert code == 0, err
    assert json.loads(out) == {"status": "SERVING"}


async def test_grpcurl_drives_the_lifecycle(server, tenant) -> None:
    key = f"authorization: Bearer {tenant.api_key}"
    code, out, err = await grpcurl(
        server.port,
        "koji.v1.InterviewService/StartInterview",
        flags=("-H", key, "-d", json.dumps({"study_id": tenant.study_id})),
    )
    assert code == 0, err
    started = json.loads(out)
    assert started["status"] == "active"
    session = f"x-session-token: {started['session_token']}"
    interview = {"interview_id": started["interview_id"]}
    message = {**interview, "content": "A colleague showed it to me last spring"}
    code, out, err = await grpcurl(
        server.port,
        "koji.v1.InterviewService/SendMessage",
        flags=("-H", key, "-H", session, "-d", json.dumps(message)),
    )
    assert code == 0, err
    assert json.loads(out)["messages_count"] == 3
    completion = {**interview, "reason": "natural", "feedback": {"rating": 5}}
    code, out, err = await grpcurl(
        server.port,
        "koji.v1.InterviewService/CompleteInterview",
        flags=("-H", key, "-H", session, "-d", json.dumps(completion)),
    )
    assert code == 0, err
    done = json.loads(out)
    assert done["status"] == "completed"
    assert done["analysis_status"] == "processing"
    code, out, err = await grpcurl(
        server.port,
        "koji.v1.InterviewService/GetInterview",
        flags=("-H", key, "-d", json.dumps(interview)),
    )
    assert code == 0, err
    got = json.loads(out)
    assert got["reason"] == "natural"
    assert got["feedback"] == {"rating": 5}
    assert len(got["transcript"]) == 3
    # The second completion is ALREADY_EXISTS and shows the same data.
    code, out, err = await grpcurl(
        server.port,
        "koji.v1.InterviewService/CompleteInterview",
        flags=("-H", key, "-H", session, "-d", json.dumps(interview)),
    )
    assert code != 0
    assert "AlreadyExists" in err
    assert "ALREADY_COMPLETED" in err
    assert done["completed_at"] in err


async def test_grpcurl_follows_both_streams(server, tenant) -> None:
    key = f"authorization: Bearer {tenant.api_key}"
    code, out, err = await grpcurl(
        server.port,
        "koji.v1.InterviewService/StartInterview",
        flags=("-H", key, "-d", json.dumps({"study_id": tenant.study_id})),
    )
    assert code == 0, err
    started = json.loads(out)
    session = f"x-session-token: {started['session_token']}"
    interview = {"interview_id": started["interview_id"]}
    message = {**interview, "content": "A colleague showed it to me last spring"}
    code, out, err = await grpcurl(
        server.port,
        "koji.v1.InterviewService/StreamMessage",
        flags=("-H", key, "-H", session, "-d", json.dumps(message)),
    )
    assert code == 0, err
    events = [json.loads(f"{{{part}") for part in out.strip().lstrip("{").split("\n{")]
    *deltas, last = events
    assert deltas and all(set(event) == {"delta"} for event in deltas)
    assert (
        "".join(d["delta"]["content"] for d in deltas)
        == (last["reply"]["interviewer_response"]["content"])
    )
    # A watch opened before the completion follows it to the analysis, then
    # grpcurl exits.
    watch = await asyncio.create_subprocess_exec(
        GRPCURL, "-plaintext", "-H", key, "-d", json.dumps(interview),
        f"127.0.0.1:{server.port}", "koji.v1.InterviewService/WatchInterview",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert watch.stdout is not None
    first = [await asyncio.wait_for(watch.stdout.readline(), 30)]
    while first[-1] != b"}\n":  # grpcurl prints each message as it comes
        first.append(await asyncio.wait_for(watch.stdout.readline(), 30))
    assert json.loads(b"".join(first))["state"]["status"] == "active"
    code, out, err = await grpcurl(
        server.port,
        "koji.v1.InterviewService/CompleteInterview",
        flags=("-H", key, "-H", session, "-d", json.dumps(interview)),
    )
    assert code == 0, err
    rest, err_bytes = await asyncio.wait_for(watch.communicate(), 30)
    assert watch.returncode == 0, err_bytes
    events = [json.loads(f"{{{part}") for part in rest.decode().strip().lstrip("{").split("\n{")]
    kinds = [(set(event) - {"event_time"}).pop() for event in events]
    assert kinds[0] == "completed" and kinds[-1] == "analysis_ready", kinds


@pytest.mark.parametrize(
    "name",
    [
        "koji.v1.InterviewService",
        "koji.v1.StudyService",
        "koji.v1.SearchService",
        "koji.v1.CompleteInterviewResponse",
    ],
)
async def test_reflection_describes_types(server, name) -> None:
    code, out, err = await grpcurl(server.port, "describe", name)
    assert code == 0, err
    assert name.split(".")[-1] in out
