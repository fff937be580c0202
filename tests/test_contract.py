"""The rules written in the protos (buf.validate) are what the server enforces.

Every rule of every request field is read from the descriptors and tried on
the real server over gRPC: a value that breaks it is refused with the field
named, and a value at its bound is not refused for that field. REST callers
get the same answer in the envelope. docs/contract.md describes the design.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from buf.validate import validate_pb2
from google.protobuf import descriptor_pb2, message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import study_service_pb2 as study_pb
from koji_server.api import contract
from koji_server.domain import validation
from koji_server.domain.errors import InvalidRequest, PayloadTooLarge
from tests.conftest import Rest, Tenant
from tests.helpers import assert_error, auth, rich_status
from tools.envoy_config import DESCRIPTOR

SERVICES = [
    pb.DESCRIPTOR.services_by_name["InterviewService"],
    study_pb.DESCRIPTOR.services_by_name["StudyService"],
]
METHODS = {method.input_type.full_name: method for s in SERVICES for method in s.methods}
SESSION_METHODS = {"SendMessage", "StreamMessage", "CompleteInterview"}
# Partial updates: an empty field is "not given", so the study's rules are
# not the request's (the server checks the study that results; the rules are
# tried on CreateStudy, whose study the server checks with the same rules).
PARTIAL = {"UpdateStudyRequest"}
# A study that passes every rule, with every field that carries one.
VALID_STUDY = study_pb.Study(
    title="A study",
    questions=[
        study_pb.StudyQuestion(
            text="Which do you use?",
            type=study_pb.StudyQuestion.single_choice,
            config=study_pb.QuestionConfig(
                options=[study_pb.QuestionOption(label="A"), study_pb.QuestionOption(label="B")]
            ),
            probing=study_pb.Probing(max_follow_ups=1, instructions="Why?"),
        )
    ],
)
# A value at the bound of a rule, where the rule alone cannot make one (the
# locale's length and its shape are two rules of one field).
VALID_ID = "f8e7d6c5-b4a3-2109-8765-432109876543"
AT_BOUND = {("locale", "string.max_len"): "ena-abcdefgh-abcdefgh-abcdefgh-abcd"}


@dataclass(frozen=True)
class Rule:
    """One rule of one request field: `path` (dotted, from the request) and
    buf.validate's rule id."""

    request: Descriptor
    path: str
    rule_id: str
    value: Any

    def __str__(self) -> str:
        return f"{self.request.name}.{self.path}:{self.rule_id}"


def _rules_of(request: Descriptor, message: Descriptor, prefix: str) -> list[Rule]:
    found = []
    for field in message.fields:
        path = prefix + field.name
        options = field.GetOptions()
        if options.HasExtension(validate_pb2.field):
            rules = options.Extensions[validate_pb2.field]
            if rules.ignore == validate_pb2.IGNORE_ALWAYS and request.name in PARTIAL:
                continue
            if rules.required:
                found.append(Rule(request, path, "required", True))
            kind = rules.WhichOneof("type")
            if kind is not None:
                typed = getattr(rules, kind)
                for rule, value in typed.ListFields():
                    found.append(Rule(request, path, f"{kind}.{rule.name}", value))
        if field.message_type is not None and field.message_type.file.package == "koji.v1":
            # A repeated message's rules are tried on its first item.
            repeated = field.is_repeated
            found += _rules_of(request, field.message_type, path + ("[0]." if repeated else "."))
    return found


RULES = [rule for name, m in METHODS.items() for rule in _rules_of(m.input_type, m.input_type, "")]


def test_the_rules_are_found() -> None:
    names = {str(rule) for rule in RULES}
    assert "SendMessageRequest.content:string.max_len" in names
    assert "StartInterviewRequest.respondent.external_id:string.max_len" in names
    assert "ListInterviewsRequest.page_size:int32.gte" in names
    assert "GetStudyReportRequest.study_id:string.uuid" in names
    assert "CreateStudyRequest.study.questions:repeated.max_items" in names
    assert "CreateStudyRequest.study.questions[0].config.options[0].label:string.min_len" in names
    assert not any(name.startswith("UpdateStudyRequest.study.") for name in names)


def _breaking(rule: Rule) -> Any:
    """A value of the field that breaks `rule`."""
    match rule.rule_id:
        case "required":
            return ""
        case "string.uuid":
            return "f8e7d6c5-b4a3-2109-8765-43210987654Z"
        case "string.min_len":
            return "a" * (rule.value - 1)
        case "string.max_len":
            return "a" * (rule.value + 1)
        case "string.pattern":
            return next(v for v in (" ", "x!", "1") if not re.search(rule.value, v))
        case "string.not_contains":
            return f"a{rule.value}b"
        case "int32.gte":
            return rule.value - 1
        case "int32.lte":
            return rule.value + 1
        case "repeated.min_items":
            return Items(rule.value - 1)
        case "repeated.max_items":
            return Items(rule.value + 1)
        case "enum.defined_only":
            return 99
    raise AssertionError(f"no breaking value for {rule}: add one")


