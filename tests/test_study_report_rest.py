"""GET /api/v1/studies/{study_id}/report through a real Envoy."""

from __future__ import annotations

import re
import time
from typing import Any

from koji_server.domain.model import Permission
from tests.conftest import Rest, add_key, make_tenant
from tests.helpers import (
    MISSING_ID,
    PATIENCE,
    assert_envelope,
    assert_no_grpc_internals,
    assert_rate_limit_headers,
)

UPDATED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")
ANSWERS = [
    "A colleague showed it to me during our quarterly planning last spring.",
    "The CSV importer rejected our spreadsheet three times because of the date format.",
    "Show me exactly which rows failed in the import so I can fix them.",
]


def report(rest: Rest, study_id: str, key: str | None = None) -> Any:
    return rest.client.get(
        f"/api/v1/studies/{study_id}/report",
        headers={"Authorization": f"Bearer {key or rest.tenant.api_key}"},
    )


def test_report_of_a_study_is_200_with_the_documented_fields(rest: Rest) -> None:
    tenant = rest.threaded.run(make_tenant(rest.threaded.database_url))
    empty = report(rest, tenant.study_id, tenant.api_key)
    assert empty.status_code == 200, empty.text
    assert empty.headers["content-type"] == "application/json"
    assert_rate_limit_headers(empty)
    assert_no_grpc_internals(empty)
    assert empty.json() == {
        "study_id": tenant.study_id,
        "interviews_analyzed": 0,
        "interviews_excluded": 0,
        "themes": [],
        "questions": [],
    }

    headers = {"Authorization": f"Bearer {tenant.api_key}", "Content-Type": "application/json"}
    started = rest.client.post(
        "/api/v1/interviews/start", json={"study_id": tenant.study_id}, headers=headers
    ).json()
    session = {**headers, "X-Session-Token": started["session_token"]}
    for answer in ANSWERS:
        sent = rest.client.post(
            f"/api/v1/interviews/{started['interview_id']}/messages",
            json={"content": answer},
            headers=session,
        )
        assert sent.status_code == 200, sent.text
    done = rest.client.post(
        f"/api/v1/interviews/{started['interview_id']}/complete",
        json={"reason": "natural"},
        headers=session,
    )
    assert done.status_code == 200, done.text
    deadline = time.monotonic() + PATIENCE
    while True:
        body = report(rest, tenant.study_id, tenant.api_key).json()
        if body["interviews_analyzed"] == 1:
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.1)
    assert set(body) == {
        "study_id", "interviews_analyzed", "interviews_excluded", "updated_at", "themes",
        "questions",
    }  # fmt: skip
    assert UPDATED_AT.fullmatch(body["updated_at"]), body["updated_at"]
    assert body["themes"], body
    theme = body["themes"][0]
    assert set(theme) == {
        "theme_id", "label", "interview_count", "share", "sentiment", "insight_counts", "quotes",
    }  # fmt: skip
    assert theme["interview_count"] == 1 and theme["share"] == 1
    assert set(theme["insight_counts"]) == {"pain_point", "request", "praise"}
    assert all(isinstance(n, int) for n in theme["insight_counts"].values())
    quote = theme["quotes"][0]
    assert set(quote) == {"interview_id", "message_id", "quote", "type"}
    assert quote["interview_id"] == started["interview_id"]


def test_report_errors_in_the_envelope(rest: Rest) -> None:
    other = rest.threaded.run(make_tenant(rest.threaded.database_url))
    assert_envelope(report(rest, other.study_id), 404, "not_found")
    assert_envelope(report(rest, MISSING_ID), 404, "not_found")
    assert_envelope(report(rest, "not-a-uuid"), 400, "invalid_request")
    unauthenticated = rest.client.get(f"/api/v1/studies/{rest.tenant.study_id}/report")
    assert_envelope(unauthenticated, 401, "unauthorized")
    writer = add_key(
        rest.threaded.database_url, rest.tenant.project_id, frozenset({Permission.START})
    )
    assert_envelope(report(rest, rest.tenant.study_id, rest.threaded.run(writer)), 403, "forbidden")
    query = rest.client.get(
        f"/api/v1/studies/{rest.tenant.study_id}/report?study_id={other.study_id}",
        headers={"Authorization": f"Bearer {rest.tenant.api_key}"},
    )
    assert_envelope(query, 400, "invalid_request")
