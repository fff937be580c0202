"""Fault campaign (bounded): kill -9 while clients write, then check that
nothing acknowledged was lost and nothing was done twice; the REST edge's
answers to HEAD and to preflights from origins that are not allowed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from tests.conftest import ON_POSTGRES, Rest, Tenant
from tests.helpers import assert_envelope, auth, query
from tests.processes import assert_exactly_one_result_each, launch, seed, stop, wait_all_done
from tests.transcripts import ENGAGED
from tools.local_postgres import ThrowawayPostgres

pytestmark = pytest.mark.e2e

CLIENTS = 24
KILL_AFTER_SECONDS = 1.5
# ...and not before this many completions were acknowledged (a loaded
# machine writes less in 1.5 s), up to a minute.
KILL_AFTER_COMPLETIONS = 10


@dataclass
class Acknowledged:
    """What the server answered with success before it died."""

    started: set[str] = field(default_factory=set)
    messages: dict[str, list[str]] = field(default_factory=dict)
    completed: set[str] = field(default_factory=set)


async def keep_writing(port: int, tenant: Tenant, client: int, acked: Acknowledged) -> None:
    """Interviews one after another (start, answers, complete) until the server dies."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.InterviewServiceStub(channel)
        try:
            for round_ in range(1_000):
                started = await stub.StartInterview(
                    pb.StartInterviewRequest(study_id=tenant.study_id),
                    metadata=auth(tenant.api_key),
                )
                interview_id = started.interview_id
                acked.started.add(interview_id)
                acked.messages[interview_id] = []
                session = auth(tenant.api_key, started.session_token)
                for number, answer in enumerate(ENGAGED[: 2 + (client + round_) % 3]):
                    content = f"{answer} (client {client}, round {round_}, answer {number})"
                    await stub.SendMessage(
                        pb.SendMessageRequest(interview_id=interview_id, content=content),
                        metadata=session,
                    )
                    acked.messages[interview_id].append(content)
                await stub.CompleteInterview(
                    pb.CompleteInterviewRequest(interview_id=interview_id, reason=pb.natural),
                    metadata=session,
                )
                acked.completed.add(interview_id)
        except grpc.aio.AioRpcError as error:
            assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), error


async def write_until_killed(port: int, tenant: Tenant, kill: Callable[[], None]) -> Acknowledged:
    acked = Acknowledged()
    writers = [asyncio.create_task(keep_writing(port, tenant, n, acked)) for n in range(CLIENTS)]
    await asyncio.sleep(KILL_AFTER_SECONDS)
    for _ in range(1200):  # a minute at most
        if len(acked.completed) >= KILL_AFTER_COMPLETIONS:
            break
        await asyncio.sleep(0.05)
    kill()
    await asyncio.wait_for(asyncio.gather(*writers), timeout=30)
    return acked


def test_kill_9_during_messages_and_completions_loses_nothing_acknowledged(
    tmp_path: Path, database_url: str
) -> None:
    path = database_url
    tenant = seed(database_url)
    log = tmp_path / "server.log"
    process, port = launch(database_url, log, KOJI_JOB_LEASE_SECONDS="1")
    try:
        acked = asyncio.run(write_until_killed(port, tenant, process.kill))
    finally:
        process.kill()
        process.wait(timeout=10)
    print(
        f"acknowledged before kill -9: {len(acked.started)} starts, "
        f"{sum(map(len, acked.messages.values()))} messages, {len(acked.completed)} completions"
    )
    assert len(acked.completed) >= KILL_AFTER_COMPLETIONS, "too little written to test anything"
    assert sum(map(len, acked.messages.values())) >= 30

    stored = {row[0] for row in query(path, "SELECT id FROM interviews")}
    assert acked.started <= stored
    completed = {
        row[0] for row in query(path, "SELECT id FROM interviews WHERE completed_at IS NOT NULL")
    }
    assert acked.completed <= completed
    # At most one completion was in flight per client: stored, but its answer lost.
    assert len(completed - acked.completed) <= CLIENTS
    respondent = {}
    for interview_id, content in query(
        path, "SELECT interview_id, content FROM messages WHERE role = 'respondent' ORDER BY seq"
    ):
        respondent.setdefault(interview_id, []).append(content)
    for interview_id, contents in acked.messages.items():
        stored_contents = respondent.get(interview_id, [])
        assert stored_contents[: len(contents)] == contents, interview_id  # none lost, in order
        assert len(stored_contents) - len(contents) <= 1  # one unanswered write at most
    assert query(path, "SELECT count(*) FROM jobs") == [(len(completed),)]  # one job each

    # After a restart every completion is analysed, exactly once.
    process, _ = launch(database_url, log, KOJI_JOB_LEASE_SECONDS="1")
    try:
        wait_all_done(path, len(completed), timeout=120)
    finally:
        stop(process)
    assert_exactly_one_result_each(path, sorted(completed))
    if not ON_POSTGRES:
        assert query(path, "PRAGMA integrity_check") == [("ok",)]


