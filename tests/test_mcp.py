"""koji-mcp driven by the MCP SDK's own client: over streamable HTTP through
Envoy (/mcp on the REST port) and over stdio (`koji-mcp --stdio`), against a
real server with real interviews."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from tests.conftest import Tenant, ThreadedServer, make_tenant
from tests.mcp_stack import McpProcess, mcp_client
from tests.processes import BIN

GOOD_ANSWERS = [
    "A colleague showed it to me during our quarterly planning last spring, and I liked it.",
    "The CSV importer rejected our spreadsheet three times because of the date format we use.",
    "Show me exactly which rows failed in the import so that I can fix them before retrying.",
]
READS = {
    "koji_list_interviews", "koji_get_interview", "koji_get_study_report", "koji_get_usage",
    "koji_list_studies", "koji_get_study", "koji_search_interviews",
}  # fmt: skip
# Writes: (destructiveHint, idempotentHint), as each one behaves.
WRITES = {
    "koji_create_study": (False, False),
    "koji_update_study": (True, True),
    "koji_publish_study": (False, False),
}
TOOLS = READS | set(WRITES)


@dataclass(frozen=True)
class Study:
    """A tenant whose study has an active interview and two completed,
    analysed ones (one with real answers, one with "ok" to every question)."""

    tenant: Tenant
    active: str
    detailed: str
    terse: str


def interview(rest: httpx.Client, tenant: Tenant, answers: list[str], complete: bool) -> str:
    headers = {"Authorization": f"Bearer {tenant.api_key}"}
    started = rest.post(
        "/api/v1/interviews/start", json={"study_id": tenant.study_id}, headers=headers
    )
    assert started.status_code == 201, started.text
    body = started.json()
    session = {**headers, "X-Session-Token": body["session_token"]}
    for answer in answers:
        sent = rest.post(
            f"/api/v1/interviews/{body['interview_id']}/messages",
            json={"content": answer},
            headers=session,
        )
        assert sent.status_code == 200, sent.text
    if complete:
        done = rest.post(
            f"/api/v1/interviews/{body['interview_id']}/complete",
            json={"reason": "natural"},
            headers=session,
        )
        assert done.status_code == 200, done.text
    return str(body["interview_id"])


@pytest.fixture(scope="module")
def study(threaded_server: ThreadedServer, mcp_stack: McpProcess) -> Study:
    tenant = threaded_server.run(make_tenant(threaded_server.database_url))
    with httpx.Client(base_url=mcp_stack.base_url, timeout=10) as rest:
        active = interview(rest, tenant, GOOD_ANSWERS[:1], complete=False)
        detailed = interview(rest, tenant, GOOD_ANSWERS, complete=True)
        terse = interview(rest, tenant, ["ok", "ok", "ok"], complete=True)
        headers = {"Authorization": f"Bearer {tenant.api_key}"}
        # Generous: on a machine shared with other suites the analyses queue.
        deadline = time.monotonic() + 180
        for interview_id in (detailed, terse):
            while True:
                got = rest.get(f"/api/v1/interviews/{interview_id}", headers=headers).json()
                if got.get("analysis_status") == "completed":
                    break
                assert time.monotonic() < deadline, got
                time.sleep(0.1)
        # The study report follows the analyses.
        while True:
            report = rest.get(f"/api/v1/studies/{tenant.study_id}/report", headers=headers).json()
            if report["interviews_analyzed"] + report["interviews_excluded"] == 2:
                break
            assert time.monotonic() < deadline, report
            time.sleep(0.1)
    return Study(tenant, active, detailed, terse)


def gate_of(rest_url: str, tenant: Tenant, interview_id: str) -> bool:
    got = httpx.get(
        f"{rest_url}/api/v1/interviews/{interview_id}",
        headers={"Authorization": f"Bearer {tenant.api_key}"},
        timeout=10,
    ).json()
    return bool(got["analysis"]["counts_toward_usage"])


async def test_tools_are_listed_with_described_schemas_and_honest_annotations(
    mcp_stack: McpProcess, study: Study
) -> None:
    async with mcp_client(f"{mcp_stack.base_url}/mcp", study.tenant.api_key) as client:
        listed = await client.list_tools()
    tools = {tool.name: tool for tool in listed.tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description
        for name, field in tool.input_schema.get("properties", {}).items():
            assert field.get("description"), (tool.name, name)
        assert tool.output_schema and tool.output_schema["type"] == "object", tool.name
        assert tool.annotations is not None
        if tool.name in READS:
            assert tool.annotations.read_only_hint is True, tool.name
        else:
            assert tool.annotations.read_only_hint is False, tool.name
            hints = (tool.annotations.destructive_hint, tool.annotations.idempotent_hint)
            assert hints == WRITES[tool.name], tool.name
    listing = tools["koji_list_interviews"].input_schema
    assert listing["required"] == ["study_id"]
    assert listing["properties"]["limit"]["maximum"] == 100


async def test_get_interview_returns_transcript_answers_and_analysis(
    mcp_stack: McpProcess, study: Study
) -> None:
    async with mcp_client(f"{mcp_stack.base_url}/mcp", study.tenant.api_key) as client:
        result = await client.call_tool("koji_get_interview", {"interview_id": study.detailed})
    assert not result.is_error, result.content
    found: dict[str, Any] = result.structured_content  # type: ignore[assignment]
    assert found["interview_id"] == study.detailed
    assert found["status"] == "completed"
    respondent = [m["content"] for m in found["transcript"] if m["role"] == "respondent"]
    assert respondent == GOOD_ANSWERS
    assert [a["answer"] for a in found["answers"]] == GOOD_ANSWERS
    assert found["analysis"]["quality_score"] >= 1.0
    text = result.content[0].text  # type: ignore[union-attr]
    assert study.detailed in text and GOOD_ANSWERS[1] in text


async def test_list_interviews_applies_the_quality_gate_and_pages_with_a_cursor(
    mcp_stack: McpProcess, study: Study
) -> None:
    gates = {i: gate_of(mcp_stack.base_url, study.tenant, i) for i in (study.detailed, study.terse)}
    assert gates[study.terse] is False  # "ok" three times never passes
    async with mcp_client(f"{mcp_stack.base_url}/mcp", study.tenant.api_key) as client:

        async def ids(**arguments: Any) -> list[str]:
            result = await client.call_tool(
                "koji_list_interviews", {"study_id": study.tenant.study_id, **arguments}
            )
            assert not result.is_error, result.content
            return [i["interview_id"] for i in result.structured_content["interviews"]]  # type: ignore[index]

        assert await ids() == [i for i, passed in gates.items() if passed]
        assert await ids(quality="excluded") == [i for i, passed in gates.items() if not passed]
        assert set(await ids(quality="all")) == {study.active, study.detailed, study.terse}
        assert await ids(quality="all", status="active") == [study.active]

        # One at a time: three pages, each interview once; the last has no cursor.
        pages: list[list[str]] = []
        cursor: str | None = None
        while len(pages) < 5:
            arguments: dict[str, Any] = {"study_id": study.tenant.study_id, "quality": "all"}
            arguments |= {"limit": 1} | ({"cursor": cursor} if cursor else {})
            page = (await client.call_tool("koji_list_interviews", arguments)).structured_content
            assert page is not None
            pages.append([i["interview_id"] for i in page["interviews"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [len(ids) for ids in pages] == [1, 1, 1]
        assert {i for ids in pages for i in ids} == {study.active, study.detailed, study.terse}
        # A cursor is tied to its filters: the API refuses it for others.
        first = await client.call_tool(
            "koji_list_interviews",
            {"study_id": study.tenant.study_id, "quality": "all", "limit": 1},
        )
        other = await client.call_tool(
            "koji_list_interviews",
            {
                "study_id": study.tenant.study_id, "quality": "all", "status": "active",
                "cursor": first.structured_content["next_cursor"],  # type: ignore[index]
            },
        )  # fmt: skip
        assert other.is_error and other.content[0].text.startswith("invalid_request: ")  # type: ignore[union-attr]


async def test_report_and_usage_tools(mcp_stack: McpProcess, study: Study) -> None:
    async with mcp_client(f"{mcp_stack.base_url}/mcp", study.tenant.api_key) as client:
        report = await client.call_tool(
            "koji_get_study_report", {"study_id": study.tenant.study_id}
        )
        usage = await client.call_tool("koji_get_usage", {})
    assert not report.is_error and not usage.is_error
    body: dict[str, Any] = report.structured_content  # type: ignore[assignment]
    assert body["study_id"] == study.tenant.study_id
    assert body["interviews_analyzed"] + body["interviews_excluded"] == 2
    assert [p["label"] for p in body["theme_chart"]] == [t["label"] for t in body["themes"]]
    # Question charts as data: the API's aggregates, as the REST report has them.
    async with httpx.AsyncClient(base_url=mcp_stack.base_url, timeout=10) as http:
        response = await http.get(
            f"/api/v1/studies/{study.tenant.study_id}/report",
            headers={"Authorization": f"Bearer {study.tenant.api_key}"},
        )
    rest = response.json()
    assert body["questions"] == rest.get("questions", [])
    assert body["themes"] == rest["themes"]
    assert "# Study report" in report.content[0].text  # type: ignore[union-attr]
    counted: dict[str, Any] = usage.structured_content  # type: ignore[assignment]
    assert counted["project_id"] == study.tenant.project_id
    assert counted["counted_interviews"] + counted["excluded_interviews"] == 2


async def test_errors_are_tool_results_with_the_api_code_and_message(
    mcp_stack: McpProcess, study: Study
) -> None:
    missing = str(uuid.uuid4())
    async with mcp_client(f"{mcp_stack.base_url}/mcp", study.tenant.api_key) as client:
        not_found = await client.call_tool("koji_get_interview", {"interview_id": missing})
        malformed = await client.call_tool("koji_get_interview", {"interview_id": "nope"})
        bad_limit = await client.call_tool(
            "koji_list_interviews", {"study_id": study.tenant.study_id, "limit": 101}
        )
    assert not_found.is_error
    assert not_found.structured_content is not None
    assert not_found.structured_content["error"] == "not_found"
    assert not_found.content[0].text.startswith("not_found: ")  # type: ignore[union-attr]
    assert malformed.is_error
    assert malformed.content[0].text.startswith("invalid_request: ")  # type: ignore[union-attr]
    # Outside the input schema: refused by the SDK's validation, as a tool error.
    assert bad_limit.is_error


async def test_another_projects_data_is_unreachable(
    threaded_server: ThreadedServer, mcp_stack: McpProcess, study: Study
) -> None:
    other = threaded_server.run(make_tenant(threaded_server.database_url))
    async with mcp_client(f"{mcp_stack.base_url}/mcp", other.api_key) as client:
        interview_result = await client.call_tool(
            "koji_get_interview", {"interview_id": study.detailed}
        )
        listing = await client.call_tool(
            "koji_list_interviews", {"study_id": study.tenant.study_id}
        )
        report = await client.call_tool(
            "koji_get_study_report", {"study_id": study.tenant.study_id}
        )
    for result in (interview_result, listing, report):
        assert result.is_error
        assert result.structured_content is not None
        assert result.structured_content["error"] == "not_found"


async def test_resources_and_the_synthesize_prompt(mcp_stack: McpProcess, study: Study) -> None:
    async with mcp_client(f"{mcp_stack.base_url}/mcp", study.tenant.api_key) as client:
        templates = await client.list_resource_templates()
        transcript = await client.read_resource(f"koji://interviews/{study.detailed}/transcript")
        report = await client.read_resource(f"koji://studies/{study.tenant.study_id}/report")
        prompts = await client.list_prompts()
        prompt = await client.get_prompt("synthesize_study", {"study_id": study.tenant.study_id})
    assert {t.uri_template for t in templates.resource_templates} == {
        "koji://studies/{study_id}/report",
        "koji://interviews/{interview_id}/transcript",
    }
    text = transcript.contents[0].text  # type: ignore[union-attr]
    assert all(answer in text for answer in GOOD_ANSWERS)
    assert f"# Study report {study.tenant.study_id}" in report.contents[0].text  # type: ignore[union-attr]
    assert [p.name for p in prompts.prompts] == ["synthesize_study"]
    said = prompt.messages[0].content.text  # type: ignore[union-attr]
    assert study.tenant.study_id in said and "quote" in said


def test_without_credentials_mcp_answers_401_naming_the_resource_metadata(
    mcp_stack: McpProcess,
) -> None:
    response = httpx.post(
        f"{mcp_stack.base_url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream"},
        timeout=10,
    )
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    metadata_url = f"{mcp_stack.base_url}/.well-known/oauth-protected-resource/mcp"
    assert challenge.startswith("Bearer ") and f'resource_metadata="{metadata_url}"' in challenge
    metadata = httpx.get(metadata_url, timeout=10).json()
    assert metadata["resource"] == f"{mcp_stack.base_url}/mcp"
    assert metadata["authorization_servers"] == [mcp_stack.base_url]
    assert metadata["scopes_supported"] == ["read:studies", "read:interviews", "write:studies"]
    wrong = httpx.post(
        f"{mcp_stack.base_url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": "Bearer koji_at_not-a-token", "Accept": "application/json"},
        timeout=10,
    )
    assert wrong.status_code == 401


async def test_stdio_transport_with_the_key_from_the_environment(
    threaded_server: ThreadedServer, study: Study
) -> None:
    parameters = StdioServerParameters(
        command=str(BIN / "koji-mcp"),
        args=["--stdio"],
        env={
            **os.environ,
            "KOJI_API_KEY": study.tenant.api_key,
            "KOJI_GRPC_TARGET": f"127.0.0.1:{threaded_server.running.port}",
        },
    )
    async with Client(parameters) as client:
        listed = await client.list_tools()
        result = await client.call_tool("koji_get_interview", {"interview_id": study.terse})
        missing = await client.call_tool("koji_get_interview", {"interview_id": str(uuid.uuid4())})
    assert {tool.name for tool in listed.tools} == TOOLS
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["interview_id"] == study.terse
    assert missing.is_error and missing.content[0].text.startswith("not_found: ")  # type: ignore[union-attr]


def test_stdio_without_a_key_exits_saying_so() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KOJI_API_KEY"}
    done = subprocess.run(
        [str(BIN / "koji-mcp"), "--stdio"], env=env, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode != 0
    assert "KOJI_API_KEY" in done.stderr
