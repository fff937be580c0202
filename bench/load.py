"""`make bench`: throughput and latency of each RPC against the event-loop ceiling.

Starts koji-server (pinned to core 0) and Envoy (core 1) on a scratch
database; the server's analysis processes, h2load and this script's own
client run on core 1 as well, so core 0 is the event loop's alone. Seeds
1,000 completed and analysed interviews (~40 messages each) and 8,000 in
progress, then drives load with h2load (HTTP/2 gRPC with pre-encoded
length-prefixed requests; HTTP/1.1 for REST through Envoy). The ceiling is
grpc.health.v1.Health/Check on the same server with the same load shape.
Writes bench/results.json.

CompleteInterview must hit a different interview on every call, and
SendMessage must spread over interviews (one interview takes at most 200
respondent messages), while h2load sends one fixed body: both are driven by
a small grpc.aio client (pre-serialized requests, identity serializers)
instead; over REST the id is in the path and h2load round-robins the URIs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.domain.model import Permission
from koji_server.operations.projects import AdminService
from koji_server.storage import migrate
from koji_server.storage.database import Database
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from tools.envoy_config import EnvoySettings, write

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).parent / "results.json"
QUESTIONS = [f"Question {i}: how does step {i} of your workflow go?" for i in range(1, 20)]
ANSWER = "We export invoices every Friday and the CSV import fails on dates, which is frustrating."
SEEDED = 1000
# Every CompleteInterview needs an interview of its own: enough for a full
# measurement at well over 1,000 completions a second.
OPEN_SEEDED = 8_000
CONCURRENCY = 50
SERVER_CORE, ENVOY_CORE = 0, 1
ANALYSIS_CORE = LOAD_CORE = ENVOY_CORE if (os.cpu_count() or 1) > 1 else SERVER_CORE


def need(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        sys.exit(f"{tool} not found: install it with `apt-get install {package}` (Debian/Ubuntu)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pinned(core: int, argv: list[str]) -> list[str]:
    taskset = shutil.which("taskset")
    return (
        [taskset, "-c", str(core), *argv]
        if taskset and os.cpu_count() and os.cpu_count() > 1
        else argv
    )  # type: ignore[operator]


def grpc_frame(message: Any) -> bytes:
    data = message.SerializeToString()
    return struct.pack(">BI", 0, len(data)) + data


# --- seeding ------------------------------------------------------------------------


async def seed_project(database_url: str, more_keys: int = 0) -> tuple[str, str, list[str]]:
    """A project with a key and a study (and `more_keys` other keys of it)."""
    await migrate.upgrade(database_url)
    database = Database(database_url)
    admin = AdminService(UnitOfWorkFactory(database))
    project = await admin.create_project("bench")
    # A high limit through configuration: the limiter itself stays on.
    key = await admin.create_key(project, "bench", frozenset(Permission), 1_000_000)
    study = await admin.create_study(project, "our workflow", QUESTIONS)
    others = [
        (await admin.create_key(project, f"bench {n}", frozenset(Permission), 1_000_000)).api_key
        for n in range(more_keys)
    ]
    await database.dispose()
    return key.api_key, study, others


def template_interviews(port: int, key: str, study: str) -> tuple[str, str, str]:
    """One completed (and analysed) and one in-progress interview, via the API."""
    auth = (("authorization", f"Bearer {key}"),)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.InterviewServiceStub(channel)
        made = []
        for _ in range(2):
            started = stub.StartInterview(pb.StartInterviewRequest(study_id=study), metadata=auth)
            session = (*auth, ("x-session-token", started.session_token))
            for turn in range(len(QUESTIONS)):
                stub.SendMessage(
                    pb.SendMessageRequest(
                        interview_id=started.interview_id, content=f"{ANSWER} ({turn})"
                    ),
                    metadata=session,
                )
            made.append(started)
        done, open_one = made
        stub.CompleteInterview(
            pb.CompleteInterviewRequest(interview_id=done.interview_id, reason=pb.natural),
            metadata=(*auth, ("x-session-token", done.session_token)),
        )
        deadline = time.monotonic() + 60
        while (
            stub.GetInterview(
                pb.GetInterviewRequest(interview_id=done.interview_id), metadata=auth
            ).analysis_status
            != pb.Analysis.completed
        ):
            if time.monotonic() > deadline:
                sys.exit("the template interview was not analysed in 60 s")
            time.sleep(0.1)
    return done.interview_id, open_one.interview_id, open_one.session_token


def clone(path: Path, template: str, copies: int) -> list[str]:
    """Copy an interview (its messages, job, analysis) under new ids: a fast,
    faithful way to seed thousands of ~40-message interviews."""
    ids = [str(uuid.uuid4()) for _ in range(copies)]
    with sqlite3.connect(path, timeout=30) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        columns = {
            table: [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            for table in ("interviews", "messages", "jobs", "analyses")
        }

        def copy(table: str, where: str, overrides: dict[str, str]) -> None:
            rows = conn.execute(
                f"SELECT {', '.join(columns[table])} FROM {table} WHERE {where} = ?", (template,)
            ).fetchall()
            for new_id in ids:
                batch = []
                for row in rows:
                    values = dict(zip(columns[table], row, strict=True))
                    for column, kind in overrides.items():
                        values[column] = new_id if kind == "new" else str(uuid.uuid4())
                    batch.append(tuple(values[c] for c in columns[table]))
                placeholders = ", ".join("?" * len(columns[table]))
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(columns[table])}) VALUES ({placeholders})",
                    batch,
                )

        copy("interviews", "id", {"id": "new"})
        copy("messages", "interview_id", {"interview_id": "new", "id": "fresh"})
        copy("jobs", "interview_id", {"interview_id": "new", "id": "fresh"})
        copy("analyses", "interview_id", {"interview_id": "new"})
    return ids


# --- load ----------------------------------------------------------------------------

_RPS = re.compile(r"finished in [\d.]+s, ([\d.]+) req/s")
_DONE = re.compile(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded")


def h2load(args: list[str], duration: float, log: Path) -> dict[str, float]:
    # The load generator stays off the server's core.
    command = pinned(LOAD_CORE, [
        need("h2load", "nghttp2-client"), "-c", str(CONCURRENCY), "-m", "1",
        "-D", str(int(duration)), "--warm-up-time", "1", "--log-file", str(log), *args,
    ])  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    rps = float(_RPS.search(result.stdout).group(1))  # type: ignore[union-attr]
    done, succeeded = map(int, _DONE.search(result.stdout).groups())  # type: ignore[union-attr]
    # --log-file: start time, HTTP status, request time in microseconds.
    latencies = sorted(
        int(line.split()[2]) / 1000 for line in log.read_text().splitlines() if line.strip()
    )
    statuses = {line.split()[1] for line in log.read_text().splitlines() if line.strip()}
    return {
        "rps": rps,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "ok_share": succeeded / max(1, done),
        "statuses": sorted(statuses),  # type: ignore[dict-item]
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else 0.0


def grpc_load(port: int, path: str, body: bytes, headers: list[str], seconds: float,
              log: Path) -> dict[str, float]:  # fmt: skip
    flags = ["-d", str(log.with_suffix(".body")), "-H", "content-type: application/grpc",
             "-H", "te: trailers"]  # fmt: skip
    log.with_suffix(".body").write_bytes(body)
    for header in headers:
        flags += ["-H", header]
    return h2load([*flags, f"http://127.0.0.1:{port}{path}"], seconds, log)


async def rotating_driver(port: int, method: str, requests: list[bytes], key: str, token: str,
                          seconds: float) -> dict[str, float]:  # fmt: skip
    """Each call a different pre-serialized request (h2load sends one fixed
    body): CompleteInterview needs a fresh interview per call, and
    SendMessage spreads over interviews (one would reach its limit of
    respondent messages within a second and measure only refusals)."""
    metadata = (("authorization", f"Bearer {key}"), ("x-session-token", token))
    latencies: list[float] = []
    failures = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            f"/koji.v1.InterviewService/{method}",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        queue = iter(requests)
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal failures
            for request in queue:
                if time.perf_counter() > deadline:
                    return
                started = time.perf_counter()
                try:
                    await call(request, metadata=metadata)
                except grpc.aio.AioRpcError:
                    failures += 1
                latencies.append((time.perf_counter() - started) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - began
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "ok_share": 1 - failures / max(1, len(latencies)),
    }


def complete_requests(ids: list[str]) -> list[bytes]:
    return [
        pb.CompleteInterviewRequest(interview_id=i, reason=pb.natural).SerializeToString()
        for i in ids
    ]


def send_requests(ids: list[str], rounds: int = 4) -> list[bytes]:
    """Round-robin over the interviews: at most `rounds` messages each."""
    return [
        pb.SendMessageRequest(interview_id=i, content=ANSWER).SerializeToString()
        for _ in range(rounds)
        for i in ids
    ]


def check_grpc_ok(port: int, key: str, done_id: str) -> None:
    """h2load does not read grpc-status: make sure the calls it makes succeed."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.InterviewServiceStub(channel)
        stub.GetInterview(
            pb.GetInterviewRequest(interview_id=done_id),
            metadata=(("authorization", f"Bearer {key}"),),
        )


