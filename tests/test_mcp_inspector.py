"""The MCP Inspector's CLI (npm @modelcontextprotocol/inspector, installed by
`make install`) against koji-mcp over streamable HTTP through Envoy: a client
that is not ours lists the tools and calls one."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import ThreadedServer, make_tenant
from tests.mcp_stack import McpProcess

ROOT = Path(__file__).resolve().parents[1]
INSPECTOR = ROOT / "node_modules" / ".bin" / "mcp-inspector"


def inspector(mcp_stack: McpProcess, api_key: str, tmp_path: Path, *args: str) -> Any:
    done = subprocess.run(
        [
            str(INSPECTOR), "--cli", f"{mcp_stack.base_url}/mcp", "--transport", "http",
            "--header", f"Authorization: Bearer {api_key}", *args,
        ],
        capture_output=True, text=True, timeout=120,
        # Its catalog of servers goes to a file of the test's, not ~.
        env={**os.environ, "MCP_CATALOG_PATH": str(tmp_path / "catalog.json")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def test_inspector_cli_lists_the_tools_and_calls_one(
    threaded_server: ThreadedServer, mcp_stack: McpProcess, tmp_path: Path
) -> None:
    tenant = threaded_server.run(make_tenant(threaded_server.database_url))
    listed = inspector(mcp_stack, tenant.api_key, tmp_path, "--method", "tools/list")
    names = {tool["name"] for tool in listed["tools"]}
    assert {"koji_get_interview", "koji_list_interviews", "koji_get_usage"} <= names
    usage = next(tool for tool in listed["tools"] if tool["name"] == "koji_get_usage")
    assert usage["annotations"]["readOnlyHint"] is True
    assert usage["outputSchema"]["properties"]["counted_interviews"]["type"] == "integer"

    called = inspector(
        mcp_stack, tenant.api_key, tmp_path,
        "--method", "tools/call", "--tool-name", "koji_get_usage",
    )  # fmt: skip
    assert called.get("isError") in (None, False), called
    assert called["structuredContent"]["project_id"] == tenant.project_id
    assert called["structuredContent"]["counted_interviews"] == 0
