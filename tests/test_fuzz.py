"""Property-based: arbitrary input gets a documented answer, never INTERNAL/UNKNOWN,
and the database stays intact."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from tests.conftest import ON_POSTGRES, Tenant, ThreadedServer, make_tenant
from tests.helpers import auth, details_of, query, rich_status

DOCUMENTED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
}
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
json_scalars = st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True) | text
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=30,
)
objects = st.dictionaries(text, json_values, max_size=6)
id_like = st.one_of(text, st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()))


class Session:
    def __init__(self, threaded: ThreadedServer) -> None:
        self.tenant: Tenant = threaded.run(make_tenant(threaded.database_url))
        self.channel = grpc.insecure_channel(f"127.0.0.1:{threaded.running.port}")
        self.stub = pb_grpc.InterviewServiceStub(self.channel)

    def start(self) -> pb.StartInterviewResponse:
        return self.stub.StartInterview(
            pb.StartInterviewRequest(study_id=self.tenant.study_id),
            metadata=auth(self.tenant.api_key),
        )


@pytest.fixture(scope="module")
def session(threaded_server: ThreadedServer) -> Iterator[Session]:
    fuzz_session = Session(threaded_server)
    yield fuzz_session
    fuzz_session.channel.close()
    check_database(threaded_server.database_url)


def check_database(database_url: str) -> None:
    if not ON_POSTGRES:  # PostgreSQL checks its pages and foreign keys itself
        assert query(database_url, "PRAGMA integrity_check") == [("ok",)]
        assert query(database_url, "PRAGMA foreign_key_check") == []
    mismatched = query(
        database_url,
        """SELECT i.id FROM interviews i
           WHERE i.respondent_messages + i.interviewer_messages
                 != (SELECT count(*) FROM messages m WHERE m.interview_id = i.id)""",
    )
    assert mismatched == []
    orphan_jobs = query(
        database_url,
        "SELECT count(*) FROM interviews WHERE status = 'completed' AND id NOT IN "
        "(SELECT interview_id FROM jobs)",
    )
    assert orphan_jobs == [(0,)]


def outcome(call: Any) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as error:
        code = error.code()  # type: ignore[attr-defined]
        assert code in DOCUMENTED, (code, error.details())  # type: ignore[attr-defined]
        infos = details_of(rich_status(error))
        assert infos["ErrorInfo"].reason
        return code  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def to_struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


@FUZZ
@given(interview_id=id_like, content=text)
def test_send_message_with_arbitrary_ids_and_content(
    session: Session, interview_id: str, content: str
) -> None:
    started = session.start()
    outcome(
        lambda: session.stub.SendMessage(
            pb.SendMessageRequest(interview_id=interview_id, content=content),
            metadata=auth(session.tenant.api_key, started.session_token),
        )
    )
    code = outcome(
        lambda: session.stub.SendMessage(
            pb.SendMessageRequest(interview_id=started.interview_id, content=content),
            metadata=auth(session.tenant.api_key, started.session_token),
        )
    )
    assert (code == grpc.StatusCode.OK) == (bool(content.strip()) and "\x00" not in content)


@FUZZ
@given(reason=st.integers(-(2**31), 2**31 - 1), feedback=st.none() | objects)
def test_complete_with_arbitrary_reason_and_feedback(
    session: Session, reason: int, feedback: dict[str, Any] | None
) -> None:
    started = session.start()
    request = pb.CompleteInterviewRequest(interview_id=started.interview_id, reason=reason)
    if feedback is not None:
        request.feedback.CopyFrom(to_struct(feedback))
    metadata = auth(session.tenant.api_key, started.session_token)
    code = outcome(lambda: session.stub.CompleteInterview(request, metadata=metadata))
    if code == grpc.StatusCode.OK:
        got = session.stub.GetInterview(
            pb.GetInterviewRequest(interview_id=started.interview_id),
            metadata=auth(session.tenant.api_key),
        )
        assert got.feedback == request.feedback
        assert got.reason == (reason or pb.manual)
    else:
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        got = session.stub.GetInterview(
            pb.GetInterviewRequest(interview_id=started.interview_id),
            metadata=auth(session.tenant.api_key),
        )
        assert got.status == pb.active  # nothing half-written


@FUZZ
@given(
    study_id=id_like,
    external_id=text,
    display_name=text,
    metadata=st.none() | objects,
    mode=st.integers(-5, 5),
    locale=text,
)
def test_start_with_arbitrary_fields(
    session: Session,
    study_id: str,
    external_id: str,
    display_name: str,
    metadata: dict[str, Any] | None,
    mode: int,
    locale: str,
) -> None:
    respondent = pb.Respondent(external_id=external_id, display_name=display_name)
    if metadata is not None:
        respondent.metadata.CopyFrom(to_struct(metadata))
    for study in (study_id, session.tenant.study_id):
        outcome(
            lambda study=study: session.stub.StartInterview(
                pb.StartInterviewRequest(
                    study_id=study, respondent=respondent, mode=mode, locale=locale
                ),
                metadata=auth(session.tenant.api_key),
            )
        )


@FUZZ
@given(
    method=st.sampled_from(["StartInterview", "SendMessage", "CompleteInterview", "GetInterview"]),
    payload=st.binary(max_size=512),
    key=st.one_of(st.none(), text.filter(lambda t: t.isprintable() and t.isascii())),
)
def test_arbitrary_bytes_and_keys(
    session: Session, method: str, payload: bytes, key: str | None
) -> None:
    call = session.channel.unary_unary(
        f"/koji.v1.InterviewService/{method}",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    for metadata in (auth(session.tenant.api_key, "st_live_" + "q" * 40), ()):
        outcome(lambda metadata=metadata: call(payload, metadata=metadata))
    if key is not None:
        outcome(lambda: call(payload, metadata=(("authorization", key),)))
