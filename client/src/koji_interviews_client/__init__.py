"""Client of the Koji interviews API (package `koji.v1`).

The generated stubs are importable as in the service's own repository
(`from koji.v1 import interview_service_pb2, interview_service_pb2_grpc`);
this package adds the rich-error reader and the path of the .proto files.
"""

from __future__ import annotations

from importlib import metadata, resources
from pathlib import Path

from koji_interviews_client.errors import (
    ALREADY_COMPLETED,
    ERROR_DOMAIN,
    KojiError,
    read_error,
    rich_status,
)

__all__ = [
    "ALREADY_COMPLETED",
    "ERROR_DOMAIN",
    "KojiError",
    "__version__",
    "proto_path",
    "read_error",
    "rich_status",
]

__version__ = metadata.version("koji-interviews-client")


def proto_path() -> Path:
    """The include root of the shipped protos (`koji/v1/*.proto` under it), for
    `protoc -I` or a buf module; their google/api imports come with the
    googleapis-common-protos package."""
    return Path(str(resources.files(__package__) / "proto"))