@dataclass(frozen=True)
class Stack:
    server: subprocess.Popen[bytes]
    grpc_port: int
    rest_port: int


@contextmanager
def pinned_stack(work: Path, database_url: str, **env: str) -> Iterator[Stack]:
    """koji-server (pinned to SERVER_CORE) and Envoy (ENVOY_CORE) over
    `database_url`, once the server answers; both stopped on exit. `env`
    adds or overrides KOJI_* settings."""
    grpc_port, rest_port, admin_port = free_port(), free_port(), free_port()
    environment = {**os.environ, "KOJI_DATABASE_URL": database_url,
                   "KOJI_LISTEN": f"127.0.0.1:{grpc_port}", "KOJI_LOG_LEVEL": "WARNING",
                   # Metrics on (as deployed), on a free port: 9464 may be taken.
                   "KOJI_METRICS_LISTEN": "127.0.0.1:0",
                   # The analyses that completions start run beside Envoy, not
                   # on the event loop's core (as a deployment would give them
                   # cores of their own).
                   "KOJI_ANALYSIS_CPUS": str(ANALYSIS_CORE), **env}  # fmt: skip
    server = subprocess.Popen(pinned(SERVER_CORE, [str(BIN / "koji-server")]), env=environment,
                              stdout=subprocess.DEVNULL)  # fmt: skip
    config = write(
        EnvoySettings(grpc_port=grpc_port, listen_port=rest_port, admin_port=admin_port),
        work / "envoy.yaml",
    )
    envoy = subprocess.Popen(
        pinned(ENVOY_CORE, [str(BIN / "envoy"), "-c", str(config), "--concurrency", "1",
                   "--disable-hot-restart", "--log-level", "error"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
        yield Stack(server, grpc_port, rest_port)
    finally:
        for process in (envoy, server):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=6, help="per measurement")
    args = parser.parse_args()
    need("h2load", "nghttp2-client")
    seconds = args.seconds
    rows: list[dict[str, Any]] = []
    # The bench's own client (the CompleteInterview driver) stays off the
    # server's core too.
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {LOAD_CORE})
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        path = work / "bench.db"
        database_url = f"sqlite+aiosqlite:///{path}"
        key, study, _ = asyncio.run(seed_project(database_url))
        with pinned_stack(work, database_url) as stack:
            grpc_port, rest_port, server = stack.grpc_port, stack.rest_port, stack.server
            print("seeding...", flush=True)
            done_id, open_id, token = template_interviews(grpc_port, key, study)
            done_ids = [*clone(path, done_id, SEEDED - 1), done_id]
            open_ids = clone(path, open_id, OPEN_SEEDED)  # share the template's session token
            check_grpc_ok(grpc_port, key, done_ids[0])
            time.sleep(1.5)  # Envoy's health check has seen the server
            rss_before = rss_mb(server.pid)
            samples = [rss_before]
            auth = f"authorization: Bearer {key}"

            def measure(rpc: str, transport: str, result: dict[str, float]) -> None:
                samples.append(rss_mb(server.pid))
                rows.append({"rpc": rpc, "transport": transport, **result})
                print(f"  {rpc:<18} {transport:<5} {result['rps']:8.0f} req/s", flush=True)

            health = grpc_frame(health_pb2.HealthCheckRequest())
            measure("Health/Check", "grpc", grpc_load(
                grpc_port, "/grpc.health.v1.Health/Check", health, [], seconds,
                work / "h.log"))  # fmt: skip
            get = grpc_frame(pb.GetInterviewRequest(interview_id=done_ids[0]))
            measure("GetInterview", "grpc", grpc_load(
                grpc_port, "/koji.v1.InterviewService/GetInterview", get, [auth], seconds,
                work / "g.log"))  # fmt: skip
            uris = [f"http://127.0.0.1:{rest_port}/api/v1/interviews/{i}" for i in done_ids[:200]]
            measure("GetInterview", "rest", h2load(
                ["--h1", "-H", auth, *uris], seconds, work / "r.log"))  # fmt: skip
            sends = send_requests(open_ids)
            measure("SendMessage", "grpc", asyncio.run(rotating_driver(
                grpc_port, "SendMessage", sends, key, token, seconds)))  # fmt: skip
            measure("CompleteInterview", "grpc", asyncio.run(rotating_driver(
                grpc_port, "CompleteInterview", complete_requests(open_ids), key, token,
                seconds)))  # fmt: skip
            rss_after = rss_mb(server.pid)
            samples.append(rss_after)

    ceiling = rows[0]["rps"]
    for row in rows:
        row["ratio"] = round(row["rps"] / ceiling, 3)
        for field in ("rps", "p50_ms", "p99_ms"):
            row[field] = round(row[field], 2)
    results = {
        "ceiling_rps": round(ceiling, 1),
        "rss_mb_before": round(rss_before, 1),
        "rss_mb_after": round(rss_after, 1),
        "rss_mb_samples": [round(s, 1) for s in samples],
        "rows": [
            {k: row[k] for k in ("rpc", "transport", "rps", "p50_ms", "p99_ms", "ratio")}
            for row in rows[1:]
        ],
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(f"{'rpc':<18} {'transport':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}")
    for row in rows:
        print(
            f"{row['rpc']:<18} {row['transport']:<9} {row['rps']:8.0f} {row['p50_ms']:8.2f} "
            f"{row['p99_ms']:8.2f} {row['ratio']:6.2f}"
        )
    get_grpc = next(r for r in rows if r["rpc"] == "GetInterview" and r["transport"] == "grpc")
    get_rest = next(r for r in rows if r["rpc"] == "GetInterview" and r["transport"] == "rest")
    print(f"\nREST/gRPC GetInterview: {get_rest['rps'] / get_grpc['rps']:.2f}")
    print(f"server RSS: {rss_before:.0f} MB before, {rss_after:.0f} MB after "
          f"(samples {', '.join(f'{s:.0f}' for s in samples)})")  # fmt: skip
    bad = [r for r in rows if r.get("ok_share", 1) < 0.999]
    if bad:
        print("WARNING: failed requests in", [(r["rpc"], r["transport"]) for r in bad])
    print(f"(written to {RESULTS})")


if __name__ == "__main__":
    main()
