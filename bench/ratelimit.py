"""What a rate-limit decision costs, per mechanism (README, Rate limits across replicas).

Candidates, each doing the same sliding-window counter (api.ratelimit):

- in-process: KeyRateLimiter.admit (SQLite's limiter; per process, so N
  replicas let a key through N times over);
- PostgreSQL: the function koji_rate_limit_hit (migration 0002) on a durable
  throwaway server (PostgreSQL's defaults, fsync on; Unix socket), called as
  api.ratelimit_postgres does (own asyncpg pool), with the table UNLOGGED
  (as migrated) or LOGGED, synchronous_commit on or off, concurrent
  decisions batched (koji_rate_limit_hits); then one round trip per
  decision, on a pool that hands connections back as they are and on one
  that resets them (asyncpg's default), and through the storage engine's
  SQLAlchemy pool instead of a pool of its own;
- Redis: the same algorithm as a Lua script (EVALSHA, one round trip) on a
  redis-server started here (no persistence), through redis.asyncio; only
  when Debian's redis-server and the `redis` client are installed
  (`apt-get install redis-server`, `.venv/bin/pip install redis`).

For each: the latency of one decision from one asyncio task (p50/p99), and
decisions per second from 50 concurrent tasks on one key and on 50 keys.
Then the over-admission of in-process limiters: 100 concurrent requests of
one key limited to 60, spread over 3 limiters (as 3 replicas) and through
the PostgreSQL one. With --end-to-end (make bench-ratelimit), GetInterview
of a completed, analysed interview (served from memory) over gRPC (h2load,
50 clients) on a koji-server on that PostgreSQL, in this process on core 0,
with the shared limiter and with the in-process one swapped in, alternately.

    .venv/bin/python -m bench.ratelimit [--seconds 3] [--hits 3000] [--end-to-end]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from sqlalchemy import text

from bench.load import LOAD_CORE, SERVER_CORE, grpc_frame, grpc_load, need
from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.api.ratelimit import (
    PERIOD_SECONDS,
    KeyRateLimiter,
    RateLimitExceeded,
    RateLimitState,
    settle,
    window_start,
)
from koji_server.api.ratelimit_postgres import HIT, PostgresRateLimiter
from koji_server.app import start_server
from koji_server.config import Settings
from koji_server.domain.model import Permission, Principal
from koji_server.operations.projects import AdminService
from koji_server.pipeline.executor import make_analysis_executor
from koji_server.storage import migrate
from koji_server.storage.backends import open_database
from koji_server.storage.postgres import PostgresDatabase
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from tools.local_postgres import ThrowawayPostgres

CONCURRENCY = 50
# High enough that every decision counts (a write), the costlier case.
OPEN_LIMIT = 1_000_000_000

Admit = Callable[[Principal], Awaitable[RateLimitState]]


def principal(key: str, limit: int = OPEN_LIMIT) -> Principal:
    return Principal(key, "p", frozenset(Permission), limit)


@dataclass
class Result:
    name: str
    p50_us: float
    p99_us: float
    one_key: float
    many_keys: float
    cpu_us: float


async def measure(name: str, admit: Admit, hits: int, seconds: float) -> Result:
    one = principal("bench-latency")
    for _ in range(100):  # warm up: connections, prepared statements
        await admit(one)
    latencies = []
    for _ in range(hits):
        started = time.perf_counter()
        await admit(one)
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    one_key, _ = await throughput(admit, [principal("bench-one")] * CONCURRENCY, seconds)
    keys = [principal(f"bench-{n}") for n in range(CONCURRENCY)]
    many_keys, cpu = await throughput(admit, keys, seconds)
    result = Result(
        name,
        statistics.median(latencies) * 1e6,
        latencies[int(len(latencies) * 0.99)] * 1e6,
        one_key,
        many_keys,
        cpu * 1e6,
    )
    print(
        f"  {name:44} p50 {result.p50_us:7.1f} us  p99 {result.p99_us:7.1f} us  "
        f"{one_key:7.0f}/s one key  {many_keys:7.0f}/s {CONCURRENCY} keys  "
        f"caller CPU {result.cpu_us:6.1f} us",
        flush=True,
    )
    return result


async def throughput(
    admit: Admit, principals: list[Principal], seconds: float
) -> tuple[float, float]:
    """Decisions per second from one task per principal, and this process's
    CPU seconds per decision (what a koji-server would spend on each)."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def hitter(who: Principal) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await admit(who)
            done += 1

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(hitter(who) for who in principals))
    return done / (time.perf_counter() - started), (time.process_time() - cpu) / done


