"""koji-mcp as a real process behind a real Envoy, in front of a real server,
for the MCP tests; and an MCP SDK client session over streamable HTTP."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.envoy_process import EnvoyProcess
from tests.processes import BIN, free_port


class McpProcess:
    """koji-mcp (HTTP) on a free port, for Envoy's /mcp route."""

    def __init__(self, grpc_port: int, database_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.envoy = EnvoyProcess(grpc_port, workdir, mcp_port=self.port)
        self.base_url = self.envoy.base_url
        self.log = workdir / f"koji-mcp-{self.port}.log"
        env = {
            **os.environ,
            "KOJI_GRPC_TARGET": f"127.0.0.1:{grpc_port}",
            "KOJI_MCP_LISTEN": f"127.0.0.1:{self.port}",
            "KOJI_MCP_PUBLIC_URL": self.base_url,
            "KOJI_DATABASE_URL": database_url,
        }
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [str(BIN / "koji-mcp")], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout: float = 60) -> None:
        self.envoy.wait_ready()
        deadline = time.monotonic() + timeout
        url = f"{self.base_url}/.well-known/oauth-protected-resource"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"koji-mcp exited: {self.log.read_text()}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"koji-mcp not ready: {self.log.read_text()}")

    def stop(self) -> None:
        for process in (self.process, self.envoy.process):
            process.terminate()
        for process in (self.process, self.envoy.process):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@asynccontextmanager
async def mcp_client(url: str, bearer: str) -> AsyncIterator[Client]:
    """The SDK's own client, over streamable HTTP, with a bearer credential."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {bearer}"}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client
