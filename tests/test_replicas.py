"""Three koji-server replicas on one PostgreSQL database behind one Envoy:
the promises hold across processes (issue 16).

- 200 concurrent completions of one interview through Envoy: one 200, 199
  409s carrying the same data, one analysis, one set of webhook events;
- kill -9 of a replica among a stream of completions: no acknowledged
  completion lost, every completed interview analysed once, Envoy routes
  around the dead replica;
- a watch on one replica hears a completion handled by another (LISTEN/NOTIFY);
- a revoked key is refused by every replica within auth_cache_seconds;
- a reanalysis reaches every replica's cache of final interviews at once.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.domain.changes import AnalysisStatusChanged
from koji_server.domain.model import AnalysisStatus
from koji_server.storage.change_relay import CHANNEL, announce
from koji_server.storage.postgres import PostgresDatabase
from koji_server.storage.schema import (
    AnalysisRow,
    EventRow,
    InterviewRow,
    JobRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
)
from koji_server.storage.status import DeliveryStatus
from koji_server.support.clock import precise_now
from tests.helpers import auth
from tests.processes import admin_async, seed_project_with_cli
from tests.receiver import Receiver
from tests.replicas import Replicas
from tests.transcripts import ENGAGED
from tools.local_postgres import ThrowawayPostgres

pytestmark = pytest.mark.e2e

ALL = "interview:start,interview:chat,interview:complete,interview:read"
AUTH_CACHE_SECONDS = 1.0
SETTINGS = {
    "KOJI_LOG_LEVEL": "WARNING",
    "KOJI_SHUTDOWN_GRACE_SECONDS": "1",
    "KOJI_METRICS_LISTEN": "",
    "KOJI_PIPELINE_POLL_SECONDS": "0.1",
    # A job whose replica died is claimed again this soon.
    "KOJI_JOB_LEASE_SECONDS": "10",
    "KOJI_AUTH_CACHE_SECONDS": str(AUTH_CACHE_SECONDS),
    # Long: only an announcement can make a replica read a final interview again.
    "KOJI_FINAL_INTERVIEW_CACHE_SECONDS": "600",
    # One secret for all: a page token from one replica is good on another.
    "KOJI_PAGE_TOKEN_SECRET": "replicas-share-this-secret",
}
COMPLETERS = 200


@pytest.fixture(scope="module")
def shared_url(postgres: ThrowawayPostgres, postgres_template: str) -> str:
    """One database for the module's replicas (each test makes its own
    project and key in it)."""
    return postgres.create_database(f"koji_replicas_{uuid.uuid4().hex[:8]}", postgres_template)


@pytest.fixture(scope="module")
def shared_replicas(
    shared_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    """Three replicas shared by the tests that leave them running (starting
    three is most of a test's time)."""
    running = Replicas(shared_url, 3, tmp_path_factory.mktemp("replicas"), **SETTINGS)
    yield running
    running.stop()


@pytest.fixture
def replicas(shared_replicas: Replicas) -> Replicas:
    for process in shared_replicas.processes:
        assert process.poll() is None, "a shared replica died"
    return shared_replicas


@pytest.fixture
def postgres_url(shared_url: str) -> str:
    return shared_url


@pytest.fixture
async def stubs(replicas: Replicas) -> AsyncIterator[list[pb_grpc.InterviewServiceStub]]:
    """A gRPC stub of each replica."""
    channels = [grpc.aio.insecure_channel(address) for address in replicas.addresses]
    yield [pb_grpc.InterviewServiceStub(channel) for channel in channels]
    for channel in channels:
        await channel.close()


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    database = PostgresDatabase(postgres_url)
    yield database.engine
    await database.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


class Client:
    """REST through Envoy, as a tenant."""

    def __init__(self, http: httpx.AsyncClient, key: str, study: str) -> None:
        self.http, self.key, self.study = http, key, study

    def headers(self, token: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.key}"}
        if token is not None:
            headers["X-Session-Token"] = token
        return headers

    async def start_answered(self) -> dict[str, Any]:
        """An interview with one answer (ready to complete)."""
        started = await self.http.post(
            "/api/v1/interviews/start", json={"study_id": self.study}, headers=self.headers()
        )
        assert started.status_code == 201, started.text
        body: dict[str, Any] = started.json()
        sent = await self.http.post(
            f"/api/v1/interviews/{body['interview_id']}/messages",
            json={"content": ENGAGED[0]},
            headers=self.headers(body["session_token"]),
        )
        assert sent.status_code == 200, sent.text
        return body

    async def complete(self, started: dict[str, Any]) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/interviews/{started['interview_id']}/complete",
            json={"reason": "natural"},
            headers=self.headers(started["session_token"]),
        )


