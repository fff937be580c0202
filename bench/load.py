"""`make bench`: throughput and latency of each RPC against the event-loop ceiling.

Starts koji-server (pinned to core 0) and Envoy (core 1) on a scratch
database; the server's analysis processes, h2load and this script's own
client run on core 1 as well, so core 0 is the event loop's alone. Seeds
1,000 completed and analysed interviews (~40 messages each) and 8,000 in
progress, then drives load with h2load (HTTP/2 gRPC with pre-encoded
length-prefixed requests; HTTP/1.1 for REST through Envoy). The ceiling is
grpc.health.v1.Health/Check on the same server with the same load shape.
Writes bench/results.json.

`--db postgres` (make bench DB=postgres) runs the same rows on a throwaway,
durable PostgreSQL (tools/local_postgres.py: Debian's server, started from
this script after it pinned itself, so on the load generator's core),
`--replicas N` with N koji-server processes (replica i on core i mod CPUs):
gRPC load is split evenly over the replicas' ports (the 50 clients, and the
ceiling the same way), REST goes through Envoy's round-robin cluster.
`--db all` measures SQLite, PostgreSQL with one replica and PostgreSQL with
--replicas (default 2) in one invocation, so their ratios come from one run.

Studies: the project also holds 1,000 draft studies (the ListStudies row
reads its first page of 50) and a published structured study of 19 scale
questions, whose interviews the "SendMessage structured" row answers in
words the parser reads ("an 8 out of 10"); StartInterview runs on both the
plain study and the structured one.

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
from sqlalchemy import text

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji.v1 import study_service_pb2 as study_pb
from koji_server.domain.model import OPERATOR, Permission
from koji_server.domain.studies import StudyService
from koji_server.operations.projects import AdminService
from koji_server.storage import migrate
from koji_server.storage.backends import open_database
from koji_server.storage.postgres import sync_engine
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from tools.envoy_config import EnvoySettings, write

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).parent / "results.json"
QUESTIONS = [f"Question {i}: how does step {i} of your workflow go?" for i in range(1, 20)]
ANSWER = "We export invoices every Friday and the CSV import fails on dates, which is frustrating."
SCALE_ANSWER = "Probably an 8 out of 10: the CSV import still fails on our dates."
STUDIES = 1000
STRUCTURED_SEEDED = 2_000
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


def replica_core(index: int) -> int:
    """Replica 0 on SERVER_CORE; the others in turn over the CPUs."""
    return (SERVER_CORE + index) % (os.cpu_count() or 1)


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


async def seed_project(
    database_url: str, more_keys: int = 0, studies: int = 0
) -> tuple[str, str, list[str], str]:
    """A project with a key and a study (and `more_keys` other keys of it);
    with `studies`, that many draft studies more and a published structured
    one (its id last, else "")."""
    await migrate.upgrade(database_url)
    database = open_database(database_url)
    units = UnitOfWorkFactory(database)
    admin = AdminService(units)
    project = await admin.create_project("bench")
    # A high limit through configuration: the limiter itself stays on.
    key = await admin.create_key(project, "bench", frozenset(Permission), 1_000_000)
    study = await admin.create_study(project, "our workflow", QUESTIONS)
    others = [
        (await admin.create_key(project, f"bench {n}", frozenset(Permission), 1_000_000)).api_key
        for n in range(more_keys)
    ]
    structured = ""
    if studies:
        service = StudyService(units)
        for n in range(studies):
            design = {"title": f"draft {n}", "questions": [{"text": q} for q in QUESTIONS[:5]]}
            await service.create(OPERATOR, design, project)
        scales = [
            {"text": q, "type": "scale", "config": {"scale_min": 0, "scale_max": 10}}
            for q in QUESTIONS
        ]
        created = await service.create(OPERATOR, {"title": "scores", "questions": scales}, project)
        structured = (await service.publish(OPERATOR, created.study_id)).study_id
    await database.dispose()
    return key.api_key, study, others, structured


def structured_template(port: int, key: str, study: str) -> tuple[str, str]:
    """An interview of the structured study, just started: (id, session token)."""
    auth = (("authorization", f"Bearer {key}"),)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.InterviewServiceStub(channel)
        started = stub.StartInterview(pb.StartInterviewRequest(study_id=study), metadata=auth)
    return started.interview_id, started.session_token


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


CLONED_TABLES = (
    ("interviews", "id", {"id": "new"}),
    ("messages", "interview_id", {"interview_id": "new", "id": "fresh"}),
    ("jobs", "interview_id", {"interview_id": "new", "id": "fresh"}),
    ("analyses", "interview_id", {"interview_id": "new"}),
)


def clone_postgres(database_url: str, template: str, copies: int) -> list[str]:
    """`clone` on PostgreSQL: one INSERT ... SELECT per table, in the server."""
    ids = [str(uuid.uuid4()) for _ in range(copies)]
    engine = sync_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TEMP TABLE new_ids (id varchar(36)) ON COMMIT DROP"))
            conn.execute(
                text("INSERT INTO new_ids SELECT unnest(CAST(:ids AS varchar[]))"), {"ids": ids}
            )
            for table, where, overrides in CLONED_TABLES:
                columns = conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns WHERE table_name = :t"
                        " AND table_schema = current_schema() ORDER BY ordinal_position"
                    ),
                    {"t": table},
                ).scalars().all()  # fmt: skip
                values = [
                    "n.id" if overrides.get(c) == "new"
                    else "gen_random_uuid()::text" if overrides.get(c) == "fresh"
                    else f't."{c}"'
                    for c in columns
                ]  # fmt: skip
                names = ", ".join(f'"{c}"' for c in columns)
                conn.execute(
                    text(
                        f"INSERT INTO {table} ({names})"
                        f" SELECT {', '.join(values)} FROM {table} t CROSS JOIN new_ids n"
                        f" WHERE t.{where} = :template"
                    ),
                    {"template": template},
                )
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return ids


# --- load ----------------------------------------------------------------------------

_RPS = re.compile(r"finished in [\d.]+s, ([\d.]+) req/s")
_DONE = re.compile(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded")


def h2load(args: list[str], duration: float, log: Path) -> dict[str, float]:
    return h2load_split([args], duration, [log])


def h2load_split(argsets: list[list[str]], duration: float, logs: list[Path]) -> dict[str, float]:
    """One h2load per argument set, at the same time, CONCURRENCY clients
    shared between them; their requests and latencies taken together."""
    per_process = max(1, CONCURRENCY // len(argsets))
    running = []
    for args, log in zip(argsets, logs, strict=True):
        # The load generator stays off the server's core.
        command = pinned(LOAD_CORE, [
            need("h2load", "nghttp2-client"), "-c", str(per_process), "-m", "1",
            "-D", str(int(duration)), "--warm-up-time", "1", "--log-file", str(log), *args,
        ])  # fmt: skip
        running.append(
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    rps = 0.0
    done = succeeded = 0
    latencies: list[float] = []
    statuses: set[str] = set()
    for process, log in zip(running, logs, strict=True):
        stdout, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"h2load failed ({process.returncode}): {stderr[-2000:]}")
        rps += float(_RPS.search(stdout).group(1))  # type: ignore[union-attr]
        counts = _DONE.search(stdout).groups()  # type: ignore[union-attr]
        done, succeeded = done + int(counts[0]), succeeded + int(counts[1])
        # --log-file: start time, HTTP status, request time in microseconds.
        lines = [line.split() for line in log.read_text().splitlines() if line.strip()]
        latencies += [int(fields[2]) / 1000 for fields in lines]
        statuses |= {fields[1] for fields in lines}
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


def grpc_load(port: int | list[int], path: str, body: bytes, headers: list[str],
              seconds: float, log: Path) -> dict[str, float]:  # fmt: skip
    """h2load with a fixed gRPC body; over several ports (replicas), the
    clients are split evenly between them."""
    ports = [port] if isinstance(port, int) else port
    flags = ["-d", str(log.with_suffix(".body")), "-H", "content-type: application/grpc",
             "-H", "te: trailers"]  # fmt: skip
    log.with_suffix(".body").write_bytes(body)
    for header in headers:
        flags += ["-H", header]
    logs = [log.with_suffix(f".{n}.log") for n in range(len(ports))]
    return h2load_split([[*flags, f"http://127.0.0.1:{p}{path}"] for p in ports], seconds, logs)


async def rotating_driver(port: int | list[int], method: str, requests: list[bytes], key: str,
                          token: str, seconds: float) -> dict[str, float]:  # fmt: skip
    """Each call a different pre-serialized request (h2load sends one fixed
    body): CompleteInterview needs a fresh interview per call, and
    SendMessage spreads over interviews (one would reach its limit of
    respondent messages within a second and measure only refusals). Over
    several ports (replicas) the clients are split evenly between them."""
    ports = [port] if isinstance(port, int) else port
    metadata = (("authorization", f"Bearer {key}"), ("x-session-token", token))
    latencies: list[float] = []
    failures = 0
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{p}") for p in ports]
    try:
        calls = [
            channel.unary_unary(
                f"/koji.v1.InterviewService/{method}",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            for channel in channels
        ]
        queue = iter(requests)
        deadline = time.perf_counter() + seconds

        async def worker(call: Any) -> None:
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
        await asyncio.gather(*(worker(calls[n % len(calls)]) for n in range(CONCURRENCY)))
        elapsed = time.perf_counter() - began
    finally:
        for channel in channels:
            await channel.close()
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


def send_requests(ids: list[str], rounds: int = 4, content: str = ANSWER) -> list[bytes]:
    """Round-robin over the interviews: at most `rounds` messages each."""
    return [
        pb.SendMessageRequest(interview_id=i, content=content).SerializeToString()
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
    # Every replica (server is the first), and their ports.
    servers: tuple[subprocess.Popen[bytes], ...] = ()
    grpc_ports: tuple[int, ...] = ()


@contextmanager
def pinned_stack(work: Path, database_url: str, replicas: int = 1, **env: str) -> Iterator[Stack]:
    """koji-server (replica i pinned to replica_core(i): the first to
    SERVER_CORE) and Envoy (ENVOY_CORE, one cluster over the replicas) over
    `database_url`, once the servers answer; all stopped on exit. `env` adds
    or overrides KOJI_* settings."""
    grpc_ports = [free_port() for _ in range(replicas)]
    rest_port, admin_port = free_port(), free_port()
    environment = {**os.environ, "KOJI_DATABASE_URL": database_url,
                   "KOJI_LOG_LEVEL": "WARNING",
                   # Metrics on (as deployed), on a free port: 9464 may be taken.
                   "KOJI_METRICS_LISTEN": "127.0.0.1:0",
                   # The analyses that completions start run beside Envoy, not
                   # on the event loop's core (as a deployment would give them
                   # cores of their own).
                   "KOJI_ANALYSIS_CPUS": str(ANALYSIS_CORE),
                   "KOJI_PAGE_TOKEN_SECRET": "bench", **env}  # fmt: skip
    servers = [
        subprocess.Popen(
            pinned(replica_core(i), [str(BIN / "koji-server")]),
            env={**environment, "KOJI_LISTEN": f"127.0.0.1:{port}"},
            stdout=subprocess.DEVNULL,
        )
        for i, port in enumerate(grpc_ports)
    ]
    config = write(
        EnvoySettings(grpc_port=grpc_ports[0], more_grpc_ports=tuple(grpc_ports[1:]),
                      listen_port=rest_port, admin_port=admin_port),
        work / "envoy.yaml",
    )  # fmt: skip
    envoy = subprocess.Popen(
        pinned(ENVOY_CORE, [str(BIN / "envoy"), "-c", str(config), "--concurrency", "1",
                   "--disable-hot-restart", "--log-level", "error"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for port in grpc_ports:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                grpc.channel_ready_future(channel).result(timeout=30)
        yield Stack(servers[0], grpc_ports[0], rest_port, tuple(servers), tuple(grpc_ports))
    finally:
        for process in (envoy, *servers):
            process.send_signal(signal.SIGTERM)
        for process in (envoy, *servers):
            process.wait(timeout=30)


@dataclass(frozen=True)
class Config:
    engine: str  # "sqlite" or "postgres"
    replicas: int

    @property
    def label(self) -> str:
        return f"{self.engine} x{self.replicas}"


def measure_config(config: Config, work: Path, postgres: Any, seconds: int) -> dict[str, Any]:
    """Every row on one stack: the ceiling, then each RPC."""
    rows: list[dict[str, Any]] = []
    work.mkdir()
    if config.engine == "sqlite":
        path = work / "bench.db"
        database_url = f"sqlite+aiosqlite:///{path}"
    else:
        database_url = postgres.create_database(f"bench_{work.name}")
    key, study, _, structured = asyncio.run(seed_project(database_url, studies=STUDIES))
    with pinned_stack(work, database_url, config.replicas) as stack:
        grpc_port, rest_port = stack.grpc_port, stack.rest_port
        ports = list(stack.grpc_ports)
        print(f"[{config.label}] seeding...", flush=True)
        done_id, open_id, token = template_interviews(grpc_port, key, study)
        scored_id, scored_token = structured_template(grpc_port, key, structured)
        if config.engine == "sqlite":
            done_ids = [*clone(path, done_id, SEEDED - 1), done_id]
            open_ids = clone(path, open_id, OPEN_SEEDED)  # share the template's session token
            scored_ids = clone(path, scored_id, STRUCTURED_SEEDED)
        else:
            done_ids = [*clone_postgres(database_url, done_id, SEEDED - 1), done_id]
            open_ids = clone_postgres(database_url, open_id, OPEN_SEEDED)
            scored_ids = clone_postgres(database_url, scored_id, STRUCTURED_SEEDED)
        for port in ports:
            check_grpc_ok(port, key, done_ids[0])
        time.sleep(1.5)  # Envoy's health check has seen the servers

        def rss() -> float:
            return sum(rss_mb(server.pid) for server in stack.servers)

        rss_before = rss()
        samples = [rss_before]
        auth = f"authorization: Bearer {key}"

        def measure(rpc: str, transport: str, result: dict[str, float]) -> None:
            samples.append(rss())
            rows.append({"rpc": rpc, "transport": transport, **result})
            print(f"  {config.label:<12} {rpc:<18} {transport:<5} {result['rps']:8.0f} req/s",
                  flush=True)  # fmt: skip

        health = grpc_frame(health_pb2.HealthCheckRequest())
        measure("Health/Check", "grpc", grpc_load(
            ports, "/grpc.health.v1.Health/Check", health, [], seconds,
            work / "h.log"))  # fmt: skip
        get = grpc_frame(pb.GetInterviewRequest(interview_id=done_ids[0]))
        measure("GetInterview", "grpc", grpc_load(
            ports, "/koji.v1.InterviewService/GetInterview", get, [auth], seconds,
            work / "g.log"))  # fmt: skip
        uris = [f"http://127.0.0.1:{rest_port}/api/v1/interviews/{i}" for i in done_ids[:200]]
        measure("GetInterview", "rest", h2load(
            ["--h1", "-H", auth, *uris], seconds, work / "r.log"))  # fmt: skip
        sends = send_requests(open_ids)
        measure("SendMessage", "grpc", asyncio.run(rotating_driver(
            ports, "SendMessage", sends, key, token, seconds)))  # fmt: skip
        scored = send_requests(scored_ids, content=SCALE_ANSWER)
        measure("SendMessage struct", "grpc", asyncio.run(rotating_driver(
            ports, "SendMessage", scored, key, scored_token, seconds)))  # fmt: skip
        for name, study_id in (("StartInterview", study), ("StartInterview struct", structured)):
            start = grpc_frame(pb.StartInterviewRequest(study_id=study_id))
            measure(name, "grpc", grpc_load(
                ports, "/koji.v1.InterviewService/StartInterview", start, [auth], seconds,
                work / f"s{len(rows)}.log"))  # fmt: skip
        listing = grpc_frame(study_pb.ListStudiesRequest(page_size=50))
        measure("ListStudies", "grpc", grpc_load(
            ports, "/koji.v1.StudyService/ListStudies", listing, [auth], seconds,
            work / "l.log"))  # fmt: skip
        measure("CompleteInterview", "grpc", asyncio.run(rotating_driver(
            ports, "CompleteInterview", complete_requests(open_ids), key, token,
            seconds)))  # fmt: skip
        rss_after = rss()
        samples.append(rss_after)
    ceiling = rows[0]["rps"]
    for row in rows:
        row["ratio"] = round(row["rps"] / ceiling, 3)
        for field in ("rps", "p50_ms", "p99_ms"):
            row[field] = round(row[field], 2)
    return {
        "engine": config.engine,
        "replicas": config.replicas,
        "ceiling_rps": round(ceiling, 1),
        "rss_mb_before": round(rss_before, 1),
        "rss_mb_after": round(rss_after, 1),
        "rss_mb_samples": [round(s, 1) for s in samples],
        "rows": rows,
    }


def configs(db: str, replicas: int | None) -> list[Config]:
    if db == "sqlite":
        if replicas not in (None, 1):
            sys.exit("--replicas above 1 needs PostgreSQL (--db postgres or all): "
                     "a SQLite file is one process's")  # fmt: skip
        return [Config("sqlite", 1)]
    if db == "postgres":
        return [Config("postgres", replicas or 1)]
    more = replicas or 2
    return [Config("sqlite", 1), Config("postgres", 1),
            *([Config("postgres", more)] if more > 1 else [])]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=6, help="per measurement")
    parser.add_argument(
        "--db", choices=("sqlite", "postgres", "all"), default="sqlite",
        help="sqlite (default), postgres (a throwaway durable PostgreSQL), or all: "
        "SQLite, PostgreSQL x1 and PostgreSQL x --replicas (default 2) in one run",
    )  # fmt: skip
    parser.add_argument("--replicas", type=int, default=None,
                        help="koji-server processes (PostgreSQL only)")  # fmt: skip
    args = parser.parse_args()
    need("h2load", "nghttp2-client")
    wanted = configs(args.db, args.replicas)
    # The bench's own client (the CompleteInterview driver) stays off the
    # server's core too; so does the PostgreSQL started below (it inherits
    # this affinity), beside Envoy and the load generator.
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {LOAD_CORE})
    postgres = None
    runs: list[dict[str, Any]] = []
    try:
        if any(config.engine == "postgres" for config in wanted):
            from tools.local_postgres import ThrowawayPostgres

            postgres = ThrowawayPostgres(durable=True)
        with tempfile.TemporaryDirectory() as scratch:
            for n, config in enumerate(wanted):
                runs.append(measure_config(config, Path(scratch) / f"run{n}", postgres,
                                           args.seconds))  # fmt: skip
    finally:
        if postgres is not None:
            postgres.stop()

    sqlite_rows = {
        (row["rpc"], row["transport"]): row["rps"]
        for run in runs if run["engine"] == "sqlite" for row in run["rows"]
    }  # fmt: skip
    for run in runs:
        for row in run["rows"]:
            base = sqlite_rows.get((row["rpc"], row["transport"]))
            if base and run["engine"] != "sqlite":
                row["vs_sqlite"] = round(row["rps"] / base, 3)
    fields = ("rpc", "transport", "rps", "p50_ms", "p99_ms", "ratio", "vs_sqlite")
    results = {
        "runs": [
            {**{k: v for k, v in run.items() if k != "rows"},
             "rows": [{k: row[k] for k in fields if k in row} for row in run["rows"][1:]]}
            for run in runs
        ],
    }  # fmt: skip
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(f"{'config':<12} {'rpc':<18} {'transport':<9} {'req/s':>8} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'ratio':>6} {'vs sqlite':>9}")  # fmt: skip
    for run in runs:
        label = Config(run["engine"], run["replicas"]).label
        for row in run["rows"]:
            versus = f"{row['vs_sqlite']:9.2f}" if "vs_sqlite" in row else f"{'':9}"
            print(
                f"{label:<12} {row['rpc']:<18} {row['transport']:<9} {row['rps']:8.0f} "
                f"{row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['ratio']:6.2f} {versus}"
            )
    print()
    bad = []
    for run in runs:
        label = Config(run["engine"], run["replicas"]).label
        rows = run["rows"]
        get_grpc = next(r for r in rows if r["rpc"] == "GetInterview" and r["transport"] == "grpc")
        get_rest = next(r for r in rows if r["rpc"] == "GetInterview" and r["transport"] == "rest")
        samples = ", ".join(f"{s:.0f}" for s in run["rss_mb_samples"])
        print(f"{label}: REST/gRPC GetInterview {get_rest['rps'] / get_grpc['rps']:.2f}; "
              f"server RSS {run['rss_mb_before']:.0f} MB before, {run['rss_mb_after']:.0f} MB "
              f"after (samples {samples})")  # fmt: skip
        bad += [(label, r["rpc"], r["transport"]) for r in rows if r.get("ok_share", 1) < 0.999]
    if bad:
        print("WARNING: failed requests in", bad)
    print(f"(written to {RESULTS})")


if __name__ == "__main__":
    main()
