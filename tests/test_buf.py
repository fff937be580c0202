"""buf for client repositories: `buf breaking` catches incompatible proto changes
(tools/buf_breaking.py, `make breaking`) and picks its baseline as documented;
`buf generate` works offline from a checkout, googleapis imports included."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from koji.v1 import interview_service_pb2, study_service_pb2

pytestmark = pytest.mark.tooling

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BREAKING = ROOT / "tools" / "buf_breaking.py"
PROTO_FILE = Path("koji/v1/interview_service.proto")


def run(*args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )
    return result.returncode, result.stdout + result.stderr


def edited_protos(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of proto/ with one edit in interview_service.proto."""
    root = tmp_path / "proto"
    shutil.copytree(ROOT / "proto", root)
    path = root / PROTO_FILE
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    return root


# SendMessageRequest up to its `content` field (StreamMessageRequest has the
# same field: the edit must be unique).
SEND_REQUEST = (
    "message SendMessageRequest {\n"
    "  // Required. The interview (a UUID).\n"
    "  string interview_id = 1 [\n"
    "    (google.api.field_behavior) = REQUIRED,\n"
    "    (buf.validate.field).required = true,\n"
    "    (buf.validate.field).string.uuid = true\n"
    "  ];\n"
    "  // Required. The respondent's message: not blank, at most 10,000\n"
    "  // characters.\n  "
)


@pytest.mark.parametrize(
    ("old", "new", "reported"),
    [
        pytest.param(
            SEND_REQUEST + "string content = 2 [",
            SEND_REQUEST + "string content = 7 [",
            'Previously present field "2" with name "content" on message "SendMessageRequest"'
            " was deleted.",
            id="renumbered",
        ),
        pytest.param(
            SEND_REQUEST + "string content = 2 [",
            SEND_REQUEST + "string text = 2 [",
            'Field "2" on message "SendMessageRequest" changed name from "content" to "text".',
            id="renamed",
        ),
        pytest.param(
            "int32 messages_count = 4 [",
            "int64 messages_count = 4 [",
            'Field "4" with name "messages_count" on message "SendMessageResponse" changed type'
            ' from "int32" to "int64".',
            id="retyped",
        ),
    ],
)
def test_breaking_change_is_detected(tmp_path: Path, old: str, new: str, reported: str) -> None:
    proto = edited_protos(tmp_path, old, new)
    code, output = run(sys.executable, BREAKING, "--proto", proto, "--against", "HEAD")
    assert code != 0, output
    assert reported in output
    assert "buf breaking: BREAKING" in output


def test_compatible_change_passes(tmp_path: Path) -> None:
    proto = edited_protos(
        tmp_path,
        "  int32 messages_count = 4 [(google.api.field_behavior) = OUTPUT_ONLY];\n",
        "  int32 messages_count = 4 [(google.api.field_behavior) = OUTPUT_ONLY];\n"
        "  // Output only. A new field.\n"
        "  string note = 5 [(google.api.field_behavior) = OUTPUT_ONLY];\n",
    )
    code, output = run(sys.executable, BREAKING, "--proto", proto, "--against", "HEAD")
    assert code == 0, output
    assert output.splitlines()[-1] == "buf breaking: no breaking change"


class Repo:
    """A scratch git repository with a copy of proto/, for the baseline rules."""

    def __init__(self, path: Path) -> None:
        self.path = path
        shutil.copytree(ROOT / "proto", path / "proto")
        self.git("init", "--quiet", "--initial-branch", "main")

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=self.path,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    def commit(self, name: str) -> str:
        (self.path / name).write_text(name)
        self.git("add", "-A")
        self.git("commit", "--quiet", "-m", name)
        return self.git("rev-parse", "HEAD")

    def baseline(self) -> tuple[str, str]:
        code, output = run(sys.executable, BREAKING, "--repo", self.path, "--baseline-only")
        assert code == 0, output
        commit, why = output.strip().split(" ", 1)
        return commit, why


