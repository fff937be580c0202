"""The two streams as REST callers get them: Server-Sent Events through a real
Envoy, read incrementally."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator

from koji_server.domain.model import Permission
from tests.conftest import Databases, Rest, ThreadedServer, add_key, make_tenant
from tests.envoy_process import EnvoyProcess
from tests.helpers import assert_envelope, assert_no_grpc_internals, assert_rate_limit_headers
from tests.transcripts import ENGAGED

HEARTBEAT_SECONDS = 0.3
STREAMS_PER_KEY = 3
# Envoy cuts a stream silent for this long: heartbeats must keep it open.
ENVOY_STREAM_IDLE_SECONDS = 1
NEXT_QUESTION = "What was the hardest part of getting started?"
OPENAPI = json.loads((Path(__file__).resolve().parents[1] / "gen" / "openapi.json").read_text())


def conforms(events: list[dict[str, Any]], operation_path: str, method: str) -> None:
    """Each event's data is of the schema the OpenAPI document names for it."""
    media = OPENAPI["paths"][operation_path][method]["responses"]["200"]["content"]
    data = media["text/event-stream"]["schema"]["properties"]["data"]
    schema = {**data["x-content-schema"], "components": OPENAPI["components"]}
    validator = OAS30Validator(schema)
    for event in events:
        validator.validate(event)


@pytest.fixture(scope="module")
def sse(
    tmp_path_factory: pytest.TempPathFactory, databases: Databases, analysis_executor: Executor
) -> Iterator[Rest]:
    threaded = ThreadedServer(
        databases.fresh(tmp_path_factory.mktemp("sse")),
        analysis_executor,
        stream_heartbeat_seconds=HEARTBEAT_SECONDS,
        watch_streams_per_key=STREAMS_PER_KEY,
    )
    envoy = EnvoyProcess(
        threaded.running.port,
        tmp_path_factory.mktemp("envoy-sse"),
        stream_idle_timeout_seconds=ENVOY_STREAM_IDLE_SECONDS,
    )
    try:
        envoy.wait_ready()
        tenant = threaded.run(make_tenant(threaded.database_url))
        with httpx.Client(base_url=envoy.base_url, timeout=30) as client:
            yield Rest(threaded, envoy, tenant, client)
    finally:
        envoy.stop()
        threaded.close()


