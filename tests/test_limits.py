"""The documented per-interview limits, and that an interview at those limits
is readable over both transports (issue 13)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.domain.validation import (
    MAX_CONTENT_CHARS,
    MAX_JSON_DEPTH,
    MAX_RESPONDENT_MESSAGES,
    MAX_TRANSCRIPT_BYTES,
)
from tests.conftest import Rest
from tests.helpers import assert_envelope, assert_error, auth
from tools.envoy_config import MAX_HEADER_KB

# The JSON printer escapes a control character as \u0001: six bytes of JSON
# for each byte stored, the worst case for the REST reader.
WORST = "\x01"


@pytest.mark.storage  # the transcript limits are the storage's checks
def test_an_interview_at_every_limit_is_readable_over_rest_and_grpc(rest: Rest) -> None:
    started = rest.start()
    interview_id = started["interview_id"]
    full = MAX_TRANSCRIPT_BYTES // MAX_CONTENT_CHARS  # 104 messages of 10,000
    small = MAX_RESPONDENT_MESSAGES - full - 1
    remainder = MAX_TRANSCRIPT_BYTES - small - full * MAX_CONTENT_CHARS
    assert 0 < remainder <= MAX_CONTENT_CHARS
    for _ in range(small):
        assert rest.send(started, "x").status_code == 200
    for _ in range(full):
        response = rest.send(started, WORST * MAX_CONTENT_CHARS)
        assert response.status_code == 200, response.text
    # A message that would take the transcript over its size: refused, cleanly.
    over = rest.send(started, WORST * (remainder + 1))
    body = assert_envelope(over, 413, "payload_too_large")
    assert f"{MAX_TRANSCRIPT_BYTES:,} bytes" in body["message"]
    last = rest.send(started, WORST * remainder)
    assert last.status_code == 200, last.text
    assert last.json()["messages_count"] == 2 * MAX_RESPONDENT_MESSAGES + 1
    # The message count is full too.
    over = rest.send(started, "y")
    body = assert_envelope(over, 413, "payload_too_large")
    assert f"{MAX_RESPONDENT_MESSAGES} respondent messages" in body["message"]

    def read_both() -> None:
        response = rest.get(interview_id)
        assert response.status_code == 200, response.text[:300]
        transcript = response.json()["transcript"]
        assert len(transcript) == 2 * MAX_RESPONDENT_MESSAGES + 1
        assert len(response.content) > 6 * MAX_TRANSCRIPT_BYTES
        # A gRPC client with the default 4 MiB receive limit.
        with grpc.insecure_channel(f"127.0.0.1:{rest.threaded.running.port}") as channel:
            got = pb_grpc.InterviewServiceStub(channel).GetInterview(
                pb.GetInterviewRequest(interview_id=interview_id),
                metadata=auth(rest.tenant.api_key),
                timeout=30,
            )
        assert len(got.transcript) == 2 * MAX_RESPONDENT_MESSAGES + 1

    read_both()
    assert rest.complete(started, {"reason": "natural"}).status_code == 200
    read_both()


def test_request_headers_get_one_answer_at_every_size(rest: Rest) -> None:
    # Below Envoy's limit: always served (the gRPC server's metadata limit
    # sits above what Envoy forwards); above it: always 431 in the envelope,
    # never the gRPC runtime's RESOURCE_EXHAUSTED at random.
    started = rest.start()
    path = f"/api/v1/interviews/{started['interview_id']}"
    under = (MAX_HEADER_KB - 1) * 1024 - 300
    many = {f"x-pad-{i}": "a" * 80 for i in range(80)}
    for headers in ({"x-pad": "a" * under}, many):
        for _ in range(10):
            response = rest.client.get(path, headers={**rest.headers(), **headers})
            assert response.status_code == 200, response.text
    for size in (MAX_HEADER_KB * 1024, 10_000, 12_000, 15_500, 17_000, 40_000, 70_000):
        for _ in range(5):
            response = rest.client.get(path, headers={**rest.headers(), "x-pad": "a" * size})
            body = assert_envelope(response, 431, "invalid_request")
            assert (
                body["message"]
                == f"Request headers are too large: at most {MAX_HEADER_KB} KiB in all."
            )


def nested(levels: int, array: bool = False) -> dict[str, Any]:
    """A JSON object `levels` deep, the outermost included."""
    value: Any = "bottom"
    for _ in range(levels - 1):
        value = [value] if array else {"a": value}
    return {"a": value}


@pytest.mark.parametrize("array", [False, True], ids=["objects", "arrays"])
def test_deep_nesting_is_a_400_in_the_envelope_at_every_depth(rest: Rest, array: bool) -> None:
    ok = rest.client.post(
        "/api/v1/interviews/start",
        json={
            "study_id": rest.tenant.study_id,
            "respondent": {"metadata": nested(MAX_JSON_DEPTH, array)},
        },
        headers=rest.headers(),
    )
    assert ok.status_code == 201, ok.text
    started = rest.start()
    assert rest.complete(started, {"feedback": nested(MAX_JSON_DEPTH, array)}).status_code == 200
    for levels in (MAX_JSON_DEPTH + 1, MAX_JSON_DEPTH + 2, 34, 40, 60, 90):
        response = rest.client.post(
            "/api/v1/interviews/start",
            json={
                "study_id": rest.tenant.study_id,
                "respondent": {"metadata": nested(levels, array)},
            },
            headers=rest.headers(),
        )
        body = assert_envelope(response, 400, "invalid_request")
        assert f"nested more than {MAX_JSON_DEPTH} levels" in body["message"] or (
            f"nested at most {MAX_JSON_DEPTH} levels" in body["message"]
        ), body
        other = rest.start()
        response = rest.complete(other, {"feedback": nested(levels, array)})
        body = assert_envelope(response, 400, "invalid_request")
        assert f"{MAX_JSON_DEPTH} levels" in body["message"], body
        assert rest.get(other["interview_id"]).json()["status"] == "active"


async def test_deep_feedback_over_grpc_names_the_field(stub, tenant) -> None:
    started = await stub.StartInterview(
        pb.StartInterviewRequest(study_id=tenant.study_id), metadata=auth(tenant.api_key)
    )
    request = pb.CompleteInterviewRequest(interview_id=started.interview_id)
    request.feedback.update(nested(MAX_JSON_DEPTH + 1))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.CompleteInterview(request, metadata=auth(tenant.api_key, started.session_token))
    assert_error(refused.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", {"feedback"})
