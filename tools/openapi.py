"""Builds gen/openapi.json: the REST API as OpenAPI 3.0, generated from proto/.

The generator is Debian's `protoc-gen-swagger` (package `golang-grpc-gateway`,
grpc-gateway 1.6.4), run by protoc as a plugin: it reads the
`google.api.http` annotations and the proto comments and writes Swagger 2.0.
`swagger2openapi` (npm) converts that to OpenAPI 3.0. No OpenAPI 3 generator
run as a protoc plugin installs here (gnostic's `protoc-gen-openapi` and
grpc-gateway v2's `protoc-gen-openapiv2` need a Go toolchain).

`finish()` then adds only what neither tool can know or gets wrong for this
API, each in one function below:

- what the generator cannot know: the documented statuses (201 on start, the
  `{"error","message"}` envelope on 400/401/403/404/409/413/429/5xx, 409 with
  the completion's data), the bearer and `X-Session-Token` security schemes,
  the rate-limit headers, the links of the start -> message -> complete ->
  get chain, the document's own path (served by Envoy, not by a proto);
- the request rules written in the protos as `buf.validate` annotations
  (protovalidate, which the server checks: docs/contract.md), read from the
  descriptor set: `format: uuid`, `pattern`, `minLength`/`maxLength`,
  `minimum`/`maximum`, `required`, and enums without their zero value;
- where protoc-gen-swagger 1.6.4 predates the mappings: the JSON form of
  `google.protobuf.Struct` (any JSON object, not `{"fields": ...}`), path
  fields left out of the bodies (the transcoder refuses a body field that
  collides with the path), `REQUIRED` field behaviour as `required`, and the
  optional CompleteInterview body.

The 1.6.4 plugin also predates proto3 `optional` and refuses a file that uses
it: `PluginShim` runs it and declares the feature on its behalf (the plugin
sees an optional field as a one-field oneof, which it ignores; presence is not
expressed in OpenAPI).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import descriptor_pb2

from koji_server.api.error_table import ANSWERS

ROOT = Path(__file__).resolve().parent.parent
SWAGGER_PLUGIN = "protoc-gen-swagger"
SWAGGER2OPENAPI = ROOT / "node_modules" / ".bin" / "swagger2openapi"
OPENAPI_NAME = "openapi.json"
OPENAPI_PATH = "/api/v1/openapi.json"
# The example of every UUID field (the one the API's messages quote).
EXAMPLE_UUID = "f8e7d6c5-b4a3-2109-8765-432109876543"

Json = dict[str, Any]

ENVELOPE = "Error"
ERROR_CODES = list(ANSWERS)
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "Requests allowed per minute for the API key.",
    "X-RateLimit-Remaining": "Requests left in the current minute.",
    "X-RateLimit-Reset": "When the minute ends, in Unix seconds.",
}
# By operation: the errors it documents, beyond those of every call.
SESSION_OPERATIONS = {"SendMessage", "StreamMessage", "CompleteInterview"}
# Server-streaming RPCs: Server-Sent Events, one event schema each.
STREAM_OPERATIONS = {
    "StreamMessage": "v1StreamMessageResponse",
    "WatchInterview": "v1WatchInterviewResponse",
}
ERRORS_OF_EVERY_CALL = {
    400: "Invalid request (`invalid_request`): a malformed id or field, an unknown enum value, "
    "a body that is not JSON for the method, a query parameter.",
    401: "Missing, invalid or revoked API key (`unauthorized`).",
    403: "The API key lacks the permission (`forbidden`).",
    429: "Over the API key's per-minute limit (`rate_limited`); `Retry-After` says when to retry.",
    500: "Unexpected failure (`internal`); nothing of it leaks.",
    503: "The gRPC server cannot be reached (`unavailable`); retry with backoff.",
    504: "The gRPC server did not answer in time (`unavailable`); retry with backoff.",
}
# The 400s of rules across fields or against stored state, which a schema
# cannot say (a schema-valid request can still be refused for them).
ANSWER_400 = (
    "Invalid request (`invalid_request`): a malformed id or field; blank content without an "
    "`answer`; or an `answer` that does not fit the interview's current question (no "
    "structured question is current, the answer is for another question or of another type, "
    "a scale value outside the question's range, an unknown option id, a ranking that is not "
    "every option once)."
)
DESIGN_400 = (
    "Invalid request (`invalid_request`, one field violation per problem): a field outside its "
    "documented rule, or a rule across fields: options on a type that takes none (or none on "
    "`single_choice`, `multiple_choice`, `ranking`), scale settings on a type other than "
    "`scale`, `scale_max` not above `scale_min` or over 11 points, a scale label off the "
    "scale, repeated option labels."
)
# SendMessage's, and StreamMessage's (the same request and checks).
MESSAGE_ERRORS = {
    400: ANSWER_400,
    401: "Missing or invalid API key (`unauthorized`), or missing or wrong session token "
    "for this interview (`invalid_session_token`).",
    404: "No such interview in the key's project (`not_found`).",
    409: "The interview is completed (`interview_completed`).",
    413: "Content over 10,000 characters, the interview's message limits reached, or a "
    "body over 64 KiB (`payload_too_large`).",
}
ERRORS_BY_OPERATION: dict[str, dict[int, str]] = {
    "StartInterview": {
        404: "No such study in the key's project (`not_found`).",
        409: "The study is not active (`study_not_active`).",
        413: "A field over its size limit, or a body over 64 KiB (`payload_too_large`).",
    },
    "SendMessage": MESSAGE_ERRORS,
    "CompleteInterview": {
        401: "Missing or invalid API key (`unauthorized`), or missing or wrong session token "
        "for this interview (`invalid_session_token`).",
        404: "No such interview in the key's project (`not_found`).",
        413: "Feedback over 16 KiB, or a body over 64 KiB (`payload_too_large`).",
    },
    "StreamMessage": MESSAGE_ERRORS,
    "WatchInterview": {404: "No such interview in the key's project (`not_found`)."},
    "GetInterview": {404: "No such interview in the key's project (`not_found`)."},
    "GetStudyReport": {404: "No such study in the key's project (`not_found`)."},
    "ListInterviews": {404: "No such study in the key's project (`not_found`)."},
    "SearchInterviews": {
        400: "Invalid request (`invalid_request`): a q over 500 characters, a malformed id, "
        "an unknown type or sentiment, a quality out of range, a bad page token, or an "
        "undocumented query parameter; one field violation per bad parameter.",
    },
    "GetStudy": {404: "No such study in the key's project (`not_found`)."},
    "CreateStudy": {400: DESIGN_400},
    "UpdateStudy": {
        400: DESIGN_400 + " The study that results from the update is checked; `questions` "
        "are checked whole.",
        404: "No such study in the key's project (`not_found`).",
        409: "The questions of a study that is not in draft (`study_not_draft`).",
    },
    "PublishStudy": {
        404: "No such study in the key's project (`not_found`).",
        409: "The study is not in draft (`study_not_draft`).",
    },
    "CloseStudy": {
        404: "No such study in the key's project (`not_found`).",
        409: "The study is not active (`study_not_active`).",
    },
    "ArchiveStudy": {404: "No such study in the key's project (`not_found`)."},
    "CreateLink": {404: "No such study in the key's project (`not_found`)."},
    "ListLinks": {404: "No such study in the key's project (`not_found`)."},
    "RevokeLink": {404: "No such study in the key's project, or link of it (`not_found`)."},
    "StartLinkInterview": {
        404: "No link has the token (`not_found`).",
        410: "The link is revoked, expired or full, or its study is not active "
        "(`link_unavailable`).",
        413: "A field over its size limit, or a body over 64 KiB (`payload_too_large`).",
        429: "Too many starts from this client address or on this link (`rate_limited`); "
        "`Retry-After` says when to retry.",
    },
    "GetLinkPage": {
        404: "No link has the token (`not_found`).",
        410: "The link is revoked, expired or full, or its study is not active "
        "(`link_unavailable`).",
    },
}
SUCCESS_STATUS = {
    "StartInterview": 201,
    "CreateStudy": 201,
    "CreateLink": 201,
    "StartLinkInterview": 201,
}
# Calls that take no API key (docs/links.md): no 401/403, no rate-limit headers.
KEYLESS_OPERATIONS = {"StartLinkInterview", "GetLinkPage"}


class PluginShim:
    """A protoc plugin executable that runs protoc-gen-swagger and declares
    proto3 `optional` support for it (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        plugin = shutil.which(SWAGGER_PLUGIN)
        if plugin is None:
            sys.exit(f"{SWAGGER_PLUGIN} not found: apt-get install golang-grpc-gateway")
        self.path = folder / "protoc-gen-swagger-optional"
        self.path.write_text(
            f"#!/bin/sh\nexec '{sys.executable}' '{Path(__file__).resolve()}' --shim '{plugin}'\n"
        )
        self.path.chmod(0o755)


def run_shim(plugin: str) -> None:
    from google.protobuf.compiler import plugin_pb2

    request = sys.stdin.buffer.read()
    output = subprocess.run([plugin], input=request, capture_output=True, check=True).stdout
    response = plugin_pb2.CodeGeneratorResponse.FromString(output)
    response.supported_features |= plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    sys.stdout.buffer.write(response.SerializeToString())


def to_openapi3(swagger: Path, out: Path) -> None:
    if not SWAGGER2OPENAPI.exists():
        sys.exit("swagger2openapi not found: run `npm ci` (make install does)")
    subprocess.run([str(SWAGGER2OPENAPI), "--outfile", str(out), str(swagger)], check=True)


def ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def operations(doc: Json) -> list[tuple[str, str, Json]]:
    return [
        (path, method, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    ]


def add_info(doc: Json) -> None:
    doc["info"] = {
        "title": "Koji interviews API",
        "version": "v1",
        "description": "The REST form of the koji.v1 gRPC API (proto/koji/v1), served through "
        "Envoy's gRPC-JSON transcoder. Generated from the protos by `make gen`.",
    }
    doc["servers"] = [{"url": "/"}]


def fix_json_types(doc: Json) -> None:
    """google.protobuf.Struct is any JSON object in the proto3 JSON mapping."""
    schemas = doc["components"]["schemas"]
    schemas["protobufStruct"] = {"type": "object", "additionalProperties": True}
    for name in ("protobufValue", "protobufListValue", "protobufNullValue"):
        schemas.pop(name, None)


def fix_request_bodies(doc: Json, rules: Rules) -> dict[str, tuple[str, bool]]:
    """Each operation's body as its own schema, path fields left out; returns
    body schema -> (the schema it copies, whether it is a partial update's).

    A body that is one field of the request (`body: "study"`) is named after
    its operation, as two operations may send the same message with other
    rules: an update's body (its request has an `update_mask`) is partial,
    nothing in it required (see `relax_partial`)."""
    schemas = doc["components"]["schemas"]
    bodies: dict[str, tuple[str, bool]] = {}
    for _path, _method, operation in operations(doc):
        body = operation.get("requestBody")
        if body is None:
            continue
        content = body["content"]["application/json"]
        name = content["schema"]["$ref"].rsplit("/", 1)[1]
        schema = copy.deepcopy(schemas[name])
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                schema["properties"].pop(parameter["name"], None)
        # The server ignores output-only fields sent in a body (a study read
        # back can be sent again): like any unknown property, not documented.
        for field in rules.output_only.get(name, ()):
            schema["properties"].pop(field, None)
        partial = operation["operationId"] in rules.partial
        required = [
            field
            for field, spec in schema["properties"].items()
            if spec.get("description", spec.get("title", "")).startswith("Required.")
            and not partial
        ]
        if required:
            schema["required"] = required
        field_body = not name.endswith("Request")
        body_name = f"v1{operation['operationId']}Body" if field_body else f"{name}Body"
        bodies[body_name] = (name, partial)
        schema["description"] = f"The body of {operation['operationId']} (path fields left out)."
        schemas[body_name] = schema
        content["schema"] = ref(body_name)
        if not required:
            body["required"] = False
    unused = {
        name
        for name in schemas
        if name.endswith("Request") and f'"#/components/schemas/{name}"' not in json.dumps(doc)
    }
    for name in unused:
        del schemas[name]
    return bodies


def add_errors_and_headers(doc: Json) -> None:
    schemas = doc["components"]["schemas"]
    schemas[ENVELOPE] = {
        "type": "object",
        "description": "The documented error envelope.",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "enum": ERROR_CODES, "description": "The error code."},
            "message": {"type": "string", "description": "What was wrong, for people."},
        },
    }
    schemas["AlreadyCompletedError"] = {
        "description": "`already_completed`: the envelope plus every field of the first "
        "completion's response.",
        "allOf": [ref(ENVELOPE), ref("v1CompleteInterviewResponse")],
    }
    headers = doc["components"].setdefault("headers", {})
    for name, description in RATE_LIMIT_HEADERS.items():
        headers[name] = {"description": description, "schema": {"type": "integer"}}
    headers["Retry-After"] = {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }

    def rate_limit_headers(required: bool) -> Json:
        return {
            name: {"$ref": f"#/components/headers/{name}"}
            | ({"required": True} if required else {})
            for name in RATE_LIMIT_HEADERS
        }

    for _path, _method, operation in operations(doc):
        name = operation["operationId"]
        responses = operation["responses"]
        success = responses.pop("200")
        success["description"] = "Success."
        success["headers"] = rate_limit_headers(required=True)
        responses[str(SUCCESS_STATUS.get(name, 200))] = success
        errors = ERRORS_OF_EVERY_CALL | ERRORS_BY_OPERATION.get(name, {})
        for status, description in sorted(errors.items()):
            response: Json = {
                "description": description,
                "content": {"application/json": {"schema": ref(ENVELOPE)}},
            }
            if status not in (401, 500, 503, 504):
                response["headers"] = rate_limit_headers(required=False)
            if status == 429:
                response["headers"]["Retry-After"] = {
                    "$ref": "#/components/headers/Retry-After",
                    "required": True,
                }
            responses[str(status)] = response
        if name == "CompleteInterview":
            responses["409"] = {
                "description": "Already completed (`already_completed`): the envelope with the "
                "same fields as the first completion's 200.",
                "headers": rate_limit_headers(required=True),
                "content": {"application/json": {"schema": ref("AlreadyCompletedError")}},
            }
        operation["responses"] = dict(sorted(responses.items()))