async def over_admission(limiters: list[Any]) -> int:
    """Allowed among 100 concurrent requests of one key limited to 60,
    spread round robin over `limiters`."""

    async def one(index: int) -> bool:
        try:
            await limiters[index % len(limiters)].admit(principal("bench-shared", 60))
        except RateLimitExceeded:
            return False
        return True

    return sum(await asyncio.gather(*(one(i) for i in range(100))))


async def postgres_candidates(url: str, hits: int, seconds: float) -> list[Result]:
    results = []
    args = PostgresDatabase(url).connect_args()
    for logged in (False, True):
        table = "LOGGED" if logged else "UNLOGGED"
        async with sqlalchemy_engine(url) as engine, engine.begin() as connection:
            await connection.execute(text(f"ALTER TABLE rate_limit_windows SET {table}"))
        for synchronous in ("on", "off"):
            limiter = PostgresRateLimiter(args, server_settings={"synchronous_commit": synchronous})
            name = f"PostgreSQL, {table}, sync_commit {synchronous}, batched"
            results.append(await measure(name, limiter.admit, hits, seconds))
            await limiter.close()
    async with sqlalchemy_engine(url) as engine, engine.begin() as connection:
        await connection.execute(text("ALTER TABLE rate_limit_windows SET UNLOGGED"))

    # One round trip per decision (no batches), on a pool of 10 that hands
    # connections back as they are, then on one that resets them on release
    # (asyncpg's default: RESET ALL and more, a round trip of its own).
    def settled(now: float, who: Principal, left: float, row: Any) -> RateLimitState:
        return settle(now, who.rate_limit_per_minute, left, row[1], row[2], row[0])

    async def as_is(connection: asyncpg.Connection) -> None:
        pass

    for reset, label in ((as_is, "one round trip each"), (None, "same, pool resetting")):
        pool = await asyncpg.create_pool(**args, min_size=1, max_size=10, reset=reset)

        async def one_by_one(who: Principal, pool: asyncpg.Pool = pool) -> RateLimitState:
            now = time.time()
            start = window_start(now)
            left = PERIOD_SECONDS - (now - start)
            row = await pool.fetchrow(
                HIT, who.key_id, who.rate_limit_per_minute, start, left, PERIOD_SECONDS
            )
            return settled(now, who, left, row)

        name = f"PostgreSQL, UNLOGGED, {label}"
        results.append(await measure(name, one_by_one, hits, seconds))
        await pool.close()

    # The same call through the storage engine's pool (SQLAlchemy).
    database = PostgresDatabase(url)

    async def through_sqlalchemy(who: Principal) -> RateLimitState:
        now = time.time()
        start = window_start(now)
        left = PERIOD_SECONDS - (now - start)
        async with database.engine.connect() as connection:
            row = (
                await connection.exec_driver_sql(
                    HIT, (who.key_id, who.rate_limit_per_minute, start, left, PERIOD_SECONDS)
                )
            ).one()
            await connection.commit()
        return settled(now, who, left, row)

    name = "PostgreSQL, UNLOGGED, via SQLAlchemy engine"
    results.append(await measure(name, through_sqlalchemy, hits, seconds))
    await database.dispose()
    return results


@contextlib.asynccontextmanager
async def sqlalchemy_engine(url: str) -> AsyncIterator[Any]:
    database = PostgresDatabase(url)
    try:
        yield database.engine
    finally:
        await database.dispose()