def _at_bound(rule: Rule) -> Any | None:
    """A value at the rule's bound, which it accepts (None: a rule with no bound)."""
    if (rule.path, rule.rule_id) in AT_BOUND:
        return AT_BOUND[(rule.path, rule.rule_id)]
    match rule.rule_id:
        case "string.min_len" | "string.max_len":
            return "a" * rule.value
        case "int32.gte" | "int32.lte":
            return rule.value
        case "repeated.min_items" | "repeated.max_items":
            return Items(rule.value)
    return None


@dataclass(frozen=True)
class Items:
    """A repeated field's value: this many items, each a copy of the valid
    request's first with a distinct text (distinct labels are a rule)."""

    count: int


def _distinct(item: Any, i: int) -> Any:
    copy = type(item)()
    copy.CopyFrom(item)
    for name in ("text", "label"):
        if name in copy.DESCRIPTOR.fields_by_name:
            setattr(copy, name, f"{getattr(copy, name)} {i}")
    return copy


def _set(request: Any, path: str, value: Any) -> None:
    *parents, name = path.split(".")
    for parent in parents:
        if parent.endswith("[0]"):
            request = getattr(request, parent.removesuffix("[0]"))[0]
        else:
            request = getattr(request, parent)
    if isinstance(value, Items):
        items = getattr(request, name)
        first = items[0]
        copies = [_distinct(first, i) for i in range(value.count)]
        del items[:]
        items.extend(copies)
    else:
        setattr(request, name, value)


async def _call(
    channel: grpc.aio.Channel, method: MethodDescriptor, request: Any, metadata: Any
) -> None:
    response_class = message_factory.GetMessageClass(method.output_type)
    path = f"/{method.containing_service.full_name}/{method.name}"
    if method.server_streaming:
        call = channel.unary_stream(
            path,
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_class.FromString,
        )(request, metadata=metadata, timeout=10)
        async for _ in call:
            break
        call.cancel()
    else:
        await channel.unary_unary(
            path,
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_class.FromString,
        )(request, metadata=metadata, timeout=10)


async def _valid_request(
    stub: Any, tenant: Tenant, method: MethodDescriptor
) -> tuple[Any, tuple[tuple[str, str], ...]]:
    """A request of `method` that passes every rule, and its metadata."""
    started = await stub.StartInterview(
        pb.StartInterviewRequest(study_id=tenant.study_id), metadata=auth(tenant.api_key)
    )
    request = message_factory.GetMessageClass(method.input_type)()
    fields = method.input_type.fields_by_name
    for name, value in (
        ("study_id", tenant.study_id),
        ("interview_id", started.interview_id),
        ("content", "hello"),
    ):
        if name in fields:
            setattr(request, name, value)
    if "study" in fields:
        request.study.CopyFrom(VALID_STUDY)
    token = started.session_token if method.name in SESSION_METHODS else None
    return request, auth(tenant.api_key, token)


@pytest.mark.parametrize("rule", RULES, ids=str)
async def test_each_rule_of_the_protos_is_what_the_server_enforces(
    channel: grpc.aio.Channel, stub: Any, tenant: Tenant, rule: Rule
) -> None:
    method = METHODS[rule.request.full_name]
    request, metadata = await _valid_request(stub, tenant, method)
    _set(request, rule.path, _breaking(rule))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _call(channel, method, request, metadata)
    too_large = (rule.path, rule.rule_id) in contract.TOO_LARGE
    assert_error(
        refused.value,
        grpc.StatusCode.INVALID_ARGUMENT,
        "PAYLOAD_TOO_LARGE" if too_large else "INVALID_REQUEST",
        {rule.path},
    )
    bound = _at_bound(rule)
    if bound is None:
        return
    request, metadata = await _valid_request(stub, tenant, method)
    _set(request, rule.path, bound)
    try:
        await _call(channel, method, request, metadata)
    except grpc.aio.AioRpcError as error:  # refused, but not for this field
        violations = [v for v in rich_status(error).details if "BadRequest" in v.type_url]
        assert error.code() != grpc.StatusCode.INVALID_ARGUMENT or not violations, error


