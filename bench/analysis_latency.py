"""Pipeline latency: completion -> analysis stored -> webhook received.

Starts a real koji-server on a scratch database with a webhook endpoint on a
local receiver, runs N interviews of about 40 messages each over gRPC,
completes them at a steady pace, and reports:
- analysis latency: from the completing transaction (the job's enqueue time)
  to the transaction that stored the analysis (`analysis_status: completed`);
- webhook latency: from that transaction (the event's creation) to the
  receiver reading the request;
- the CPU time of one analysis.

    .venv/bin/python -m bench.analysis_latency [--interviews 200] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.domain.model import Permission
from koji_server.operations.projects import AdminService
from koji_server.operations.webhooks import WebhookAdmin
from koji_server.storage import migrate
from koji_server.storage.database import Database
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from tests.receiver import Receiver

QUESTIONS = [f"Question {i}: tell me about part {i} of your workflow?" for i in range(1, 20)]
ANSWERS = [
    "We export invoices every Friday and the CSV import keeps failing on dates. Frustrating.",
    "I love how quickly the dashboard loads, it makes the weekly review easier for the team.",
    "I wish there was a bulk edit for approval rules because we have hundreds of vendors.",
    "Onboarding took a couple of hours because the permissions model was confusing at first.",
    "Our finance lead needs a monthly report she can send to the board without reformatting.",
]
BIN = Path(sys.executable).parent
# quality_scored, the gate verdict, analysis_ready.
EVENTS_PER_INTERVIEW = 3
# How long to wait for the server before giving up: a bound on a failure (the
# first analysis may train the classifier on a loaded machine), not a figure.
PATIENCE_SECONDS = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn_server(database_url: str, port: int, **env: str) -> subprocess.Popen[bytes]:
    """koji-server on a scratch database, once it answers."""
    server = subprocess.Popen(
        [str(BIN / "koji-server"), "--log-level", "WARNING"],
        env={
            **os.environ,
            "KOJI_DATABASE_URL": database_url,
            "KOJI_LISTEN": f"127.0.0.1:{port}",
            "KOJI_METRICS_LISTEN": "127.0.0.1:0",  # 9464 may be taken
            **env,
        },
        stdout=subprocess.DEVNULL,
    )
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
    return server


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def seed(database_url: str, webhook_url: str) -> tuple[str, str]:
    await migrate.upgrade(database_url)
    database = Database(database_url)
    units = UnitOfWorkFactory(database)
    admin = AdminService(units)
    project = await admin.create_project("bench")
    key = await admin.create_key(project, "bench", frozenset(Permission), 1_000_000)
    study = await admin.create_study(project, "our workflow", QUESTIONS)
    await WebhookAdmin(units, allow_private_networks=True).add(project, webhook_url, [])
    await database.dispose()
    return key.api_key, study


async def prepare(stub, key: str, study: str, index: int) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    started = await stub.StartInterview(
        pb.StartInterviewRequest(study_id=study), metadata=(("authorization", f"Bearer {key}"),)
    )
    metadata = (("authorization", f"Bearer {key}"), ("x-session-token", started.session_token))
    for turn in range(len(QUESTIONS)):
        await stub.SendMessage(
            pb.SendMessageRequest(
                interview_id=started.interview_id,
                content=ANSWERS[(index + turn) % len(ANSWERS)] + f" (turn {turn})",
            ),
            metadata=metadata,
        )
    return started.interview_id, started.session_token


async def warm_up(port: int, key: str, study: str, path: Path) -> str:
    """One interview completed and analysed before the measured run: the
    analysis process loads its models and trains its classifier on start-up
    (a second or two), which is not what this benchmark measures."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.InterviewServiceStub(channel)
        interview_id, token = await prepare(stub, key, study, 0)
        await stub.CompleteInterview(
            pb.CompleteInterviewRequest(interview_id=interview_id, reason=pb.natural),
            metadata=(("authorization", f"Bearer {key}"), ("x-session-token", token)),
        )
    await asyncio.to_thread(wait_done, path, 1, PATIENCE_SECONDS)
    return interview_id


async def drive(port: int, key: str, study: str, count: int, rate: float) -> list[str]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.InterviewServiceStub(channel)
        semaphore = asyncio.Semaphore(8)

        async def one(index: int) -> tuple[str, str]:
            async with semaphore:
                return await prepare(stub, key, study, index)

        prepared = await asyncio.gather(*(one(i) for i in range(count)))
        for interview_id, token in prepared:
            await stub.CompleteInterview(
                pb.CompleteInterviewRequest(interview_id=interview_id, reason=pb.natural),
                metadata=(("authorization", f"Bearer {key}"), ("x-session-token", token)),
            )
            await asyncio.sleep(1 / rate)
    return [interview_id for interview_id, _ in prepared]


