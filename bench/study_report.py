"""Study report: full rebuild time and GetStudyReport latency on a big study.

Seeds a scratch database with one study of N analysed interviews (insights
drawn from twelve topics, each interview raising two or three of them, 10%
failing the quality gate), then measures:
- the full rebuild of the study's report (`koji-admin studies reanalyze`'s
  last step), in-process CPU and wall time;
- one incremental update (what each landing analysis costs);
- GetStudyReport over gRPC against a real koji-server, p50/p95/p99, alone and
  while another process rebuilds the same study (the rebuild must not block
  requests).

    .venv/bin/python -m bench.study_report [--interviews 1000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import grpc

from bench.analysis_latency import free_port, percentile, spawn_server
from koji.v1 import study_service_pb2 as study_pb
from koji.v1 import study_service_pb2_grpc as study_grpc
from koji_server.domain.model import Permission
from koji_server.operations.projects import AdminService
from koji_server.pipeline import study_reports
from koji_server.pipeline.executor import WORKER_NICENESS
from koji_server.storage import migrate
from koji_server.storage.database import Database
from koji_server.storage.schema import AnalysisRow, InterviewRow
from koji_server.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory
from koji_server.support.clock import utc_now

BIN = Path(sys.executable).parent
TOPICS = {
    "import": [
        "The CSV importer rejected our file because of the date format.",
        "Uploading the spreadsheet dropped a third of the rows.",
        "Show me which rows failed in the import.",
    ],
    "pricing": [
        "Per-seat pricing gets expensive when we add contractors.",
        "A flat team plan would make the budget easy.",
        "We pay for seats nobody uses.",
    ],
    "mobile": [
        "The mobile app cuts off buttons on my phone.",
        "Make the mobile app work on small screens.",
        "The keyboard covers the text box on Android.",
    ],
    "support": [
        "I waited four days for a reply from support.",
        "Support closed my ticket before it was fixed.",
        "Answer support tickets within a day.",
    ],
    "reports": [
        "The dashboard charts saved me hours every Friday.",
        "Let me schedule the weekly report by email.",
        "The report totals were off by one day.",
    ],
    "login": [
        "I get locked out of my account every week.",
        "Add single sign-on with our Google accounts.",
        "The password reset email never arrives.",
    ],
    "integrations": [
        "The Salesforce sync duplicates contacts.",
        "Connect it to Slack so we see alerts.",
        "The API sync stopped without an error.",
    ],
    "onboarding": [
        "Setup took ten minutes with the tutorial.",
        "The onboarding checklist skipped the permissions step.",
        "Give new users a guided setup.",
    ],
    "search": [
        "Search never finds invoices by amount.",
        "Let me save my search filters.",
        "Filters reset every time I open the page.",
    ],
    "notifications": [
        "Too many email alerts for every comment.",
        "Let me mute reminders on weekends.",
        "The reminder emails arrive a day late.",
    ],
    "export": [
        "The PDF export cuts off the last column.",
        "Export to Excel with the formatting kept.",
        "Downloads time out on big exports.",
    ],
    "performance": [
        "Boards with many cards load very slowly.",
        "The app freezes when I scroll the timeline.",
        "Make big projects load faster.",
    ],
}
KINDS = ["pain_point", "pain_point", "request"]


async def seed(database_url: str, interviews: int) -> tuple[str, str, str]:
    await migrate.upgrade(database_url)
    database = Database(database_url)
    units = UnitOfWorkFactory(database)
    admin = AdminService(units)
    project = await admin.create_project("bench")
    key = await admin.create_key(project, "bench", frozenset(Permission), 1_000_000)
    study = await admin.create_study(project, "why teams churn", ["Tell me about it?"])
    generator = random.Random(7)
    names = list(TOPICS)
    start = utc_now() - timedelta(days=30)

    def add(uow: UnitOfWork) -> None:
        analyses = []
        for index in range(interviews):
            interview_id = str(uuid.uuid4())
            at = start + timedelta(minutes=index)
            uow.session.add(
                InterviewRow(
                    id=interview_id,
                    project_id=project,
                    study_id=study,
                    session_token_hash="0" * 64,
                    status="completed",
                    mode="text",
                    locale="en",
                    started_at=at,
                    completed_at=at + timedelta(minutes=12),
                    reason="natural",
                    analysis_status="completed",
                )
            )
            insights = []
            for topic in generator.sample(names, generator.choice([2, 3])):
                for position, sentence in enumerate(TOPICS[topic]):
                    if generator.random() < 0.8:
                        insights.append(
                            {
                                "type": KINDS[position],
                                "summary": sentence,
                                "message_id": str(uuid.uuid4()),
                                "quote": sentence,
                                "sentiment": -0.4 if KINDS[position] == "pain_point" else 0.2,
                            }
                        )
            passed = generator.random() >= 0.1
            analyses.append(
                AnalysisRow(
                    interview_id=interview_id,
                    quality_score=4.2 if passed else 2.1,
                    quality={},
                    counts_toward_usage=passed,
                    themes=[],
                    insights=insights,
                    stages={},
                    transcript_sha256="0" * 64,
                    created_at=at + timedelta(minutes=13),
                )
            )
        uow.session.flush()  # the interviews first: analyses refer to them
        uow.session.add_all(analyses)

    await units.write(add)
    await database.dispose()
    return key.api_key, study, project


def rebuild(database_url: str, study: str) -> tuple[float, float, list[tuple[str, int]]]:
    wall, cpu = time.perf_counter(), time.process_time()
    report = study_reports.rebuild(database_url, study)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, [(t["label"], t["interview_count"]) for t in report["themes"]]


async def one_update(database_url: str, study: str) -> float:
    database = Database(database_url)
    units = UnitOfWorkFactory(database)
    last = await units.read(lambda uow: uow.study_reports.analysed_ids(study)[-1])
    await database.dispose()
    began = time.perf_counter()
    study_reports.take_in(database_url, last, replaced=True)
    return time.perf_counter() - began


async def load(port: int, key: str, study: str, requests: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    metadata = (("authorization", f"Bearer {key}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = study_grpc.StudyServiceStub(channel)
        request = study_pb.GetStudyReportRequest(study_id=study)
        await stub.GetStudyReport(request, metadata=metadata)
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                began = time.perf_counter()
                await stub.GetStudyReport(request, metadata=metadata)
                latencies.append((time.perf_counter() - began) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interviews", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        database_url = f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}"
        key, study, _ = asyncio.run(seed(database_url, args.interviews))
        wall, cpu, themes = rebuild(database_url, study)
        update = asyncio.run(one_update(database_url, study))
        port = free_port()
        server = spawn_server(database_url, port)
        # Apart, as `make bench` does: the server on core 0; this load
        # generator and the rebuilds on core 1.
        if len(os.sched_getaffinity(0)) > 1:
            os.sched_setaffinity(server.pid, {0})
            os.sched_setaffinity(0, {1})
        try:
            alone = asyncio.run(load(port, key, study, args.requests, args.concurrency))
            # At the analysis processes' niceness, as in the server.
            rebuilder = subprocess.Popen(
                [
                    "nice",
                    "-n",
                    str(WORKER_NICENESS),
                    sys.executable,
                    "-c",
                    "import sys; from bench.study_report import rebuild; "
                    "[rebuild(sys.argv[1], sys.argv[2]) for _ in range(3)]",
                    database_url,
                    study,
                ],
                cwd=Path(__file__).resolve().parent.parent,
            )
            during = asyncio.run(load(port, key, study, args.requests, args.concurrency))
            rebuilding = rebuilder.poll() is None
            rebuilder.wait(timeout=120)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    print(f"study report, {args.interviews} interviews (12 topics), {len(themes)} themes:")
    print("  " + ", ".join(f"{label} ({count})" for label, count in themes))
    print(f"  full rebuild: wall {wall:.2f} s, CPU {cpu:.2f} s   (target < 5 s)")
    print(f"  one incremental update (a landing analysis): {update * 1000:.0f} ms")
    for name, values in (("alone", alone), ("during rebuilds", during)):
        print(
            f"  GetStudyReport {name} ({len(values)} calls, {args.concurrency} in flight): "
            f"p50 {percentile(values, 0.5):.1f} ms  p95 {percentile(values, 0.95):.1f} ms  "
            f"p99 {percentile(values, 0.99):.1f} ms   (target p95 < 20 ms)"
        )
    if not rebuilding:
        print("  (the rebuilds finished before the second load did)")


if __name__ == "__main__":
    main()