@pytest.mark.parametrize(
    ("request_message", "description"),
    [
        (pb.SendMessageRequest(interview_id="x", content="hi"), validation.NOT_A_UUID),
        (pb.SendMessageRequest(content="hi"), validation.REQUIRED),
        (pb.StartInterviewRequest(study_id=VALID_ID, locale="x!"), validation.NOT_A_LOCALE),
        (pb.ListInterviewsRequest(study_id=VALID_ID, page_size=-1), validation.NEGATIVE),
        (
            pb.ListInterviewsRequest(study_id=VALID_ID, status=9),
            "must be one of active, concluded, completed",
        ),
        (
            pb.StartInterviewRequest(
                study_id=VALID_ID, respondent=pb.Respondent(display_name="\0")
            ),
            validation.HAS_NUL,
        ),
    ],
)
def test_violations_read_as_the_domain_words_them(request_message: Any, description: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        contract.check(request_message)
    assert [v.description for v in refused.value.violations] == [description]
    assert not isinstance(refused.value, PayloadTooLarge)


def test_the_domain_limits_are_the_protos() -> None:
    def rule(message: Any, field: str) -> Any:
        options = message.DESCRIPTOR.fields_by_name[field].GetOptions()
        return options.Extensions[validate_pb2.field]

    assert rule(pb.SendMessageRequest, "content").string.max_len == validation.MAX_CONTENT_CHARS
    assert rule(pb.StreamMessageRequest, "content").string.max_len == validation.MAX_CONTENT_CHARS
    for field in ("external_id", "display_name"):
        assert rule(pb.Respondent, field).string.max_len == validation.MAX_NAME_CHARS
        assert rule(pb.Respondent, field).string.not_contains == validation.NUL
    assert rule(pb.StartInterviewRequest, "locale").string.max_len == validation.MAX_LOCALE_CHARS
    # The study design check (domain.study_validation) reads its limits from
    # domain.validation: they are these.
    assert rule(study_pb.Study, "title").string.max_len == validation.MAX_NAME_CHARS
    questions = rule(study_pb.Study, "questions").repeated
    assert (questions.min_items, questions.max_items) == (1, validation.MAX_QUESTIONS)
    assert rule(study_pb.StudyQuestion, "text").string.max_len == validation.MAX_QUESTION_CHARS
    options = rule(study_pb.QuestionConfig, "options").repeated
    assert (options.min_items, options.max_items) == (
        validation.MIN_OPTIONS,
        validation.MAX_OPTIONS,
    )
    assert rule(study_pb.QuestionOption, "label").string.max_len == validation.MAX_NAME_CHARS
    assert rule(study_pb.Probing, "max_follow_ups").int32.lte == validation.MAX_FOLLOW_UPS
    instructions = rule(study_pb.Probing, "instructions").string.max_len
    assert instructions == validation.MAX_INSTRUCTIONS_CHARS


def test_rest_and_grpc_callers_get_the_same_violation(rest: Rest) -> None:
    response = rest.client.get("/api/v1/interviews/0", headers=rest.headers())
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["message"] == f"interview_id: {validation.NOT_A_UUID}"
    started = rest.start()
    response = rest.send(started, "   ")
    assert response.status_code == 400
    assert response.json()["message"] == "content: must not be empty"
    response = rest.send(started, "a" * (validation.MAX_CONTENT_CHARS + 1))
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    response = rest.client.get(
        f"/api/v1/interviews?study_id={rest.tenant.study_id}&page_size=-1", headers=rest.headers()
    )
    assert response.status_code == 400
    assert response.json()["message"] == f"page_size: {validation.NEGATIVE}"


def test_the_vendored_validate_proto_is_protovalidates_own() -> None:
    """proto/buf/validate/validate.proto compiles to the descriptor that the
    protovalidate package validates with (file options aside: the package's
    copy was built with buf's managed mode)."""
    from protovalidate._gen.buf.validate import validate_pb

    theirs = descriptor_pb2.FileDescriptorProto.FromString(validate_pb.desc().proto.to_binary())
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR.read_bytes()).file
    (ours,) = [f for f in files if f.name == "buf/validate/validate.proto"]
    for file in (ours, theirs):
        file.ClearField("options")
        file.ClearField("source_code_info")
    assert ours == theirs


def test_undeclared_methods_answer_405_with_allow(rest: Rest) -> None:
    cases = [
        ("DELETE", "/api/v1/interviews/0", "GET, HEAD"),
        ("PUT", "/api/v1/interviews/start", "POST"),
        ("GET", "/api/v1/interviews/start", "POST"),
        ("TRACE", "/api/v1/usage", "GET, HEAD"),
        ("QUERY", "/api/v1/interviews", "GET, HEAD"),
        ("PATCH", "/api/v1/studies/0/report", "GET, HEAD"),
        ("GET", "/api/v1/interviews/0/messages", "POST"),
    ]
    for method, path, allow in cases:
        response = rest.client.request(method, path, headers={"Authorization": "Bearer x"})
        assert response.status_code == 405, (method, path, response.text)
        assert response.headers["allow"] == allow
        assert response.json()["error"] == "invalid_request"
        assert method in response.json()["message"]
    # An undocumented path stays a 404; HEAD and OPTIONS keep their answers.
    assert rest.client.request("DELETE", "/api/v1/nothing").status_code == 404
    assert rest.client.head("/api/v1/usage", headers=rest.headers()).status_code == 200
    assert rest.client.options("/api/v1/usage").status_code == 403
