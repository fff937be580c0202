"""StreamMessage and WatchInterview over real grpc.aio streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import Executor

import grpc
import pytest

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.app import RunningServer, start_server
from koji_server.config import Settings
from koji_server.domain.changes import MessageAdded
from koji_server.domain.model import InterviewStatus, Permission, Role
from koji_server.support.clock import precise_now
from tests.conftest import ServerFactory, Tenant, add_key, make_tenant
from tests.helpers import assert_error, auth, metadata_dict, send, start
from tests.transcripts import ENGAGED

HEARTBEAT_SECONDS = 0.2
STREAMS_PER_KEY = 3
OTHER_PROJECT_ID = "f8e7d6c5-b4a3-2109-8765-432109876543"


@pytest.fixture
async def live(database_url: str, make_server: ServerFactory) -> RunningServer:
    """A server with quick heartbeats and a small per-key stream cap."""
    return await make_server(
        database_url,
        stream_heartbeat_seconds=HEARTBEAT_SECONDS,
        watch_streams_per_key=STREAMS_PER_KEY,
    )


@pytest.fixture
async def live_stub(live: RunningServer) -> AsyncIterator[pb_grpc.InterviewServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{live.port}") as channel:
        yield pb_grpc.InterviewServiceStub(channel)


@pytest.fixture
async def live_tenant(live: RunningServer, database_url: str) -> Tenant:
    return await make_tenant(database_url)


async def complete(
    stub: pb_grpc.InterviewServiceStub, tenant: Tenant, started: pb.StartInterviewResponse
) -> pb.CompleteInterviewResponse:
    return await stub.CompleteInterview(  # type: ignore[no-any-return]
        pb.CompleteInterviewRequest(interview_id=started.interview_id, reason=pb.natural),
        metadata=auth(tenant.api_key, started.session_token),
    )


def watch(
    stub: pb_grpc.InterviewServiceStub, tenant: Tenant, interview_id: str, key: str | None = None
) -> grpc.aio.UnaryStreamCall:
    return stub.WatchInterview(
        pb.WatchInterviewRequest(interview_id=interview_id), metadata=auth(key or tenant.api_key)
    )


async def next_event(call: grpc.aio.UnaryStreamCall, skip_heartbeats: bool = True) -> pb.Message:
    while True:
        event = await asyncio.wait_for(call.read(), 30)
        assert event is not grpc.aio.EOF, "the stream ended"
        if not (skip_heartbeats and event.WhichOneof("event") == "heartbeat"):
            return event


async def rest_of(call: grpc.aio.UnaryStreamCall) -> list[pb.WatchInterviewResponse]:
    """Every remaining event but heartbeats, up to the stream's end."""
    events = []
    while (event := await asyncio.wait_for(call.read(), 30)) is not grpc.aio.EOF:
        if event.WhichOneof("event") != "heartbeat":
            events.append(event)
    assert await call.code() == grpc.StatusCode.OK
    return events


# StreamMessage


async def test_stream_message_sends_pieces_then_the_exchange(stub, tenant: Tenant) -> None:
    started = await start(stub, tenant)
    call = stub.StreamMessage(
        pb.StreamMessageRequest(interview_id=started.interview_id, content=ENGAGED[0]),
        metadata=auth(tenant.api_key, started.session_token),
    )
    events = [event async for event in call]
    assert await call.code() == grpc.StatusCode.OK
    *deltas, last = events
    assert len(deltas) >= 2  # the reply (the guide's next question) comes in pieces
    assert {e.WhichOneof("event") for e in deltas} == {"delta"}
    assert last.WhichOneof("event") == "reply"
    reply = last.reply
    assert "".join(e.delta.content for e in deltas) == reply.interviewer_response.content
    assert reply.interviewer_response.content == "What was the hardest part of getting started?"
    assert {e.delta.message_id for e in deltas} == {reply.interviewer_response.message_id}
    assert reply.interviewer_response.role == pb.interviewer
    assert reply.interview_status == pb.active
    assert reply.messages_count == 3
    assert reply.message_id and reply.message_id != reply.interviewer_response.message_id
    trailers = metadata_dict(await call.trailing_metadata())
    assert int(trailers["x-ratelimit-remaining"]) < int(trailers["x-ratelimit-limit"])
    # Both messages are stored, as SendMessage stores them.
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert [(m.message_id, m.content) for m in got.transcript[1:]] == [
        (reply.message_id, ENGAGED[0]),
        (reply.interviewer_response.message_id, reply.interviewer_response.content),
    ]


