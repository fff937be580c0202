"""The REST edge's own answers: REST only, envelopes that say what was
wrong, no secret in Envoy's log (issue 13)."""

from __future__ import annotations

import socket
import time

import grpc
import httpx
import pytest

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.api.error_table import ANSWERS
from tests.conftest import Rest
from tests.envoy_process import EnvoyProcess
from tests.helpers import MISSING_ID, PATIENCE, assert_envelope, auth


def test_secrets_in_a_query_string_never_reach_envoys_access_log(rest: Rest) -> None:
    started = rest.start()
    secrets = [rest.tenant.api_key, started["session_token"]]
    marker = started["interview_id"]
    for name, secret in zip(("api_key", "session_token"), secrets, strict=True):
        response = rest.client.get(f"/api/v1/interviews/{marker}?{name}={secret}")
        assert_envelope(response, 400, "invalid_request")
    deadline = time.monotonic() + PATIENCE
    while rest.envoy.log.read_text().count(f"/api/v1/interviews/{marker}") < 2:
        assert time.monotonic() < deadline, rest.envoy.log.read_text()[-2000:]
        time.sleep(0.1)
    log = rest.envoy.log.read_text()
    for secret in secrets:
        assert secret not in log
    assert "api_key=" not in log and "session_token=" not in log


@pytest.mark.parametrize(
    "content_type", ["application/grpc", "application/grpc+proto", "Application/GRPC"]
)
def test_the_rest_port_refuses_grpc_content_types(rest: Rest, content_type: str) -> None:
    started = rest.start()
    for method, path, headers in (
        ("GET", f"/api/v1/interviews/{started['interview_id']}", {}),
        (
            "GET",
            f"/api/v1/interviews/{MISSING_ID}",
            {"Authorization": rest.headers()["Authorization"]},
        ),
        ("POST", f"/api/v1/interviews/{started['interview_id']}/complete", {}),
        ("GET", "/healthz", {}),
        ("POST", "/koji.v1.InterviewService/GetInterview", {}),
    ):
        response = rest.client.request(
            method, path, headers={**headers, "content-type": content_type}, content=b""
        )
        body = assert_envelope(response, 415, "invalid_request")
        assert "REST" in body["message"]
    # HEAD: the status, and no body (which would corrupt the connection).
    for _ in range(3):
        head = rest.client.head(
            f"/api/v1/interviews/{started['interview_id']}",
            headers={"content-type": content_type},
        )
        assert head.status_code == 415
        assert head.content == b""
    assert rest.get(started["interview_id"]).json()["status"] == "active"


def test_grpc_method_paths_are_not_served_on_the_rest_port(rest: Rest) -> None:
    started = rest.start()
    response = rest.client.post(
        "/koji.v1.InterviewService/GetInterview",
        json={"interview_id": started["interview_id"]},
        headers=rest.headers(),
    )
    assert_envelope(response, 404, "not_found")
    # A real gRPC client pointed at the REST port gets nothing.
    port = rest.envoy.settings.listen_port
    with (
        grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
        pytest.raises(grpc.RpcError) as refused,
    ):
        pb_grpc.InterviewServiceStub(channel).GetInterview(
            pb.GetInterviewRequest(interview_id=started["interview_id"]),
            metadata=auth(rest.tenant.api_key),
            timeout=10,
        )
    # The REST port refuses a gRPC content type with 415, which the client
    # reports as such: it never reached the server.
    assert refused.value.code() == grpc.StatusCode.UNKNOWN
    assert "415" in (refused.value.details() or "")


DOCUMENTED_CODES = set(ANSWERS)


def raw_http(rest: Rest, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends bytes as they are (httpx would fix them) and reads one response."""
    with socket.create_connection(("127.0.0.1", rest.envoy.settings.listen_port), 10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        while len(body) < int(headers["content-length"]):
            chunk = sock.recv(65536)
            assert chunk, data
            body += chunk
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_line", "extra", "status", "words"),
    [
        (b"GET /api/v1/interviews/%00 HTTP/1.1", b"", 400, "NUL"),
        (b"GET /api/v1/interviews/..%2f..%2fhealthz HTTP/1.1", b"", 400, "encoded slash"),
        (b"GET /api/v1/interviews/x#fragment HTTP/1.1", b"", 400, "fragment"),
        (b"GET /api/v1/interviews/a%5cb HTTP/1.1", b"", 400, "backslash"),
        (b"GET /api/v1/interviews/x y HTTP/1.1", b"", 400, "not valid HTTP"),
        (
            b"GET /api/v1/interviews/" + MISSING_ID.encode() + b" HTTP/1.1",
            b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            400,
            "WebSocket",
        ),
        (b"GET /api/v1/interviews/" + MISSING_ID.encode() + b" HTTP/1.0", b"", 426, "HTTP/1.0"),
    ],
    ids=["nul", "encoded-slash", "fragment", "backslash", "space", "websocket", "http-1.0"],
)
def test_envoys_own_rejections_say_what_was_wrong(
    rest: Rest, request_line: bytes, extra: bytes, status: int, words: str
) -> None:
    request = (
        request_line + b"\r\nHost: koji\r\nAuthorization: Bearer " + rest.tenant.api_key.encode()
        + b"\r\n" + extra + b"Connection: close\r\n\r\n"
    )  # fmt: skip
    got, headers, body = raw_http(rest, request)
    assert got == status, body
    assert headers["content-type"] == "application/json"
    envelope = httpx.Response(got, content=body).json()
    assert envelope["error"] == "invalid_request"
    assert words in envelope["message"], envelope


def test_envoys_5xx_have_a_plain_message(tmp_path) -> None:
    from tests.envoy_process import EnvoyProcess
    from tests.processes import free_port

    envoy = EnvoyProcess(free_port(), tmp_path)  # no server behind it
    try:
        envoy.wait_ready(expect_healthy=False)
        with httpx.Client(base_url=envoy.base_url, timeout=10) as client:
            response = client.get(
                f"/api/v1/interviews/{MISSING_ID}", headers={"Authorization": "Bearer x"}
            )
        body = assert_envelope(response, 503, "unavailable")
        assert body["message"] == "The service is unavailable; retry shortly."
    finally:
        envoy.stop()


def test_a_bare_grpc_status_from_the_runtime_gets_the_envelope(rest: Rest, tmp_path) -> None:
    # An Envoy that lets more headers through than the gRPC server accepts:
    # the runtime refuses such calls before our handler (and its REST hints).
    loose = EnvoyProcess(rest.threaded.running.port, tmp_path, max_header_kb=96)
    statuses = []
    try:
        loose.wait_ready()
        with httpx.Client(base_url=loose.base_url, timeout=10) as client:
            for size in (20_000, 30_000, 50_000, 80_000) * 2:
                response = client.get(
                    f"/api/v1/interviews/{MISSING_ID}",
                    headers={**rest.headers(), "x-pad": "a" * size},
                )
                statuses.append(response.status_code)
                body = response.json()
                assert set(body) == {"error", "message", "request_id"}, body
                assert body["error"] in DOCUMENTED_CODES and body["message"]
                assert "metadata" not in body["message"]
                assert response.headers["content-type"] == "application/json"
    finally:
        loose.stop()
    assert 429 in statuses, statuses  # the runtime did refuse some