@pytest.fixture
async def rest(replicas: Replicas) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=COMPLETERS, max_keepalive_connections=COMPLETERS)
    async with httpx.AsyncClient(base_url=replicas.rest, limits=limits, timeout=30) as http:
        yield http


async def count(engine: AsyncEngine, statement: Any) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(statement)).scalar_one())


async def wait_until(condition: Any, seconds: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_200_concurrent_completes_across_replicas_give_one_200_and_one_analysis(
    replicas: Replicas,
    rest: httpx.AsyncClient,
    postgres_url: str,
    engine: AsyncEngine,
    receiver: Receiver,
) -> None:
    project, key, study = seed_project_with_cli(postgres_url, ALL, "--rate-limit", "100000")
    await admin_async(postgres_url, "webhooks", "add", "--project", project, "--url", receiver.url)
    client = Client(rest, key, study)
    started = await client.start_answered()
    before = replicas.requests_by_replica()

    answers = await asyncio.gather(*(client.complete(started) for _ in range(COMPLETERS)))

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: 1, 409: COMPLETERS - 1}
    first = next(a.json() for a in answers if a.status_code == 200)
    for again in (a.json() for a in answers if a.status_code == 409):
        assert again["error"] == "already_completed"
        data = {k: v for k, v in again.items() if k not in ("error", "message", "request_id")}
        assert {**data, "analysis_status": None} == {**first, "analysis_status": None}
    spread = Counter(replicas.requests_by_replica()) - Counter(before)
    assert len(spread) == 3 and min(spread.values()) >= COMPLETERS // 6, spread

    interview_id = started["interview_id"]
    analysed = (
        select(func.count())
        .select_from(AnalysisRow)
        .where(AnalysisRow.interview_id == interview_id)
    )

    async def analysis_stored() -> bool:
        return await count(engine, analysed) == 1

    await wait_until(analysis_stored, seconds=90, what="the analysis")
    await asyncio.to_thread(receiver.wait_for, 3)
    # Every delivery succeeded at its first attempt (a succeeded delivery is
    # never claimed again), so no duplicate is on its way.
    deliveries = select(WebhookDeliveryRow).where(WebhookDeliveryRow.interview_id == interview_id)

    async def all_delivered() -> bool:
        async with engine.connect() as connection:
            rows = (await connection.execute(deliveries)).all()
        return len(rows) == 3 and all(r.status == DeliveryStatus.SUCCEEDED for r in rows)

    await wait_until(all_delivered, seconds=30, what="the deliveries recorded")
    attempts = (
        select(func.count())
        .select_from(WebhookAttemptRow)
        .join(WebhookDeliveryRow, WebhookAttemptRow.delivery_id == WebhookDeliveryRow.id)
        .where(WebhookDeliveryRow.interview_id == interview_id)
    )
    assert await count(engine, attempts) == 3
    kinds = Counter(json.loads(r.body)["type"] for r in receiver.events())
    assert kinds == {
        "interview.completed": 1,
        "interview.quality_scored": 1,
        "interview.analysis_ready": 1,
    }
    jobs = select(func.count()).select_from(JobRow).where(JobRow.interview_id == interview_id)
    assert await count(engine, jobs) == 1