def mark_streams(doc: Json) -> None:
    """The streaming RPCs answer as Server-Sent Events. Their schema is that
    of one event, as OpenAPI 3.2 models SSE (`data`, `event`): OpenAPI 3.0
    cannot say that `data` holds JSON of a given schema, so that schema is
    named in `x-content-schema` (3.2's `contentSchema`)."""
    for _path, _method, operation in operations(doc):
        event = STREAM_OPERATIONS.get(operation["operationId"])
        if event is None:
            continue
        success = operation["responses"]["200"]
        success["description"] = (
            "Success: `text/event-stream`, one event (a `data: {...}` line and a blank line) "
            f"per message, its data a JSON `{event}`."
        )
        success["content"] = {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": {
                            "type": "string",
                            "description": f"A JSON `{event}`.",
                            "x-content-schema": ref(event),
                        },
                        "event": {"type": "string", "enum": ["message"]},
                    },
                },
            }
        }


def add_security(doc: Json) -> None:
    doc["components"]["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "koji_sk_...",
            "description": "An API key of the project: `Authorization: Bearer koji_sk_...`.",
        },
        "sessionToken": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Session-Token",
            "description": "The interview's session token (`st_live_...`) from StartInterview.",
        },
    }
    doc["security"] = [{"bearerAuth": []}]
    for _path, _method, operation in operations(doc):
        if operation["operationId"] in SESSION_OPERATIONS:
            operation["security"] = [{"bearerAuth": [], "sessionToken": []}]


