"""`make bench-stream`: the two streams as REST callers get them, through Envoy.

Starts koji-server (pinned to core 0) and Envoy (core 1) on a scratch
database; this script, the analysis processes and h2load run on core 1.
Measures:
- first reply piece: from sending `POST .../message` to reading the first
  `data:` event, one request at a time;
- completion -> `analysis_ready`: a watch is open (`GET .../events`), the
  interview is completed over gRPC, and the clock stops when the
  `analysis_ready` event is read; one interview at a time;
- 1,000 idle watch streams (10 keys x 100): the server's RSS and event-loop
  tasks (its metrics endpoint) before, with them open and after closing
  them, and GetInterview throughput (h2load, gRPC) without and with them.

    .venv/bin/python -m bench.streams [--watches 1000] [--interviews 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import httpx

from bench.load import (
    LOAD_CORE,
    free_port,
    grpc_frame,
    grpc_load,
    need,
    percentile,
    pinned_stack,
    rss_mb,
    seed_project,
    template_interviews,
)
from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc

RESULTS = Path(__file__).parent / "streams.json"
ANSWERS = [
    "A colleague on the finance team showed it to me during a quarterly review last spring.",
    "The CSV importer kept rejecting our date format, so I spent hours splitting the file.",
    "I wish there was a bulk edit for approval rules; we have more than two hundred vendors.",
    "I love the dashboard, it is clear and fast, and the weekly review takes half the time.",
]
KEYS = 10  # x 100 watch streams each (the default cap per key)


def metric(port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert found, name
    return float(found.group(1))


def first_piece_latencies(rest: str, key: str, study: str, count: int) -> list[float]:
    headers = {"Authorization": f"Bearer {key}"}
    latencies = []
    with httpx.Client(base_url=rest, timeout=30) as client:
        started: dict[str, Any] = {}
        for n in range(count):
            if n % 100 == 0:  # an interview holds 200 respondent messages
                started = client.post(
                    "/api/v1/interviews/start", json={"study_id": study}, headers=headers
                ).json()
            session = {**headers, "X-Session-Token": started["session_token"]}
            path = f"/api/v1/interviews/{started['interview_id']}/message"
            began = time.perf_counter()
            with client.stream(
                "POST", path, json={"content": ANSWERS[n % 4]}, headers=session
            ) as r:
                lines = r.iter_lines()
                for line in lines:
                    if line.startswith("data: "):
                        latencies.append((time.perf_counter() - began) * 1000)
                        break
                for _ in lines:  # the rest of the reply
                    pass
    return latencies[10:]  # warm-up


async def read_event(reader: asyncio.StreamReader) -> str:
    """The next `data:` payload of an event stream (HTTP/1.1 chunked)."""
    while True:
        line = (await reader.readline()).decode()
        if not line:
            raise EOFError("the stream ended")
        if line.startswith("data: "):
            return line[len("data: ") :]


async def open_watch(
    host: str, port: int, key: str, interview_id: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET /api/v1/interviews/{interview_id}/events HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {key}\r\n\r\n".encode()
    )
    status = (await reader.readline()).decode()
    if " 200 " not in status:
        raise RuntimeError(f"watch refused: {status.strip()}")
    assert json.loads(await read_event(reader))["state"]
    return reader, writer


async def ready_latencies(grpc_port: int, rest_port: int, key: str, study: str,
                          count: int) -> list[float]:  # fmt: skip
    auth = (("authorization", f"Bearer {key}"),)
    latencies = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = pb_grpc.InterviewServiceStub(channel)
        for _ in range(count + 5):
            started = await stub.StartInterview(
                pb.StartInterviewRequest(study_id=study), metadata=auth
            )
            session = (*auth, ("x-session-token", started.session_token))
            for answer in ANSWERS:
                await stub.SendMessage(
                    pb.SendMessageRequest(interview_id=started.interview_id, content=answer),
                    metadata=session,
                )
            reader, writer = await open_watch("127.0.0.1", rest_port, key, started.interview_id)
            began = time.perf_counter()
            await stub.CompleteInterview(
                pb.CompleteInterviewRequest(interview_id=started.interview_id, reason=pb.natural),
                metadata=session,
            )
            while "analysis_ready" not in await read_event(reader):
                pass
            latencies.append((time.perf_counter() - began) * 1000)
            writer.close()
            await asyncio.sleep(0.05)
    return latencies[5:]  # warm-up


async def hold_watches(rest_port: int, keys: list[str], interview_id: str,
                       per_key: int) -> list[asyncio.StreamWriter]:  # fmt: skip
    writers = []
    for key in keys:
        opened = await asyncio.gather(
            *(open_watch("127.0.0.1", rest_port, key, interview_id) for _ in range(per_key))
        )
        writers += [writer for _reader, writer in opened]
    return writers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watches", type=int, default=1000, help="idle watch streams to hold")
    parser.add_argument("--interviews", type=int, default=100, help="completion -> ready samples")
    parser.add_argument("--replies", type=int, default=300, help="first-piece samples")
    parser.add_argument("--seconds", type=int, default=6, help="per throughput measurement")
    args = parser.parse_args()
    need("h2load", "nghttp2-client")
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {LOAD_CORE})
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        database_url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
        per_key = -(-args.watches // KEYS)
        key, study, watch_keys, _ = asyncio.run(seed_project(database_url, KEYS))
        metrics_port = free_port()
        with pinned_stack(
            work,
            database_url,
            KOJI_METRICS_LISTEN=f"127.0.0.1:{metrics_port}",
            KOJI_WATCH_STREAMS_PER_KEY=str(max(100, per_key)),
        ) as stack:
            grpc_port, rest_port, server = stack.grpc_port, stack.rest_port, stack.server
            done_id, open_id, _token = template_interviews(grpc_port, key, study)
            time.sleep(1.5)  # Envoy's health check has seen the server
            rest = f"http://127.0.0.1:{rest_port}"

            print("first reply piece...", flush=True)
            pieces = first_piece_latencies(rest, key, study, args.replies)
            results["first_piece_ms"] = {
                "p50": percentile(pieces, 0.5), "p95": percentile(pieces, 0.95),
                "samples": len(pieces),
            }  # fmt: skip
            print("completion -> analysis_ready...", flush=True)
            ready = asyncio.run(ready_latencies(grpc_port, rest_port, key, study,
                                                args.interviews))  # fmt: skip
            results["completion_to_ready_ms"] = {
                "p50": percentile(ready, 0.5), "p95": percentile(ready, 0.95),
                "samples": len(ready),
            }  # fmt: skip

            get = grpc_frame(pb.GetInterviewRequest(interview_id=done_id))
            auth = f"authorization: Bearer {key}"
            path = "/koji.v1.InterviewService/GetInterview"
            time.sleep(1)
            idle = {
                "rss_mb": rss_mb(server.pid),
                "tasks": metric(metrics_port, "koji_event_loop_tasks"),
            }
            without = grpc_load(grpc_port, path, get, [auth], args.seconds, work / "g1.log")
            print(f"holding {args.watches} watch streams...", flush=True)

            async def with_watches() -> dict[str, Any]:
                writers = await hold_watches(rest_port, watch_keys, open_id, per_key)
                writers = writers[: args.watches]
                opened = {
                    "streams": metric(metrics_port, "koji_watch_streams_open"),
                    "rss_mb": rss_mb(server.pid),
                    "tasks": metric(metrics_port, "koji_event_loop_tasks"),
                }
                loaded = await asyncio.to_thread(
                    grpc_load, grpc_port, path, get, [auth], args.seconds, work / "g2.log"
                )
                for writer in writers:
                    writer.close()
                deadline = time.monotonic() + 30
                while metric(metrics_port, "koji_watch_streams_open") > 0:
                    assert time.monotonic() < deadline, "watches still open 30 s after closing"
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1)
                return {"open": opened, "loaded": loaded}

            held = asyncio.run(with_watches())
            after = {
                "rss_mb": rss_mb(server.pid),
                "tasks": metric(metrics_port, "koji_event_loop_tasks"),
            }
            # Once more: memory the allocator kept after the first round is
            # reused, not added to (a leak would grow it again).
            again = asyncio.run(with_watches())
            after_again = {
                "rss_mb": rss_mb(server.pid),
                "tasks": metric(metrics_port, "koji_event_loop_tasks"),
            }
            results["watches"] = {
                "count": args.watches,
                "idle": idle,
                "open": held["open"],
                "closed": after,
                "open_again": again["open"],
                "closed_again": after_again,
                "rss_growth_mb": held["open"]["rss_mb"] - idle["rss_mb"],
                "get_rps_without": without["rps"],
                "get_rps_with": held["loaded"]["rps"],
                "get_ratio": held["loaded"]["rps"] / without["rps"],
            }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    first, ready_ms, watches = (
        results["first_piece_ms"], results["completion_to_ready_ms"], results["watches"]
    )  # fmt: skip
    print(f"\nfirst reply piece (REST, SSE):   p50 {first['p50']:.1f} ms  p95 {first['p95']:.1f} ms"
          f"  (target p50 < 20 ms)")  # fmt: skip
    print(f"completion -> analysis_ready:   p50 {ready_ms['p50']:.1f} ms  p95 "
          f"{ready_ms['p95']:.1f} ms  (target p95 < 100 ms)")  # fmt: skip
    print(f"{watches['count']} idle watches: RSS {watches['idle']['rss_mb']:.0f} -> "
          f"{watches['open']['rss_mb']:.0f} -> {watches['closed']['rss_mb']:.0f} MB "
          f"(growth {watches['rss_growth_mb']:.0f} MB, target < 100); tasks "
          f"{watches['idle']['tasks']:.0f} -> {watches['open']['tasks']:.0f} -> "
          f"{watches['closed']['tasks']:.0f}")  # fmt: skip
    print(f"  a second round: RSS {watches['open_again']['rss_mb']:.0f} open -> "
          f"{watches['closed_again']['rss_mb']:.0f} MB closed; tasks "
          f"{watches['closed_again']['tasks']:.0f}")  # fmt: skip
    print(f"GetInterview: {watches['get_rps_without']:.0f} req/s without, "
          f"{watches['get_rps_with']:.0f} with them open ({watches['get_ratio']:.2f}; "
          f"target >= 0.80)")  # fmt: skip
    print(f"(written to {RESULTS})")


if __name__ == "__main__":
    main()
