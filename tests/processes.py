"""Helpers to run the console scripts as real subprocesses."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

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
    database_url: str, port: int, log: Path | None = None, **settings: str
) -> subprocess.Popen[str]:
    """koji-server on 127.0.0.1:`port`, once it says it listens. Its log goes
    to `log` (a pipe nobody reads would fill and stall it), else to a pipe."""
    stderr = log.open("w") if log is not None else subprocess.PIPE
    process = subprocess.Popen(
        [str(BIN / "koji-server")],
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