@pytest.fixture
def own_replicas(
    postgres: ThrowawayPostgres, postgres_template: str, tmp_path: Path
) -> Iterator[Replicas]:
    """Three replicas of the test's own (it kills one), on a database of its own."""
    url = postgres.create_database(f"koji_kill_{uuid.uuid4().hex[:8]}", postgres_template)
    running = Replicas(url, 3, tmp_path, **SETTINGS)
    yield running
    running.stop()


async def test_kill_9_of_a_replica_during_completions_loses_nothing_acknowledged(
    own_replicas: Replicas,
) -> None:
    replicas, postgres_url = own_replicas, own_replicas.database_url
    _project, key, study = seed_project_with_cli(postgres_url, ALL, "--rate-limit", "100000")
    database = PostgresDatabase(postgres_url)
    engine = database.engine
    limits = httpx.Limits(max_connections=COMPLETERS, max_keepalive_connections=COMPLETERS)
    async with httpx.AsyncClient(base_url=replicas.rest, limits=limits, timeout=30) as rest:
        try:
            await _kill_one_during_completions(replicas, rest, engine, key, study)
        finally:
            await database.dispose()


async def _kill_one_during_completions(
    replicas: Replicas, rest: httpx.AsyncClient, engine: AsyncEngine, key: str, study: str
) -> None:
    client = Client(rest, key, study)
    interviews = await asyncio.gather(*(client.start_answered() for _ in range(45)))
    acknowledged: set[str] = set()
    enough = asyncio.Event()
    refused = Counter[str]()
    gate = asyncio.Semaphore(6)

    async def complete_until_answered(started: dict[str, Any]) -> None:
        async with gate:
            for _ in range(50):
                try:
                    answer = await client.complete(started)
                except httpx.TransportError as error:
                    refused[type(error).__name__] += 1
                else:
                    if answer.status_code in (200, 409):
                        acknowledged.add(started["interview_id"])
                        if len(acknowledged) >= 15:
                            enough.set()
                        return
                    # Only Envoy's own answer for a call that died with its replica.
                    assert answer.status_code == 503, answer.text
                    assert answer.json()["error"] == "unavailable"
                    refused["503"] += 1
                await asyncio.sleep(0.1)
            raise AssertionError("never answered")

    async def kill_midway() -> None:
        await enough.wait()
        replicas.kill(1)

    await asyncio.gather(kill_midway(), *(complete_until_answered(s) for s in interviews))
    print(f"calls refused around the kill: {dict(refused)}")
    ids = [s["interview_id"] for s in interviews]
    assert acknowledged == set(ids)
    completed = (
        select(func.count())
        .select_from(InterviewRow)
        .where(InterviewRow.id.in_(ids), InterviewRow.completed_at.is_not(None))
    )
    assert await count(engine, completed) == len(ids)

    # Envoy routes around the dead replica: every call is answered.
    reads = await asyncio.gather(
        *(rest.get(f"/api/v1/interviews/{i}", headers=client.headers()) for i in ids)
    )
    assert {r.status_code for r in reads} == {200}

    # Jobs the dead replica held are claimed again once their lease ends.
    analysed = (
        select(func.count()).select_from(AnalysisRow).where(AnalysisRow.interview_id.in_(ids))
    )

    async def all_analysed() -> bool:
        return await count(engine, analysed) == len(ids)

    await wait_until(all_analysed, seconds=120, what="every analysis")
    async with engine.connect() as connection:
        events = (
            await connection.execute(
                select(EventRow.interview_id, EventRow.type).where(EventRow.interview_id.in_(ids))
            )
        ).all()
        jobs = (
            await connection.execute(
                select(JobRow.interview_id, JobRow.status).where(JobRow.interview_id.in_(ids))
            )
        ).all()
    assert Counter(events) == {(i, t): 1 for i in ids for t in (
        "interview.completed", "interview.quality_scored", "interview.analysis_ready")}  # fmt: skip
    assert sorted(jobs) == sorted((i, "done") for i in ids)


