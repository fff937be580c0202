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
