"""A second language: Node.js (@grpc/grpc-js, @grpc/proto-loader) loads proto/
directly and drives a real server, rich error details included
(tests/node/interview_client.js)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import google.api
import grpc
import pytest

from koji_server.app import RunningServer
from tests.conftest import Tenant
from tests.helpers import json_steps

pytestmark = pytest.mark.tooling

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).parent / "node" / "interview_client.js"
NODE = shutil.which("node") or "node"
# googleapis-common-protos' google/api and google/rpc .proto files.
GOOGLEAPIS = Path(google.api.__path__[0]).parent.parent


async def run_node(port: int, tenant: Tenant) -> dict[str, dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(SCRIPT),
        f"127.0.0.1:{port}",
        tenant.api_key,
        tenant.study_id,
        str(ROOT / "proto"),
        str(GOOGLEAPIS),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return json_steps(out)


async def test_node_client_runs_the_lifecycle_and_decodes_already_completed(
    server: RunningServer, tenant: Tenant
) -> None:
    steps = await run_node(server.port, tenant)

    interview_id = steps["started"]["interview_id"]
    assert steps["started"]["status"] == "active"
    assert steps["sent"] == {"messages_count": 3, "reply_role": "interviewer"}
    completed = steps["completed"]
    assert completed["status"] == "completed"
    assert int(completed["completed_at"]["seconds"]) > 0
    assert completed["total_messages"] == 3
    got = steps["got"]
    assert got["status"] == "completed"
    assert got["transcript"] == ["interviewer", "respondent", "interviewer"]
    assert got["completed_at"] == completed["completed_at"]

    again = steps["completed_again"]
    assert again["grpc_code"] == grpc.StatusCode.ALREADY_EXISTS.value[0]
    status = again["status"]
    assert status["code"] == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert status["message"]
    details = status["details"]
    assert set(details) == {"google.rpc.ErrorInfo", "koji.v1.CompleteInterviewResponse"}
    assert details["google.rpc.ErrorInfo"]["reason"] == "ALREADY_COMPLETED"
    assert details["google.rpc.ErrorInfo"]["domain"] == "koji.v1"
    first = details["koji.v1.CompleteInterviewResponse"]
    assert first["interview_id"] == interview_id
    assert first["status"] == "completed"
    assert first["completed_at"] == completed["completed_at"]
    assert first["stats"]["total_messages"] == 3
