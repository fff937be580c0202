"""Helpers to run the console scripts as real subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


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
        env={**os.environ, "KOJI_DATABASE_URL": database_url},
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result