def events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The `data:` payloads of an event stream, as they arrive."""
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    data: list[str] = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            data.append(line[len("data: ") :])
        elif line == "" and data:
            yield json.loads("\n".join(data))
            data = []
        else:
            assert line == "", line
    assert not data, "a partial event at the end of the stream"


def kind(event: dict[str, Any]) -> str:
    (name,) = set(event) - {"event_time"}
    return name


def stream_message(rest: Rest, started: dict[str, Any], content: str, token: str | None = None):  # type: ignore[no-untyped-def]
    return rest.client.stream(
        "POST",
        f"/api/v1/interviews/{started['interview_id']}/message",
        json={"content": content},
        headers=rest.headers(token or started["session_token"]),
    )


def watch(rest: Rest, interview_id: str, key: str | None = None):  # type: ignore[no-untyped-def]
    return rest.client.stream(
        "GET", f"/api/v1/interviews/{interview_id}/events", headers=rest.headers(key=key)
    )


def test_the_reply_streams_as_server_sent_events(sse: Rest) -> None:
    started = sse.start()
    with stream_message(sse, started, ENGAGED[0]) as response:
        assert_rate_limit_headers(response)
        assert_no_grpc_internals(response)
        received = list(events(response))
    conforms(received, "/api/v1/interviews/{interview_id}/message", "post")
    *deltas, last = received
    assert len(deltas) >= 2
    assert all(set(d) == {"delta"} for d in deltas)
    assert set(last) == {"reply"}
    reply = last["reply"]
    # Exactly the fields of the unary /messages response.
    assert set(reply) == {
        "message_id",
        "interviewer_response",
        "interview_status",
        "messages_count",
    }
    assert reply["interviewer_response"] == {
        "message_id": deltas[0]["delta"]["message_id"],
        "role": "interviewer",
        "content": NEXT_QUESTION,
        "question": reply["interviewer_response"]["question"],
    }
    assert reply["interviewer_response"]["question"]["text"] == NEXT_QUESTION
    assert "".join(d["delta"]["content"] for d in deltas) == NEXT_QUESTION
    assert reply["interview_status"] == "active"
    assert reply["messages_count"] == 3
    # The unary endpoint is unchanged beside it.
    unary = sse.send(started, ENGAGED[1])
    assert unary.status_code == 200 and unary.headers["content-type"] == "application/json"
    assert unary.json()["messages_count"] == 5


def test_stream_errors_keep_their_documented_status_and_envelope(sse: Rest) -> None:
    started = sse.start()
    with stream_message(sse, started, "Hi", token="st_live_" + "x" * 43) as response:
        response.read()
        assert_envelope(response, 401, "invalid_session_token")
    reader = add_key_now(sse, frozenset({Permission.READ}))
    with sse.client.stream(
        "POST",
        f"/api/v1/interviews/{started['interview_id']}/message",
        json={"content": "Hi"},
        headers=sse.headers(started["session_token"], key=reader),
    ) as response:
        response.read()
        assert_envelope(response, 403, "forbidden")
    with stream_message(sse, started, "x" * 10_001) as response:
        response.read()
        assert_envelope(response, 413, "payload_too_large")
    missing = {**started, "interview_id": "f8e7d6c5-b4a3-2109-8765-432109876543"}
    with stream_message(sse, missing, "Hi") as response:
        response.read()
        assert_envelope(response, 404, "not_found")
    assert sse.complete(started).status_code == 200
    with stream_message(sse, started, "Hi") as response:
        response.read()
        assert_envelope(response, 409, "interview_completed")
    with watch(sse, started["interview_id"], key="koji_sk_" + "x" * 40) as response:
        response.read()
        assert_envelope(response, 401, "unauthorized")
    with watch(sse, "not-a-uuid") as response:
        response.read()
        assert_envelope(response, 400, "invalid_request")


def add_key_now(rest: Rest, permissions: frozenset[Permission]) -> str:
    return rest.threaded.run(  # type: ignore[no-any-return]
        add_key(rest.threaded.database_url, rest.tenant.project_id, permissions, 1000)
    )


def test_a_client_that_disconnects_mid_reply_loses_nothing(sse: Rest) -> None:
    started = sse.start()
    with stream_message(sse, started, ENGAGED[0]) as response:
        first = next(events(response))
    # The connection is closed after the first piece.
    assert set(first) == {"delta"}
    got = sse.get(started["interview_id"]).json()
    said, reply = got["transcript"][1:]
    assert said["content"] == ENGAGED[0]
    assert reply["message_id"] == first["delta"]["message_id"]
    assert reply["content"] == NEXT_QUESTION


def test_watch_follows_an_interview_to_its_analysis_and_ends(sse: Rest) -> None:
    started = sse.start()
    with watch(sse, started["interview_id"]) as response:
        assert_rate_limit_headers(response)
        stream = events(response)
        state = next(stream)
        assert kind(state) == "state"
        assert state["state"] == {
            "interview_id": started["interview_id"],
            "status": "active",
            "stats": {
                "duration_seconds": 0,
                "respondent_messages": 0,
                "interviewer_messages": 1,
                "total_messages": 1,
            },
        }
        for answer in ENGAGED:
            assert sse.send(started, answer).status_code == 200
        completed = sse.complete(started).json()
        rest = [e for e in stream if kind(e) != "heartbeat"]  # to the stream's end
    conforms([state, *rest], "/api/v1/interviews/{interview_id}/events", "get")
    assert [kind(e) for e in rest] == ["message_added"] * 2 * len(ENGAGED) + [
        "completed",
        "analysis_status",
        "quality_scored",
        "analysis_status",
        "analysis_ready",
    ]
    assert rest[0]["message_added"]["role"] == "respondent"
    assert rest[0]["message_added"]["messages_count"] == 2
    assert set(rest[0]["message_added"]) == {
        "message_id",
        "role",
        "messages_count",
        "interview_status",
    }
    assert rest[2 * len(ENGAGED)]["completed"] == completed
    assert rest[-4]["analysis_status"] == {"status": "processing"}
    analysis = sse.get(started["interview_id"]).json()["analysis"]
    assert rest[-1]["analysis_ready"] == analysis
    assert rest[-3]["quality_scored"] == {
        "quality_score": analysis["quality_score"],
        "counts_toward_usage": analysis["counts_toward_usage"],
    }
    assert rest[-2]["analysis_status"] == {"status": "completed"}
    # A watch now: its state, and the end.
    with watch(sse, started["interview_id"]) as response:
        (only,) = list(events(response))
    assert only["state"]["status"] == "completed"
    assert only["state"]["analysis_status"] == "completed"


def test_heartbeats_keep_an_idle_stream_open_through_envoy(sse: Rest) -> None:
    started = sse.start()
    began = time.monotonic()
    beats = 0
    with watch(sse, started["interview_id"]) as response:
        for event in events(response):
            if kind(event) == "heartbeat":
                beats += 1
                assert event["heartbeat"] == {}
            if time.monotonic() - began > 3 * ENVOY_STREAM_IDLE_SECONDS:
                break
    # Open well past Envoy's idle timeout, and a heartbeat each interval.
    assert beats >= 3 * ENVOY_STREAM_IDLE_SECONDS / HEARTBEAT_SECONDS * 0.6


def test_watch_streams_beyond_the_cap_are_rate_limited(sse: Rest) -> None:
    started = sse.start()
    key = add_key_now(sse, frozenset({Permission.READ}))
    opened = [watch(sse, started["interview_id"], key) for _ in range(STREAMS_PER_KEY)]
    responses = [context.__enter__() for context in opened]
    try:
        # (Kept: a dropped iterator closes its connection.)
        streams = [events(response) for response in responses]
        for stream in streams:
            assert kind(next(stream)) == "state"
        with watch(sse, started["interview_id"], key) as refused:
            refused.read()
            body = assert_envelope(refused, 429, "rate_limited")
            assert refused.headers["retry-after"] == "1"
            assert f"{STREAMS_PER_KEY} open watch streams" in body["message"]
        assert sse.threaded.running.watcher.open_streams == STREAMS_PER_KEY
    finally:
        for context in opened:
            context.__exit__(None, None, None)


def test_a_stopping_server_ends_streams_with_an_error_event(
    tmp_path: Path, database_url: str, analysis_executor: Executor
) -> None:
    threaded = ThreadedServer(database_url, analysis_executor)
    envoy = EnvoyProcess(threaded.running.port, tmp_path)
    try:
        envoy.wait_ready()
        tenant = threaded.run(make_tenant(threaded.database_url))
        headers = {"Authorization": f"Bearer {tenant.api_key}"}
        with httpx.Client(base_url=envoy.base_url, timeout=30) as client:
            started = client.post(
                "/api/v1/interviews/start", json={"study_id": tenant.study_id}, headers=headers
            ).json()
            path = f"/api/v1/interviews/{started['interview_id']}/events"
            with client.stream("GET", path, headers=headers) as response:
                stream = events(response)
                assert kind(next(stream)) == "state"
                threaded.run(threaded.running.stop(5))
                (error,) = list(stream)
        assert error["error"] == {
            "error": "unavailable",
            "message": "The server is shutting down; watch again to continue.",
            "request_id": response.headers["x-request-id"],
        }
    finally:
        envoy.stop()
        threaded.close()
