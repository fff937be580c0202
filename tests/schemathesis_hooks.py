"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by tests/test_openapi.py).

- StartInterview bodies that name a well-formed study use the test tenant's
  study, so that generated calls get past NOT_FOUND and the stateful phase can
  follow the document's links (a malformed study_id, a negative case, is kept).
- The exclusions, each for what OpenAPI 3.0 cannot say:
  - no generated `page_token`: it is an opaque token signed by the server
    (only a `next_page_token` it issued is valid), so any generated value is
    rightly refused;
  - no empty JSON property name (`{"": ...}`) in a request body: the
    transcoder refuses it ("Proto fields must have a name"), and OpenAPI 3.0
    has no `propertyNames` to say so (other unknown properties are ignored,
    as the proto3 JSON mapping says);
  - no JSON `null` in a request body (outside the Struct fields): the proto3
    JSON mapping reads `null` as the field's default, i.e. not given, so the
    server rightly accepts it, and OpenAPI 3.0 can only say so per property
    (`nullable`), which would also make every generated body full of nulls;
  - no numeric `status` query value: the transcoder takes an enum by its
    number as well as by its name, which a string enum cannot say.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import schemathesis

STUDY_ENV = "KOJI_SCHEMATHESIS_STUDY_ID"
# Request body objects whose own properties are proto fields (the Struct
# fields, `respondent.metadata` and `feedback`, take any name).
PROTO_OBJECTS = ("respondent", "answer")


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def _without_empty_names(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {
        name: _without_empty_names(item) if name in PROTO_OBJECTS else item
        for name, item in value.items()
        if name != ""
    }


@schemathesis.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    body = _without_empty_names(body)
    if isinstance(body, dict) and _is_uuid(body.get("study_id")):
        return {**body, "study_id": os.environ[STUDY_ENV]}
    return body


def _has_null(value: Any, name: str = "") -> bool:
    if name in ("metadata", "feedback"):
        return False
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_null(item, key) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_null(item) for item in value)
    return False


@schemathesis.hook
def filter_body(context: schemathesis.HookContext, body: Any) -> bool:
    return body is None or not _has_null(body)


@schemathesis.hook
def filter_query(context: schemathesis.HookContext, query: Any) -> bool:
    status = query.get("status") if isinstance(query, dict) else None
    return not (isinstance(status, (str, int)) and str(status).lstrip("-").isdigit())


@schemathesis.hook
def map_query(context: schemathesis.HookContext, query: Any) -> Any:
    if isinstance(query, dict):
        return {name: value for name, value in query.items() if name != "page_token"}
    return query
