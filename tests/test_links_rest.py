"""Interview links as REST through a real Envoy: create/list/revoke with a
key (201 with the link, its url once), the start without a key (201 as
StartInterview, `rid` as the respondent's external id), the page (HTML, a
strict CSP), a link-started interview's session token as its only
credential (its messages, SSE, transcript, completion; nothing else, never
another interview), and revoked/expired/full links and closed studies as
the documented 404/410 envelopes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Rest, make_tenant
from tests.helpers import assert_envelope
from tests.test_studies import DESIGN
from tests.test_studies_rest import create, headers

LINK_FIELDS = {"link_id", "url", "max_interviews", "interview_count", "created_at"}


def published(rest: Rest, key: str) -> dict[str, Any]:
    study = create(rest, key)
    response = rest.client.post(
        f"/api/v1/studies/{study['study_id']}/publish", headers=headers(key)
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def new_link(rest: Rest, key: str, study_id: str, **body: Any) -> dict[str, Any]:
    response = rest.client.post(
        f"/api/v1/studies/{study_id}/links", json=body, headers=headers(key)
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def token_of(link: dict[str, Any]) -> str:
    return str(link["url"]).rsplit("/", 1)[-1]


def start(rest: Rest, token: str, **body: Any) -> Any:
    return rest.client.post(
        f"/api/v1/links/{token}/start", json=body, headers={"Content-Type": "application/json"}
    )


def session(token: str) -> dict[str, str]:
    return {"X-Session-Token": token, "Content-Type": "application/json"}


@pytest.fixture
def project(rest: Rest) -> tuple[str, dict[str, Any]]:
    tenant = rest.threaded.run(make_tenant(rest.threaded.database_url))
    return tenant.api_key, published(rest, tenant.api_key)


def test_create_list_revoke_and_start_without_a_key(rest: Rest, project) -> None:  # type: ignore[no-untyped-def]
    key, study = project
    sid = study["study_id"]
    link = new_link(rest, key, sid, max_interviews=5)
    assert set(link) == LINK_FIELDS
    assert link["url"].startswith("http://127.0.0.1:8080/i/") and len(token_of(link)) >= 40
    assert link["max_interviews"] == 5 and link["interview_count"] == 0

    started = start(rest, token_of(link), rid="crm-42", locale="en-GB")
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["session_token"].startswith("st_live_") and body["status"] == "active"
    assert body["initial_message"]["question"]["type"] == "scale"
    interview = rest.client.get(f"/api/v1/interviews/{body['interview_id']}", headers=headers(key))
    assert interview.json()["respondent"]["external_id"] == "crm-42"

    listed = rest.client.get(f"/api/v1/studies/{sid}/links", headers=headers(key)).json()
    assert [(x["link_id"], x["interview_count"], x["url"]) for x in listed["links"]] == [
        (link["link_id"], 1, "")
    ]
    revoked = rest.client.post(
        f"/api/v1/studies/{sid}/links/{link['link_id']}/revoke", json={}, headers=headers(key)
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert_envelope(start(rest, token_of(link)), 410, "link_unavailable")
    assert_envelope(start(rest, "no-such-token"), 404, "not_found")
    # Managing links takes a key.
    assert_envelope(rest.client.get(f"/api/v1/studies/{sid}/links"), 401, "unauthorized")


def test_expired_full_and_closed_study_links_are_410(rest: Rest, project) -> None:  # type: ignore[no-untyped-def]
    key, study = project
    sid = study["study_id"]
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat().replace("+00:00", "Z")
    expiring = new_link(rest, key, sid, expires_at=soon)
    full = new_link(rest, key, sid, max_interviews=1)
    assert start(rest, token_of(full)).status_code == 201
    gone = assert_envelope(start(rest, token_of(full)), 410, "link_unavailable")
    assert "all the interviews" in gone["message"]
    # A time already past makes a link that is expired from the start.
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    expired = new_link(rest, key, sid, expires_at=past)
    assert_envelope(start(rest, token_of(expired)), 410, "link_unavailable")
    open_one = new_link(rest, key, sid)
    closed = rest.client.post(f"/api/v1/studies/{sid}/close", headers=headers(key))
    assert closed.status_code == 200, closed.text
    assert_envelope(start(rest, token_of(open_one)), 410, "link_unavailable")
    assert_envelope(rest.client.get(f"/i/{token_of(open_one)}"), 410, "link_unavailable")
    del expiring  # its expiry is checked with an injected clock in test_links.py


def test_the_session_token_alone_is_the_link_interviews_credential(rest: Rest, project) -> None:  # type: ignore[no-untyped-def]
    key, study = project
    link = new_link(rest, key, study["study_id"])
    first = start(rest, token_of(link)).json()
    other = start(rest, token_of(link)).json()
    iid, token = first["interview_id"], first["session_token"]

    said = rest.client.post(
        f"/api/v1/interviews/{iid}/messages", json={"content": "8"}, headers=session(token)
    )
    assert said.status_code == 200, said.text
    streamed = rest.client.post(
        f"/api/v1/interviews/{iid}/message",
        json={"content": "Slack"},
        headers={**session(token), "Accept": "text/event-stream"},
    )
    assert streamed.status_code == 200 and '"reply"' in streamed.text
    own = rest.client.get(f"/api/v1/interviews/{iid}", headers=session(token))
    assert own.status_code == 200 and len(own.json()["transcript"]) == 5
    # Never another interview: its token is not this one's.
    assert_envelope(
        rest.client.get(f"/api/v1/interviews/{other['interview_id']}", headers=session(token)),
        401,
        "invalid_session_token",
    )
    assert_envelope(
        rest.client.post(
            f"/api/v1/interviews/{other['interview_id']}/messages",
            json={"content": "hi"},
            headers=session(token),
        ),
        401,
        "invalid_session_token",
    )
    # Nothing else: listing, usage, watching need a key.
    assert_envelope(
        rest.client.get(f"/api/v1/interviews?study_id={study['study_id']}", headers=session(token)),
        401,
        "unauthorized",
    )
    assert_envelope(rest.client.get("/api/v1/usage", headers=session(token)), 401, "unauthorized")
    # Its completion: natural or respondent_left only.
    manual = rest.client.post(
        f"/api/v1/interviews/{iid}/complete", json={"reason": "manual"}, headers=session(token)
    )
    assert_envelope(manual, 400, "invalid_request")
    done = rest.client.post(
        f"/api/v1/interviews/{iid}/complete",
        json={"reason": "respondent_left"},
        headers=session(token),
    )
    assert done.status_code == 200, done.text
    read = rest.client.get(f"/api/v1/interviews/{iid}", headers=headers(key)).json()
    assert (read["status"], read["reason"]) == ("completed", "respondent_left")


def test_an_api_key_interview_keeps_requiring_the_key(rest: Rest, project) -> None:  # type: ignore[no-untyped-def]
    key, study = project
    started = rest.client.post(
        "/api/v1/interviews/start", json={"study_id": study["study_id"]}, headers=headers(key)
    ).json()
    iid, token = started["interview_id"], started["session_token"]
    for response in (
        rest.client.post(
            f"/api/v1/interviews/{iid}/messages", json={"content": "8"}, headers=session(token)
        ),
        rest.client.get(f"/api/v1/interviews/{iid}", headers=session(token)),
        rest.client.post(
            f"/api/v1/interviews/{iid}/complete", json={"reason": "natural"}, headers=session(token)
        ),
    ):
        assert_envelope(response, 401, "unauthorized")


def test_the_page_is_one_html_document_under_a_strict_policy(rest: Rest, project) -> None:  # type: ignore[no-untyped-def]
    key, study = project
    link = new_link(rest, key, study["study_id"])
    page = rest.client.get(f"/i/{token_of(link)}?rid=abc")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy
    assert "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert f'<h1 id="title">{DESIGN["title"]}</h1>' in page.text
    assert key not in page.text and study["study_id"] not in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing loaded from elsewhere
    assert_envelope(rest.client.get("/i/no-such-token"), 404, "not_found")
