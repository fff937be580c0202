"""Test helpers: metadata builders, readers for rich gRPC error details, the
output of the client scripts (tests/node, tests/client_wheel), SQL on a
database beside the server under test."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
import httpx
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.domain.model import Permission, Principal
from koji_server.storage import postgres
from koji_server.storage.schema import WebhookDeliveryRow
from tests.receiver import Receiver

if TYPE_CHECKING:
    from koji_server.app import RunningServer
    from tests.conftest import Tenant

DETAILS_KEY = "grpc-status-details-bin"


def auth(api_key: str, session_token: str | None = None) -> tuple[tuple[str, str], ...]:
    metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {api_key}"),)
    if session_token is not None:
        metadata += (("x-session-token", session_token),)
    return metadata


def rich_status(error: grpc.aio.AioRpcError | grpc.RpcError) -> status_pb2.Status:
    for key, value in error.trailing_metadata() or ():  # type: ignore[union-attr]
        if key == DETAILS_KEY:
            return status_pb2.Status.FromString(value)
    raise AssertionError(f"no {DETAILS_KEY} in the error's trailers")


def details_of(status: status_pb2.Status) -> dict[str, Any]:
    """The status details by message type name; fails on a repeated type."""
    unpacked: dict[str, Any] = {}
    for packed in status.details:
        assert isinstance(packed, any_pb2.Any)
        for cls in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.RetryInfo,
            pb.CompleteInterviewResponse,
        ):
            if packed.Is(cls.DESCRIPTOR):
                message = cls()
                packed.Unpack(message)
                name = cls.DESCRIPTOR.name
                assert name not in unpacked, f"two {name} details"
                unpacked[name] = message
                break
        else:
            raise AssertionError(f"unexpected detail {packed.type_url}")
    return unpacked


def assert_error(
    error: grpc.aio.AioRpcError | grpc.RpcError,
    code: grpc.StatusCode,
    reason: str,
    fields: set[str] | None = None,
) -> dict[str, Any]:
    """Check code, the single ErrorInfo reason and BadRequest fields; return details."""
    assert error.code() == code, (error.code(), error.details())  # type: ignore[union-attr]
    status = rich_status(error)
    assert status.code == code.value[0]
    details = details_of(status)
    info = details["ErrorInfo"]
    assert info.reason == reason
    assert info.domain == "koji.v1"
    if fields is not None:
        violations = details["BadRequest"].field_violations
        assert {v.field for v in violations} == fields
        assert all(v.description for v in violations)
    else:
        assert "BadRequest" not in details
    return details


def json_steps(output: bytes) -> dict[str, dict[str, Any]]:
    """The output of a client script that prints one JSON object per step
    (`{"step": name, ...}`), by step name; fails on a repeated step."""
    steps: dict[str, dict[str, Any]] = {}
    for line in output.decode().splitlines():
        step = json.loads(line)
        name = step.pop("step")
        assert name not in steps, f"step {name} printed twice"
        steps[name] = step
    return steps


def metadata_dict(metadata: Any) -> dict[str, str]:
    return {key: value for key, value in (metadata or ())}


def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of `sql` on the database at `database_url` (a SQLite file or
    PostgreSQL), read on a connection of its own, as another process would."""
    if postgres.is_postgres(database_url):
        engine = postgres.sync_engine(database_url)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(sql))]
        finally:
            engine.dispose()
    path = make_url(database_url).database
    assert path, database_url
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


# How long a test waits for another process (a server, the pipeline, Envoy)
# before failing. A bound on a failure, not a measure of speed: generous, so
# that a loaded machine is slow, never red.
PATIENCE = 120.0


def wait_until(condition: Callable[[], object], what: str, seconds: float = PATIENCE) -> None:
    """Poll `condition` until it is true; fail after `seconds`, saying `what`
    never happened. For waiting on another process (a log line, a row): the
    deadline is a bound, not a measure of speed."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


async def wait_until_async(
    condition: Callable[[], Awaitable[object]], what: str, seconds: float = PATIENCE
) -> None:
    """`wait_until` for a condition that is awaited."""
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


class FakeTicks:
    """A monotonic clock that moves only when told (`support.clock.Ticks`)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def start(
    stub: pb_grpc.InterviewServiceStub, tenant: Tenant, **fields: object
) -> pb.StartInterviewResponse:
    request = pb.StartInterviewRequest(study_id=tenant.study_id, **fields)  # type: ignore[arg-type]
    return await stub.StartInterview(request, metadata=auth(tenant.api_key))