def add_links(doc: Json) -> None:
    """start -> message -> complete -> get, for clients and stateful testers."""
    by_id = {operation["operationId"]: operation for _p, _m, operation in operations(doc)}
    started = by_id["StartInterview"]["responses"]["201"]
    interview_id = {"interview_id": "$response.body#/interview_id"}
    with_token = interview_id | {"header.X-Session-Token": "$response.body#/session_token"}
    started["links"] = {
        "SendMessage": {"operationId": "SendMessage", "parameters": with_token},
        "CompleteInterview": {"operationId": "CompleteInterview", "parameters": with_token},
        "GetInterview": {"operationId": "GetInterview", "parameters": interview_id},
    }
    by_id["CompleteInterview"]["responses"]["200"]["links"] = {
        "GetInterview": {"operationId": "GetInterview", "parameters": interview_id}
    }
    for name in SESSION_OPERATIONS:
        by_id[name].setdefault("parameters", []).append(
            {
                "name": "X-Session-Token",
                "in": "header",
                "required": True,
                "description": "The interview's session token (see the security scheme).",
                "schema": {"type": "string"},
            }
        )


def shape_keyless(doc: Json) -> None:
    """A link's holder calls these without a key: no security, no 401/403,
    no rate-limit headers (their limit is per address and per link, without
    headers); the page answers HTML."""
    for _path, _method, operation in operations(doc):
        name = operation["operationId"]
        if name not in KEYLESS_OPERATIONS:
            continue
        operation["security"] = []
        responses = operation["responses"]
        for status in ("401", "403"):
            responses.pop(status, None)
        if name == "GetLinkPage":
            responses.pop("429", None)
        for response in responses.values():
            headers = response.get("headers", {})
            for header in RATE_LIMIT_HEADERS:
                headers.pop(header, None)
            if not headers:
                response.pop("headers", None)
        if name == "GetLinkPage":
            responses["200"] = {
                "description": "The respondent's chat page: one HTML document under a strict "
                "Content-Security-Policy.",
                "content": {"text/html": {"schema": {"type": "string"}}},
            }