def test_baseline_on_main_is_the_first_parent(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    first = repo.commit("one")
    repo.commit("two")
    assert repo.baseline() == (
        first,
        "HEAD is on main: its first parent, main before its last change",
    )


def test_baseline_on_a_branch_is_where_it_left_main(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    repo.commit("one")
    fork = repo.commit("two")
    repo.git("switch", "--quiet", "-c", "feature")
    repo.commit("three")
    repo.git("switch", "--quiet", "main")
    repo.commit("four")
    repo.git("switch", "--quiet", "feature")
    assert repo.baseline() == (fork, "merge-base of HEAD and main, where this branch left it")


def test_origin_main_is_preferred_to_a_stale_local_main(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    repo.commit("one")
    repo.git("switch", "--quiet", "-c", "feature")
    fork = repo.commit("two")
    repo.git("update-ref", "refs/remotes/origin/main", fork)
    repo.commit("three")
    assert repo.baseline() == (
        fork,
        "merge-base of HEAD and origin/main, where this branch left it",
    )


@pytest.mark.parametrize(
    ("branch", "commits", "why"),
    [
        ("trunk", 2, "no origin/main or main ref in this clone"),
        ("main", 1, "HEAD is on main and has no parent commit (shallow clone?)"),
    ],
)
def test_no_baseline_is_skipped_loudly(tmp_path: Path, branch: str, commits: int, why: str) -> None:
    repo = Repo(tmp_path)
    repo.git("switch", "--quiet", "--orphan", branch)
    for index in range(commits):
        repo.commit(f"c{index}")
    assert repo.baseline() == ("-", why)
    code, output = run(
        sys.executable, BREAKING, "--repo", repo.path, "--proto", repo.path / "proto"
    )
    assert code == 0, output
    assert output.strip() == f"buf breaking: SKIPPED, nothing compared: {why}"


def offline_env(tmp_path: Path) -> dict[str, str]:
    """No BSR: an empty buf cache and every HTTP(S) request sent to a closed port."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "BUF_CACHE_DIR": str(tmp_path / "buf-cache"),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
    }


def test_buf_generate_offline_from_a_client_repository(tmp_path: Path) -> None:
    client = tmp_path / "client"
    checkout = client / "koji"
    shutil.copytree(ROOT / "proto", checkout / "proto")
    for name in ("buf.yaml", "buf.gen.yaml", "tools/googleapis_protos.py"):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, checkout / name)
    generate = (BIN / "buf", "generate", "koji/proto", "--template", "koji/buf.gen.yaml")
    env = offline_env(tmp_path)

    code, output = run(*generate, cwd=client, env=env)
    assert code != 0
    assert re.search(rf"koji/proto/{PROTO_FILE}:\d+:\d+:imported file does not exist", output)

    code, output = run(sys.executable, checkout / "tools" / "googleapis_protos.py", cwd=client)
    assert code == 0, output
    assert (checkout / "build/googleapis/google/rpc/status.proto").is_file()
    code, output = run(*generate, cwd=client, env=env)
    assert code == 0, output

    out = client / "build" / "buf" / "python"
    # buf/validate: the request rules' vocabulary, which our protos import.
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "buf/validate/validate_pb2.py",
        "buf/validate/validate_pb2.pyi",
        "koji/v1/interview_service_pb2.py",
        "koji/v1/interview_service_pb2.pyi",
        "koji/v1/link_service_pb2.py",
        "koji/v1/link_service_pb2.pyi",
        "koji/v1/search_service_pb2.py",
        "koji/v1/search_service_pb2.pyi",
        "koji/v1/study_service_pb2.py",
        "koji/v1/study_service_pb2.pyi",
    ]
    code, output = run(
        sys.executable,
        "-c",
        "from koji.v1 import interview_service_pb2 as a, study_service_pb2 as b;"
        "print(a.__file__); print(sorted(a.DESCRIPTOR.message_types_by_name));"
        "print(sorted(b.DESCRIPTOR.message_types_by_name))",
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(out)},
    )
    assert code == 0, output
    location, interview_messages, study_messages = output.splitlines()
    assert Path(location).is_relative_to(out)
    assert interview_messages == str(sorted(interview_service_pb2.DESCRIPTOR.message_types_by_name))
    assert study_messages == str(sorted(study_service_pb2.DESCRIPTOR.message_types_by_name))
