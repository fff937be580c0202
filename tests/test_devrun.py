"""`make run REPLICAS=2 DB=postgres` (python -m tools.devrun --replicas 2
--postgres) as a real process: a throwaway PostgreSQL, two replicas behind
Envoy, a REST call through it, and everything gone after Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mcp_stack import mcp_client
from tests.processes import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent


def consecutive_free_ports(count: int) -> int:
    """A port p with p..p+count-1 all free on 127.0.0.1."""
    for _ in range(50):
        base = free_port()
        try:
            for offset in range(count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no consecutive free ports")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" not in status.read_text()
    except FileNotFoundError:
        return False


class Output:
    """The process's stdout, read on a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.text = ""
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._lock:
                self.text += line

    def close(self, process: subprocess.Popen[str]) -> None:
        self._thread.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = re.search(pattern, self.text)
            if found:
                return found
            time.sleep(0.05)
        raise TimeoutError(f"{pattern!r} not printed; output so far:\n{self.text}")


def healthy_hosts(admin_port: int) -> dict[int, str]:
    hosts = {}
    for line in httpx.get(f"http://127.0.0.1:{admin_port}/clusters", timeout=5).text.splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == "koji_grpc" and parts[2] == "health_flags":
            hosts[int(parts[1].rpartition(":")[2])] = parts[3]
    return hosts


def requests_by_port(admin_port: int) -> dict[int, int]:
    counts = {}
    for line in httpx.get(f"http://127.0.0.1:{admin_port}/clusters", timeout=5).text.splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == "koji_grpc" and parts[2] == "rq_total":
            counts[int(parts[1].rpartition(":")[2])] = int(parts[3])
    return counts


def test_two_replicas_on_a_throwaway_postgres_and_everything_stops_on_ctrl_c() -> None:
    grpc_port = consecutive_free_ports(2)
    rest_port, admin_port, mcp_port = free_port(), free_port(), free_port()
    command = [
        sys.executable, "-m", "tools.devrun", "--replicas", "2", "--postgres",
        "--listen", f"127.0.0.1:{grpc_port}", "--rest-port", str(rest_port),
        "--admin-port", str(admin_port), "--mcp-port", str(mcp_port),
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        # With the pipeline: the servers stop at once even while their
        # analysis processes still import their libraries (koji_server.main).
        env={**os.environ, "KOJI_METRICS_LISTEN": "", "KOJI_LOG_LEVEL": "WARNING"},
    )
    output = Output(process)
    try:
        started = output.wait_for(r"PostgreSQL \d+ started: pid (\d+), data in (\S+) ", 60)
        postmaster, data_dir = int(started.group(1)), Path(started.group(2))
        key = output.wait_for(r"API key  : (\S+)", 60).group(1)
        study = output.wait_for(r"study id : (\S+)", 5).group(1)
        replicas = output.wait_for(
            r"replica 1: gRPC 127\.0\.0\.1:(\d+), metrics off, pid (\d+)\n"
            r"  replica 2: gRPC 127\.0\.0\.1:(\d+), metrics off, pid (\d+)\n",
            5,
        )
        assert [int(replicas.group(1)), int(replicas.group(3))] == [grpc_port, grpc_port + 1]
        envoy = int(output.wait_for(r"\(Envoy, pid (\d+);", 5).group(1))
        mcp = int(output.wait_for(r"\(koji-mcp, pid (\d+);", 5).group(1))
        pids = [postmaster, int(replicas.group(2)), int(replicas.group(4)), envoy, mcp]
        assert all(alive(pid) for pid in pids)
        assert data_dir.is_dir()

        # Both replicas healthy in Envoy's one cluster.
        deadline = time.monotonic() + 30
        hosts: dict[int, str] = {}
        while time.monotonic() < deadline:
            try:
                hosts = healthy_hosts(admin_port)
            except httpx.HTTPError:
                hosts = {}
            if hosts == {grpc_port: "healthy", grpc_port + 1: "healthy"}:
                break
            time.sleep(0.1)
        assert hosts == {grpc_port: "healthy", grpc_port + 1: "healthy"}

        # REST through Envoy, spread over both.
        auth = {"Authorization": f"Bearer {key}"}
        rest = f"http://127.0.0.1:{rest_port}"
        started_ids = []
        for _ in range(4):
            response = httpx.post(
                f"{rest}/api/v1/interviews/start",
                headers=auth,
                json={"study_id": study},
                timeout=10,
            )
            assert response.status_code == 201, response.text
            started_ids.append(response.json()["interview_id"])
        # Round robin: reads over one connection reach both replicas.
        with httpx.Client(base_url=rest, headers=auth, timeout=10) as client:
            deadline = time.monotonic() + 20  # (a replica busy past a health check sits out)
            while time.monotonic() < deadline:
                got = client.get(f"/api/v1/interviews/{started_ids[0]}")
                assert got.status_code == 200, got.text
                counts = requests_by_port(admin_port)
                if counts[grpc_port] and counts[grpc_port + 1]:
                    break
                time.sleep(0.5)  # at most 40 reads: the demo key's 60 a minute
        assert counts[grpc_port] >= 1 and counts[grpc_port + 1] >= 1, counts

        # koji-mcp behind Envoy at /mcp, a client of the replicas (one call:
        # the demo key allows 60 a minute), once it answers (it may start
        # after the replicas are healthy: Envoy says 503 until then).
        deadline = time.monotonic() + 60
        metadata = f"{rest}/.well-known/oauth-protected-resource"
        while httpx.get(metadata, timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "koji-mcp did not answer in 60 s"
            time.sleep(0.2)

        async def usage() -> Any:
            async with mcp_client(f"{rest}/mcp", key) as client:
                return await client.call_tool("koji_get_usage", {})

        result = asyncio.run(usage())
        assert not result.is_error, result.content
        assert result.structured_content["counted_interviews"] == 0

        process.send_signal(signal.SIGINT)
        stopping = time.monotonic()
        assert process.wait(timeout=30) == 0
        print(f"stopped in {time.monotonic() - stopping:.1f} s")
        output.wait_for(r"PostgreSQL stopped", 1)
        assert not [pid for pid in pids if alive(pid)]
        assert not data_dir.exists()
    finally:
        if process.poll() is None:
            # Ctrl-C first: a killed devrun would leave its PostgreSQL behind.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        output.close(process)
