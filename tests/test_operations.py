"""Operating it: the Prometheus endpoint after real calls, request ids from the
caller (or Envoy) to the logs and error answers, JSON and text log lines."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.app import start_server
from koji_server.config import Settings
from koji_server.domain.model import Permission
from koji_server.observability.metrics import Metrics
from tests.conftest import ON_POSTGRES, add_key, make_guide_tenant, make_tenant
from tests.envoy_process import EnvoyProcess
from tests.helpers import (
    auth,
    metadata_dict,
    run_interview,
    scrape,
    wait_analysed,
    wait_status,
    wait_until,
)
from tests.processes import add_endpoint, free_port, launch_server
from tests.receiver import Plan
from tests.transcripts import ENGAGED

MISSING_ID = "00000000-0000-4000-8000-000000000000"
INTERVIEWS = "koji.v1.InterviewService"


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_what_the_server_did(server, stub, database_url) -> None:
    tenant = await make_guide_tenant(database_url)
    before = await scrape(server.metrics_port)
    started = await run_interview(stub, tenant, ENGAGED)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.GetInterview(
            pb.GetInterviewRequest(interview_id=MISSING_ID), metadata=auth(tenant.api_key)
        )
    limited_key = await add_key(
        database_url, tenant.project_id, frozenset({Permission.READ}), rate_limit=1
    )
    await stub.GetUsage(pb.GetUsageRequest(), metadata=auth(limited_key))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetUsage(pb.GetUsageRequest(), metadata=auth(limited_key))
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await wait_analysed(stub, tenant, started.interview_id)

    samples = await scrape(server.metrics_port)
    assert before.get(("koji_rpc_requests_total", frozenset())) is None
    requests = "koji_rpc_requests_total"
    assert value(samples, requests, rpc=f"{INTERVIEWS}/StartInterview", code="OK") == 1
    assert value(samples, requests, rpc=f"{INTERVIEWS}/SendMessage", code="OK") == len(ENGAGED)
    assert value(samples, requests, rpc=f"{INTERVIEWS}/CompleteInterview", code="OK") == 1
    assert value(samples, requests, rpc=f"{INTERVIEWS}/GetInterview", code="NOT_FOUND") == 1
    assert value(samples, requests, rpc=f"{INTERVIEWS}/GetUsage", code="OK") == 1
    assert value(samples, requests, rpc=f"{INTERVIEWS}/GetUsage", code="RESOURCE_EXHAUSTED") == 1
    latency = "koji_rpc_duration_seconds_count"
    assert value(samples, latency, rpc=f"{INTERVIEWS}/SendMessage", code="OK") == len(ENGAGED)
    send_ok = {"rpc": f"{INTERVIEWS}/SendMessage", "code": "OK"}
    assert value(samples, "koji_rpc_duration_seconds_sum", **send_ok) > 0
    assert value(samples, "koji_rpc_duration_seconds_bucket", le="+Inf", **send_ok) == len(ENGAGED)
    errors = "koji_rpc_errors_total"
    assert value(samples, errors, rpc=f"{INTERVIEWS}/GetInterview", error="not_found") == 1
    assert value(samples, "koji_rate_limited_total", rpc=f"{INTERVIEWS}/GetUsage") == 1

    # The analysis ran in the worker process; its figures came back with it.
    assert value(samples, "koji_analysis_jobs_total", outcome="done") == 1
    assert value(samples, "koji_analysis_duration_seconds_count") == 1
    assert 0 < value(samples, "koji_analysis_duration_seconds_sum") < 30
    assert value(samples, "koji_analysis_latency_seconds_count") == 1
    assert (
        value(samples, "koji_analysis_duration_seconds_sum")
        <= value(samples, "koji_analysis_latency_seconds_sum")
        < 30
    )
    assert value(samples, "koji_analysis_queue_depth", status="pending") == 0
    assert value(samples, "koji_analysis_queue_depth", status="running") == 0

    if ON_POSTGRES:
        # No group commits on PostgreSQL (each unit commits alone): nothing
        # to count.
        assert value(samples, "koji_writer_batch_size_count") == 0
        return
    # Every acknowledged write went through a committed batch of SQLite's writer.
    writes = 1 + len(ENGAGED) + 1  # start, messages, completion (plus the pipeline's)
    assert value(samples, "koji_writer_batch_size_sum") >= writes
    assert value(samples, "koji_writer_commit_seconds_count") >= 1
    assert value(samples, "koji_writer_batch_size_bucket", le="64.0") == value(
        samples, "koji_writer_batch_size_count"
    )


async def test_queue_depth_counts_waiting_jobs(database_url, analysis_executor) -> None:
    """With the pipeline off, completions wait in the queue: the gauge shows them."""
    settings = Settings(listen="127.0.0.1:0", database_url=database_url, pipeline_enabled=False)
    running = await start_server(settings, analysis_executor)
    try:
        tenant = await make_guide_tenant(database_url)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.InterviewServiceStub(channel)
            for _ in range(2):
                await run_interview(stub, tenant, ENGAGED[:1])
        samples = await scrape(running.metrics_port)
        assert value(samples, "koji_analysis_queue_depth", status="pending") == 2
    finally:
        await running.stop(0)


async def test_webhook_deliveries_by_outcome_and_attempt(
    fast_server,
    hook_stub,
    hook_tenant,
    database_url,
    receiver,
) -> None:
    await add_endpoint(
        database_url, hook_tenant, receiver.url, "--events", "interview.analysis_ready"
    )
    receiver.plan = Plan(statuses=[503, 200])
    await run_interview(hook_stub, hook_tenant, ENGAGED)
    await wait_status(fast_server, "succeeded")
    samples = await scrape(fast_server.metrics_port)
    deliveries = "koji_webhook_deliveries_total"
    assert value(samples, deliveries, outcome="retrying", attempt="1") == 1
    assert value(samples, deliveries, outcome="succeeded", attempt="2") == 1
    assert value(samples, deliveries, outcome="succeeded", attempt="1") == 0
    assert value(samples, "koji_webhook_queue_depth", status="pending") == 0


async def test_metrics_endpoint_is_off_with_an_empty_address(database_url) -> None:
    settings = Settings(
        listen="127.0.0.1:0", database_url=database_url, metrics_listen="", pipeline_enabled=False
    )
    running = await start_server(settings)
    try:
        assert running.metrics_port is None
    finally:
        await running.stop(0)
    with pytest.raises(ValidationError, match="HOST:PORT"):
        Settings(metrics_listen="9464")


async def test_grpc_errors_carry_the_request_id(stub, tenant) -> None:
    mine = "req-" + uuid.uuid4().hex
    call = stub.GetInterview(
        pb.GetInterviewRequest(interview_id=MISSING_ID),
        metadata=(*auth(tenant.api_key), ("x-request-id", mine)),
    )
    with pytest.raises(grpc.aio.AioRpcError) as given:
        await call
    assert metadata_dict(given.value.trailing_metadata())["x-request-id"] == mine

    for sent in ((), (("x-request-id", "not an id; DROP TABLE"),)):
        with pytest.raises(grpc.aio.AioRpcError) as made:
            await stub.GetInterview(
                pb.GetInterviewRequest(interview_id=MISSING_ID),
                metadata=(*auth(tenant.api_key), *sent),
            )
        made_id = metadata_dict(made.value.trailing_metadata())["x-request-id"]
        assert uuid.UUID(made_id)  # made by the server


async def test_an_undecodable_request_carries_the_request_id(channel, tenant) -> None:
    """Refused before the servicer runs: still the caller's id in the trailers."""
    call = channel.unary_unary(f"/{INTERVIEWS}/GetInterview")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(b"\xff\xff\xff", metadata=(*auth(tenant.api_key), ("x-request-id", "bad-1")))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert metadata_dict(refused.value.trailing_metadata())["x-request-id"] == "bad-1"


