"""The change relay between servers on one PostgreSQL database
(storage.change_relay, LISTEN/NOTIFY): two real servers in this process,
each with its own relay, and what survives a broken link.

The replicas as separate processes behind Envoy are tests/test_replicas.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from datetime import UTC, datetime

import grpc
import pytest
from sqlalchemy import text

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.app import RunningServer, start_server
from koji_server.config import Settings
from koji_server.domain import change_wire
from koji_server.domain.changes import (
    AnalysisReady,
    AnalysisStatusChanged,
    Completed,
    Heartbeat,
    MessageAdded,
    QualityScored,
)
from koji_server.domain.model import (
    Analysis,
    AnalysisStatus,
    CompletionSummary,
    InterviewStatus,
    Quality,
    Role,
    Stats,
)
from koji_server.storage.change_relay import CHANNEL
from tests.conftest import Tenant, make_guide_tenant
from tests.helpers import auth
from tests.transcripts import ENGAGED

WHEN = datetime(2026, 11, 29, 4, 5, 6, 789000, tzinfo=UTC)


def test_changes_survive_the_trip_as_text() -> None:
    summary = CompletionSummary(
        "6d1f7a8e-0000-4000-8000-000000000001", WHEN, AnalysisStatus.PROCESSING, Stats(61, 3, 4)
    )
    changes = (
        MessageAdded("m-1", Role.RESPONDENT, 6, InterviewStatus.CONCLUDED),
        Completed(summary),
        AnalysisStatusChanged(AnalysisStatus.FAILED),
        QualityScored(0.25, False),
    )
    text_form = change_wire.encode("here", "i-1", WHEN, changes)
    back = change_wire.decode(text_form)
    assert (back.origin, back.interview_id, back.at, back.changes) == ("here", "i-1", WHEN, changes)


def test_an_analysis_travels_as_a_reference() -> None:
    ready = AnalysisReady(Analysis(Quality(4.0, 4.0, 4.0, 4.0, 0.0, ())))
    assert change_wire.decode(change_wire.encode("o", "i", WHEN, (ready,))).changes == (None,)


def test_a_change_that_is_never_published_is_refused() -> None:
    with pytest.raises(change_wire.Unrelayable):
        change_wire.encode("o", "i", WHEN, (Heartbeat(),))


@pytest.fixture
async def pair(
    postgres_url: str, analysis_executor: Executor
) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    settings = Settings(listen="127.0.0.1:0", database_url=postgres_url, pipeline_poll_seconds=0.1)
    first = await start_server(settings, analysis_executor)
    second = await start_server(settings, analysis_executor)
    yield first, second
    await second.stop(0)
    await first.stop(0)


def stub_of(server: RunningServer) -> pb_grpc.InterviewServiceStub:
    return pb_grpc.InterviewServiceStub(grpc.aio.insecure_channel(f"127.0.0.1:{server.port}"))


async def next_event(call: grpc.aio.UnaryStreamCall) -> pb.WatchInterviewResponse:
    """The next event but heartbeats (callers bound the wait: heartbeats
    would keep it going)."""
    while True:
        event = await asyncio.wait_for(call.read(), 15)
        assert event is not grpc.aio.EOF, "the stream ended"
        if event.WhichOneof("event") != "heartbeat":
            return event  # type: ignore[no-any-return]


async def test_a_broken_link_is_mended_and_watches_read_the_state_again(
    pair: tuple[RunningServer, RunningServer], postgres_url: str
) -> None:
    watching_server, acting_server = pair
    tenant: Tenant = await make_guide_tenant(postgres_url)
    watching, acting = stub_of(watching_server), stub_of(acting_server)
    started = await acting.StartInterview(
        pb.StartInterviewRequest(study_id=tenant.study_id), metadata=auth(tenant.api_key)
    )
    call = watching.WatchInterview(
        pb.WatchInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert (await next_event(call)).WhichOneof("event") == "state"
    relay = watching_server.relay
    assert relay is not None and relay._connection is not None
    broken_pid = relay._connection.get_server_pid()

    # The database drops the watching server's link, and an answer is sent
    # while it is down: that notification never reaches the watching server.
    async with watching_server.database.read_engine.connect() as connection:
        await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": broken_pid})
    for _ in range(5000):  # until the relay notices (within milliseconds)
        if relay._connection is None or relay._connection.get_server_pid() != broken_pid:
            break
        await asyncio.sleep(0.001)
    await acting.SendMessage(
        pb.SendMessageRequest(interview_id=started.interview_id, content=ENGAGED[0]),
        metadata=auth(tenant.api_key, started.session_token),
    )

    # Once mended, the watch is told the state again, and so learns of the
    # answer (3 messages) however the two raced.
    kinds, known = [], 1
    async with asyncio.timeout(10):  # (heartbeats would keep it waiting)
        while "state" not in kinds or known < 3:
            event = await next_event(call)
            kinds.append(event.WhichOneof("event"))
            if kinds[-1] == "state":
                known = event.state.stats.total_messages
            else:
                assert kinds[-1] == "message_added", kinds
                known = max(known, event.message_added.messages_count)
    assert known == 3
    assert relay._connection is not None
    assert relay._connection.get_server_pid() != broken_pid

    # Something that is not a change is ignored, a change too large for a
    # notification is dropped (not retried forever); later changes still come.
    async with acting_server.database.read_engine.connect() as connection:
        await connection.execute(
            text("SELECT pg_notify(:channel, 'not a change')"), {"channel": CHANNEL}
        )
        await connection.commit()
    oversized = MessageAdded("x" * 9000, Role.RESPONDENT, 99, InterviewStatus.ACTIVE)
    acting_server.changes.publish(started.interview_id, WHEN, oversized)
    await acting.CompleteInterview(
        pb.CompleteInterviewRequest(interview_id=started.interview_id),
        metadata=auth(tenant.api_key, started.session_token),
    )
    async with asyncio.timeout(10):
        completed = await next_event(call)
    assert completed.WhichOneof("event") == "completed"
    assert completed.completed.interview_id == started.interview_id
    call.cancel()