async def test_stream_message_errors_come_before_any_event(
    stub, tenant: Tenant, database_url: str
) -> None:
    started = await start(stub, tenant)

    async def refused(request: pb.StreamMessageRequest, metadata) -> grpc.aio.AioRpcError:  # type: ignore[no-untyped-def]
        call = stub.StreamMessage(request, metadata=metadata)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
        return caught.value

    request = pb.StreamMessageRequest(interview_id=started.interview_id, content="Hello")
    error = await refused(request, auth(tenant.api_key, "st_live_" + "x" * 43))
    assert_error(error, grpc.StatusCode.UNAUTHENTICATED, "INVALID_SESSION_TOKEN")
    reader = await add_key(database_url, tenant.project_id, frozenset({Permission.READ}))
    error = await refused(request, auth(reader, started.session_token))
    assert_error(error, grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")
    blank = pb.StreamMessageRequest(interview_id=started.interview_id, content=" ")
    error = await refused(blank, auth(tenant.api_key, started.session_token))
    assert_error(error, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", {"content"})
    await complete(stub, tenant, started)
    error = await refused(request, auth(tenant.api_key, started.session_token))
    assert_error(error, grpc.StatusCode.FAILED_PRECONDITION, "INTERVIEW_COMPLETED")
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert len(got.transcript) == 1  # nothing refused was stored


async def test_a_client_that_leaves_mid_reply_loses_nothing(stub, tenant: Tenant) -> None:
    started = await start(stub, tenant)
    call = stub.StreamMessage(
        pb.StreamMessageRequest(interview_id=started.interview_id, content=ENGAGED[0]),
        metadata=auth(tenant.api_key, started.session_token),
    )
    first = await call.read()
    assert first.WhichOneof("event") == "delta"
    call.cancel()
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    said, reply = got.transcript[1:]
    assert said.content == ENGAGED[0]
    assert reply.message_id == first.delta.message_id
    assert reply.content == "What was the hardest part of getting started?"
    assert got.stats.total_messages == 3


# WatchInterview


async def test_watch_follows_an_interview_through_completion_and_analysis(
    live_stub, live_tenant: Tenant
) -> None:
    stub, tenant = live_stub, live_tenant
    started = await start(stub, tenant)
    call = watch(stub, tenant, started.interview_id)
    first = await next_event(call)
    assert first.WhichOneof("event") == "state"
    assert first.state.interview_id == started.interview_id
    assert first.state.status == pb.active
    assert not first.state.HasField("analysis_status")
    assert first.state.stats.total_messages == 1

    exchanges = [await send(stub, tenant, started, answer) for answer in ENGAGED]
    done = await complete(stub, tenant, started)
    events = await rest_of(call)
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds == ["message_added"] * 2 * len(ENGAGED) + [
        "completed",
        "analysis_status",
        "quality_scored",
        "analysis_status",
        "analysis_ready",
    ]
    added = [e.message_added for e in events[: 2 * len(ENGAGED)]]
    expected = []
    for exchange in exchanges:
        expected += [
            (exchange.message_id, pb.respondent, exchange.messages_count - 1),
            (exchange.interviewer_response.message_id, pb.interviewer, exchange.messages_count),
        ]
    assert [(m.message_id, m.role, m.messages_count) for m in added] == expected
    assert added[-1].interview_status == exchanges[-1].interview_status
    completed, processing, scored, finished, ready = events[2 * len(ENGAGED) :]
    assert completed.completed == done
    assert processing.analysis_status.status == pb.Analysis.processing
    assert finished.analysis_status.status == pb.Analysis.completed
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert ready.analysis_ready == got.analysis
    assert scored.quality_scored.quality_score == got.analysis.quality_score
    assert scored.quality_scored.counts_toward_usage == got.analysis.counts_toward_usage
    times = [e.event_time.ToDatetime() for e in [first, *events]]
    assert times == sorted(times)


async def test_watch_of_a_finished_interview_sends_its_state_and_ends(
    live_stub, live_tenant: Tenant, live: RunningServer
) -> None:
    stub, tenant = live_stub, live_tenant
    started = await start(stub, tenant)
    await complete(stub, tenant, started)
    # Followed until its analysis is ready (the stream ends by itself)...
    await rest_of(watch(stub, tenant, started.interview_id))
    # ...after which a watch has one event to tell.
    (only,) = await rest_of(watch(stub, tenant, started.interview_id))
    assert only.state.status == pb.completed
    assert only.state.analysis_status == pb.Analysis.completed
    assert live.watcher.open_streams == 0


async def test_an_idle_watch_gets_heartbeats(live_stub, live_tenant: Tenant) -> None:
    started = await start(live_stub, live_tenant)
    call = watch(live_stub, live_tenant, started.interview_id)
    loop = asyncio.get_running_loop()
    assert (await next_event(call)).WhichOneof("event") == "state"
    began = loop.time()
    for _ in range(3):
        event = await next_event(call, skip_heartbeats=False)
        assert event.WhichOneof("event") == "heartbeat"
    # Three heartbeats, each after HEARTBEAT_SECONDS of silence.
    assert loop.time() - began >= 3 * HEARTBEAT_SECONDS * 0.9
    call.cancel()


async def test_watch_errors_come_before_any_event(
    live_stub, live_tenant: Tenant, database_url: str
) -> None:
    stub, tenant = live_stub, live_tenant

    async def refused(interview_id: str, key: str | None = None) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await watch(stub, tenant, interview_id, key).read()
        return caught.value

    error = await refused("nope")
    assert_error(error, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", {"interview_id"})
    assert_error(await refused(OTHER_PROJECT_ID), grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    started = await start(stub, tenant)
    chatter = await add_key(database_url, tenant.project_id, frozenset({Permission.CHAT}))
    error = await refused(started.interview_id, chatter)
    assert_error(error, grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")
    error = await refused(started.interview_id, "koji_sk_" + "x" * 40)
    assert_error(error, grpc.StatusCode.UNAUTHENTICATED, "UNAUTHORIZED")
    # Another project's interview does not exist for this key.
    other = await make_tenant(database_url)
    error = await refused(started.interview_id, other.api_key)
    assert_error(error, grpc.StatusCode.NOT_FOUND, "NOT_FOUND")


async def test_watch_streams_are_capped_per_key(
    live_stub, live_tenant: Tenant, database_url: str
) -> None:
    stub, tenant = live_stub, live_tenant
    started = await start(stub, tenant)
    calls = [watch(stub, tenant, started.interview_id) for _ in range(STREAMS_PER_KEY)]
    for call in calls:
        assert (await next_event(call)).WhichOneof("event") == "state"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await watch(stub, tenant, started.interview_id).read()
    details = assert_error(caught.value, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
    assert details["RetryInfo"].retry_delay.seconds == 1
    assert f"{STREAMS_PER_KEY} open watch streams" in caught.value.details()
    assert metadata_dict(caught.value.trailing_metadata())["retry-after"] == "1"
    # Another key of the project has its own streams.
    other_key = await add_key(database_url, tenant.project_id, frozenset(Permission), 1000)
    other = watch(stub, tenant, started.interview_id, other_key)
    assert (await next_event(other)).WhichOneof("event") == "state"
    # A closed stream frees its slot.
    calls[0].cancel()
    for _ in range(100):
        again = watch(stub, tenant, started.interview_id)
        try:
            assert (await next_event(again)).WhichOneof("event") == "state"
            break
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            await asyncio.sleep(0.02)
    else:
        raise AssertionError("the cancelled stream's slot was never freed")
    for call in [*calls, other, again]:
        call.cancel()


async def test_cancelled_watches_leave_nothing_behind(
    live_stub, live_tenant: Tenant, live: RunningServer, database_url: str
) -> None:
    started = await start(live_stub, live_tenant)
    keys = [
        await add_key(database_url, live_tenant.project_id, frozenset(Permission), 1000)
        for _ in range(10)
    ]
    await asyncio.sleep(0.1)
    tasks_before = len(asyncio.all_tasks())
    calls = [
        watch(live_stub, live_tenant, started.interview_id, key)
        for key in keys
        for _ in range(STREAMS_PER_KEY)
    ]
    for call in calls:
        assert (await next_event(call)).WhichOneof("event") == "state"
    assert live.watcher.open_streams == len(calls)
    assert live.changes.subscriptions == len(calls)
    for call in calls:
        call.cancel()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while live.watcher.open_streams or live.changes.subscriptions:
        assert loop.time() < deadline, (live.watcher.open_streams, live.changes.subscriptions)
        await asyncio.sleep(0.02)
    while len(asyncio.all_tasks()) > tasks_before:
        assert loop.time() < deadline, asyncio.all_tasks()
        await asyncio.sleep(0.02)


async def test_watches_end_with_unavailable_when_the_server_stops(
    database_url: str, analysis_executor: Executor
) -> None:
    settings = Settings(listen="127.0.0.1:0", database_url=database_url)
    running = await start_server(settings, analysis_executor)
    try:
        tenant = await make_tenant(database_url)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.InterviewServiceStub(channel)
            started = await start(stub, tenant)
            call = watch(stub, tenant, started.interview_id)
            assert (await next_event(call)).WhichOneof("event") == "state"
            await running.stop(5)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call.read()
            assert_error(caught.value, grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE")
            assert running.watcher.open_streams == 0
    finally:
        await running.stop(0)


async def test_a_change_seen_in_the_first_state_is_not_told_again(
    live: RunningServer, live_stub, live_tenant: Tenant
) -> None:
    stub, tenant = live_stub, live_tenant
    started = await start(stub, tenant)
    call = watch(stub, tenant, started.interview_id)
    state = (await next_event(call)).state
    assert state.stats.total_messages == 1
    # As if published between the watch's subscription and its first read:
    # the opening message (count 1) is in the state already.
    now = precise_now()
    stale = MessageAdded("opening", Role.INTERVIEWER, 1, InterviewStatus.ACTIVE)
    fresh = MessageAdded("next", Role.RESPONDENT, 2, InterviewStatus.ACTIVE)
    live.changes.publish(started.interview_id, now, stale, fresh, stale)
    event = await next_event(call)
    assert event.message_added.message_id == "next"
    live.changes.publish(started.interview_id, now, fresh)
    assert (await next_event(call, skip_heartbeats=False)).WhichOneof("event") == "heartbeat"
    call.cancel()


async def test_every_watcher_of_an_interview_gets_every_event(
    live_stub, live_tenant: Tenant, database_url: str
) -> None:
    stub, tenant = live_stub, live_tenant
    started = await start(stub, tenant)
    reader = await add_key(database_url, tenant.project_id, frozenset({Permission.READ}))
    calls = [
        watch(stub, tenant, started.interview_id),
        watch(stub, tenant, started.interview_id, reader),
    ]
    for call in calls:
        await next_event(call)
    exchange = await send(stub, tenant, started, ENGAGED[0])
    for call in calls:
        first, second = await next_event(call), await next_event(call)
        assert first.message_added.message_id == exchange.message_id
        assert second.message_added.message_id == exchange.interviewer_response.message_id
        call.cancel()


@pytest.mark.parametrize(
    "setting",
    [
        {"stream_heartbeat_seconds": 0},
        {"stream_heartbeat_seconds": 16},
        {"watch_streams_per_key": 0},
    ],
)
def test_stream_settings_out_of_range_are_refused(setting: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="expected"):
        Settings(**setting)