async def send(
    stub: pb_grpc.InterviewServiceStub,
    tenant: Tenant,
    started: pb.StartInterviewResponse,
    content: str,
) -> pb.SendMessageResponse:
    return await stub.SendMessage(
        pb.SendMessageRequest(interview_id=started.interview_id, content=content),
        metadata=auth(tenant.api_key, started.session_token),
    )


async def complete(
    stub: pb_grpc.InterviewServiceStub,
    tenant: Tenant,
    started: pb.StartInterviewResponse,
    **fields: object,
) -> pb.CompleteInterviewResponse:
    return await stub.CompleteInterview(
        pb.CompleteInterviewRequest(interview_id=started.interview_id, **fields),  # type: ignore[arg-type]
        metadata=auth(tenant.api_key, started.session_token),
    )


async def run_interview(stub, tenant: Tenant, answers: list[str]) -> pb.StartInterviewResponse:
    started = await stub.StartInterview(
        pb.StartInterviewRequest(study_id=tenant.study_id), metadata=auth(tenant.api_key)
    )
    for answer in answers:
        await stub.SendMessage(
            pb.SendMessageRequest(interview_id=started.interview_id, content=answer),
            metadata=auth(tenant.api_key, started.session_token),
        )
    await stub.CompleteInterview(
        pb.CompleteInterviewRequest(interview_id=started.interview_id, reason=pb.natural),
        metadata=auth(tenant.api_key, started.session_token),
    )
    return started


async def wait_analysed(stub, tenant: Tenant, interview_id: str):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while True:
        got = await stub.GetInterview(
            pb.GetInterviewRequest(interview_id=interview_id), metadata=auth(tenant.api_key)
        )
        if got.analysis_status != pb.Analysis.processing:
            return got
        assert asyncio.get_running_loop().time() < deadline, "analysis did not finish"
        await asyncio.sleep(0.05)


MISSING_ID = "f8e7d6c5-b4a3-2109-8765-432109876543"


GRPC_INTERNALS = ("grpc-status", "grpc-message", "grpc-status-details-bin", "grpc-accept-encoding")


def assert_envelope(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["message"], str) and body["message"]
    # The id Envoy gave the request, also in its access log and the server's.
    assert body.get("request_id") == response.headers.get("x-request-id")
    assert_no_grpc_internals(response)
    return body  # type: ignore[no-any-return]


def assert_no_grpc_internals(response: httpx.Response) -> None:
    leaked = [h for h in response.headers if h.startswith(("grpc-", "x-koji-", "x-envoy-"))]
    assert leaked == [], leaked


def assert_rate_limit_headers(response: httpx.Response) -> None:
    limit = int(response.headers["X-RateLimit-Limit"])
    remaining = int(response.headers["X-RateLimit-Remaining"])
    reset = int(response.headers["X-RateLimit-Reset"])
    assert 0 <= remaining < limit
    assert time.time() - 1 <= reset <= time.time() + 61


async def scrape(port: int | None) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the endpoint, by name and labels."""
    assert port is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def principal(limit: int, key: str = "k1") -> Principal:
    return Principal(key, "p", frozenset(Permission), limit)


async def wait_for(receiver: Receiver, count: int) -> list:  # type: ignore[type-arg]
    return await asyncio.to_thread(receiver.wait_for, count)


async def db_rows(server: RunningServer, query):  # type: ignore[no-untyped-def]
    async with server.database.read_engine.connect() as conn:
        return (await conn.execute(query)).all()


async def wait_status(server: RunningServer, status: str):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while True:
        rows = await db_rows(server, select(WebhookDeliveryRow))
        if rows and all(r.status == status for r in rows):
            return rows
        assert loop.time() < deadline, [(r.status, r.attempts) for r in rows]
        await asyncio.sleep(0.05)
