"""Every documented failure over gRPC: code, single ErrorInfo, BadRequest, RetryInfo."""

from __future__ import annotations

import re
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2

from koji.v1 import interview_service_pb2 as pb
from koji_server.api.errors import ANSWERS
from koji_server.domain.model import Permission
from koji_server.domain.validation import MAX_CONTENT_CHARS, MAX_JSON_BYTES
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from tests.conftest import AUTH_CACHE_SECONDS, add_key, make_tenant
from tests.helpers import assert_error, auth, complete, metadata_dict, send, start

MISSING_ID = "f8e7d6c5-b4a3-2109-8765-432109876543"
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


async def expect_error(awaitable, code, reason, fields=None):  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await awaitable
    return assert_error(caught.value, code, reason, fields)


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        (("authorization", "Bearer"),),
        (("authorization", "koji_sk_" + "a" * 40),),  # no scheme
        (("authorization", "Basic koji_sk_" + "a" * 40),),
        (("authorization", "Bearer koji_sk_" + "a" * 40),),  # well-formed, unknown
        (("authorization", "Bearer sk_" + "a" * 40),),
        (("authorization", "Bearer koji_sk_short"),),
    ],
    ids=["missing", "empty", "no-scheme", "basic", "unknown", "bad-prefix", "short"],
)
async def test_bad_api_key_is_unauthorized_on_every_rpc(stub, tenant, metadata) -> None:
    calls = [
        stub.StartInterview(pb.StartInterviewRequest(study_id=tenant.study_id), metadata=metadata),
        stub.SendMessage(
            pb.SendMessageRequest(interview_id=MISSING_ID, content="x"), metadata=metadata
        ),
        stub.CompleteInterview(
            pb.CompleteInterviewRequest(interview_id=MISSING_ID), metadata=metadata
        ),
        stub.GetInterview(pb.GetInterviewRequest(interview_id=MISSING_ID), metadata=metadata),
    ]
    for call in calls:
        await expect_error(call, UNAUTHENTICATED, "UNAUTHORIZED")


async def test_bearer_scheme_is_case_insensitive(stub, tenant) -> None:
    started = await stub.StartInterview(
        pb.StartInterviewRequest(study_id=tenant.study_id),
        metadata=(("authorization", f"bearer {tenant.api_key}"),),
    )
    assert started.interview_id


async def test_revoked_key_is_unauthorized(stub, tenant, database_url, ticks) -> None:
    from koji_server.operations.projects import AdminService
    from koji_server.storage.backends import open_database
    from koji_server.storage.unit_of_work import UnitOfWorkFactory

    started = await start(stub, tenant)
    database = open_database(database_url)
    await AdminService(UnitOfWorkFactory(database)).revoke_key(tenant.key_id)
    await database.dispose()
    # Authenticated keys are cached briefly: the revoked key still works within
    # that time, and no longer after it.
    read = pb.GetInterviewRequest(interview_id=started.interview_id)
    assert (await stub.GetInterview(read, metadata=auth(tenant.api_key))).interview_id
    ticks.advance(AUTH_CACHE_SECONDS + 0.1)
    await expect_error(
        stub.GetInterview(
            pb.GetInterviewRequest(interview_id=started.interview_id),
            metadata=auth(tenant.api_key),
        ),
        UNAUTHENTICATED,
        "UNAUTHORIZED",
    )


