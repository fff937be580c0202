"""StudyService as REST through a real Envoy: the documented statuses and
JSON (201 with the study itself, snake_case, enum names), PATCH with an
update mask, the 409 envelopes, validation as 400 with field violations,
and structured answers sent as `answer` next to `content`."""

from __future__ import annotations

import copy
from typing import Any

from koji_server.domain.model import Permission
from tests.conftest import Rest, add_key, make_tenant
from tests.test_rest import assert_envelope, assert_no_grpc_internals, assert_rate_limit_headers
from tests.test_studies import DESIGN

STUDY_FIELDS = {
    "study_id", "title", "status", "brief", "questions", "interview_count", "completed_count",
    "created_at", "updated_at",
}  # fmt: skip


def headers(key: str, session_token: str | None = None) -> dict[str, str]:
    sent = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if session_token is not None:
        sent["X-Session-Token"] = session_token
    return sent


def create(rest: Rest, key: str, document: dict[str, Any] = DESIGN) -> dict[str, Any]:
    response = rest.client.post("/api/v1/studies", json=document, headers=headers(key))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_create_get_list_update_publish_close_archive(rest: Rest) -> None:
    tenant = rest.threaded.run(make_tenant(rest.threaded.database_url))
    key = tenant.api_key
    # Options may be sent as labels only; the server assigns every id.
    response = rest.client.post("/api/v1/studies", json=DESIGN, headers=headers(key))
    assert response.status_code == 201, response.text
    assert_rate_limit_headers(response)
    assert_no_grpc_internals(response)
    study = response.json()
    assert set(study) == STUDY_FIELDS  # published_at absent in draft
    assert study["status"] == "draft"
    assert study["brief"]["mode"] == "structured"
    scale = study["questions"][0]
    assert scale["type"] == "scale" and scale["required"] is True
    assert scale["config"]["scale_labels"] == {"0": "Not at all", "10": "Extremely"}
    assert scale["probing"] == {"max_follow_ups": 1, "instructions": ""}
    assert [o["option_id"] for o in study["questions"][1]["config"]["options"]] == [
        "o1", "o2", "o3",
    ]  # fmt: skip
    sid = study["study_id"]
    got = rest.client.get(f"/api/v1/studies/{sid}", headers=headers(key))
    assert got.status_code == 200 and got.json() == study

    patched = rest.client.patch(
        f"/api/v1/studies/{sid}?update_mask=title",
        json={"title": "Channels, again", "questions": []},
        headers=headers(key),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "Channels, again"
    assert patched.json()["questions"] == study["questions"]  # not in the mask

    listed = rest.client.get("/api/v1/studies?status=draft&page_size=10", headers=headers(key))
    assert listed.status_code == 200, listed.text
    assert [s["study_id"] for s in listed.json()["studies"]] == [sid]
    assert listed.json()["next_page_token"] == ""

    published = rest.client.post(f"/api/v1/studies/{sid}/publish", json={}, headers=headers(key))
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "active" and "published_at" in published.json()
    again = rest.client.post(f"/api/v1/studies/{sid}/publish", json={}, headers=headers(key))
    assert_envelope(again, 409, "study_not_draft")
    frozen = rest.client.patch(
        f"/api/v1/studies/{sid}", json={"questions": [{"text": "New?"}]}, headers=headers(key)
    )
    assert_envelope(frozen, 409, "study_not_draft")
    closed = rest.client.post(f"/api/v1/studies/{sid}/close", json={}, headers=headers(key))
    assert closed.status_code == 200 and closed.json()["status"] == "completed"
    start = rest.client.post(
        "/api/v1/interviews/start", json={"study_id": sid}, headers=headers(key)
    )
    assert_envelope(start, 409, "study_not_active")
    archived = rest.client.post(f"/api/v1/studies/{sid}/archive", json={}, headers=headers(key))
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    reclosed = rest.client.post(f"/api/v1/studies/{sid}/close", json={}, headers=headers(key))
    assert_envelope(reclosed, 409, "study_not_active")


def test_invalid_designs_and_unknown_enums_are_400(rest: Rest) -> None:
    key = rest.tenant.api_key
    bad = copy.deepcopy(DESIGN)
    bad["title"] = ""
    bad["questions"][0]["config"]["scale_max"] = 0
    bad["questions"][2]["config"]["options"] = [{"label": "Only one"}]
    response = rest.client.post("/api/v1/studies", json=bad, headers=headers(key))
    body = assert_envelope(response, 400, "invalid_request")
    for field in ("study.title", "questions[0].config.scale_max", "questions[2].config.options"):
        assert field in body["message"], body
    unknown = copy.deepcopy(DESIGN)
    unknown["questions"][0]["type"] = "slider"
    response = rest.client.post("/api/v1/studies", json=unknown, headers=headers(key))
    assert_envelope(response, 400, "invalid_request")


def test_permissions_and_other_projects(rest: Rest) -> None:
    db = rest.threaded.database_url
    tenant = rest.threaded.run(make_tenant(db))
    sid = create(rest, tenant.api_key)["study_id"]
    other = rest.threaded.run(make_tenant(db))
    assert_envelope(
        rest.client.get(f"/api/v1/studies/{sid}", headers=headers(other.api_key)),
        404,
        "not_found",
    )
    reader = rest.threaded.run(
        add_key(db, tenant.project_id, frozenset({Permission.STUDY_READ}), 100)
    )
    assert rest.client.get(f"/api/v1/studies/{sid}", headers=headers(reader)).status_code == 200
    assert_envelope(
        rest.client.post("/api/v1/studies", json=DESIGN, headers=headers(reader)), 403, "forbidden"
    )
    interviewer_key = rest.threaded.run(
        add_key(db, tenant.project_id, frozenset({Permission.READ, Permission.START}), 100)
    )
    assert_envelope(
        rest.client.get("/api/v1/studies", headers=headers(interviewer_key)), 403, "forbidden"
    )


def test_answers_over_rest(rest: Rest) -> None:
    tenant = rest.threaded.run(make_tenant(rest.threaded.database_url))
    key = tenant.api_key
    study = create(rest, key)
    sid = study["study_id"]
    rest.client.post(f"/api/v1/studies/{sid}/publish", json={}, headers=headers(key))
    started = rest.client.post(
        "/api/v1/interviews/start", json={"study_id": sid}, headers=headers(key)
    ).json()
    first = started["initial_message"]["question"]
    assert first == {
        "question_id": study["questions"][0]["question_id"],
        "type": "scale",
        "text": "How likely are you to recommend us?",
        "config": study["questions"][0]["config"],
        "follow_up": False,
    }
    url = f"/api/v1/interviews/{started['interview_id']}/messages"
    session = headers(key, started["session_token"])
    out_of_range = rest.client.post(
        url,
        json={"answer": {"question_id": first["question_id"], "scale_value": 12}},
        headers=session,
    )
    assert_envelope(out_of_range, 400, "invalid_request")
    sent = rest.client.post(
        url,
        json={"content": "", "answer": {"question_id": first["question_id"], "scale_value": 9}},
        headers=session,
    )
    assert sent.status_code == 200, sent.text
    second = sent.json()["interviewer_response"]["question"]
    assert second["type"] == "single_choice"
    assert [o["label"] for o in second["config"]["options"]] == ["Slack", "Email", "Phone"]
    streamed = rest.client.post(
        f"/api/v1/interviews/{started['interview_id']}/message",
        json={"content": "mostly email"},
        headers=session,
    )
    assert streamed.status_code == 200, streamed.text
    assert '"question_id"' in streamed.text  # the final event's reply carries the question
    got = rest.client.get(f"/api/v1/interviews/{started['interview_id']}", headers=headers(key))
    answers = got.json()["answers"]
    assert answers[0] == {
        "question_id": first["question_id"],
        "type": "scale",
        "scale_value": 9,
        "option_ids": [],
        "text": "9",
        "message_id": answers[0]["message_id"],
        "source": "widget",
        "skipped": False,
    }
    assert answers[1]["option_ids"] == ["o2"] and answers[1]["source"] == "text"
    assert "yes_no" not in answers[1] and "scale_value" not in answers[1]
