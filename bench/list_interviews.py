"""ListInterviews over a big project: page latency at every depth (keyset pagination).

Seeds a scratch database with one study of N interviews (sqlite3 bulk insert,
one in ten completed), starts a real koji-server and walks every page of 50
over gRPC, several times, timing each call by its depth in the listing.

    .venv/bin/python -m bench.list_interviews [--interviews 100000] [--walks 2]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

from bench.analysis_latency import free_port, percentile, spawn_server
from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.domain.model import Permission
from koji_server.operations.projects import AdminService
from koji_server.storage import migrate
from koji_server.storage.database import Database
from koji_server.storage.unit_of_work import UnitOfWorkFactory

PAGE_SIZE = 50


async def seed(database_url: str, path: Path, interviews: int) -> tuple[str, str]:
    await migrate.upgrade(database_url)
    database = Database(database_url)
    admin = AdminService(UnitOfWorkFactory(database))
    project = await admin.create_project("bench")
    key = await admin.create_key(project, "bench", frozenset(Permission), 1_000_000)
    study = await admin.create_study(project, "bench", ["Why?"])
    await database.dispose()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for n in range(interviews):
        at = (start + timedelta(seconds=n)).strftime("%Y-%m-%d %H:%M:%S.%f")
        done = n % 10 == 0
        rows.append(
            (str(uuid.uuid4()), project, study, "0" * 64, "completed" if done else "active",
             "text", "en", "", "", None, 1, False, 1, 2, at, at if done else None,
             "natural" if done else None, None, "completed" if done else None, at)
        )  # fmt: skip
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO interviews (id, project_id, study_id, session_token_hash, status, mode,"
            " locale, respondent_external_id, respondent_display_name, respondent_metadata,"
            " question_index, follow_up_asked, respondent_messages, interviewer_messages,"
            " started_at, completed_at, reason, feedback, analysis_status, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return key.api_key, study


async def walk(port: int, key: str, study: str, walks: int) -> dict[int, list[float]]:
    """Milliseconds per call, by tenth of the listing's depth."""
    by_depth: dict[int, list[float]] = {}
    metadata = (("authorization", f"Bearer {key}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.InterviewServiceStub(channel)
        for _ in range(walks):
            token, page_number, pages = "", 0, []
            while True:
                request = pb.ListInterviewsRequest(
                    study_id=study, page_size=PAGE_SIZE, page_token=token
                )
                began = time.perf_counter()
                page = await stub.ListInterviews(request, metadata=metadata)
                pages.append((page_number, (time.perf_counter() - began) * 1000))
                page_number += 1
                token = page.next_page_token
                if not token:
                    break
            for number, ms in pages:
                by_depth.setdefault(number * 10 // page_number, []).append(ms)
    return by_depth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--interviews", type=int, default=100_000)
    parser.add_argument("--walks", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        key, study = asyncio.run(seed(url, path, args.interviews))
        port = free_port()
        server = spawn_server(url, port, KOJI_PIPELINE_ENABLED="false")
        try:
            by_depth = asyncio.run(walk(port, key, study, args.walks))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    every = [ms for values in by_depth.values() for ms in values]
    print(f"{args.interviews} interviews, pages of {PAGE_SIZE}, {len(every)} calls (gRPC)")
    print("| depth | calls | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    for tenth in sorted(by_depth):
        values = by_depth[tenth]
        print(
            f"| {tenth * 10}-{tenth * 10 + 10}% | {len(values)} | "
            f"{percentile(values, 0.5):.2f} | {percentile(values, 0.99):.2f} |"
        )
    print(f"| all | {len(every)} | {percentile(every, 0.5):.2f} | {percentile(every, 0.99):.2f} |")


if __name__ == "__main__":
    main()
