"""The error table (koji_server.api.error_table.ANSWERS) is the one list of
documented error codes: the copies tools/gen.py writes are checked by `make
check-gen`; the places written by hand are checked here against it."""

from __future__ import annotations

import re
from pathlib import Path

from google.rpc import code_pb2

from koji_server.api.error_table import ANSWERS
from koji_server.domain import errors as domain_errors

PROTOS = Path(__file__).parents[1] / "proto"
# "INVALID_ARGUMENT (INVALID_REQUEST" in a comment: a gRPC code, then the
# documented reason (upper case) it comes with.
NAMED_PAIR = re.compile(r"\b([A-Z][A-Z_]+) \(([A-Z][A-Z_]+)")


def _comments() -> str:
    """Every proto comment line, joined (a pair may wrap onto the next line)."""
    lines = []
    for proto in sorted(PROTOS.rglob("*.proto")):
        for line in proto.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("//"):
                lines.append(stripped.removeprefix("//").strip())
    return " ".join(lines)


def test_the_domain_raises_exactly_the_documented_codes() -> None:
    codes = {
        cls.code
        for cls in vars(domain_errors).values()
        if isinstance(cls, type) and issubclass(cls, domain_errors.DomainError)
    }
    assert codes == set(ANSWERS)


def test_the_proto_comments_pair_each_reason_with_its_grpc_code() -> None:
    pairs = NAMED_PAIR.findall(_comments())
    assert pairs, "no 'GRPC_CODE (REASON' pair found in the proto comments"
    reasons = {code.upper(): answer for code, answer in ANSWERS.items()}
    grpc_codes = set(code_pb2.Code.keys())
    checked = 0
    for grpc_code, reason in pairs:
        if grpc_code not in grpc_codes:
            continue
        assert reason in reasons, f"{reason} (after {grpc_code}) is not a documented code"
        assert code_pb2.Code.Name(reasons[reason].grpc_code) == grpc_code, (grpc_code, reason)
        checked += 1
    assert checked >= 5


def test_the_proto_comments_name_only_documented_codes() -> None:
    """Every upper-case reason in backticks (`NOT_FOUND`) is in the table."""
    named = set(re.findall(r"`([A-Z][A-Z_]+)`", _comments()))
    grpc_codes = set(code_pb2.Code.keys())
    reasons = {code.upper() for code in ANSWERS}
    assert named - grpc_codes - reasons == set()
