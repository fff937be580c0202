"""`make bench-mcp`: koji_get_interview over streamable HTTP, against REST.

Starts koji-server, koji-mcp and Envoy (routing /mcp to koji-mcp) on a
scratch SQLite database, makes one completed, analysed interview of 19
questions (~40 messages, as bench.load's), then for --seconds each calls
  - koji_get_interview through Envoy's /mcp with the MCP SDK's own client
    (one stateless POST per call: JSON-RPC in, tool result with
    structuredContent and text out), --clients sessions at once;
  - GET /api/v1/interviews/{id} through Envoy (httpx, as many clients),
and prints requests/s and p50/p95/p99 latency (ms) of each, measured at
the client. The target: koji_get_interview p95 under 30 ms, a latency
measured with one client (the default): more clients measure the Python
clients and koji-mcp's one event loop sharing the machine's cores.

    .venv/bin/python -m bench.mcp [--seconds 10] [--clients 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from mcp.client import Client

from bench.analysis_latency import percentile, spawn_server
from bench.load import free_port, seed_project, template_interviews
from tests.mcp_stack import McpProcess, mcp_client

TARGET_P95_MS = 30.0


async def drive(
    call: Any, seconds: float, clients: int, make_client: Any
) -> tuple[list[float], float]:
    """Runs `call(client)` from `clients` clients for `seconds`: latencies (s)."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def one() -> None:
        async with make_client() as client:
            await call(client)  # warm: connection, first import paths
            while time.monotonic() < deadline:
                started = time.perf_counter()
                await call(client)
                latencies.append(time.perf_counter() - started)

    began = time.monotonic()
    await asyncio.gather(*(one() for _ in range(clients)))
    return latencies, time.monotonic() - began


def summary(name: str, latencies: list[float], elapsed: float) -> dict[str, Any]:
    ms = [1000 * value for value in latencies]
    return {
        "name": name,
        "calls": len(ms),
        "rps": round(len(ms) / elapsed, 1),
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
    }


async def measure(
    base: str, key: str, interview_id: str, seconds: float, clients: int
) -> list[dict[str, Any]]:
    async def get_tool(client: Client) -> None:
        result = await client.call_tool("koji_get_interview", {"interview_id": interview_id})
        if result.is_error:
            raise SystemExit(f"koji_get_interview failed: {result.content}")

    @asynccontextmanager
    async def rest_session() -> AsyncIterator[httpx.AsyncClient]:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            yield client

    async def get_rest(client: httpx.AsyncClient) -> None:
        response = await client.get(f"/api/v1/interviews/{interview_id}")
        if response.status_code != 200:
            raise SystemExit(f"GET failed: {response.status_code} {response.text}")

    def mcp_session() -> Any:
        return mcp_client(f"{base}/mcp", key)

    rows = [
        summary("koji_get_interview mcp", *await drive(get_tool, seconds, clients, mcp_session))
    ]
    rows.append(
        summary("GetInterview rest", *await drive(get_rest, seconds, clients, rest_session))
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="koji-bench-mcp-") as scratch:
        work = Path(scratch)
        database_url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
        key, study, _, _ = asyncio.run(seed_project(database_url))
        grpc_port = free_port()
        server = spawn_server(database_url, grpc_port, KOJI_LOG_LEVEL="WARNING")
        stack = McpProcess(grpc_port, database_url, work)
        try:
            stack.wait_ready()
            done_id, _, _ = template_interviews(grpc_port, key, study)
            rows = asyncio.run(measure(stack.base_url, key, done_id, args.seconds, args.clients))
        finally:
            stack.stop()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    print(f"{'':24} {'calls':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for row in rows:
        print(
            f"{row['name']:<24} {row['calls']:7d} {row['rps']:8.1f} {row['p50_ms']:8.2f} "
            f"{row['p95_ms']:8.2f} {row['p99_ms']:8.2f}"
        )
    tool = rows[0]
    verdict = "meets" if tool["p95_ms"] < TARGET_P95_MS else "MISSES"
    target = f"{TARGET_P95_MS:.0f} ms"
    print(f"koji_get_interview p95 {tool['p95_ms']:.2f} ms {verdict} the {target} target")
    print(json.dumps({"clients": args.clients, "seconds": args.seconds, "rows": rows}))


if __name__ == "__main__":
    main()