REDIS_SCRIPT = """
local limit = tonumber(ARGV[1])
local start = tonumber(ARGV[2])
local left = tonumber(ARGV[3])
local period = tonumber(ARGV[4])
local w = redis.call('HMGET', KEYS[1], 's', 'c', 'p')
local s, c, p = tonumber(w[1]), tonumber(w[2]) or 0, tonumber(w[3]) or 0
if s == nil then
  s = start
elseif s < start then
  if s == start - period then p = c else p = 0 end
  c = 0
  s = start
end
local allowed = p * left / period + c + 1 <= limit
local before = c
if allowed then c = c + 1 end
redis.call('HSET', KEYS[1], 's', s, 'c', c, 'p', p)
redis.call('EXPIRE', KEYS[1], 2 * period)
if allowed then return {1, before, p} end
return {0, before, p}
"""


def start_redis(server: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    """redis-server on a free loopback port, without persistence."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = Path(tempfile.mkdtemp(prefix="koji-redis-"))
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return process, port, workdir


def stop_redis(process: subprocess.Popen[bytes], workdir: Path) -> None:
    process.terminate()
    process.wait(10)
    shutil.rmtree(workdir, ignore_errors=True)


async def redis_candidate(hits: int, seconds: float) -> Result | None:
    server = shutil.which("redis-server")
    try:
        import redis.asyncio as aioredis
    except ImportError:
        aioredis = None
    if server is None or aioredis is None:
        print("  Redis: skipped (apt-get install redis-server; .venv/bin/pip install redis)")
        return None
    process, port, workdir = start_redis(server)
    # As many connections as the PostgreSQL limiter's pool; a caller waits for one.
    pool = aioredis.BlockingConnectionPool(host="127.0.0.1", port=port, max_connections=10)
    client = aioredis.Redis(connection_pool=pool)
    try:
        for _ in range(100):
            with contextlib.suppress(Exception):
                await client.ping()
                break
            await asyncio.sleep(0.05)
        script = client.register_script(REDIS_SCRIPT)

        async def admit(who: Principal) -> RateLimitState:
            now = time.time()
            start = window_start(now)
            left = PERIOD_SECONDS - (now - start)
            limit = who.rate_limit_per_minute
            allowed, current, previous = await script(
                keys=[f"rl:{who.key_id}"], args=[limit, repr(start), repr(left), PERIOD_SECONDS]
            )
            return settle(now, limit, left, int(current), int(previous), bool(allowed))

        return await measure("Redis (Lua script, TCP loopback)", admit, hits, seconds)
    finally:
        await client.aclose()
        stop_redis(process, workdir)


async def end_to_end(postgres: ThrowawayPostgres, seconds: float) -> None:
    """GetInterview req/s on one server with each limiter in turn."""
    need("h2load", "nghttp2-client")
    url = postgres.create_database("bench_ratelimit_e2e")
    await migrate.upgrade(url)
    database = open_database(url)
    admin = AdminService(UnitOfWorkFactory(database))
    project = await admin.create_project("bench")
    key = await admin.create_key(project, "bench", frozenset(Permission), 1_000_000)
    study = await admin.create_study(project, "bench", ["How did you hear of us?"])
    await database.dispose()

    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        # The server's core is its own: h2load and PostgreSQL (the postmaster
        # and so the backends it forks from now on) on the other.
        os.sched_setaffinity(0, {SERVER_CORE})
        postmaster = int((postgres.data / "postmaster.pid").read_text().split()[0])
        os.sched_setaffinity(postmaster, {LOAD_CORE})
    executor = make_analysis_executor(1)
    settings = Settings(listen="127.0.0.1:0", database_url=url, pipeline_poll_seconds=0.1)
    running = await start_server(settings, executor)
    try:
        metadata = (("authorization", f"Bearer {key.api_key}"),)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.InterviewServiceStub(channel)
            started = await stub.StartInterview(
                pb.StartInterviewRequest(study_id=study), metadata=metadata
            )
            await stub.CompleteInterview(
                pb.CompleteInterviewRequest(interview_id=started.interview_id),
                metadata=(*metadata, ("x-session-token", started.session_token)),
            )
            # Completed and analysed: served from the server's memory, the
            # cheapest authenticated call (the limiter's share is the largest).
            for _ in range(300):
                got = await stub.GetInterview(
                    pb.GetInterviewRequest(interview_id=started.interview_id), metadata=metadata
                )
                if got.analysis_status == pb.Analysis.completed:
                    break
                await asyncio.sleep(0.1)
        body = grpc_frame(pb.GetInterviewRequest(interview_id=started.interview_id))
        shared = running.limiter
        assert isinstance(shared, PostgresRateLimiter)
        in_process = KeyRateLimiter()
        with tempfile.TemporaryDirectory() as scratch:
            log = Path(scratch) / "g.log"
            print(f"\nGetInterview over gRPC, koji-server on PostgreSQL (core {SERVER_CORE}), "
                  f"h2load and PostgreSQL on core {LOAD_CORE}:")  # fmt: skip
            for name, admit in (
                ("shared limiter (PostgreSQL)", PostgresRateLimiter.admit.__get__(shared)),
                ("in-process limiter", in_process.admit),
            ) * 2:
                shared.admit = admit  # type: ignore[method-assign]
                wall, cpu = time.perf_counter(), time.process_time()
                trips, sent = shared.round_trips, shared.requests_sent
                result = await asyncio.to_thread(
                    grpc_load, running.port, "/koji.v1.InterviewService/GetInterview", body,
                    [f"authorization: Bearer {key.api_key}"], seconds, log,
                )  # fmt: skip
                # The server's CPU (this process's, all threads) over the run.
                busy = (time.process_time() - cpu) / (time.perf_counter() - wall)
                print(
                    f"  {name:30} {result['rps']:7.0f} req/s  p50 {result['p50_ms']:6.2f} ms"
                    f"  p99 {result['p99_ms']:6.2f} ms  server CPU {busy:4.0%},"
                    f" {busy / result['rps'] * 1e6:4.0f} us a call, requests per round trip"
                    f" {(shared.requests_sent - sent) / max(1, shared.round_trips - trips):.1f}",
                    flush=True,
                )
                assert result["ok_share"] == 1.0, result
    finally:
        await running.stop(0)
        executor.shutdown()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3, help="per throughput measurement")
    parser.add_argument("--hits", type=int, default=3000, help="sequential hits for latency")
    parser.add_argument(
        "--end-to-end", action="store_true", help="GetInterview on a server, each limiter"
    )
    options = parser.parse_args()

    print("cost of one rate-limit decision:")
    in_process = KeyRateLimiter()
    await measure("in-process (KeyRateLimiter.admit)", in_process.admit, 100_000, options.seconds)

    postgres = ThrowawayPostgres(durable=True)
    try:
        url = postgres.create_database("bench_ratelimit")
        await migrate.upgrade(url)
        await postgres_candidates(url, options.hits, options.seconds)
        await redis_candidate(options.hits, options.seconds)

        print("\n100 concurrent requests of one key limited to 60/min over 3 replicas:")
        separate = [KeyRateLimiter() for _ in range(3)]
        allowed = await over_admission(separate)
        print(f"  in-process limiters: {allowed} allowed (over-admission {allowed - 60})")
        args = PostgresDatabase(url).connect_args()
        shared = [PostgresRateLimiter(args) for _ in range(3)]
        allowed = await over_admission(shared)
        print(f"  PostgreSQL limiters: {allowed} allowed (over-admission {allowed - 60})")
        for limiter in shared:
            await limiter.close()
        if options.end_to_end:
            await end_to_end(postgres, max(options.seconds, 5))
    finally:
        postgres.stop()


if __name__ == "__main__":
    asyncio.run(main())