async def test_a_watch_on_one_replica_hears_a_completion_on_another(
    replicas: Replicas, postgres_url: str
) -> None:
    _project, key, study = seed_project_with_cli(postgres_url, ALL)
    async with (
        grpc.aio.insecure_channel(replicas.address(0)) as here,
        grpc.aio.insecure_channel(replicas.address(2)) as there,
    ):
        watching, acting = pb_grpc.InterviewServiceStub(here), pb_grpc.InterviewServiceStub(there)
        started = await acting.StartInterview(
            pb.StartInterviewRequest(study_id=study), metadata=auth(key)
        )
        call = watching.WatchInterview(
            pb.WatchInterviewRequest(interview_id=started.interview_id), metadata=auth(key)
        )
        first = await asyncio.wait_for(call.read(), 10)
        assert first.WhichOneof("event") == "state"
        for answer in ENGAGED[:2]:
            await acting.SendMessage(
                pb.SendMessageRequest(interview_id=started.interview_id, content=answer),
                metadata=auth(key, started.session_token),
            )
        done = await acting.CompleteInterview(
            pb.CompleteInterviewRequest(interview_id=started.interview_id, reason=pb.natural),
            metadata=auth(key, started.session_token),
        )
        events = []
        async with asyncio.timeout(120):  # to the analysis (heartbeats come meanwhile)
            while (event := await call.read()) is not grpc.aio.EOF:
                if event.WhichOneof("event") != "heartbeat":
                    events.append(event)
        assert await call.code() == grpc.StatusCode.OK
        assert [e.WhichOneof("event") for e in events] == ["message_added"] * 4 + [
            "completed",
            "analysis_status",
            "quality_scored",
            "analysis_status",
            "analysis_ready",
        ]
        assert events[4].completed == done
        got = await watching.GetInterview(
            pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(key)
        )
        assert events[-1].analysis_ready == got.analysis


async def test_a_revoked_key_is_refused_by_every_replica_within_the_auth_cache_time(
    stubs: list[pb_grpc.InterviewServiceStub], postgres_url: str
) -> None:
    project, key, _study = seed_project_with_cli(postgres_url, ALL)
    usage = pb.GetUsageRequest()
    for stub in stubs:  # every replica has the key in its cache
        await stub.GetUsage(usage, metadata=auth(key))
    out, _ = await admin_async(postgres_url, "keys", "list", "--project", project)
    (key_id,) = [line.split()[0] for line in out.splitlines()]  # the only key
    await admin_async(postgres_url, "keys", "revoke", key_id)
    revoked_at = time.monotonic()
    refused_after: list[float] = []
    for stub in stubs:
        while True:
            try:
                await stub.GetUsage(usage, metadata=auth(key))
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                refused_after.append(time.monotonic() - revoked_at)
                break
            assert time.monotonic() - revoked_at < AUTH_CACHE_SECONDS + 1.0
            await asyncio.sleep(0.05)
    assert max(refused_after) <= AUTH_CACHE_SECONDS + 0.5, refused_after