@pytest.mark.parametrize(
    ("missing", "rpc"),
    [
        (Permission.START, "start"),
        (Permission.CHAT, "send"),
        (Permission.COMPLETE, "complete"),
        (Permission.READ, "get"),
    ],
)
async def test_key_without_the_permission_is_forbidden(
    stub, tenant, database_url, missing, rpc
) -> None:
    started = await start(stub, tenant)
    limited = await add_key(database_url, tenant.project_id, frozenset(Permission) - {missing})
    token = started.session_token
    calls = {
        "start": lambda: stub.StartInterview(
            pb.StartInterviewRequest(study_id=tenant.study_id), metadata=auth(limited)
        ),
        "send": lambda: stub.SendMessage(
            pb.SendMessageRequest(interview_id=started.interview_id, content="hello there"),
            metadata=auth(limited, token),
        ),
        "complete": lambda: stub.CompleteInterview(
            pb.CompleteInterviewRequest(interview_id=started.interview_id),
            metadata=auth(limited, token),
        ),
        "get": lambda: stub.GetInterview(
            pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(limited)
        ),
    }
    details = await expect_error(calls[rpc](), grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")
    assert details.keys() == {"ErrorInfo"}


@pytest.mark.parametrize("token", [None, "", "st_live_" + "x" * 43, "st_test_" + "x" * 43])
async def test_missing_or_wrong_session_token(stub, tenant, token) -> None:
    started = await start(stub, tenant)
    await expect_error(
        stub.SendMessage(
            pb.SendMessageRequest(interview_id=started.interview_id, content="hello"),
            metadata=auth(tenant.api_key, token),
        ),
        UNAUTHENTICATED,
        "INVALID_SESSION_TOKEN",
    )
    await expect_error(
        stub.CompleteInterview(
            pb.CompleteInterviewRequest(interview_id=started.interview_id),
            metadata=auth(tenant.api_key, token),
        ),
        UNAUTHENTICATED,
        "INVALID_SESSION_TOKEN",
    )
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert got.status == pb.active
    assert got.stats.total_messages == 1


async def test_session_token_of_another_interview_is_refused(stub, tenant) -> None:
    first = await start(stub, tenant)
    second = await start(stub, tenant)
    await expect_error(
        stub.CompleteInterview(
            pb.CompleteInterviewRequest(interview_id=second.interview_id),
            metadata=auth(tenant.api_key, first.session_token),
        ),
        UNAUTHENTICATED,
        "INVALID_SESSION_TOKEN",
    )


async def test_another_projects_interview_and_study_are_not_found(
    stub, tenant, database_url
) -> None:
    other = await make_tenant(database_url)
    started = await start(stub, tenant)
    await expect_error(
        stub.GetInterview(
            pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(other.api_key)
        ),
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND",
    )
    await expect_error(
        stub.CompleteInterview(
            pb.CompleteInterviewRequest(interview_id=started.interview_id),
            metadata=auth(other.api_key, started.session_token),
        ),
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND",
    )
    await expect_error(
        stub.StartInterview(
            pb.StartInterviewRequest(study_id=tenant.study_id), metadata=auth(other.api_key)
        ),
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND",
    )


async def test_unknown_interview_is_not_found(stub, tenant) -> None:
    for call in (
        stub.GetInterview(
            pb.GetInterviewRequest(interview_id=MISSING_ID), metadata=auth(tenant.api_key)
        ),
        stub.SendMessage(
            pb.SendMessageRequest(interview_id=MISSING_ID, content="hi"),
            metadata=auth(tenant.api_key, "st_live_" + "x" * 43),
        ),
        stub.CompleteInterview(
            pb.CompleteInterviewRequest(interview_id=MISSING_ID),
            metadata=auth(tenant.api_key, "st_live_" + "x" * 43),
        ),
    ):
        await expect_error(call, grpc.StatusCode.NOT_FOUND, "NOT_FOUND")


@pytest.mark.parametrize(
    "bad_id", ["", "abc", "f8e7d6c5b4a321098765432109876543", "../etc/passwd", MISSING_ID + "0"]
)
async def test_malformed_ids_are_invalid_with_a_field_violation(stub, tenant, bad_id) -> None:
    token = "st_live_" + "x" * 43
    await expect_error(
        stub.GetInterview(
            pb.GetInterviewRequest(interview_id=bad_id), metadata=auth(tenant.api_key)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_REQUEST",
        {"interview_id"},
    )
    await expect_error(
        stub.SendMessage(
            pb.SendMessageRequest(interview_id=bad_id, content="hi"),
            metadata=auth(tenant.api_key, token),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_REQUEST",
        {"interview_id"},
    )
    await expect_error(
        stub.StartInterview(
            pb.StartInterviewRequest(study_id=bad_id), metadata=auth(tenant.api_key)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_REQUEST",
        {"study_id"},
    )


@pytest.mark.parametrize("content", ["", "   ", "\n\t"])
async def test_empty_message_is_invalid(stub, tenant, content) -> None:
    started = await start(stub, tenant)
    await expect_error(
        send(stub, tenant, started, content),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_REQUEST",
        {"content"},
    )


async def test_a_nul_character_is_invalid_in_stored_text(stub, tenant) -> None:
    # PostgreSQL's text cannot hold U+0000 (SQLite's can): refused on every
    # engine alike, before anything is written. In JSON (metadata, feedback)
    # it is stored escaped and comes back as sent.
    for respondent, field in (
        (pb.Respondent(external_id="ext\x00"), "respondent.external_id"),
        (pb.Respondent(display_name="Ana\x00Lima"), "respondent.display_name"),
    ):
        await expect_error(
            stub.StartInterview(
                pb.StartInterviewRequest(study_id=tenant.study_id, respondent=respondent),
                metadata=auth(tenant.api_key),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_REQUEST",
            {field},
        )
    metadata = struct_pb2.Struct()
    metadata.update({"note\x00": "a\x00b"})
    started = await stub.StartInterview(
        pb.StartInterviewRequest(
            study_id=tenant.study_id, respondent=pb.Respondent(metadata=metadata)
        ),
        metadata=auth(tenant.api_key),
    )
    await expect_error(
        send(stub, tenant, started, "hello\x00there"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_REQUEST",
        {"content"},
    )
    feedback = struct_pb2.Struct()
    feedback.update({"comment": "fine\x00"})
    await complete(stub, tenant, started, feedback=feedback)
    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(tenant.api_key)
    )
    assert got.respondent.metadata == metadata
    assert got.feedback == feedback
    assert len(got.transcript) == 1  # the opening question only


async def test_oversize_content_is_payload_too_large(stub, tenant) -> None:
    started = await start(stub, tenant)
    accepted = await send(stub, tenant, started, "y" * MAX_CONTENT_CHARS)
    assert accepted.messages_count == 3
    await expect_error(
        send(stub, tenant, started, "y" * (MAX_CONTENT_CHARS + 1)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "PAYLOAD_TOO_LARGE",
        {"content"},
    )


async def test_oversize_feedback_is_payload_too_large_and_leaves_the_interview_open(
    stub, tenant
) -> None:
    started = await start(stub, tenant)
    feedback = struct_pb2.Struct()
    feedback.update({"comment": "z" * MAX_JSON_BYTES})
    await expect_error(
        complete(stub, tenant, started, feedback=feedback),
        grpc.StatusCode.INVALID_ARGUMENT,
        "PAYLOAD_TOO_LARGE",
        {"feedback"},
    )
    done = await complete(stub, tenant, started)
    assert done.status == pb.completed


async def test_non_finite_feedback_numbers_are_invalid(stub, tenant) -> None:
    started = await start(stub, tenant)
    feedback = struct_pb2.Struct()
    feedback.update({"rating": float("nan")})
    await expect_error(
        complete(stub, tenant, started, feedback=feedback),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_REQUEST",
        {"feedback"},
    )


async def test_unknown_enum_numbers_are_invalid(stub, tenant) -> None:
    started = await start(stub, tenant)
    await expect_error(
        complete(stub, tenant, started, reason=99),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_REQUEST",
        {"reason"},
    )
    await expect_error(
        stub.StartInterview(
            pb.StartInterviewRequest(study_id=tenant.study_id, mode=7),
            metadata=auth(tenant.api_key),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_REQUEST",
        {"mode"},
    )


@pytest.mark.parametrize(
    ("respondent", "locale", "field"),
    [
        (pb.Respondent(external_id="e" * 201), "", "respondent.external_id"),
        (pb.Respondent(display_name="n" * 201), "", "respondent.display_name"),
        (None, "not a locale!", "locale"),
    ],
)
async def test_invalid_start_fields(stub, tenant, respondent, locale, field) -> None:
    await expect_error(
        stub.StartInterview(
            pb.StartInterviewRequest(
                study_id=tenant.study_id, respondent=respondent, locale=locale
            ),
            metadata=auth(tenant.api_key),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_REQUEST",
        {field},
    )


async def test_undecodable_request_bytes_are_invalid_not_internal(channel, tenant) -> None:
    raw = channel.unary_unary(
        "/koji.v1.InterviewService/GetInterview",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    await expect_error(
        raw(b"\xff\xff\xff\xff", metadata=auth(tenant.api_key)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_REQUEST",
        {"request"},
    )


async def test_grpc_errors_carry_rate_limits_in_trailers_and_no_rest_hints(stub, tenant) -> None:
    call = stub.GetInterview(
        pb.GetInterviewRequest(interview_id=MISSING_ID), metadata=auth(tenant.api_key)
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await call
    initial = metadata_dict(await call.initial_metadata())
    assert not [name for name in initial if name.startswith(("x-koji-", "x-ratelimit-"))]
    trailing = metadata_dict(await call.trailing_metadata())
    assert int(trailing["x-ratelimit-remaining"]) == int(trailing["x-ratelimit-limit"]) - 1
    assert "x-koji-error" not in trailing


async def test_rate_limit_exhausted_with_retry_info_and_metadata(
    stub, tenant, database_url
) -> None:
    limited = await add_key(database_url, tenant.project_id, frozenset(Permission), rate_limit=3)
    request = pb.GetInterviewRequest(interview_id=MISSING_ID)
    remaining = []
    for _ in range(3):
        call = stub.GetInterview(request, metadata=auth(limited))
        with pytest.raises(grpc.aio.AioRpcError):
            await call
        headers = metadata_dict(await call.trailing_metadata())
        assert headers["x-ratelimit-limit"] == "3"
        remaining.append(int(headers["x-ratelimit-remaining"]))
    assert remaining == [2, 1, 0]
    call = stub.GetInterview(request, metadata=auth(limited))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    details = assert_error(caught.value, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
    delay = details["RetryInfo"].retry_delay.seconds
    assert 1 <= delay <= 60
    headers = metadata_dict(await call.trailing_metadata())
    assert headers["x-ratelimit-remaining"] == "0"
    assert headers["retry-after"] == str(delay)
    assert abs(int(headers["x-ratelimit-reset"]) - (time.time() + delay)) <= 2
    # Other keys are unaffected.
    other = await stub.StartInterview(
        pb.StartInterviewRequest(study_id=tenant.study_id), metadata=auth(tenant.api_key)
    )
    assert other.interview_id


async def test_internal_errors_never_leak_details(stub, tenant, server, database_url) -> None:
    # Break the database under the running server: every RPC becomes INTERNAL
    # with the generic message and the documented ErrorInfo, nothing else.
    # CASCADE on PostgreSQL: search_entries refers to messages (migration 0004).
    cascade = " CASCADE" if database_url.startswith("postgres") else ""
    await UnitOfWorkFactory(server.database).write(
        lambda uow: uow.session.connection().exec_driver_sql("DROP TABLE messages" + cascade)
    )
    started_error = await expect_error(start(stub, tenant), grpc.StatusCode.INTERNAL, "INTERNAL")
    assert started_error.keys() == {"ErrorInfo"}


async def test_a_repeated_unknown_key_is_refused_without_a_database_read_each_time(
    stub, tenant, server, ticks
) -> None:
    from sqlalchemy import event

    key_reads: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "FROM api_keys" in statement:
            key_reads.append(statement)

    engine = server.database.read_engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        unknown = auth("koji_sk_" + "u" * 40)
        request = pb.GetInterviewRequest(interview_id="f8e7d6c5-b4a3-2109-8765-432109876543")
        for _ in range(30):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.GetInterview(request, metadata=unknown)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert len(key_reads) == 1
        # Briefly: once the refusal expires, the key is looked up again.
        ticks.advance(AUTH_CACHE_SECONDS + 0.1)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetInterview(request, metadata=unknown)
        assert len(key_reads) == 2
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _lua_code_for_status() -> dict[int, str]:
    lua = (Path(__file__).parents[1] / "envoy" / "rest_shaping.lua").read_text()
    table = re.search(r"local CODE_FOR_STATUS = \{(.*?)\n\}", lua, re.DOTALL)
    assert table is not None, "CODE_FOR_STATUS not found in envoy/rest_shaping.lua"
    pairs = re.findall(r'\["(\d{3})"\]\s*=\s*"([a-z_]+)"', table.group(1))
    return {int(status): code for status, code in pairs}


def test_the_lua_filter_names_each_rest_status_as_the_server_does() -> None:
    """Envoy's own errors (bad JSON, unknown path, upstream down) get their
    code from the Lua table: every code it names answers with that status
    here, and every status the server answers with has a code there."""
    lua = _lua_code_for_status()
    assert lua, "CODE_FOR_STATUS is empty"
    for status, code in lua.items():
        assert ANSWERS[code].http_status == status, (status, code)
    assert {answer.http_status for answer in ANSWERS.values()} == set(lua)
