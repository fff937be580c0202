"""The pipeline across real server processes: kill -9 mid-analysis, and two
servers sharing one database."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from koji_server.storage.backends import open_database
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from tests.helpers import PATIENCE, query
from tests.processes import (
    assert_exactly_one_result_each,
    interview,
    launch,
    seed,
    stop,
    wait_all_done,
)
from tests.transcripts import ENGAGED, SPAM

pytestmark = pytest.mark.e2e


def test_kill_9_mid_analysis_loses_and_duplicates_nothing(
    tmp_path: Path, database_url: str
) -> None:
    path = database_url
    tenant = seed(database_url)
    log = tmp_path / "server.log"
    process, port = launch(database_url, log, KOJI_JOB_LEASE_SECONDS="1")
    try:
        ids = [interview(port, tenant, ENGAGED if i % 3 else SPAM) for i in range(12)]
    finally:
        process.kill()
        process.wait(timeout=10)
    unfinished = query(path, "SELECT count(*) FROM jobs WHERE status != 'done'")[0][0]
    assert unfinished > 0, "the kill came too late to interrupt anything"

    process, _ = launch(database_url, log, KOJI_JOB_LEASE_SECONDS="1")
    try:
        wait_all_done(path, len(ids))
    finally:
        stop(process)
    assert_exactly_one_result_each(path, ids)
    outcomes = dict(query(path, "SELECT outcome, count(*) FROM job_attempts GROUP BY 1"))
    assert outcomes["succeeded"] == len(ids)
    assert set(outcomes) <= {"succeeded", "abandoned"}


def test_two_servers_on_one_database_never_run_a_job_twice(
    tmp_path: Path, database_url: str
) -> None:
    path = database_url
    tenant = seed(database_url)
    log = tmp_path / "servers.log"
    first, first_port = launch(database_url, log)
    second, second_port = launch(database_url, log)
    try:
        ids = [
            interview(first_port if i % 2 else second_port, tenant, ENGAGED[:2]) for i in range(16)
        ]
        wait_all_done(path, len(ids))
    finally:
        for process in (first, second):
            stop(process)
    assert_exactly_one_result_each(path, ids)
    # One attempt per job, and it succeeded: no job ran twice.
    assert query(path, "SELECT count(*), count(DISTINCT job_id) FROM job_attempts") == [
        (len(ids), len(ids))
    ]
    assert query(path, "SELECT DISTINCT outcome FROM job_attempts") == [("succeeded",)]


def test_deliveries_pending_at_a_kill_are_delivered_after_restart(
    tmp_path: Path, database_url: str
) -> None:
    from standardwebhooks.webhooks import Webhook

    from koji_server.operations.webhooks import WebhookAdmin
    from tests.receiver import Plan, Receiver

    path = database_url
    tenant = seed(database_url)
    receiver = Receiver()
    try:

        async def add() -> str:
            database = open_database(database_url)
            try:
                admin = WebhookAdmin(UnitOfWorkFactory(database), allow_private_networks=True)
                return (await admin.add(tenant.project_id, receiver.url, []))[1]
            finally:
                await database.dispose()

        secret = asyncio.run(add())
        # The receiver hangs: the first deliveries are in flight when the server dies.
        receiver.plan = Plan(statuses=[200], delay_seconds=3.0)
        log = tmp_path / "server.log"
        env = {"KOJI_WEBHOOK_LEASE_SECONDS": "1", "KOJI_WEBHOOK_TIMEOUT_SECONDS": "10"}
        process, port = launch(database_url, log, **env)
        try:
            ids = [interview(port, tenant, ENGAGED) for _ in range(3)]
            deadline = time.monotonic() + PATIENCE
            while query(path, "SELECT count(*) FROM webhook_deliveries")[0][0] < 9:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            process.kill()
            process.wait(timeout=10)
        assert query(
            path, "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'"
        ) != [(9,)]
        receiver.plan = Plan(statuses=[200])
        process, _ = launch(database_url, log, **env)
        try:
            deadline = time.monotonic() + 60
            while (
                query(path, "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'")[
                    0
                ][0]
                < 9
            ):
                assert time.monotonic() < deadline, query(
                    path, "SELECT status, attempts FROM webhook_deliveries"
                )
                time.sleep(0.1)
        finally:
            stop(process)
        events = {row[0] for row in query(path, "SELECT id FROM events")}
        arrived = receiver.events()
        assert len(events) == 9 and len(ids) == 3
        # At least once: every event arrived, verified; duplicates share a webhook-id.
        assert {r.headers["webhook-id"] for r in arrived} == events
        for delivery in arrived:
            Webhook(secret).verify(delivery.body, delivery.headers)
    finally:
        receiver.close()


def test_analysis_workers_run_on_the_cpus_they_are_given() -> None:
    from koji_server.pipeline.executor import make_analysis_executor

    wanted = frozenset({max(os.sched_getaffinity(0))})
    executor = make_analysis_executor(1, wanted)
    try:
        assert executor.submit(os.sched_getaffinity, 0).result(timeout=60) == wanted
    finally:
        executor.shutdown()


def test_analysis_workers_run_at_a_lower_priority() -> None:
    from koji_server.pipeline.executor import WORKER_NICENESS, make_analysis_executor

    executor = make_analysis_executor(1)
    try:
        assert executor.submit(os.nice, 0).result(timeout=60) == os.nice(0) + WORKER_NICENESS
    finally:
        executor.shutdown()
