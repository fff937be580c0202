"""The rate limiter shared by replicas on PostgreSQL (api.ratelimit_postgres),
on a fresh database of the throwaway PostgreSQL and a fake clock: the same
answers as the in-process limiter call by call, exactly the limit allowed
when several limiters (as several processes) race on one key, and requests
refused with `unavailable` when the database cannot answer."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor

import grpc
import pytest

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.api.ratelimit import KeyRateLimiter, RateLimitExceeded, RateLimitState
from koji_server.api.ratelimit_postgres import PostgresRateLimiter, RateLimiterUnavailable
from koji_server.app import start_server
from koji_server.config import Settings
from koji_server.storage.postgres import PostgresDatabase
from tests.conftest import make_tenant
from tests.helpers import FakeTicks, assert_error, auth, principal
from tests.processes import free_port

# Not a multiple of the window, with a fraction, like time.time().
T0 = 1_764_390_011.372


def connect_args(url: str) -> dict[str, object]:
    return PostgresDatabase(url).connect_args()


@pytest.fixture
async def limiters(postgres_url: str) -> AsyncIterator[Callable[..., PostgresRateLimiter]]:
    made: list[PostgresRateLimiter] = []

    def make(clock: Callable[[], float], **options: object) -> PostgresRateLimiter:
        limiter = PostgresRateLimiter(connect_args(postgres_url), clock, **options)  # type: ignore[arg-type]
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.close()


Answer = tuple[str, RateLimitState, int | None]


def answer_of(hit: Callable[[], RateLimitState]) -> Answer:
    try:
        return ("allowed", hit(), None)
    except RateLimitExceeded as refused:
        return ("refused", refused.state, refused.retry_after_seconds)


async def async_answer_of(limiter: PostgresRateLimiter, limit: int, key: str) -> Answer:
    try:
        return ("allowed", await limiter.admit(principal(limit, key)), None)
    except RateLimitExceeded as refused:
        return ("refused", refused.state, refused.retry_after_seconds)


async def test_answers_as_the_in_process_limiter_call_by_call(
    limiters: Callable[..., PostgresRateLimiter],
) -> None:
    clock = FakeTicks(T0)
    in_process = KeyRateLimiter(clock)
    shared = limiters(clock)
    # Scripted: a burst past the limit, a roll-over into the next window
    # (the previous one weighted), a skipped window, then random steps
    # (bursts, small and big moves of the clock, two keys, two limits).
    steps: list[tuple[float, str, int]] = [(0.0, "a", 5)] * 7
    steps += [(37.5, "a", 5)] + [(0.0, "a", 5)] * 3 + [(12.25, "a", 5)] * 4
    steps += [(130.0, "a", 5)] + [(0.0, "a", 5)] * 6 + [(0.0, "b", 3)] * 4
    rng = random.Random(16)
    for _ in range(400):
        moved = rng.choice([0.0, 0.0, 0.0, 0.01, 0.4, 2.5, 7.0, 19.3, 61.0, 125.0])
        steps.append((moved, rng.choice("ab"), rng.choice([3, 10])))
    refused = rolled = 0
    for number, (moved, key, limit) in enumerate(steps):
        clock.now += moved
        expected = answer_of(lambda: in_process.hit(principal(limit, key)))  # noqa: B023
        got = await async_answer_of(shared, limit, key)
        assert got == expected, (number, clock.now, key, limit)
        refused += expected[0] == "refused"
        rolled += moved >= 60
    assert refused > 50 and rolled > 20  # the script covers refusals and roll-overs


async def test_several_processes_allow_exactly_the_limit(
    limiters: Callable[..., PostgresRateLimiter],
) -> None:
    """100 concurrent requests of one key through 3 limiters with their own
    pools (as 3 replicas would): exactly 60 allowed."""
    clock = FakeTicks(T0)
    replicas = [limiters(clock) for _ in range(3)]
    answers = await asyncio.gather(
        *(async_answer_of(replicas[i % 3], 60, "shared") for i in range(100))
    )
    allowed = [state for verdict, state, _ in answers if verdict == "allowed"]
    refused = [retry for verdict, _, retry in answers if verdict == "refused"]
    assert len(allowed) == 60
    assert len(refused) == 40 and all(retry is not None and retry >= 1 for retry in refused)
    # Each allowed request was counted once: their remainders are 59 down to 0.
    assert sorted(state.remaining for state in allowed) == list(range(60))


async def test_refuses_with_unavailable_when_the_database_is_unreachable() -> None:
    port = free_port()  # nothing listens there
    limiter = PostgresRateLimiter(
        connect_args(f"postgresql://koji@127.0.0.1:{port}/koji"), FakeTicks(T0), timeout=5
    )
    try:
        with pytest.raises(RateLimiterUnavailable) as refused:
            await limiter.admit(principal(60))
        assert refused.value.code == "unavailable"
    finally:
        await limiter.close()


async def test_refuses_with_unavailable_when_the_database_does_not_answer() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accepts, never answers

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    limiter = PostgresRateLimiter(
        connect_args(f"postgresql://koji@127.0.0.1:{port}/koji"), FakeTicks(T0), timeout=0.3
    )
    try:
        with pytest.raises(RateLimiterUnavailable):
            await asyncio.wait_for(limiter.admit(principal(60)), 5)
    finally:
        await limiter.close()
        for writer in accepted:
            writer.close()
        listener.close()
        await listener.wait_closed()


async def test_batches_over_many_keys_do_not_deadlock(
    limiters: Callable[..., PostgresRateLimiter],
) -> None:
    """Concurrent requests go in batches; two processes' batches taking the
    same keys in opposite orders still lock them in one order."""
    clock = FakeTicks(T0)
    first, second = limiters(clock), limiters(clock)
    keys = [f"key-{n:02}" for n in range(30)]
    calls = [async_answer_of(first, 1000, key) for key in keys * 4]
    calls += [async_answer_of(second, 1000, key) for key in reversed(keys * 4)]
    answers = await asyncio.wait_for(asyncio.gather(*calls), 30)
    assert all(verdict == "allowed" for verdict, _, _ in answers)
    # Each key counted 8 times, once per request.
    remaining = {}
    for key in keys:
        remaining[key] = (await first.admit(principal(1000, key))).remaining
    assert set(remaining.values()) == {1000 - 9}


async def test_a_call_is_unavailable_when_the_limiter_cannot_reach_the_database(
    postgres_url: str, analysis_executor: Executor
) -> None:
    """Through a real server: the documented `unavailable`, not a crash and
    not an uncounted pass."""
    running = await start_server(
        Settings(listen="127.0.0.1:0", database_url=postgres_url, pipeline_enabled=False),
        analysis_executor,
    )
    try:
        tenant = await make_tenant(postgres_url)
        limiter = running.limiter
        assert isinstance(limiter, PostgresRateLimiter)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.InterviewServiceStub(channel)
            request = pb.ListInterviewsRequest(study_id=tenant.study_id)
            await stub.ListInterviews(request, metadata=auth(tenant.api_key))
            await limiter.close()  # its pool opens again, on a port where nothing listens
            limiter._connect_args = connect_args(f"postgresql://koji@127.0.0.1:{free_port()}/k")
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ListInterviews(request, metadata=auth(tenant.api_key))
            assert_error(refused.value, grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE")
            assert "rate limiter" in (refused.value.details() or "")
    finally:
        await running.stop(0)
