"""The documented error codes: how each is answered (gRPC code, REST status).

The one table of them. `tools/gen.py` writes the copies others need from it
(envoy/rest_shaping.lua's CODE_FOR_STATUS, the OpenAPI document's codes, the
client's constants; `make check-gen` catches a stale one), and tests check
the rest against it (the domain's errors, the proto comments, the REST edge's
tests). Kept free of the server's other imports so the generator can load it.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.rpc import code_pb2


@dataclass(frozen=True, slots=True)
class Answer:
    """How one documented error code is answered: its gRPC code, and its REST
    status. Envoy's transcoder derives a status from the gRPC code, which is
    wrong for some documented codes (413, and 409 for interview_completed), so
    the server states it; envoy/rest_shaping.lua applies it and builds the
    documented {"error", "message"} envelope (its own CODE_FOR_STATUS, for the
    errors Envoy makes itself, agrees with this table: tests/test_errors.py)."""

    grpc_code: int
    http_status: int


ANSWERS: dict[str, Answer] = {
    "invalid_request": Answer(code_pb2.INVALID_ARGUMENT, 400),
    "payload_too_large": Answer(code_pb2.INVALID_ARGUMENT, 413),
    "unauthorized": Answer(code_pb2.UNAUTHENTICATED, 401),
    "invalid_session_token": Answer(code_pb2.UNAUTHENTICATED, 401),
    "forbidden": Answer(code_pb2.PERMISSION_DENIED, 403),
    "not_found": Answer(code_pb2.NOT_FOUND, 404),
    "already_completed": Answer(code_pb2.ALREADY_EXISTS, 409),
    "interview_completed": Answer(code_pb2.FAILED_PRECONDITION, 409),
    "study_not_draft": Answer(code_pb2.FAILED_PRECONDITION, 409),
    "study_not_active": Answer(code_pb2.FAILED_PRECONDITION, 409),
    "link_unavailable": Answer(code_pb2.FAILED_PRECONDITION, 410),
    "rate_limited": Answer(code_pb2.RESOURCE_EXHAUSTED, 429),
    "internal": Answer(code_pb2.INTERNAL, 500),
    "unavailable": Answer(code_pb2.UNAVAILABLE, 503),
}


def code_for_status() -> dict[int, str]:
    """The code a REST status stands for when nothing names one (the first
    code answered with that status)."""
    found: dict[int, str] = {}
    for code, answer in ANSWERS.items():
        found.setdefault(answer.http_status, code)
    return found
