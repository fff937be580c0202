"""Hypothesis against the REST surface: never a 5xx, never a non-JSON error body,
never a gRPC internal in the headers."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Rest

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
VALID_ID = "f8e7d6c5-b4a3-2109-8765-432109876543"
segment = st.one_of(
    st.sampled_from([VALID_ID, "start", "messages", "complete", "..", ".", "%2F", "%00", ""]),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.~%", max_size=40),
)
paths = st.builds(
    lambda prefix, parts, query: prefix + "/".join(parts) + query,
    st.sampled_from(["/api/v1/interviews/", "/api/v1/", "/", "/koji.v1.InterviewService/"]),
    st.lists(segment, max_size=4),
    st.sampled_from(["", "?interview_id=x", "?a=b&c", "?"]),
)
printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
header_values = printable.map(str.strip)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | printable,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(printable, children, max_size=3)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "reason": json_values,
            "feedback": json_values,
            "content": json_values,
            "study_id": json_values,
            "interview_id": json_values,
        },
    ).map(lambda v: json.dumps(v).encode()),
)


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    leaked = [h for h in response.headers if h.startswith(("grpc-", "x-koji-"))]
    assert leaked == []
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert isinstance(body["error"], str) and body["error"]
        assert isinstance(body["message"], str)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]),
    path=paths,
    body=bodies,
    authorization=st.one_of(st.none(), header_values, st.just("use-real-key")),
    session_token=st.one_of(st.none(), header_values),
    content_type=st.sampled_from(["application/json", "text/plain", "application/grpc", ""]),
)
def test_rest_surface_answers_documented_errors(
    rest: Rest,
    method: str,
    path: str,
    body: bytes | None,
    authorization: str | None,
    session_token: str | None,
    content_type: str,
) -> None:
    headers: dict[str, str] = {}
    if authorization == "use-real-key":
        headers["Authorization"] = f"Bearer {rest.tenant.api_key}"
    elif authorization is not None:
        headers["Authorization"] = authorization
    if session_token is not None:
        headers["X-Session-Token"] = session_token
    if content_type:
        headers["Content-Type"] = content_type
    # Absolute URL: httpx refuses a relative one whose path starts with //.
    url = rest.envoy.base_url + path
    response = rest.client.request(method, url, content=body, headers=headers)
    if method == "HEAD":
        assert response.status_code < 500
    else:
        check(response)


@FUZZ
@given(body=bodies)
def test_complete_with_arbitrary_bodies_on_a_real_interview(rest: Rest, body: bytes | None) -> None:
    started = rest.start()
    response = rest.client.post(
        f"/api/v1/interviews/{started['interview_id']}/complete",
        content=body,
        headers=rest.headers(started["session_token"]),
    )
    check(response)
    status = rest.get(started["interview_id"]).json()["status"]
    assert (status == "completed") == (response.status_code == 200)
