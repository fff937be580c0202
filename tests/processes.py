"""Helpers to run the console scripts as real subprocesses."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from tests.helpers import PATIENCE, auth, query

if TYPE_CHECKING:
    from tests.conftest import Tenant

BIN = Path(sys.executable).parent
# Test receivers listen on loopback, which production refuses by default.
TEST_ENV = {"KOJI_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def admin(database_url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(BIN / "koji-admin"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **TEST_ENV, "KOJI_DATABASE_URL": database_url},
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


async def admin_async(database_url: str, *args: str) -> tuple[str, str]:
    """koji-admin without blocking the event loop (a server may share the loop)."""
    process = await asyncio.create_subprocess_exec(
        str(BIN / "koji-admin"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **TEST_ENV, "KOJI_DATABASE_URL": database_url},
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode(), err.decode()


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, then SIGKILL if it does not exit in time; never leaves it running."""
    process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise


def launch_server(
    database_url: str,
    port: int,
    log: Path | None = None,
    args: tuple[str, ...] = (),
    **settings: str,
) -> subprocess.Popen[str]:
    """koji-server on 127.0.0.1:`port`, once it says it listens. Its log goes
    to `log` (a pipe nobody reads would fill and stall it), else to a pipe."""
    stderr = log.open("w") if log is not None else subprocess.PIPE
    process = subprocess.Popen(
        [str(BIN / "koji-server"), *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={
            **os.environ,
            **TEST_ENV,
            "KOJI_DATABASE_URL": database_url,
            "KOJI_LISTEN": f"127.0.0.1:{port}",
            **settings,
        },
    )
    if log is not None:
        stderr.close()  # type: ignore[union-attr]
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != f"koji-server listening on port {port}":
        problem = log.read_text() if log is not None else process.stderr.read()  # type: ignore[union-attr]
        raise RuntimeError(f"koji-server did not start: {line!r} {problem}")
    return process


def seed_project_with_cli(
    database_url: str, permissions: str, *key_options: str
) -> tuple[str, str, str]:
    """A project, a key (named k) and a one-question study, made with
    koji-admin: their ids, and the key itself."""
    project = admin(database_url, "projects", "create", "--name", "P").stdout.strip()
    key = admin(
        database_url, "keys", "create", "--project", project, "--name", "k",
        "--permissions", permissions, *key_options,
    ).stdout.strip()  # fmt: skip
    study = admin(
        database_url, "studies", "create", "--project", project, "--title", "T", "--question", "Q?"
    ).stdout.strip()
    return project, key, study


def seed_with_cli(database_url: str, permissions: str) -> tuple[str, str]:
    """seed_project_with_cli's key and study."""
    _project, key, study = seed_project_with_cli(database_url, permissions)
    return key, study


def seed(database_url: str) -> Tenant:
    from tests.conftest import make_guide_tenant  # (conftest imports this module)

    return asyncio.run(make_guide_tenant(database_url))


def launch(database_url: str, log: Path, **env: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    with log.open("ab") as stderr:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [str(BIN / "koji-server")],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={
                **os.environ,
                "KOJI_DATABASE_URL": database_url,
                "KOJI_LISTEN": f"127.0.0.1:{port}",
                "KOJI_PIPELINE_POLL_SECONDS": "0.1",
                "KOJI_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
                **env,
            },
        )
    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                grpc.channel_ready_future(channel).result(timeout=0.5)
            return process, port
        except grpc.FutureTimeoutError:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start"


def interview(port: int, tenant: Tenant, answers: list[str]) -> str:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.InterviewServiceStub(channel)
        started = stub.StartInterview(
            pb.StartInterviewRequest(study_id=tenant.study_id), metadata=auth(tenant.api_key)
        )
        for answer in answers:
            stub.SendMessage(
                pb.SendMessageRequest(interview_id=started.interview_id, content=answer),
                metadata=auth(tenant.api_key, started.session_token),
            )
        stub.CompleteInterview(
            pb.CompleteInterviewRequest(interview_id=started.interview_id, reason=pb.natural),
            metadata=auth(tenant.api_key, started.session_token),
        )
    return started.interview_id


def wait_all_done(path: str, expected: int, timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while query(path, "SELECT count(*) FROM jobs WHERE status = 'done'")[0][0] < expected:
        assert time.monotonic() < deadline, query(
            path, "SELECT status, count(*) FROM jobs GROUP BY 1"
        )
        time.sleep(0.1)


def assert_exactly_one_result_each(path: str, ids: list[str]) -> None:
    assert query(path, "SELECT count(*), count(DISTINCT interview_id) FROM analyses") == [
        (len(ids), len(ids))
    ]
    assert query(path, "SELECT count(*) FROM interviews WHERE analysis_status != 'completed'") == [
        (0,)
    ]
    # Three events per interview (quality_scored, gate verdict,
    # analysis_ready), never more.
    assert query(
        path,
        "SELECT count(*) FROM (SELECT interview_id FROM events GROUP BY 1 HAVING count(*) != 3)"
        " AS uneven",
    ) == [(0,)]
    assert query(path, "SELECT count(DISTINCT interview_id) FROM events") == [(len(ids),)]


async def add_endpoint(database_url: str, tenant: Tenant, url: str, *extra: str) -> str:
    out, err = await admin_async(
        database_url, "webhooks", "add", "--project", tenant.project_id, "--url", url, *extra
    )
    assert "not shown again" in err
    return out.strip()