async def test_a_reanalysis_reaches_every_replicas_final_interview_cache(
    stubs: list[pb_grpc.InterviewServiceStub], postgres_url: str, engine: AsyncEngine
) -> None:
    _project, key, study = seed_project_with_cli(postgres_url, ALL, "--rate-limit", "100000")
    started = await stubs[0].StartInterview(
        pb.StartInterviewRequest(study_id=study), metadata=auth(key)
    )
    for answer in ENGAGED:
        await stubs[0].SendMessage(
            pb.SendMessageRequest(interview_id=started.interview_id, content=answer),
            metadata=auth(key, started.session_token),
        )
    await stubs[0].CompleteInterview(
        pb.CompleteInterviewRequest(interview_id=started.interview_id),
        metadata=auth(key, started.session_token),
    )
    request = pb.GetInterviewRequest(interview_id=started.interview_id)

    async def analysed() -> bool:
        got = await stubs[1].GetInterview(request, metadata=auth(key))
        return got.HasField("analysis")

    await wait_until(analysed, seconds=90, what="the analysis")
    scores = {(await s.GetInterview(request, metadata=auth(key))).analysis.quality_score
              for s in stubs}  # fmt: skip
    assert len(scores) == 1 and 0.0123 not in scores

    # Another analysis is stored behind the replicas' backs: their caches
    # (600 s) still answer the old one...
    async with engine.begin() as connection:
        await connection.execute(
            update(AnalysisRow)
            .where(AnalysisRow.interview_id == started.interview_id)
            .values(quality_score=0.0123)
        )
    for stub in stubs:
        got = await stub.GetInterview(request, metadata=auth(key))
        assert got.analysis.quality_score in scores
    # ...until the change is announced, as koji-admin's reanalyze does.
    changed = (AnalysisStatusChanged(AnalysisStatus.COMPLETED),)
    await announce(engine, [(started.interview_id, precise_now(), changed)])

    async def everywhere() -> bool:
        got = [await s.GetInterview(request, metadata=auth(key)) for s in stubs]
        return all(abs(g.analysis.quality_score - 0.0123) < 1e-9 for g in got)

    await wait_until(everywhere, seconds=2, what="every replica to read it again")


async def test_koji_admin_reanalyze_announces_on_postgresql(
    replicas: Replicas, postgres_url: str, engine: AsyncEngine
) -> None:
    _project, key, study = seed_project_with_cli(postgres_url, ALL)
    async with grpc.aio.insecure_channel(replicas.address(0)) as channel:
        stub = pb_grpc.InterviewServiceStub(channel)
        started = await stub.StartInterview(
            pb.StartInterviewRequest(study_id=study), metadata=auth(key)
        )
        await stub.SendMessage(
            pb.SendMessageRequest(interview_id=started.interview_id, content=ENGAGED[0]),
            metadata=auth(key, started.session_token),
        )
        await stub.CompleteInterview(
            pb.CompleteInterviewRequest(interview_id=started.interview_id),
            metadata=auth(key, started.session_token),
        )
    analysed = (
        select(func.count())
        .select_from(AnalysisRow)
        .where(AnalysisRow.interview_id == started.interview_id)
    )

    async def stored() -> bool:
        return await count(engine, analysed) == 1

    await wait_until(stored, seconds=90, what="the analysis")
    database = PostgresDatabase(postgres_url)
    listener = await asyncpg.connect(**database.connect_args())
    heard: asyncio.Queue[str] = asyncio.Queue()
    try:
        await listener.add_listener(CHANNEL, lambda *args: heard.put_nowait(args[3]))
        await admin_async(postgres_url, "interviews", "reanalyze", started.interview_id)
        payload = json.loads(await asyncio.wait_for(heard.get(), 10))
    finally:
        await listener.close()
        await database.dispose()
    assert payload["i"] == started.interview_id
    assert [c["t"] for c in payload["c"]] == [
        "quality_scored",
        "analysis_status",
        "analysis_ready",
    ]


async def test_a_page_token_from_one_replica_is_good_on_another(
    stubs: list[pb_grpc.InterviewServiceStub], postgres_url: str
) -> None:
    _project, key, study = seed_project_with_cli(postgres_url, ALL)
    started = {
        (await stubs[i % 3].StartInterview(
            pb.StartInterviewRequest(study_id=study), metadata=auth(key)
        )).interview_id
        for i in range(5)
    }  # fmt: skip
    listed: list[str] = []
    token = ""
    for page in range(3):
        answer = await stubs[page % 3].ListInterviews(
            pb.ListInterviewsRequest(study_id=study, page_size=2, page_token=token),
            metadata=auth(key),
        )
        listed += [i.interview_id for i in answer.interviews]
        token = answer.next_page_token
    assert token == ""
    assert sorted(listed) == sorted(started)
