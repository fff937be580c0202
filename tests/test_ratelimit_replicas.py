"""A key's rate limit holds across replicas: three koji-server processes on
one PostgreSQL database, 100 concurrent calls of a key limited to 60 a
minute spread round robin over them: exactly 60 succeed, every other one is
RESOURCE_EXHAUSTED with RetryInfo (what one process alone would answer)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from tests.conftest import make_tenant
from tests.helpers import assert_error, auth, metadata_dict
from tests.processes import free_port, launch_server, stop

pytestmark = pytest.mark.e2e

REPLICAS = 3
CALLS = 100
LIMIT = 60


@pytest.fixture
def replicas(postgres_url: str, tmp_path: Path) -> Iterator[list[int]]:
    ports: list[int] = []
    processes: list[subprocess.Popen[str]] = []
    try:
        for index in range(REPLICAS):
            ports.append(free_port())
            log = tmp_path / f"replica-{index}.log"
            processes.append(
                launch_server(postgres_url, ports[-1], log, KOJI_PIPELINE_ENABLED="false")
            )
        yield ports
    finally:
        for process in processes:
            stop(process)
            process.communicate(timeout=30)


async def test_a_key_gets_its_limit_however_its_calls_are_spread(
    postgres_url: str, replicas: list[int]
) -> None:
    tenant = await make_tenant(postgres_url, rate_limit=LIMIT)
    # All in one window: a window that ends during the calls would let the
    # previous one's calls count by their overlap (fewer than 60, not more).
    if time.time() % 60 > 55:
        await asyncio.sleep(60 - time.time() % 60 + 0.1)
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for port in replicas]
    try:
        for channel in channels:
            await asyncio.wait_for(channel.channel_ready(), 10)
        stubs = [pb_grpc.InterviewServiceStub(channel) for channel in channels]
        request = pb.ListInterviewsRequest(study_id=tenant.study_id)

        async def call(index: int) -> grpc.aio.AioRpcError | dict[str, str]:
            try:
                response = stubs[index % REPLICAS].ListInterviews(
                    request, metadata=auth(tenant.api_key)
                )
                await response
                return metadata_dict(await response.trailing_metadata())
            except grpc.aio.AioRpcError as error:
                return error

        results = await asyncio.gather(*(call(i) for i in range(CALLS)))
    finally:
        for channel in channels:
            await channel.close()
    succeeded = [r for r in results if not isinstance(r, grpc.aio.AioRpcError)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    by_replica = [
        sum(not isinstance(r, grpc.aio.AioRpcError) for r in results[i::REPLICAS])
        for i in range(REPLICAS)
    ]
    print(
        f"\n{CALLS} concurrent calls over {REPLICAS} replicas, limit {LIMIT}/min: "
        f"{len(succeeded)} OK {by_replica}, {len(refused)} RESOURCE_EXHAUSTED; "
        f"over-admission {len(succeeded) - LIMIT}"
    )
    # Each replica took a third of the calls; which ones got through depends
    # on who reached the database first (one replica may get very few).
    assert len(succeeded) == LIMIT
    assert sorted(int(r["x-ratelimit-remaining"]) for r in succeeded) == list(range(LIMIT))
    for error in refused:
        details = assert_error(error, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
        assert details["RetryInfo"].retry_delay.seconds >= 1
        trailers = metadata_dict(error.trailing_metadata())
        assert trailers["x-ratelimit-remaining"] == "0"
        assert int(trailers["retry-after"]) >= 1
