"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by tests/test_openapi.py):
StartInterview bodies use the test tenant's study, so that generated calls
get past NOT_FOUND and the stateful phase can follow the document's links."""

from __future__ import annotations

import os
from typing import Any

import schemathesis

STUDY_ENV = "KOJI_SCHEMATHESIS_STUDY_ID"


@schemathesis.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("study_id"), str):
        return {**body, "study_id": os.environ[STUDY_ENV]}
    return body
