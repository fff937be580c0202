"""The client wheel (`make client`): built from gen/ and proto/, installed into a
fresh venv that sees neither this repository nor the test venv's packages, and
used there against a real server."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from koji_server.api import errors
from koji_server.app import RunningServer
from tests.conftest import Tenant
from tests.helpers import json_steps
from tests.processes import free_port

pytestmark = pytest.mark.tooling

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT / "gen"
SCRIPT = Path(__file__).parent / "client_wheel" / "complete_twice.py"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_client.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())


@pytest.fixture(scope="module")
def client_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv (no system site-packages) with the wheel and its dependencies,
    installed by pip from the index and pip's cache like `make install`."""
    venv = tmp_path_factory.mktemp("client-venv")
    subprocess.run(
        [sys.executable, "-m", "venv", "--clear", "--without-pip", str(venv)], check=True
    )
    python = venv / "bin" / "python"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return python


def isolated_env() -> dict[str, str]:
    """The environment without anything that would let the repository in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, "PYTHONNOUSERSITE": "1"}


def project_version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def test_wheel_holds_gen_and_proto_unchanged(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        stubs = {p for p in names if p.startswith("koji/")}
        generated = {
            str(p.relative_to(GEN))
            for p in (GEN / "koji").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert stubs == generated | {"koji/v1/py.typed"}
        for name in stubs - {"koji/v1/py.typed"}:
            assert archive.read(name) == (GEN / name).read_bytes(), name
        protos = {p for p in names if p.endswith(".proto")}
        assert protos == {
            f"koji_interviews_client/proto/{p.relative_to(ROOT / 'proto')}"
            for p in (ROOT / "proto").rglob("*.proto")
        }
        for name in protos:
            relative = name.removeprefix("koji_interviews_client/proto/")
            assert archive.read(name) == (ROOT / "proto" / relative).read_bytes()
        assert {"koji_interviews_client/py.typed", "koji_interviews_client/errors.py"} <= names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        dist_info = f"koji_interviews_client-{project_version()}.dist-info"
        metadata = archive.read(f"{dist_info}/METADATA").decode()
    requires = sorted(re.findall(r"^Requires-Dist: (.+)$", metadata, re.MULTILINE))
    assert requires == [
        "googleapis-common-protos<2,>=1.76.0",
        "grpcio<2,>=1.85.1",
        "protobuf<8,>=7.35.1",
    ]


def test_client_lower_bounds_are_what_the_generated_code_requires() -> None:
    """grpcio >= GRPC_GENERATED_VERSION and protobuf >= the gencode version of
    every generated module, or a client installs versions the stubs refuse."""
    declared = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]
    bounds = dict(re.match(r"([a-z-]+)>=([\d.]+)", d).groups() for d in declared["dependencies"])  # type: ignore[union-attr]
    grpc_versions = {
        re.search(r"GRPC_GENERATED_VERSION = '([\d.]+)'", p.read_text()).group(1)  # type: ignore[union-attr]
        for p in GEN.rglob("*_pb2_grpc.py")
    }
    gencode_versions = {
        re.search(r"# Protobuf Python Version: ([\d.]+)", p.read_text()).group(1)  # type: ignore[union-attr]
        for p in GEN.rglob("*_pb2.py")
    }
    assert grpc_versions == {bounds["grpcio"]}
    assert gencode_versions == {bounds["protobuf"]}


def test_client_reasons_are_the_servers_error_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper's reason constants, one per documented error code."""
    path = ROOT / "client" / "src" / "koji_interviews_client" / "errors.py"
    spec = importlib.util.spec_from_file_location("client_errors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look it up
    spec.loader.exec_module(module)
    constants = {
        name: value
        for name, value in vars(module).items()
        if name.isupper() and name not in {"DETAILS_TRAILER", "ERROR_DOMAIN", "M"}
    }
    assert constants == {code.upper(): code.upper() for code in errors.ANSWERS}
    assert module.ERROR_DOMAIN == errors.ERROR_DOMAIN


async def test_fresh_venv_completes_an_interview_and_reads_already_completed(
    client_python: Path, server: RunningServer, tenant: Tenant
) -> None:
    process = await asyncio.create_subprocess_exec(
        str(client_python),
        str(SCRIPT),
        f"127.0.0.1:{server.port}",
        tenant.api_key,
        tenant.study_id,
        f"127.0.0.1:{free_port()}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=client_python.parent,
        env=isolated_env(),
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    steps = json_steps(out)

    venv = client_python.parent.parent
    installed = steps["installed"]
    assert installed["version"] == project_version()
    assert Path(installed["stubs"]).is_relative_to(venv)
    assert Path(installed["helper"]).is_relative_to(venv)
    assert installed["protos"] == [
        "interview_service.proto",
        "link_service.proto",
        "search_service.proto",
        "study_service.proto",
    ]

    assert steps["started"]["status"] == "active"
    assert steps["sent"]["messages_count"] == 3
    completed = steps["completed"]
    assert completed["status"] == "completed"
    first = {
        "interview_id": steps["started"]["interview_id"],
        "completed_at": completed["completed_at"],
        "total_messages": completed["total_messages"],
    }
    already = {
        "code": "ALREADY_EXISTS",
        "reason": "ALREADY_COMPLETED",
        "field_violations": [],
        "completion": first,
    }
    assert steps["completed_again"] == {**already, "is_already_completed": True}
    assert steps["completed_again_aio"] == already
    assert steps["invalid"] == {
        "code": "INVALID_ARGUMENT",
        "reason": "INVALID_REQUEST",
        "field_violations": ["study_id"],
        "completion": None,
    }
    assert steps["unreachable"] == {
        "code": "UNAVAILABLE",
        "reason": None,
        "field_violations": [],
        "completion": None,
    }