def wait_done(path: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(path) as conn:
            done = conn.execute("SELECT count(*) FROM analyses").fetchone()[0]
        if done >= count:
            return
        time.sleep(0.2)
    raise SystemExit(f"only {done} of {count} analyses finished in {timeout:.0f} s")


def cpu_per_analysis(runs: int = 30) -> list[float]:
    from koji_server.analysis.analyze import analyze
    from koji_server.domain.analysis_input import TranscriptInput, Utterance

    utterances = [Utterance("m0", "interviewer", QUESTIONS[0])]
    for turn in range(len(QUESTIONS)):
        utterances.append(Utterance(f"r{turn}", "respondent", ANSWERS[turn % len(ANSWERS)]))
        utterances.append(Utterance(f"i{turn}", "interviewer", QUESTIONS[min(turn + 1, 18)]))
    transcript = TranscriptInput("x", "our workflow", tuple(QUESTIONS), tuple(utterances), 1500)
    analyze(transcript)  # imports and lexicon load are not per-analysis costs
    timings = []
    for _ in range(runs):
        started = time.process_time()
        analyze(transcript)
        timings.append((time.process_time() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interviews", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="completions per second")
    args = parser.parse_args()

    receiver = Receiver()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "bench.db"
        database_url = f"sqlite+aiosqlite:///{path}"
        key, study = asyncio.run(seed(database_url, receiver.url))
        port = free_port()
        # The receiver is local: loopback must be allowed.
        server = spawn_server(database_url, port, KOJI_WEBHOOK_ALLOW_PRIVATE_NETWORKS="true")
        try:
            warm = asyncio.run(warm_up(port, key, study, path))
            receiver.wait_for(EVENTS_PER_INTERVIEW, timeout=PATIENCE_SECONDS)
            began = time.monotonic()
            asyncio.run(drive(port, key, study, args.interviews, args.rate))
            wait_done(path, args.interviews + 1, timeout=2 * PATIENCE_SECONDS)
            receiver.wait_for(
                EVENTS_PER_INTERVIEW * (args.interviews + 1), timeout=PATIENCE_SECONDS
            )
            wall = time.monotonic() - began
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        with sqlite3.connect(path) as conn:
            pairs = conn.execute(
                "SELECT j.created_at, a.created_at, "
                "(SELECT count(*) FROM messages m WHERE m.interview_id = j.interview_id) "
                "FROM jobs j JOIN analyses a ON a.interview_id = j.interview_id "
                "WHERE j.interview_id != ?",
                (warm,),
            ).fetchall()
            created = dict(
                conn.execute(
                    "SELECT id, created_at FROM events WHERE interview_id != ?", (warm,)
                ).fetchall()
            )
    receiver.close()
    first_arrival: dict[str, float] = {}
    for request in receiver.events():
        if request.headers["webhook-id"] in created:
            first_arrival.setdefault(request.headers["webhook-id"], request.at)
    webhook_latencies = [
        (arrived - datetime.fromisoformat(created[event_id]).replace(tzinfo=UTC).timestamp()) * 1000
        for event_id, arrived in first_arrival.items()
    ]
    latencies = [
        (datetime.fromisoformat(done) - datetime.fromisoformat(queued)).total_seconds() * 1000
        for queued, done, _ in pairs
    ]
    messages = statistics.mean(count for _, _, count in pairs)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # as in the analysis processes
        cpu = cpu_per_analysis()
    print(
        f"analysis latency, completion -> analysis_status: completed ({len(latencies)} interviews,"
    )
    print(f"  {messages:.0f} messages each, completed at {args.rate:g}/s; wall {wall:.1f} s)")
    print(f"  p50 {percentile(latencies, 0.50):7.1f} ms")
    print(f"  p95 {percentile(latencies, 0.95):7.1f} ms")
    print(f"  max {max(latencies):7.1f} ms")
    print(f"webhook latency, analysis stored -> receiver ({len(webhook_latencies)} events)")
    print(f"  p50 {percentile(webhook_latencies, 0.50):7.1f} ms")
    print(f"  p95 {percentile(webhook_latencies, 0.95):7.1f} ms")
    print(f"  max {max(webhook_latencies):7.1f} ms")
    print(f"analysis CPU per interview ({len(cpu)} runs, in-process):")
    print(f"  p50 {percentile(cpu, 0.50):7.1f} ms   p95 {percentile(cpu, 0.95):7.1f} ms")


if __name__ == "__main__":
    main()
