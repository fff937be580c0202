"""koji-admin as an operator runs it: a real process on a real database file."""

from __future__ import annotations

import json
import re

import grpc
import pytest

from koji.v1 import interview_service_pb2 as pb
from tests.conftest import make_tenant
from tests.helpers import assert_error, auth, send, start
from tests.processes import admin, admin_async

pytestmark = pytest.mark.e2e

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def setup_project(database_url: str) -> tuple[str, str, str]:
    project = admin(database_url, "projects", "create", "--name", "Acme").stdout.strip()
    assert re.fullmatch(UUID, project)
    created = admin(
        database_url,
        "keys", "create", "--project", project, "--name", "backend",
        "--permissions", "interview:start,interview:chat,interview:complete,interview:read",
    )  # fmt: skip
    key = created.stdout.strip()
    assert re.fullmatch(r"koji_sk_[A-Za-z0-9_-]{32,}", key)
    assert "not shown again" in created.stderr
    study = admin(
        database_url,
        "studies", "create", "--project", project, "--title", "Onboarding",
        "--question", "How did you hear about us?", "--question", "What was hard?",
    ).stdout.strip()  # fmt: skip
    assert re.fullmatch(UUID, study)
    return project, key, study


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["projects"],
        ["projects", "create"],
        ["keys", "create"],
        ["keys", "list"],
        ["keys", "revoke"],
        ["studies", "create"],
        ["interviews", "complete"],
        ["interviews", "show"],
    ],
)
def test_every_command_has_help(database_url, command) -> None:
    result = admin(database_url, *command, "--help")
    assert result.stdout.startswith("usage: koji-admin")
    assert len(result.stdout.splitlines()) > 3


def test_keys_are_listed_without_secrets_and_revocable(database_url) -> None:
    project, key, _ = setup_project(database_url)
    listing = admin(database_url, "keys", "list").stdout
    assert key not in listing
    assert key[:12] in listing
    assert "rate_limit=60/min" in listing
    assert "active" in listing
    key_id = listing.split()[0]
    assert admin(database_url, "keys", "revoke", key_id).stdout.strip() == f"revoked {key_id}"
    assert "revoked" in admin(database_url, "keys", "list", "--project", project).stdout


def test_custom_rate_limit_and_bad_input(database_url) -> None:
    project, _, _ = setup_project(database_url)
    admin(
        database_url,
        "keys", "create", "--project", project, "--name", "bench",
        "--permissions", "interview:read", "--rate-limit", "5000",
    )  # fmt: skip
    assert "rate_limit=5000/min" in admin(database_url, "keys", "list").stdout
    bad = admin(
        database_url,
        "keys", "create", "--project", project, "--name", "x", "--permissions", "interview:fly",
        check=False,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "interview:fly" in bad.stderr
    missing = admin(
        database_url,
        "studies", "create", "--project", "nope", "--title", "t", "--question", "q",
        check=False,
    )  # fmt: skip
    assert missing.returncode != 0
    assert "not_found" in missing.stderr
    assert "Traceback" not in missing.stderr + bad.stderr


async def test_operator_completes_without_a_session_token_and_shows_it(
    database_url, stub, server
) -> None:
    tenant = await make_tenant(database_url)
    started = await start(stub, tenant)
    await send(stub, tenant, started, "A friend told me about it over lunch")
    out, _ = await admin_async(
        database_url, "interviews", "complete", started.interview_id, "--reason", "timeout"
    )
    done = json.loads(out)
    assert done["interview_id"] == started.interview_id
    assert done["status"] == "completed"
    assert done["analysis_status"] == "processing"
    assert done["stats"] == {
        "duration_seconds": done["stats"]["duration_seconds"],
        "respondent_messages": 1,
        "interviewer_messages": 2,
        "total_messages": 3,
    }
    out, err = await admin_async(database_url, "interviews", "complete", started.interview_id)
    again = json.loads(out)
    # Same completion; analysis may have moved on since.
    assert {**again, "analysis_status": None} == {**done, "analysis_status": None}
    assert again["analysis_status"] in ("processing", "completed")
    assert "already completed" in err
    out, _ = await admin_async(database_url, "interviews", "show", started.interview_id)
    shown = json.loads(out)
    assert shown["reason"] == "timeout"
    assert len(shown["transcript"]) == 3
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CompleteInterview(
            pb.CompleteInterviewRequest(interview_id=started.interview_id),
            metadata=auth(tenant.api_key, started.session_token),
        )
    assert_error(caught.value, grpc.StatusCode.ALREADY_EXISTS, "ALREADY_COMPLETED")


async def test_interviews_list_pages_through_a_study(database_url, stub, server) -> None:
    tenant = await make_tenant(database_url)
    started = [await start(stub, tenant) for _ in range(3)]
    done = started[1]
    await stub.CompleteInterview(
        pb.CompleteInterviewRequest(interview_id=done.interview_id),
        metadata=auth(tenant.api_key, done.session_token),
    )
    out, err = await admin_async(database_url, "interviews", "list", "--study", tenant.study_id)
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == [
        started[0].interview_id,
        started[2].interview_id,
        done.interview_id,
    ]
    assert "completed" in lines[-1] and "3 interviews" in err
    out, _ = await admin_async(
        database_url,
        "interviews",
        "list",
        "--study",
        tenant.study_id,
        "--status",
        "completed",
        "--json",
    )
    listed = json.loads(out)
    assert [i["interview_id"] for i in listed["interviews"]] == [done.interview_id]
    assert "transcript" not in listed["interviews"][0]