def test_head_on_a_get_path_answers_like_get_without_a_body(rest: Rest) -> None:
    started = rest.start()
    path = f"/api/v1/interviews/{started['interview_id']}"
    get = rest.client.get(path, headers=rest.headers())
    head = rest.client.head(path, headers=rest.headers())
    assert get.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"] == "application/json"
    assert "x-ratelimit-limit" in head.headers
    missing = rest.client.head("/api/v1/interviews/00000000-0000-4000-8000-000000000000",
                               headers=rest.headers())  # fmt: skip
    assert missing.status_code == 404 and missing.content == b""
    usage = rest.client.head("/api/v1/usage", headers=rest.headers())
    assert usage.status_code == 200 and usage.content == b""
    # Wherever GET is refused, HEAD gets the same status (here: "start" is not an id).
    for refused in ("/api/v1/interviews/start", "/api/v1/nothing-here"):
        as_get = rest.client.get(refused, headers=rest.headers())
        as_head = rest.client.head(refused, headers=rest.headers())
        assert as_get.status_code >= 400 and as_get.json()["error"]
        assert as_head.status_code == as_get.status_code and as_head.content == b""
    # The connection is still in step: the next request reads its own answer
    # (the same but for `stats`: an active interview's duration grows).
    again = rest.client.get(path, headers=rest.headers()).json()
    assert again.pop("stats")["total_messages"] == get.json()["stats"]["total_messages"]
    assert again == {k: v for k, v in get.json().items() if k != "stats"}


def test_a_preflight_from_an_origin_that_is_not_allowed_is_403(rest: Rest) -> None:
    """The fixture allows https://app.example.com only; without --cors-origin
    no origin is allowed, so every preflight gets this answer."""
    path = "/api/v1/interviews/start"
    for headers in (
        {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        {"Access-Control-Request-Method": "POST"},  # no Origin at all
        {},
    ):
        refused = rest.client.options(path, headers=headers)
        assert refused.status_code == 403
        body = refused.json()
        assert body["error"] == "forbidden" and body["message"]
        assert body["request_id"] == refused.headers["x-request-id"]
        assert "access-control-allow-origin" not in refused.headers
    allowed = rest.client.options(
        path,
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"


def set_pragma(rest: Rest, pragma: str) -> None:
    """On the server's writer connection (the one that writes), outside any
    transaction: the writer's next batch takes it from the pool as it is."""
    engine = rest.threaded.running.database.writer._engine
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        if pragma == "full":
            pages = driver.execute("PRAGMA page_count").fetchone()[0]
            driver.execute(f"PRAGMA max_page_count = {pages}")
        else:
            driver.execute(pragma)
    finally:
        raw.close()


@contextmanager
def read_only(rest: Rest, request: pytest.FixtureRequest) -> Iterator[None]:
    """The server's database read-only for the block, under the running
    server: SQLite's writer connection with `query_only`; the whole
    PostgreSQL server with `default_transaction_read_only`, which a reload
    applies to the open connections (as to a standby's)."""
    if not ON_POSTGRES:
        set_pragma(rest, "PRAGMA query_only = ON")
        try:
            yield
        finally:
            set_pragma(rest, "PRAGMA query_only = OFF")
        return
    server: ThrowawayPostgres = request.getfixturevalue("postgres")

    def setting(value: str) -> None:
        server.psql(f"ALTER SYSTEM SET default_transaction_read_only = {value}")
        server.psql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        while server.psql("SHOW default_transaction_read_only").strip() != value:
            assert time.monotonic() < deadline, "the reload did not take"
            time.sleep(0.05)
        time.sleep(0.2)  # the open connections reload before their next command

    setting("on")
    try:
        yield
    finally:
        setting("off")


@pytest.mark.storage  # the engine's read-only mode, seen through Envoy
def test_a_read_only_database_is_a_clean_503_and_heals_without_restart(
    rest: Rest, request: pytest.FixtureRequest
) -> None:
    before = rest.start()
    with read_only(rest, request):
        response = rest.client.post(
            "/api/v1/interviews/start",
            json={"study_id": rest.tenant.study_id},
            headers=rest.headers(),
        )
        body = assert_envelope(response, 503, "unavailable")
        assert body["message"] == "The service cannot store data right now; retry shortly."
        for n in range(3):
            assert_envelope(rest.send(before, f"message {n} while read-only"), 503, "unavailable")
        # Reads still work.
        got = rest.get(before["interview_id"])
        assert got.status_code == 200 and got.json()["interview_id"] == before["interview_id"]
        assert rest.client.get("/api/v1/usage", headers=rest.headers()).status_code == 200
    # Writable again: the same server writes again.
    assert rest.send(before, "a message once the database is writable").status_code == 200
    assert rest.complete(before, {"reason": "natural"}).status_code == 200
    rest.start()


@pytest.mark.sqlite_only(
    reason="PRAGMA max_page_count on SQLite's writer connection (read-only on any "
    "engine: test_a_read_only_database_is_a_clean_503_and_heals_without_restart)"
)
def test_a_full_disk_is_a_clean_503_and_heals_without_restart(rest: Rest) -> None:
    fault, recovery = "full", "PRAGMA max_page_count = 1073741823"
    before = rest.start()
    set_pragma(rest, fault)
    try:
        statuses = []
        for _ in range(200):  # a full disk takes the last free pages first
            response = rest.client.post(
                "/api/v1/interviews/start",
                json={"study_id": rest.tenant.study_id},
                headers=rest.headers(),
            )
            statuses.append(response.status_code)
            if response.status_code != 201:
                break
        assert statuses[-1] == 503, statuses
        body = response.json()
        assert body["error"] == "unavailable"
        assert body["message"] == "The service cannot store data right now; retry shortly."
        assert body["request_id"] == response.headers["x-request-id"]
        # Reads still work; so does a repeat completion (read, not written).
        assert rest.get(before["interview_id"]).status_code == 200
        # A message is smaller than a start: it may still fit the free room
        # left in a page it shares, until that is taken too.
        sent = [rest.send(before, f"message {n} while the disk is full") for n in range(200)]
        codes = [r.status_code for r in sent]
        assert 503 in codes and set(codes) <= {200, 503}, codes
    finally:
        set_pragma(rest, recovery)
    # Room again: the same server writes again.
    assert rest.send(before, "a message after the operator made room").status_code == 200
    assert rest.complete(before, {"reason": "natural"}).status_code == 200
    rest.start()
