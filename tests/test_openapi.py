"""gen/openapi.json: valid, complete, served by Envoy, and true of the live API."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2
from openapi_spec_validator import validate

from tests.conftest import Rest, make_tenant
from tests.processes import BIN
from tests.schemathesis_hooks import STUDY_ENV
from tools.envoy_config import DESCRIPTOR, OPENAPI

pytestmark = pytest.mark.tooling

ROOT = Path(__file__).resolve().parent.parent
# Bounded: about 75 s on the 2-core VM (100 examples per operation and mode;
# about 1,700 cases in all four phases).
MAX_EXAMPLES = 100
MIN_CASES = 1000


def rest_paths_of_protos() -> set[tuple[str, str]]:
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR.read_bytes())
    paths = set()
    for file in files.file:
        if not file.package.startswith("koji."):
            continue
        for service in file.service:
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                paths.add((verb, getattr(rule, verb)))
    return paths


def document() -> dict:
    return json.loads(OPENAPI.read_text())


def test_the_document_is_valid_openapi_3() -> None:
    doc = document()
    validate(doc)
    assert doc["openapi"].startswith("3.")


def test_every_rest_path_of_the_protos_is_documented() -> None:
    doc = document()
    documented = {
        (method, path)
        for path, item in doc["paths"].items()
        for method in item
        if method != "parameters"
    }
    expected = rest_paths_of_protos() | {("get", "/api/v1/openapi.json")}
    assert ("get", "/api/v1/studies/{study_id}/report") in expected
    assert ("get", "/api/v1/usage") in expected
    assert documented == expected


def test_documented_statuses_security_and_headers() -> None:
    paths = document()["paths"]
    start = paths["/api/v1/interviews/start"]["post"]
    assert set(start["responses"]) >= {"201", "400", "401", "403", "404", "413", "429"}
    assert "200" not in start["responses"]
    assert start["responses"]["201"]["headers"]["X-RateLimit-Limit"]["required"] is True
    assert "Retry-After" in start["responses"]["429"]["headers"]
    complete = paths["/api/v1/interviews/{interview_id}/complete"]["post"]
    assert complete["security"] == [{"bearerAuth": [], "sessionToken": []}]
    conflict = complete["responses"]["409"]["content"]["application/json"]["schema"]
    assert conflict == {"$ref": "#/components/schemas/AlreadyCompletedError"}
    error = start["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
    assert paths["/api/v1/openapi.json"]["get"]["security"] == []


def test_envoy_serves_the_document_without_authentication(rest: Rest) -> None:
    response = rest.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == document()
    head = rest.client.head("/api/v1/openapi.json")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "application/json"
    refused = rest.client.post("/api/v1/openapi.json")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD"
    assert refused.json()["error"] == "invalid_request"


# Both engines: every generated request reaches the real storage behind Envoy.
@pytest.mark.storage
def test_schemathesis_finds_no_5xx_and_no_departure_from_the_document(rest: Rest) -> None:
    """Every check (`[checks] enabled = true` in tests/schemathesis.toml, as
    `--checks all` would: schema conformance both ways, 405 for
    undeclared methods, missing headers...) in every phase, exclusions only
    with their reasons (here and in tests/schemathesis_hooks.py)."""
    tenant = rest.threaded.run(make_tenant(rest.threaded.database_url))
    started = time.monotonic()
    result = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "--config-file",
            str(ROOT / "tests" / "schemathesis.toml"),
            "run",
            str(OPENAPI),
            "--url",
            rest.envoy.base_url,
            "--header",
            f"Authorization: Bearer {tenant.api_key}",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(MAX_EXAMPLES),
            # A watch of a live interview lasts until its analysis: the
            # stateful phase watches the interviews it starts and never
            # completes, and would wait forever. tests/test_streams_rest.py
            # checks its events against the document instead.
            "--exclude-operation-id",
            "WatchInterview",
            "--seed",
            "15",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=420,
        cwd=ROOT,
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
            STUDY_ENV: tenant.study_id,
            "PYTHONPATH": str(ROOT),
        },
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert counts is not None, result.stdout[-1500:]
    assert int(counts[1]) == int(counts[2]) >= MIN_CASES, counts[0]
    print(f"schemathesis: {elapsed:.1f} s\n{result.stdout[-1500:]}")


def test_headers_grpc_cannot_carry_are_dropped_not_a_500(rest: Rest) -> None:
    # Found by Schemathesis: such a header made the gRPC runtime fail the
    # call with INTERNAL before our handler ran.
    started = rest.start()
    for name, value in [("o|jhid4b^ry", "1"), ("x-extra-bin", "!!"), ("x-note", "caf\xe9")]:
        response = rest.client.get(
            f"/api/v1/interviews/{started['interview_id']}",
            headers={**rest.headers(), name: value.encode("latin-1")},
        )
        assert response.status_code == 200, (name, response.text)
