"""The documented lifecycle over gRPC: start, messages, complete, get."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf import struct_pb2

from koji.v1 import interview_service_pb2 as pb
from koji_server.domain import probes
from tests.conftest import QUESTIONS
from tests.helpers import assert_error, auth, complete, metadata_dict, send, start

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
LONG_ANSWER = "I heard about you from a colleague who uses it every week"


async def test_start_returns_id_token_status_time_and_first_question(stub, tenant) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    started = await start(stub, tenant, respondent=pb.Respondent(display_name="Ana"))
    assert UUID.fullmatch(started.interview_id)
    assert re.fullmatch(r"st_live_[A-Za-z0-9_-]{32,}", started.session_token)
    assert started.status == pb.active
    assert before <= started.started_at.ToDatetime(UTC) <= datetime.now(UTC)
    assert started.started_at.nanos == 0
    first = started.initial_message
    assert UUID.fullmatch(first.message_id)
    assert first.role == pb.interviewer
    assert first.content.startswith("Hi Ana!")
    assert first.content.endswith(QUESTIONS[0])


async def test_every_authenticated_response_carries_rate_limit_metadata(stub, tenant) -> None:
    call = stub.StartInterview(
        pb.StartInterviewRequest(study_id=tenant.study_id), metadata=auth(tenant.api_key)
    )
    await call
    # In the trailers, which leave with the status (REST gets them as headers).
    assert "x-ratelimit-limit" not in metadata_dict(await call.initial_metadata())
    headers = metadata_dict(await call.trailing_metadata())
    assert headers["x-ratelimit-limit"] == "100000"
    assert int(headers["x-ratelimit-remaining"]) == 100_000 - 1
    assert int(headers["x-ratelimit-reset"]) > datetime.now(UTC).timestamp()


async def test_every_rpc_sends_rate_limits_in_its_trailers(stub, tenant) -> None:
    started = await start(stub, tenant)
    key = auth(tenant.api_key)
    session = auth(tenant.api_key, started.session_token)
    interview = started.interview_id
    calls = [
        lambda: stub.SendMessage(
            pb.SendMessageRequest(interview_id=interview, content="hi"), metadata=session
        ),
        lambda: stub.GetInterview(pb.GetInterviewRequest(interview_id=interview), metadata=key),
        lambda: stub.GetUsage(pb.GetUsageRequest(), metadata=key),
        lambda: stub.CompleteInterview(
            pb.CompleteInterviewRequest(interview_id=interview), metadata=session
        ),
    ]
    remaining = []
    for make_call in calls:  # one after the other: each counts against the key
        call = make_call()
        await call
        trailers = metadata_dict(await call.trailing_metadata())
        assert trailers["x-ratelimit-limit"] == "100000"
        remaining.append(int(trailers["x-ratelimit-remaining"]))
    assert remaining == [remaining[0] - i for i in range(len(calls))]


async def test_interviewer_follows_the_guide_then_concludes(stub, tenant) -> None:
    started = await start(stub, tenant)
    short = await send(stub, tenant, started, "a friend")
    # A probe that names what was said, not a generic line.
    assert short.interviewer_response.content.startswith("You mentioned a friend — ")
    assert short.interview_status == pb.active
    assert short.messages_count == 3
    # A second short answer to the same question moves on: one follow-up only.
    moved = await send(stub, tenant, started, "really")
    assert moved.interviewer_response.content == QUESTIONS[1]
    # An answer with an example, a consequence and a time is not probed.
    second = await send(
        stub,
        tenant,
        started,
        "Setting up the team workspace took me three hours last week because the invites "
        "bounced, so I had to add everyone by hand.",
    )
    assert second.interviewer_response.content == QUESTIONS[2]
    assert second.interview_status == pb.active
    last = await send(stub, tenant, started, "I would simplify the billing page a lot")
    assert last.interviewer_response.content.startswith(
        "You said you would simplify the billing page a lot — "
    )
    done = await send(stub, tenant, started, "Fewer plans, one price, that's it.")
    assert done.interviewer_response.content == probes.GOODBYE
    assert done.interview_status == pb.concluded
    assert done.messages_count == 11
    # A concluded interview still accepts messages until completed.
    extra = await send(stub, tenant, started, "One more thing: the docs are great")
    assert extra.interviewer_response.content == probes.ACKNOWLEDGEMENT
    assert extra.interview_status == pb.concluded
    assert extra.messages_count == 13
    assert UUID.fullmatch(extra.message_id)
    assert extra.message_id != extra.interviewer_response.message_id
    assert extra.interviewer_response.role == pb.interviewer


async def test_complete_returns_the_documented_summary(stub, tenant) -> None:
    started = await start(stub, tenant)
    await send(stub, tenant, started, LONG_ANSWER)
    await send(stub, tenant, started, "Setting up the team workspace took me hours")
    done = await complete(stub, tenant, started, reason=pb.natural)
    assert done.interview_id == started.interview_id
    assert done.status == pb.completed
    assert done.analysis_status == pb.Analysis.processing
    assert done.completed_at.ToDatetime(UTC) >= started.started_at.ToDatetime(UTC)
    assert done.completed_at.nanos == 0
    expected_duration = done.completed_at.seconds - started.started_at.seconds
    assert done.stats == pb.InterviewStats(
        duration_seconds=expected_duration,
        respondent_messages=2,
        interviewer_messages=3,
        total_messages=5,
    )
    fields = {f.name for f in pb.CompleteInterviewResponse.DESCRIPTOR.fields}
    assert fields == {"interview_id", "status", "completed_at", "analysis_status", "stats"}


async def test_complete_defaults_reason_to_manual_and_stores_no_feedback(stub, tenant) -> None:
    started = await start(stub, tenant)
    await complete(stub, tenant, started)
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert got.reason == pb.manual
    assert not got.HasField("feedback")


@pytest.mark.parametrize("reason", [pb.natural, pb.respondent_left, pb.timeout, pb.manual])
async def test_complete_records_each_documented_reason(stub, tenant, reason) -> None:
    started = await start(stub, tenant)
    await complete(stub, tenant, started, reason=reason)
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert got.reason == reason


async def test_feedback_round_trips(stub, tenant) -> None:
    feedback = struct_pb2.Struct()
    comment = "Great \u2013 très bien \u2713"
    feedback.update({"satisfaction": 4, "comment": comment, "tags": ["fast", None, True]})
    feedback.get_or_create_struct("nested").update({"deep": {"deeper": [1.5, "x"]}})
    started = await start(stub, tenant)
    await complete(stub, tenant, started, reason=pb.natural, feedback=feedback)
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert got.feedback == feedback


async def test_complete_twice_answers_already_completed_with_the_same_data(stub, tenant) -> None:
    started = await start(stub, tenant)
    await send(stub, tenant, started, LONG_ANSWER)
    first = await complete(stub, tenant, started, reason=pb.natural)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await complete(stub, tenant, started, reason=pb.timeout)
    details = assert_error(caught.value, grpc.StatusCode.ALREADY_EXISTS, "ALREADY_COMPLETED")
    again = details["CompleteInterviewResponse"]
    # The same data; analysis_status is reported as it is now.
    assert again.analysis_status in (pb.Analysis.processing, pb.Analysis.completed)
    again.analysis_status = first.analysis_status
    assert again == first
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert got.reason == pb.natural  # the first reason stays


async def test_messages_to_a_completed_interview_are_refused(stub, tenant) -> None:
    started = await start(stub, tenant)
    await complete(stub, tenant, started)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await send(stub, tenant, started, "hello?")
    assert_error(caught.value, grpc.StatusCode.FAILED_PRECONDITION, "INTERVIEW_COMPLETED")
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert got.stats.total_messages == 1


async def test_get_returns_the_whole_interview(stub, tenant) -> None:
    metadata = struct_pb2.Struct()
    metadata.update({"plan": "pro", "seats": 12})
    started = await start(
        stub,
        tenant,
        respondent=pb.Respondent(external_id="cust-42", display_name="Ana", metadata=metadata),
        mode=pb.voice,
        locale="pt-BR",
    )
    reply = await send(stub, tenant, started, LONG_ANSWER)
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert got.interview_id == started.interview_id
    assert got.study_id == tenant.study_id
    assert got.status == pb.active
    assert not got.HasField("analysis_status")
    assert not got.HasField("reason")
    assert got.started_at == started.started_at
    assert not got.HasField("completed_at")
    assert not got.HasField("analysis")
    assert got.respondent.external_id == "cust-42"
    assert got.respondent.display_name == "Ana"
    assert got.respondent.metadata == metadata
    assert got.mode == pb.voice
    assert got.locale == "pt-BR"
    assert [(m.message_id, m.role, m.content) for m in got.transcript] == [
        (started.initial_message.message_id, pb.interviewer, started.initial_message.content),
        (reply.message_id, pb.respondent, LONG_ANSWER),
        (
            reply.interviewer_response.message_id,
            pb.interviewer,
            reply.interviewer_response.content,
        ),
    ]
    # A probe on the first question, naming what was said.
    assert reply.interviewer_response.content.startswith(
        "You said you heard about us from a colleague who uses it every week — "
    )
    assert all(m.created_at.seconds >= started.started_at.seconds for m in got.transcript)
    assert got.stats.respondent_messages == 1
    assert got.stats.interviewer_messages == 2
    assert got.stats.total_messages == 3

    done = await complete(stub, tenant, started, reason=pb.respondent_left)
    after = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert after.status == pb.completed
    assert after.analysis_status in (pb.Analysis.processing, pb.Analysis.completed)
    assert after.completed_at == done.completed_at
    assert after.stats == done.stats


async def test_defaults_for_mode_and_locale(stub, tenant) -> None:
    started = await start(stub, tenant)
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert got.mode == pb.text
    assert got.locale == "en"


async def test_ids_are_accepted_in_upper_case(stub, tenant) -> None:
    started = await start(stub, tenant)
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id.upper()),
        metadata=auth(tenant.api_key),
    )
    assert got.interview_id == started.interview_id
