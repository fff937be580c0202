"""Generate gen/ from proto/: Python stubs, .pyi files, the Envoy descriptor set and
the OpenAPI document (tools/openapi.py).

Run through `make gen`; `--check DIR` regenerates into a scratch folder and
fails if DIR differs, so a stale gen/ is caught in CI.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile
from pathlib import Path

import google.api

# Run as a script: its folder, tools/, is on sys.path.
import openapi
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
DESCRIPTOR_NAME = "koji_v1_descriptor.binpb"
# Loaded by Envoy beside our own files so that rich error details decode.
EXTRA_DESCRIPTOR_PROTOS = ["google/rpc/error_details.proto", "google/rpc/status.proto"]


def googleapis_include() -> str:
    """The site-packages folder holding googleapis-common-protos' google/api/*.proto."""
    return str(Path(google.api.__path__[0]).parent.parent)


def our_protos(proto_root: Path = PROTO_ROOT) -> list[str]:
    """Every .proto under `proto_root`: the API's and the vendored
    buf/validate/validate.proto (see `API_PACKAGE`)."""
    return sorted(str(p.relative_to(proto_root)) for p in proto_root.rglob("*.proto"))


# proto/buf/validate/validate.proto is protovalidate's rule vocabulary, vendored
# (the protovalidate wheel carries only its compiled descriptor; docs/contract.md):
# it gets Python modules, since ours import it, but no service stubs nor OpenAPI.
API_PACKAGE = "koji/"


def api_protos(proto_root: Path = PROTO_ROOT) -> list[str]:
    return [name for name in our_protos(proto_root) if name.startswith(API_PACKAGE)]


def run_protoc(args: list[str], proto_root: Path = PROTO_ROOT) -> None:
    grpc_tools_include = str(Path(protoc.__file__).parent / "_proto")
    argv = ["protoc", f"-I{proto_root}", f"-I{googleapis_include()}", f"-I{grpc_tools_include}"]
    if protoc.main(argv + args) != 0:
        sys.exit("protoc failed")


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    protos = api_protos()
    run_protoc([f"--python_out={out}", f"--pyi_out={out}", *our_protos()])
    run_protoc([f"--grpc_python_out={out}", *protos])
    run_protoc(
        [
            "--include_imports",
            f"--descriptor_set_out={out / DESCRIPTOR_NAME}",
            *protos,
            *EXTRA_DESCRIPTOR_PROTOS,
        ]
    )
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        shim = openapi.PluginShim(scratch)
        run_protoc(
            [
                f"--plugin=protoc-gen-swagger={shim.path}",
                f"--swagger_out=allow_merge=true,merge_file_name=koji:{scratch}",
                *protos,
            ]
        )
        openapi.build(
            scratch / "koji.swagger.json",
            out / openapi.OPENAPI_NAME,
            scratch,
            out / DESCRIPTOR_NAME,
        )


def source_descriptor_set(out: Path, proto_root: Path = PROTO_ROOT) -> None:
    """The protos under `proto_root` and their imports, with comments and
    positions: the image that `buf lint` and `buf breaking` read."""
    run_protoc(
        [
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *our_protos(proto_root),
        ],
        proto_root,
    )


def differences(expected: Path, actual: Path) -> list[str]:
    problems: list[str] = []
    expected_files = {p.relative_to(expected) for p in expected.rglob("*") if p.is_file()}
    actual_files = {
        p.relative_to(actual)
        for p in actual.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    problems += [f"missing: {p}" for p in sorted(expected_files - actual_files)]
    problems += [f"unexpected: {p}" for p in sorted(actual_files - expected_files)]
    for rel in sorted(expected_files & actual_files):
        if not filecmp.cmp(expected / rel, actual / rel, shallow=False):
            problems.append(f"stale: {rel}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write the generated files into this folder")
    group.add_argument("--check", type=Path, help="fail if this folder is not up to date")
    group.add_argument(
        "--descriptor-for-lint",
        type=Path,
        help="write a descriptor set with source info (for `buf lint`)",
    )
    args = parser.parse_args()
    os.chdir(ROOT)
    if args.out:
        generate(args.out)
    elif args.check:
        with tempfile.TemporaryDirectory() as scratch:
            generate(Path(scratch))
            problems = differences(Path(scratch), args.check)
        if problems:
            print("gen/ is stale; run `make gen`:", *problems, sep="\n  ", file=sys.stderr)
            sys.exit(1)
        print("gen/ is up to date")
    else:
        source_descriptor_set(args.descriptor_for_lint)


if __name__ == "__main__":
    main()
