"""The documented REST API through a real Envoy, field by field and code by code."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from koji_server.domain import interviewer
from koji_server.domain.model import Permission
from koji_server.domain.validation import MAX_CONTENT_CHARS
from tests.conftest import QUESTIONS, Rest, add_key, make_tenant
from tests.envoy_process import ENVOY
from tests.helpers import (
    MISSING_ID,
    assert_envelope,
    assert_no_grpc_internals,
    assert_rate_limit_headers,
)
from tools.envoy_config import MAX_BODY_BYTES

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LONG_ANSWER = "A colleague recommended it after using it for a whole quarter"


def timestamp(value: str) -> datetime:
    assert RFC3339_UTC.fullmatch(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_envoy_config_validates(rest: Rest) -> None:
    result = subprocess.run(
        [ENVOY, "--mode", "validate", "-c", str(rest.envoy.config), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout + result.stderr


def test_a_client_cannot_turn_off_the_rest_marker(rest: Rest) -> None:
    # Envoy marks every call it forwards as REST (x-koji-via-rest: 1) after
    # dropping client-sent x-koji-* headers: the 201 and the headers stay.
    response = rest.client.post(
        "/api/v1/interviews/start",
        json={"study_id": rest.tenant.study_id},
        headers={**rest.headers(), "x-koji-via-rest": "0"},
    )
    assert response.status_code == 201
    assert_rate_limit_headers(response)
    assert_no_grpc_internals(response)


def test_start_is_201_with_the_documented_fields(rest: Rest) -> None:
    response = rest.client.post(
        "/api/v1/interviews/start",
        json={"study_id": rest.tenant.study_id, "respondent": {"display_name": "Ana"}},
        headers=rest.headers(),
    )
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert_rate_limit_headers(response)
    assert_no_grpc_internals(response)
    body = response.json()
    assert set(body) == {"interview_id", "session_token", "status", "started_at", "initial_message"}
    assert UUID.fullmatch(body["interview_id"])
    assert body["session_token"].startswith("st_live_")
    assert body["status"] == "active"
    timestamp(body["started_at"])
    first = body["initial_message"]
    assert set(first) == {"message_id", "role", "content", "question"}
    assert first["role"] == "interviewer"
    # The question it serves (the tenant's study: open questions).
    assert set(first["question"]) == {"question_id", "type", "text", "config", "follow_up"}
    assert first["question"]["type"] == "open_ended" and first["question"]["follow_up"] is False
    assert first["content"].startswith("Hi Ana!")


def test_messages_are_200_with_the_documented_fields(rest: Rest) -> None:
    started = rest.start()
    response = rest.send(started, LONG_ANSWER)
    assert response.status_code == 200
    assert_rate_limit_headers(response)
    assert_no_grpc_internals(response)
    body = response.json()
    assert set(body) == {"message_id", "interviewer_response", "interview_status", "messages_count"}
    assert UUID.fullmatch(body["message_id"])
    assert body["interviewer_response"]["content"] == QUESTIONS[1]
    assert UUID.fullmatch(body["interviewer_response"]["message_id"])
    assert body["interview_status"] == "active"
    assert body["messages_count"] == 3 and isinstance(body["messages_count"], int)


def test_the_documents_example_request_works_as_written(rest: Rest) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    started = rest.start()
    result = subprocess.run(
        [
            curl, "-sS", "-w", "\n%{http_code}", "-X", "POST",
            f"{rest.envoy.base_url}/api/v1/interviews/{started['interview_id']}/complete",
            "-H", f"Authorization: Bearer {rest.tenant.api_key}",
            "-H", f"X-Session-Token: {started['session_token']}",
            "-H", "Content-Type: application/json",
            "-d", '{\n    "reason": "natural"\n  }',
        ],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    payload, _, status = result.stdout.rpartition("\n")
    assert status == "200", result.stdout
    assert httpx.Response(200, content=payload).json()["status"] == "completed"


def test_complete_is_200_with_exactly_the_documented_fields(rest: Rest) -> None:
    started = rest.start()
    rest.send(started, LONG_ANSWER)
    response = rest.complete(started, {"reason": "natural"})
    assert response.status_code == 200
    assert_rate_limit_headers(response)
    assert_no_grpc_internals(response)
    body = response.json()
    assert list(body) == ["interview_id", "status", "completed_at", "analysis_status", "stats"]
    assert body["interview_id"] == started["interview_id"]
    assert body["status"] == "completed"
    assert body["analysis_status"] == "processing"
    completed_at = timestamp(body["completed_at"])
    duration = int((completed_at - timestamp(started["started_at"])).total_seconds())
    assert body["stats"] == {
        "duration_seconds": duration,
        "respondent_messages": 1,
        "interviewer_messages": 2,
        "total_messages": 3,
    }
    assert all(type(v) is int for v in body["stats"].values())


def test_zero_counts_are_printed(rest: Rest) -> None:
    started = rest.start()
    body = rest.complete(started).json()
    # Every count is printed, zeros included (proto3 JSON would omit them).
    assert set(body["stats"]) == {
        "duration_seconds", "respondent_messages", "interviewer_messages", "total_messages"
    }  # fmt: skip
    assert body["stats"]["respondent_messages"] == 0


@pytest.mark.parametrize("body", [None, {}], ids=["no-body", "empty-object"])
def test_complete_body_is_optional_and_reason_defaults_to_manual(rest: Rest, body) -> None:
    started = rest.start()
    if body is None:
        response = rest.client.post(
            f"/api/v1/interviews/{started['interview_id']}/complete",
            headers={k: v for k, v in rest.headers(started["session_token"]).items()},
        )
    else:
        response = rest.complete(started, body)
    assert response.status_code == 200, response.text
    got = rest.get(started["interview_id"]).json()
    assert got["reason"] == "manual"


@pytest.mark.parametrize("reason", ["natural", "respondent_left", "timeout", "manual"])
def test_each_documented_reason(rest: Rest, reason: str) -> None:
    started = rest.start()
    assert rest.complete(started, {"reason": reason}).status_code == 200
    assert rest.get(started["interview_id"]).json()["reason"] == reason


def test_feedback_round_trips(rest: Rest) -> None:
    feedback = {
        "satisfaction": 4,
        "comment": "très bien",
        "tags": ["a", None, True],
        "n": {"x": []},
    }
    started = rest.start()
    assert rest.complete(started, {"reason": "natural", "feedback": feedback}).status_code == 200
    assert rest.get(started["interview_id"]).json()["feedback"] == feedback


def test_second_complete_is_409_carrying_the_first_response(rest: Rest) -> None:
    started = rest.start()
    rest.send(started, LONG_ANSWER)
    first = rest.complete(started, {"reason": "natural"}).json()
    again = rest.complete(started, {"reason": "timeout"})
    body = assert_envelope(again, 409, "already_completed")
    assert_rate_limit_headers(again)
    data = {k: v for k, v in body.items() if k not in ("error", "message", "request_id")}
    # Every field of the 200; analysis_status is reported as it is now.
    assert list(data) == list(first)
    assert data["analysis_status"] in ("processing", "completed")
    assert {**data, "analysis_status": None} == {**first, "analysis_status": None}


def test_get_returns_transcript_stats_and_status(rest: Rest) -> None:
    started = rest.start()
    reply = rest.send(started, LONG_ANSWER).json()
    before = rest.get(started["interview_id"])
    assert before.status_code == 200
    assert_rate_limit_headers(before)
    got = before.json()
    assert got["status"] == "active"
    assert "analysis_status" not in got and "completed_at" not in got and "analysis" not in got
    assert [m["role"] for m in got["transcript"]] == ["interviewer", "respondent", "interviewer"]
    assert got["transcript"][1] == {
        "message_id": reply["message_id"],
        "role": "respondent",
        "content": LONG_ANSWER,
        "created_at": got["transcript"][1]["created_at"],
    }
    for message in got["transcript"]:
        timestamp(message["created_at"])
    done = rest.complete(started, {"reason": "natural"}).json()
    after = rest.get(started["interview_id"]).json()
    assert after["status"] == "completed"
    assert after["analysis_status"] in ("processing", "completed")
    assert after["completed_at"] == done["completed_at"]
    assert after["stats"] == done["stats"]
    assert after["interview_id"] == started["interview_id"]


def test_h2c_works_too(rest: Rest) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    result = subprocess.run(
        [
            curl, "-sS", "-i", "--http2-prior-knowledge",
            f"{rest.envoy.base_url}/api/v1/interviews/{MISSING_ID}",
            "-H", f"Authorization: Bearer {rest.tenant.api_key}",
        ],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert result.stdout.startswith("HTTP/2 404")
    assert '{"error":"not_found"' in result.stdout
    assert "grpc-" not in result.stdout.lower()


# --- errors raised by the server -------------------------------------------------


def test_401_unauthorized(rest: Rest) -> None:
    for headers in ({}, {"Authorization": "Bearer koji_sk_" + "x" * 40}, {"Authorization": "x"}):
        response = rest.client.get(f"/api/v1/interviews/{MISSING_ID}", headers=headers)
        assert_envelope(response, 401, "unauthorized")
        assert "X-RateLimit-Limit" not in response.headers  # not authenticated


def test_401_invalid_session_token(rest: Rest) -> None:
    started = rest.start()
    other = rest.start()
    started_with_wrong_token = {**started, "session_token": other["session_token"]}
    assert_envelope(rest.complete(started_with_wrong_token), 401, "invalid_session_token")
    response = rest.client.post(
        f"/api/v1/interviews/{started['interview_id']}/complete", headers=rest.headers()
    )
    assert_envelope(response, 401, "invalid_session_token")
    assert_rate_limit_headers(response)


def test_403_forbidden(rest: Rest) -> None:
    started = rest.start()
    key = rest.threaded.run(
        add_key(
            rest.threaded.database_url,
            rest.tenant.project_id,
            frozenset({Permission.READ}),
            rate_limit=1000,
        )
    )
    response = rest.client.post(
        f"/api/v1/interviews/{started['interview_id']}/complete",
        headers=rest.headers(started["session_token"], key=key),
    )
    body = assert_envelope(response, 403, "forbidden")
    assert "interview:complete" in body["message"]
    assert_rate_limit_headers(response)


def test_404_not_found_and_cross_project(rest: Rest) -> None:
    assert_envelope(rest.get(MISSING_ID), 404, "not_found")
    other = rest.threaded.run(make_tenant(rest.threaded.database_url))
    started = rest.start()
    assert_envelope(rest.get(started["interview_id"], key=other.api_key), 404, "not_found")


def test_409_interview_completed(rest: Rest) -> None:
    started = rest.start()
    rest.complete(started)
    assert_envelope(rest.send(started, "still there?"), 409, "interview_completed")


def test_400_invalid_request_from_the_server(rest: Rest) -> None:
    assert_envelope(rest.get("not-a-uuid"), 400, "invalid_request")
    started = rest.start()
    assert_envelope(rest.send(started, "   "), 400, "invalid_request")
    assert_envelope(rest.complete(started, {"reason": 42}), 400, "invalid_request")


def test_413_oversize_content_from_the_server(rest: Rest) -> None:
    started = rest.start()
    assert_envelope(rest.send(started, "y" * (MAX_CONTENT_CHARS + 1)), 413, "payload_too_large")
    assert_envelope(
        rest.complete(started, {"feedback": {"text": "z" * 17_000}}), 413, "payload_too_large"
    )


def test_429_rate_limited_with_headers(rest: Rest) -> None:
    key = rest.threaded.run(
        add_key(
            rest.threaded.database_url,
            rest.tenant.project_id,
            frozenset(Permission),
            rate_limit=2,
        )
    )
    for remaining in (1, 0):
        response = rest.get(MISSING_ID, key=key)
        assert response.status_code == 404
        assert response.headers["X-RateLimit-Limit"] == "2"
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
    limited = rest.get(MISSING_ID, key=key)
    assert_envelope(limited, 429, "rate_limited")
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert abs(int(limited.headers["X-RateLimit-Reset"]) - (time.time() + retry_after)) <= 2


# --- errors produced by Envoy itself -----------------------------------------------


@pytest.mark.parametrize(
    ("body", "label"),
    [
        (b"{bad json", "malformed"),
        (b'{"reason": 5.5}', "wrong-type"),
        (b'{"reason": "sideways"}', "unknown-enum"),
        (b'{"feedback": "not an object"}', "feedback-not-object"),
        (b"[]", "array"),
    ],
)
def test_400_for_bodies_the_transcoder_rejects(rest: Rest, body: bytes, label: str) -> None:
    started = rest.start()
    response = rest.client.post(
        f"/api/v1/interviews/{started['interview_id']}/complete",
        content=body,
        headers=rest.headers(started["session_token"]),
    )
    assert_envelope(response, 400, "invalid_request")
    assert rest.get(started["interview_id"]).json()["status"] == "active"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("POST", "/api/v2/interviews/start"),
        ("GET", f"/api/v1/interviews/{MISSING_ID}/nope"),
    ],
)
def test_404_for_unknown_paths(rest: Rest, method: str, path: str) -> None:
    response = rest.client.request(method, path, headers=rest.headers())
    assert_envelope(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/api/v1/interviews", "GET, HEAD"),
        ("DELETE", f"/api/v1/interviews/{MISSING_ID}", "GET, HEAD"),
        ("PUT", f"/api/v1/interviews/{MISSING_ID}/complete", "POST"),
        ("GET", f"/api/v1/interviews/{MISSING_ID}/complete", "POST"),
    ],
)
def test_405_for_methods_a_documented_path_does_not_take(
    rest: Rest, method: str, path: str, allow: str
) -> None:
    response = rest.client.request(method, path, headers=rest.headers())
    assert_envelope(response, 405, "invalid_request")
    assert response.headers["allow"] == allow


def test_400_for_query_parameters_and_no_path_override(rest: Rest) -> None:
    started = rest.start()
    other = rest.start()
    for query in (f"interview_id={other['interview_id']}", "foo=1", "interview%5Fid=x"):
        response = rest.client.get(
            f"/api/v1/interviews/{started['interview_id']}?{query}", headers=rest.headers()
        )
        assert_envelope(response, 400, "invalid_request")
    # The id in the path is the only one that counts, for writes too.
    response = rest.client.post(
        f"/api/v1/interviews/{MISSING_ID}/complete?interview_id={other['interview_id']}",
        headers=rest.headers(other["session_token"]),
    )
    assert_envelope(response, 400, "invalid_request")
    response = rest.client.post(
        f"/api/v1/interviews/{MISSING_ID}/complete",
        json={"interview_id": other["interview_id"]},
        headers=rest.headers(other["session_token"]),
    )
    assert_envelope(response, 400, "invalid_request")
    assert rest.get(other["interview_id"]).json()["status"] == "active"


def test_413_for_bodies_over_envoys_limit(rest: Rest) -> None:
    started = rest.start()
    response = rest.client.post(
        f"/api/v1/interviews/{started['interview_id']}/messages",
        content=b'{"content": "' + b"a" * MAX_BODY_BYTES + b'"}',
        headers=rest.headers(started["session_token"]),
    )
    assert_envelope(response, 413, "payload_too_large")


def test_client_cannot_set_envoy_or_grpc_control_headers(rest: Rest) -> None:
    response = rest.client.get(
        f"/api/v1/interviews/{MISSING_ID}",
        headers={
            **rest.headers(),
            "x-envoy-upstream-rq-timeout-ms": "1",
            "grpc-timeout": "1n",
            "x-koji-http-status": "200",
        },
    )
    assert_envelope(response, 404, "not_found")


# --- CORS and health ------------------------------------------------------------


def test_cors_preflight_for_an_allowed_origin(rest: Rest) -> None:
    response = rest.client.options(
        "/api/v1/interviews/start",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, x-session-token, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "x-session-token" in response.headers["access-control-allow-headers"]
    actual = rest.client.get(
        f"/api/v1/interviews/{MISSING_ID}",
        headers={**rest.headers(), "Origin": "https://app.example.com"},
    )
    assert actual.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "x-ratelimit-remaining" in actual.headers["access-control-expose-headers"]


def test_cors_preflight_for_another_origin_is_refused(rest: Rest) -> None:
    response = rest.client.options(
        "/api/v1/interviews/start",
        headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"},
    )
    assert_envelope(response, 403, "forbidden")
    assert "access-control-allow-origin" not in response.headers


def test_healthz_reflects_the_grpc_server(rest: Rest) -> None:
    response = rest.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "serving"}
    assert_no_grpc_internals(response)


def test_upstream_down_is_503_in_the_envelope(tmp_path) -> None:
    from tests.envoy_process import EnvoyProcess
    from tests.processes import free_port

    envoy = EnvoyProcess(free_port(), tmp_path)
    try:
        envoy.wait_ready(expect_healthy=False)
        with httpx.Client(base_url=envoy.base_url, timeout=10) as client:
            health = client.get("/healthz")
            assert_envelope(health, 503, "unavailable")
            response = client.get(
                f"/api/v1/interviews/{MISSING_ID}", headers={"Authorization": "Bearer x"}
            )
            assert_envelope(response, 503, "unavailable")
    finally:
        envoy.stop()


def test_the_documents_polling_loop_gets_the_analysis(rest: Rest) -> None:
    """waitForAnalysis from the document, as written (30 attempts), with a
    shorter delay than its 2 s (0.5 s: 15 s in all, for a loaded machine)."""
    started = rest.start()
    for answer in (
        "A colleague showed it to me while we were planning the quarterly budget review",
        "I hoped it would stop us chasing receipts by email every single month end",
        "The CSV import was really hard, it kept rejecting our date format for hours",
    ):
        rest.send(started, answer)
    assert rest.complete(started, {"reason": "natural"}).status_code == 200

    def wait_for_analysis(interview_id: str, api_key: str) -> dict[str, Any]:
        max_attempts, delay = 30, 0.5
        for _ in range(max_attempts):
            response = rest.client.get(
                f"/api/v1/interviews/{interview_id}",
                headers={"Authorization": f"Bearer {api_key}"},
            )
            data = response.json()
            if data["analysis_status"] == "completed":
                return data  # type: ignore[no-any-return]
            if data["analysis_status"] == "failed":
                raise RuntimeError("Analysis failed")
            time.sleep(delay)
        raise TimeoutError("Analysis timed out")

    data = wait_for_analysis(started["interview_id"], rest.tenant.api_key)
    analysis = data["analysis"]
    assert set(analysis) >= {"themes", "insights", "quality_score"}
    assert isinstance(analysis["quality_score"], float | int)
    assert 1.0 <= analysis["quality_score"] <= 5.0
    respondent_ids = {m["message_id"] for m in data["transcript"] if m["role"] == "respondent"}
    for theme in analysis["themes"]:
        assert set(theme["message_ids"]) <= respondent_ids
    for insight in analysis["insights"]:
        assert insight["message_id"] in respondent_ids
    assert set(data["stats"]) >= {"duration_seconds", "respondent_messages", "interviewer_messages"}


def test_interviewer_goodbye_over_rest(rest: Rest) -> None:
    started = rest.start()
    for answer in QUESTIONS:
        last = rest.send(started, f"My detailed answer about: {answer}").json()
    assert last["interview_status"] == "concluded"
    assert last["interviewer_response"]["content"] == interviewer.GOODBYE


def test_500_internal_in_the_envelope_without_details(tmp_path, database_url) -> None:
    from tests.conftest import ThreadedServer
    from tests.envoy_process import EnvoyProcess

    threaded = ThreadedServer(database_url)
    envoy = EnvoyProcess(threaded.running.port, tmp_path)
    try:
        tenant = threaded.run(make_tenant(threaded.database_url))
        envoy.wait_ready()

        async def break_database() -> None:
            await threaded.running.database.write(
                lambda session: session.connection().exec_driver_sql("DROP TABLE messages")
            )

        threaded.run(break_database())
        response = httpx.post(
            f"{envoy.base_url}/api/v1/interviews/start",
            json={"study_id": tenant.study_id},
            headers={"Authorization": f"Bearer {tenant.api_key}"},
        )
        body = assert_envelope(response, 500, "internal")
        assert "messages" not in body["message"].lower()
        assert "sql" not in body["message"].lower()
        assert set(body) == {"error", "message", "request_id"}
    finally:
        envoy.stop()
        threaded.close()


def test_usage_over_rest(rest: Rest) -> None:
    response = rest.client.get("/api/v1/usage", headers=rest.headers())
    assert response.status_code == 200, response.text
    assert_rate_limit_headers(response)
    body = response.json()
    assert body["project_id"] == rest.tenant.project_id
    for field in ("counted_interviews", "excluded_interviews", "processing_interviews"):
        assert type(body[field]) is int
    assert_envelope(rest.client.get("/api/v1/usage"), 401, "unauthorized")