def launch_logging(
    database_url: str, tmp_path: Path, *args: str
) -> tuple[subprocess.Popen[str], int, Path]:
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    process = launch_server(database_url, port, log, args, KOJI_PIPELINE_ENABLED="false")
    return process, port, log


def stopped(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(timeout=30) == 0
    finally:
        assert process.stdout is not None
        process.stdout.close()


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # fails on any line that is not JSON


async def test_a_rest_request_is_found_by_its_id_in_both_logs(database_url, tmp_path) -> None:
    """The id Envoy makes reaches the server: the caller gets it (header and
    envelope), Envoy's JSON access log and the server's JSON log line have it."""
    tenant = await make_tenant(database_url)
    server, port, server_log = launch_logging(database_url, tmp_path)
    envoy = EnvoyProcess(port, tmp_path)
    try:
        await asyncio.to_thread(envoy.wait_ready)
        async with httpx.AsyncClient(base_url=envoy.base_url) as client:
            response = await client.get(
                f"/api/v1/interviews/{MISSING_ID}",
                headers={"Authorization": f"Bearer {tenant.api_key}"},
            )
            ok = await client.get(
                "/api/v1/usage", headers={"Authorization": f"Bearer {tenant.api_key}"}
            )
        assert response.status_code == 404
        request_id = response.headers["x-request-id"]
        assert response.json()["request_id"] == request_id
        assert ok.status_code == 200 and ok.headers["x-request-id"] != request_id
        # The gRPC port: the caller's own id.
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.InterviewServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.GetInterview(
                    pb.GetInterviewRequest(interview_id=MISSING_ID),
                    metadata=(*auth(tenant.api_key), ("x-request-id", "grpc-caller-1")),
                )
        # Envoy writes its access line after the response (flushed every 0.2 s here).
        await asyncio.to_thread(
            wait_until, lambda: request_id in envoy.log.read_text(), "Envoy's access line"
        )
    finally:
        envoy.stop()
        stopped(server)

    server_lines = json_lines(server_log)
    assert all({"time", "level", "event"} <= set(line) for line in server_lines)
    (rest_line,) = [line for line in server_lines if line.get("request_id") == request_id]
    assert rest_line["event"] == "rpc"
    assert rest_line["level"] == "INFO"
    assert rest_line["rpc"] == f"{INTERVIEWS}/GetInterview"
    assert rest_line["code"] == "NOT_FOUND"
    assert rest_line["error"] == "not_found"
    assert rest_line["project_id"] == tenant.project_id
    assert rest_line["interview_id"] == MISSING_ID
    assert 0 < rest_line["duration_ms"] < 5000
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", rest_line["time"])
    (grpc_line,) = [line for line in server_lines if line.get("request_id") == "grpc-caller-1"]
    assert grpc_line["code"] == "NOT_FOUND"

    access = [
        json.loads(line) for line in envoy.log.read_text().splitlines() if line.startswith("{")
    ]
    (envoy_line,) = [line for line in access if line["request_id"] == request_id]
    assert envoy_line["event"] == "access"
    assert envoy_line["status"] == 404
    assert envoy_line["path"] == f"/api/v1/interviews/{MISSING_ID}"
    assert envoy_line["rpc"] == f"/{INTERVIEWS}/GetInterview"
    assert isinstance(envoy_line["duration_ms"], int)
    assert "authorization" not in json.dumps(access).lower()
    assert tenant.api_key not in envoy.log.read_text()
    assert tenant.api_key not in server_log.read_text()


async def test_text_log_format_for_local_runs(database_url, tmp_path) -> None:
    tenant = await make_tenant(database_url)
    server, port, server_log = launch_logging(database_url, tmp_path, "--log-format", "text")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.InterviewServiceStub(channel)
            await stub.GetUsage(
                pb.GetUsageRequest(), metadata=(*auth(tenant.api_key), ("x-request-id", "text-1"))
            )
    finally:
        stopped(server)
    text = server_log.read_text()
    assert not text.lstrip().startswith("{")
    assert re.search(
        r" INFO koji_server\.rpc: rpc \[rpc=koji\.v1\.InterviewService/GetUsage "
        rf"request_id=text-1 project_id={tenant.project_id} code=OK duration_ms=[\d.]+\]",
        text,
    ), text


def test_the_log_guard_catches_every_kind_of_secret(log_lines) -> None:
    """The suite-wide guard (conftest.no_secrets_in_logs) is not blind."""
    noisy = logging.getLogger("koji_server.test")
    for secret in ("koji_sk_" + "A1b2" * 8, "st_live_" + "x_y-" * 8, "whsec_" + "QUJD+/==" * 4):
        noisy.debug("a careless line with %s in it", secret)
    noisy.debug("an interview id %s is fine", MISSING_ID)
    assert len(log_lines.secrets()) == 3
    log_lines.lines.clear()  # this test's lines are the guard's test, not a leak


DASHBOARD = Path(__file__).resolve().parents[1] / "ops" / "grafana-dashboard.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def dashboard_names(prefix: str) -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel["targets"])
    return set(re.findall(rf"\b{prefix}[a-z_]+(?=[{{\[])", queries))


def test_the_dashboard_queries_only_metrics_the_server_exports() -> None:
    metrics = Metrics()
    metrics.watch_queues(lambda: {"jobs": {"pending": 0}, "deliveries": {"pending": 0}})
    exported = {
        family.name + suffix
        for family in metrics.registry.collect()
        for suffix in SUFFIXES[family.type]
    }
    wanted = dashboard_names("koji_")
    assert len(wanted) >= 10
    assert wanted <= exported, wanted - exported


def test_envoy_stats_for_prometheus_on_the_loopback_admin_port(rest) -> None:
    """What docs/operations.md documents and the dashboard's Envoy panels read."""
    assert rest.envoy.settings.admin_host == "127.0.0.1"
    assert rest.get(MISSING_ID).status_code == 404
    admin = f"http://127.0.0.1:{rest.envoy.settings.admin_port}/stats/prometheus"
    text = httpx.get(admin, timeout=10).text
    families = list(text_string_to_metric_families(text))
    exported = {family.name for family in families} | {
        sample.name for family in families for sample in family.samples
    }
    wanted = dashboard_names("envoy_")
    assert wanted and wanted <= exported, wanted - exported
    assert re.search(
        r'envoy_http_downstream_rq_xx\{envoy_response_code_class="4",'
        r'envoy_http_conn_manager_prefix="rest"\} [1-9]',
        text,
    )
