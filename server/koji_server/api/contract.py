"""The request rules written in the protos (`buf.validate` annotations), checked
with protovalidate in the one RPC wrapper (api.handlers) before a method runs.

A violation becomes the domain's InvalidRequest (or PayloadTooLarge, for the
sizes documented as 413) with the description the domain gives for the same
input, so that gRPC and REST callers get the same answer whichever layer
refuses it. Only the first violation is reported, as the domain does. Rules
that need the database (a study that exists, an interview's state) stay in
the domain. docs/contract.md says where each rule is written and read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import protovalidate
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from koji_server.domain import validation
from koji_server.domain.errors import FieldViolation, InvalidRequest, PayloadTooLarge

# (field path, rule id) whose violation is a payload over its size (413).
TOO_LARGE = frozenset({("content", "string.max_len")})
# (field path, rule id) -> description, where the field says it better than the rule.
BY_FIELD: dict[tuple[str, str], str] = {
    ("content", "string.pattern"): validation.BLANK,
    ("locale", "string.pattern"): validation.NOT_A_LOCALE,
    ("locale", "string.max_len"): validation.NOT_A_LOCALE,
}


def _enum_names(field: FieldDescriptor | None) -> str:
    if field is None or field.enum_type is None:
        return "a defined value"
    return ", ".join(value.name for value in field.enum_type.values if value.number != 0)


def _not_contains(value: Any) -> str:
    return validation.HAS_NUL if value == validation.NUL else f"must not contain {value!r}"


def _gte(value: Any) -> str:
    return validation.NEGATIVE if value == 0 else f"must be at least {value}"


# Rule id -> description from the rule's value and the field's descriptor.
BY_RULE: dict[str, Callable[[Any, FieldDescriptor | None], str]] = {
    "required": lambda _value, _field: validation.REQUIRED,
    "string.uuid": lambda _value, _field: validation.NOT_A_UUID,
    "string.uuid_empty": lambda _value, _field: validation.REQUIRED,
    "string.max_len": lambda value, _field: f"must be at most {value} characters",
    "string.not_contains": lambda value, _field: _not_contains(value),
    "int32.gte": lambda value, _field: _gte(value),
    "enum.defined_only": lambda _value, field: "must be one of " + _enum_names(field),
}

_validator = protovalidate.Validator()


def _field(descriptor: Descriptor, names: list[str]) -> FieldDescriptor | None:
    field = None
    for name in names:
        if descriptor is None:
            return None
        field = descriptor.fields_by_name.get(name)
        if field is None:
            return None
        descriptor = field.message_type
    return field


def _named(element: Any) -> str:
    """A field path element as AIP-193 writes it: `questions[0]`, `labels["a"]`."""
    subscript = element.subscript
    if subscript is None:
        return str(element.field_name)
    key = subscript.value
    shown = f'"{key}"' if subscript.field == "string_key" else str(key).lower()
    return f"{element.field_name}[{shown}]"


def check(request: Message) -> None:
    """Raise the domain's error for the request's first rule violation."""
    violations = _validator.collect_violations(request)
    if not violations:
        return
    first = violations[0]
    proto = first.proto
    names = [element.field_name for element in proto.field.elements]
    path = ".".join(_named(element) for element in proto.field.elements)
    rule = proto.rule_id
    description = BY_FIELD.get((path, rule))
    if description is None:
        describe = BY_RULE.get(rule)
        description = (
            describe(first.rule_value, _field(request.DESCRIPTOR, names))
            if describe is not None
            else proto.message
        )
    violation = [FieldViolation(path or "request", description)]
    if (path, rule) in TOO_LARGE:
        raise PayloadTooLarge(violation)
    raise InvalidRequest(violation)
