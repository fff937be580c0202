"""koji-mcp's study tools over StudyService, with the SDK's client through
Envoy: create, read, list, update, publish, their refusals as tool errors,
and the report's question charts."""

from __future__ import annotations

import uuid
from typing import Any

from koji_server.domain.model import Permission
from tests.conftest import ThreadedServer, add_key, make_tenant
from tests.mcp_stack import McpProcess, mcp_client
from tests.test_mcp_oauth import signed_in

QUESTIONS: list[dict[str, Any]] = [
    {"text": "What were you trying to get done when you signed up?"},
    {
        "text": "How easy was the import?",
        "type": "scale",
        "config": {"scale_min": 1, "scale_max": 5, "scale_labels": {"1": "Hard", "5": "Easy"}},
        "probing": {"max_follow_ups": 1, "instructions": "Ask what made it hard."},
    },
    {
        "text": "Which export do you use most?",
        "type": "single_choice",
        "config": {"options": ["CSV", "PDF", "API"]},
    },
]


async def test_create_read_list_update_and_publish_a_study(
    threaded_server: ThreadedServer, mcp_stack: McpProcess
) -> None:
    tenant = threaded_server.run(make_tenant(threaded_server.database_url))
    async with mcp_client(f"{mcp_stack.base_url}/mcp", tenant.api_key) as client:
        created = await client.call_tool(
            "koji_create_study",
            {
                "title": "Onboarding 2027",
                "questions": QUESTIONS,
                "brief": {"problem_statement": "New teams stall at import.", "mode": "hybrid"},
            },
        )
        assert not created.is_error, created.content
        study: dict[str, Any] = created.structured_content  # type: ignore[assignment]
        assert study["status"] == "draft" and study["title"] == "Onboarding 2027"
        assert [q["text"] for q in study["questions"]] == [q["text"] for q in QUESTIONS]
        assert [q["type"] for q in study["questions"]] == ["open_ended", "scale", "single_choice"]
        options = study["questions"][2]["config"]["options"]
        assert [o["label"] for o in options] == ["CSV", "PDF", "API"]
        assert study["brief"]["mode"] == "hybrid"
        assert "Onboarding 2027" in created.content[0].text  # type: ignore[union-attr]
        study_id = study["study_id"]

        got = await client.call_tool("koji_get_study", {"study_id": study_id})
        assert got.structured_content == study

        drafts = await client.call_tool("koji_list_studies", {"status": "draft"})
        assert [s["study_id"] for s in drafts.structured_content["studies"]] == [study_id]  # type: ignore[index]
        first = await client.call_tool("koji_list_studies", {"limit": 1})
        page: dict[str, Any] = first.structured_content  # type: ignore[assignment]
        assert len(page["studies"]) == 1 and page["next_cursor"]
        second = await client.call_tool(
            "koji_list_studies", {"limit": 1, "cursor": page["next_cursor"]}
        )
        listed = {page["studies"][0]["study_id"]}
        listed |= {s["study_id"] for s in second.structured_content["studies"]}  # type: ignore[index]
        assert listed == {tenant.study_id, study_id}

        kept = study["questions"][0]["question_id"]
        updated = await client.call_tool(
            "koji_update_study",
            {
                "study_id": study_id,
                "title": "Onboarding, 2027",
                "questions": [{"text": QUESTIONS[0]["text"], "question_id": kept},
                              {"text": "What would you change first?"}],
            },
        )  # fmt: skip
        assert not updated.is_error, updated.content
        after: dict[str, Any] = updated.structured_content  # type: ignore[assignment]
        assert after["title"] == "Onboarding, 2027"
        assert after["questions"][0]["question_id"] == kept
        assert after["brief"] == study["brief"]  # not in the mask: kept

        published = await client.call_tool("koji_publish_study", {"study_id": study_id})
        assert not published.is_error, published.content
        assert published.structured_content["status"] == "active"  # type: ignore[index]
        again = await client.call_tool("koji_publish_study", {"study_id": study_id})
        frozen = await client.call_tool(
            "koji_update_study", {"study_id": study_id, "questions": [{"text": "New?"}]}
        )
        renamed = await client.call_tool(
            "koji_update_study", {"study_id": study_id, "title": "Onboarding (live)"}
        )
    for refused in (again, frozen):
        assert refused.is_error
        assert refused.structured_content["error"] == "study_not_draft"  # type: ignore[index]
        assert refused.content[0].text.startswith("study_not_draft: ")  # type: ignore[union-attr]
    assert not renamed.is_error


async def test_study_tools_refusals_and_scoping(
    threaded_server: ThreadedServer, mcp_stack: McpProcess
) -> None:
    tenant = threaded_server.run(make_tenant(threaded_server.database_url))
    other = threaded_server.run(make_tenant(threaded_server.database_url))
    reader = threaded_server.run(
        add_key(
            threaded_server.database_url, tenant.project_id,
            frozenset({Permission.READ, Permission.STUDY_READ}),
        )
    )  # fmt: skip
    async with mcp_client(f"{mcp_stack.base_url}/mcp", other.api_key) as client:
        foreign = await client.call_tool("koji_get_study", {"study_id": tenant.study_id})
        missing = await client.call_tool("koji_publish_study", {"study_id": str(uuid.uuid4())})
        invalid = await client.call_tool("koji_create_study", {"title": "Empty", "questions": []})
    assert foreign.structured_content["error"] == "not_found"  # type: ignore[index]
    assert missing.structured_content["error"] == "not_found"  # type: ignore[index]
    assert invalid.is_error
    assert invalid.structured_content["error"] == "invalid_request"  # type: ignore[index]

    # The key's own permissions: a read-only key reads, and may not write.
    async with mcp_client(f"{mcp_stack.base_url}/mcp", reader) as client:
        read = await client.call_tool("koji_get_study", {"study_id": tenant.study_id})
        write = await client.call_tool(
            "koji_create_study", {"title": "No", "questions": QUESTIONS[:1]}
        )
    assert not read.is_error
    assert write.is_error and write.structured_content["error"] == "forbidden"  # type: ignore[index]

    # An OAuth token without write:studies: refused before the API.
    _, tokens = signed_in(mcp_stack.base_url, tenant, "read:studies")
    async with mcp_client(f"{mcp_stack.base_url}/mcp", tokens["access_token"]) as client:
        listed = await client.call_tool("koji_list_studies", {})
        create = await client.call_tool(
            "koji_create_study", {"title": "No", "questions": QUESTIONS[:1]}
        )
    assert not listed.is_error
    assert create.is_error
    assert create.content[0].text == "forbidden: This token lacks the write:studies scope."  # type: ignore[union-attr]
