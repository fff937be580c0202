"""koji-server as a process: --help, environment settings, graceful shutdown, durability."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.storage import postgres
from tests.helpers import auth
from tests.processes import BIN, admin, free_port, launch_server, seed_with_cli

pytestmark = pytest.mark.e2e


def launch(database_url: str, port: int, **settings: str) -> subprocess.Popen[str]:
    return launch_server(database_url, port, **settings)


def test_help_explains_the_settings() -> None:
    out = subprocess.run(
        [str(BIN / "koji-server"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    for text in (
        "--listen",
        "KOJI_LISTEN",
        "127.0.0.1:50051",
        "KOJI_DATABASE_URL",
        "sqlite+aiosqlite:///koji.db",
    ):
        assert text in out


def test_bad_database_url_fails_clearly() -> None:
    result = subprocess.run(
        [str(BIN / "koji-server"), "--database-url", "sqlite+aiosqlite:///:memory:"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "must name a SQLite file" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("KOJI_ANALYSIS_CPUS", "4096", "no such CPU [4096]"),
        ("KOJI_ANALYSIS_CPUS", "one", "CPU numbers separated by commas"),
        ("KOJI_PIPELINE_CONCURRENCY", "many", "KOJI_PIPELINE_CONCURRENCY"),
    ],
)
def test_a_bad_setting_fails_clearly(name: str, value: str, expected: str) -> None:
    result = subprocess.run(
        [str(BIN / "koji-server")],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, name: value},
    )
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_a_busy_port_fails_clearly(database_url: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(BIN / "koji-server"), "--listen", f"127.0.0.1:{port}",
             "--database-url", database_url],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_stops_gracefully_and_data_survives_a_restart(database_url: str) -> None:
    key, study = seed_with_cli(database_url, "interview:start,interview:read")
    port = free_port()
    process = launch(database_url, port)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.InterviewServiceStub(channel)
        started = stub.StartInterview(pb.StartInterviewRequest(study_id=study), metadata=auth(key))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    _, err = process.communicate(timeout=30)
    assert "shutting down" in err
    assert key not in err
    assert started.session_token not in err

    port = free_port()
    process = launch(database_url, port)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.InterviewServiceStub(channel)
            got = stub.GetInterview(
                pb.GetInterviewRequest(interview_id=started.interview_id), metadata=auth(key)
            )
        assert got.transcript[0].content == started.initial_message.content
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        process.communicate(timeout=30)


def test_kill_9_loses_no_committed_completion(database_url: str) -> None:
    key, study = seed_with_cli(database_url, "interview:start,interview:complete,interview:read")
    port = free_port()
    process = launch(database_url, port)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.InterviewServiceStub(channel)
        started = [
            stub.StartInterview(pb.StartInterviewRequest(study_id=study), metadata=auth(key))
            for _ in range(5)
        ]
        done = [
            stub.CompleteInterview(
                pb.CompleteInterviewRequest(interview_id=s.interview_id),
                metadata=auth(key, s.session_token),
            )
            for s in started
        ]
    process.kill()
    process.wait(timeout=10)
    process.communicate(timeout=30)  # pipes close once the analysis worker follows
    for summary in done:
        shown = admin(database_url, "interviews", "show", summary.interview_id).stdout
        assert '"status": "completed"' in shown


def test_a_second_sigterm_ends_a_shutdown_that_is_waiting(database_url: str) -> None:
    # Another process holds the write lock, so a SendMessage is in flight when
    # SIGTERM comes: the graceful shutdown waits for it (up to its grace); a
    # second SIGTERM ends the process at once.
    key, study = seed_with_cli(database_url, "interview:start,interview:chat")
    port = free_port()
    process = launch(database_url, port, KOJI_SHUTDOWN_GRACE_SECONDS="60")
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.InterviewServiceStub(channel)
        started = stub.StartInterview(pb.StartInterviewRequest(study_id=study), metadata=auth(key))
        with holding_the_write_lock(database_url):
            in_flight = stub.SendMessage.future(
                pb.SendMessageRequest(interview_id=started.interview_id, content="hello there"),
                metadata=auth(key, started.session_token),
            )
            time.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            assert process.poll() is None  # waiting for the in-flight call
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 1
        in_flight.cancel()
    _, err = process.communicate(timeout=10)
    assert "a second signal: exiting without finishing the graceful shutdown" in err


@contextmanager
def holding_the_write_lock(database_url: str) -> Iterator[None]:
    """Another connection keeps every write waiting: SQLite's write lock
    (BEGIN IMMEDIATE); on PostgreSQL, the interviews and messages tables
    locked against writes (reads go on)."""
    if postgres.is_postgres(database_url):
        engine = postgres.sync_engine(database_url)
        try:
            with engine.connect() as connection, connection.begin():
                connection.execute(
                    sqlalchemy.text("LOCK TABLE interviews, messages IN EXCLUSIVE MODE")
                )
                yield
        finally:
            engine.dispose()
        return
    blocker = sqlite3.connect(make_url(database_url).database or "", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        blocker.rollback()
        blocker.close()


def unusable_databases(tmp_path: Path) -> dict[str, Path]:
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("these are notes, not a SQLite database\n" * 200)
    a_directory = tmp_path / "dir.db"
    a_directory.mkdir()
    return {
        "missing directory": tmp_path / "no" / "such" / "dir" / "koji.db",
        "not a database": not_a_database,
        "a directory": a_directory,
    }


@pytest.mark.parametrize("command", ["koji-server", "koji-admin"])
def test_an_unusable_database_fails_in_one_clear_line(tmp_path: Path, command: str) -> None:
    for why, path in unusable_databases(tmp_path).items():
        args = ["--listen", "127.0.0.1:0"] if command == "koji-server" else ["keys", "list"]
        result = subprocess.run(
            [str(BIN / command), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "KOJI_DATABASE_URL": f"sqlite+aiosqlite:///{path}"},
        )
        assert result.returncode != 0, why
        assert "Traceback" not in result.stderr, (why, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (why, result.stderr)
        assert lines[0].startswith(f"{command}: cannot use the database {path}: "), lines