def add_own_path(doc: Json) -> None:
    doc["paths"][OPENAPI_PATH] = {
        "get": {
            "operationId": "GetOpenApi",
            "summary": "This document (served by Envoy; no authentication).",
            "security": [],
            "tags": ["Meta"],
            "responses": {
                "200": {
                    "description": "The OpenAPI document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }


def fix_metadata_filters(doc: Json) -> None:
    """SearchInterviews' repeated `metadata` ("key=value") is written
    `metadata.<key>=<value>` or `metadata[<key>]=<value>` over REST (Envoy's
    Lua filter rewrites either for the transcoder): documented as a
    deepObject, the form OpenAPI can say."""
    for _path, _method, operation in operations(doc):
        for parameter in operation.get("parameters", []):
            if operation["operationId"] == "SearchInterviews" and parameter["name"] == "metadata":
                parameter.update(
                    style="deepObject",
                    explode=True,
                    schema={"type": "object", "additionalProperties": {"type": "string"}},
                    description="Optional. Respondent metadata filters: only interviews whose "
                    "respondent metadata has each key with its value (as text), written "
                    "`metadata[<key>]=<value>` or `metadata.<key>=<value>`.",
                )


@dataclass(frozen=True)
class Rules:
    """The protos' request rules: each message's fields' `buf.validate.field`
    rules, each enum's zero value name, and each RPC's request message."""

    fields: dict[str, dict[str, Any]]
    enum_zero: dict[str, str]
    requests: dict[str, str]
    # RPCs whose request has an `update_mask` (AIP-134): partial bodies.
    partial: frozenset[str] = frozenset()
    # Schema name (`v1Study`) -> its OUTPUT_ONLY fields.
    output_only: dict[str, set[str]] = dataclasses.field(default_factory=dict)

    @classmethod
    def read(cls, descriptor_set: Path) -> Rules:
        # Registers the extension, so that parsing the options keeps the rules.
        from buf.validate import validate_pb2

        files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
        fields: dict[str, dict[str, Any]] = {}
        enum_zero: dict[str, str] = {}
        requests: dict[str, str] = {}
        masked: set[str] = set()
        output_only: dict[str, set[str]] = {}

        def walk(prefix: str, messages: Any, enums: Any) -> None:
            for enum in enums:
                enum_zero[f"{prefix}.{enum.name}"] = enum.value[0].name
            for message in messages:
                name = f"{prefix}.{message.name}"
                walk(name, message.nested_type, message.enum_type)
                for field in message.field:
                    if field.type_name == ".google.protobuf.FieldMask":
                        masked.add(name)
                    behaviors = field.options.Extensions[field_behavior_pb2.field_behavior]
                    if field_behavior_pb2.OUTPUT_ONLY in behaviors:
                        output_only.setdefault("v1" + message.name, set()).add(field.name)
                    if field.options.HasExtension(validate_pb2.field):
                        rules = field.options.Extensions[validate_pb2.field]
                        fields.setdefault(name, {})[field.name] = (rules, field)

        for file in files.file:
            if not file.package.startswith("koji."):
                continue
            walk(f".{file.package}", file.message_type, file.enum_type)
            for service in file.service:
                for method in service.method:
                    requests[method.name] = method.input_type
        partial = frozenset(name for name, request in requests.items() if request in masked)
        return cls(fields, enum_zero, requests, partial, output_only)


def _escaped(text: str) -> str:
    """`text` as a regular expression that matches it, in the syntax that
    ECMAScript and Python share."""
    return "".join(c if c.isalnum() else f"\\u{ord(c):04x}" for c in text)


def apply_rules(schema: Json, rules: Any, field: Any, all_rules: Rules, doc: Json) -> bool:
    """Write one field's rules into its JSON schema; True if it is required."""
    from buf.validate import validate_pb2

    kind = rules.WhichOneof("type")
    if kind == "string":
        string = rules.string
        if string.uuid:
            schema["format"] = "uuid"
            schema["example"] = EXAMPLE_UUID
        if string.HasField("min_len"):
            schema["minLength"] = string.min_len
        if string.HasField("max_len"):
            schema["maxLength"] = string.max_len
        if string.HasField("pattern"):
            schema["pattern"] = string.pattern
        if string.HasField("not_contains"):
            schema["not"] = {"pattern": _escaped(string.not_contains)}
    elif kind == "int32":
        number = rules.int32
        for rule, key in (("gte", "minimum"), ("lte", "maximum")):
            if number.HasField(rule):
                schema[key] = getattr(number, rule)
    elif kind == "repeated":
        repeated = rules.repeated
        # An empty list may stand for "not given" (IGNORE_IF_ZERO_VALUE):
        # then only the upper bound is the schema's to say.
        if repeated.HasField("min_items") and rules.ignore != validate_pb2.IGNORE_IF_ZERO_VALUE:
            schema["minItems"] = repeated.min_items
        if repeated.HasField("max_items"):
            schema["maxItems"] = repeated.max_items
    elif kind == "enum" and rules.enum.defined_only:
        # The zero value means "not given": a request leaves the field out.
        if "$ref" in schema:
            target = doc["components"]["schemas"][schema.pop("$ref").rsplit("/", 1)[1]]
            schema.update(copy.deepcopy(target))
        zero = all_rules.enum_zero[field.type_name]
        schema["enum"] = [value for value in schema["enum"] if value != zero]
        schema.pop("default", None)
    # proto3 sends an empty string or list as no field at all: a lower bound
    # that refuses the empty value makes the field required.
    refuses_empty = (kind == "string" and rules.string.min_len > 0) or (
        kind == "repeated" and "minItems" in schema
    )
    return rules.required or refuses_empty


def relax_partial(schema: Json) -> None:
    """A partial update's body: a top-level field left at its zero value
    (`""`, `[]`) is not given, so the lower bounds that refuse the zero value
    hold only for a value that is given."""
    schema.pop("required", None)
    for spec in schema["properties"].values():
        spec.pop("minLength", None)
        spec.pop("minItems", None)
        if "pattern" in spec:
            spec["pattern"] = f"^$|{spec['pattern']}"


def add_rules(doc: Json, rules: Rules, bodies: dict[str, tuple[str, bool]]) -> None:
    schemas = doc["components"]["schemas"]
    for message, fields in rules.fields.items():
        short = "v1" + message.rsplit(".", 1)[1]
        for name in (short, *(body for body, (copied, _) in bodies.items() if copied == short)):
            schema = schemas.get(name)
            if schema is None:
                continue
            required = set(schema.get("required", []))
            for field_name, (field_rules, field) in fields.items():
                spec = schema["properties"].get(field_name)
                if spec is not None and apply_rules(spec, field_rules, field, rules, doc):
                    required.add(field_name)
            if required:
                schema["required"] = sorted(required)
    for body, (_copied, partial) in bodies.items():
        if partial:
            relax_partial(schemas[body])
    for _path, _method, operation in operations(doc):
        fields = rules.fields.get(rules.requests.get(operation["operationId"], ""), {})
        for parameter in operation.get("parameters", []):
            found = fields.get(parameter["name"])
            if found is None or parameter["in"] not in ("path", "query"):
                continue
            if apply_rules(parameter["schema"], *found, rules, doc):
                parameter["required"] = True


def finish(doc: Json, rules: Rules) -> Json:
    add_info(doc)
    fix_json_types(doc)
    fix_metadata_filters(doc)
    add_rules(doc, rules, fix_request_bodies(doc, rules))
    add_errors_and_headers(doc)
    mark_streams(doc)
    add_security(doc)
    add_links(doc)
    add_own_path(doc)
    shape_keyless(doc)
    doc["paths"] = dict(sorted(doc["paths"].items()))
    doc["components"]["schemas"] = dict(sorted(doc["components"]["schemas"].items()))
    return doc


def build(swagger: Path, out: Path, scratch: Path, descriptor_set: Path) -> None:
    converted = scratch / "openapi-raw.json"
    to_openapi3(swagger, converted)
    doc = finish(json.loads(converted.read_text()), Rules.read(descriptor_set))
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--shim":
        run_shim(sys.argv[2])
    else:
        sys.exit("usage: openapi.py --shim PLUGIN (run by protoc through tools/gen.py)")
