"""The Alembic migrations, on SQLite and on a throwaway PostgreSQL.

They must produce exactly the models' schema (storage/schema.py) plus the
updated_at trigger; a file of before Alembic is recognised, brought in and
stamped, ending with the same schema as a new one; the server refuses any
other schema in one line that says what to run.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.storage import migrate
from koji_server.storage.schema import Base
from koji_server.storage.schema_version import (
    ALEMBIC_MARKER,
    HEAD_REVISION,
    UPGRADE_HINT,
    SchemaUnrecognised,
    head_revision,
)
from tests.conftest import sqlite_url
from tests.helpers import auth
from tests.processes import BIN, admin, free_port, stop
from tools.local_postgres import ThrowawayPostgres

LEGACY_V3 = Path(__file__).parent / "data" / "schema_v3.sql"
# What the code of before Alembic had at versions 2 and 1 (storage.legacy).
TO_V2 = (
    "DROP TRIGGER interviews_touch; DROP INDEX ix_interviews_listing;"
    "ALTER TABLE interviews DROP COLUMN updated_at; PRAGMA user_version = 2;"
)
TO_V1 = TO_V2 + "DROP TABLE study_reports; PRAGMA user_version = 1;"
# Migration 0004's full-text index, per engine, outside the models.
ENGINE_SEARCH_INDEX = frozenset(
    ["search_fts", "search_fts_data", "search_fts_idx", "search_fts_content", "search_fts_docsize",
     "search_fts_config", "search_tsv", "ix_search_tsv"]
)  # fmt: skip
LEGACY_PROJECT = "0695351f-2a1d-4d68-9f06-b0d50a97aee9"
LEGACY_INTERVIEW = "07311cd1-5275-4d70-bb28-066369d1b070"


def legacy_file(path: Path, downgrade: str = "") -> str:
    with sqlite3.connect(path) as connection:
        connection.executescript(LEGACY_V3.read_text())
        connection.executescript(downgrade)
    connection.close()
    return sqlite_url(path)


async def on_connection(url: str, work: Callable[[Connection], Any]) -> Any:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


def differences(connection: Connection) -> list[Any]:
    """Alembic autogenerate's diff between the database and the models
    (tables, columns, types, nullability, server defaults, indexes, unique
    and foreign keys), plus primary keys, which it does not compare."""
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_name": lambda name, kind, parents: name not in ENGINE_SEARCH_INDEX,
        },
    )
    found: list[Any] = list(compare_metadata(context, Base.metadata))
    inspector = inspect(connection)
    for table in Base.metadata.sorted_tables:
        keys = inspector.get_pk_constraint(table.name)["constrained_columns"]
        if keys != [column.name for column in table.primary_key.columns]:
            found.append(("primary key", table.name, keys))
    return found


def touch_works(connection: Connection) -> bool:
    """The trigger moves updated_at when an update leaves it alone."""
    connection.exec_driver_sql("INSERT INTO projects VALUES ('p', 'p', '2026-01-01 00:00:00')")
    connection.exec_driver_sql(
        "INSERT INTO studies (id, project_id, title, questions, created_at)"
        " VALUES ('s', 'p', 't', '[]', '2026-01-01 00:00:00')"
    )
    connection.exec_driver_sql(
        "INSERT INTO interviews (id, project_id, study_id, session_token_hash, status, mode,"
        " locale, respondent_external_id, respondent_display_name, question_index,"
        " follow_up_asked, respondent_messages, interviewer_messages, started_at, updated_at)"
        " VALUES ('i', 'p', 's', 'h', 'active', 'text', 'en', '', '', 0, false, 0, 0,"
        " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
    )
    connection.exec_driver_sql("UPDATE interviews SET locale = 'fr' WHERE id = 'i'")
    touched = str(
        connection.exec_driver_sql("SELECT updated_at FROM interviews WHERE id = 'i'").scalar_one()
    )
    connection.exec_driver_sql(
        "UPDATE interviews SET locale = 'de', updated_at = '2027-01-01 00:00:00' WHERE id = 'i'"
    )
    kept = str(
        connection.exec_driver_sql("SELECT updated_at FROM interviews WHERE id = 'i'").scalar_one()
    )
    return touched > "2026-01-01 00:00:00" and kept.startswith("2027-01-01 00:00:00")


def test_the_servers_head_is_the_migrations_head() -> None:
    """A new migration must move HEAD_REVISION too, or servers refuse its schema;
    the server knows it without importing Alembic."""
    assert head_revision() == HEAD_REVISION
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, koji_server.main; print('alembic' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert imported.stdout == "False\n"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> str:  # a URL with nothing in it
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "empty.db")
    postgres: ThrowawayPostgres = request.getfixturevalue("postgres")
    return postgres.create_database(f"migrations_{abs(hash(request.node.nodeid))}")


async def test_the_migrations_make_exactly_the_models_schema(empty_database: str) -> None:
    upgraded = await migrate.upgrade(empty_database)
    assert upgraded.before.describe() == "no schema (empty)"
    assert upgraded.after.revision == head_revision()
    assert await on_connection(empty_database, differences) == []
    assert await on_connection(empty_database, touch_works)

    def drop_an_index(connection: Connection) -> list[Any]:
        connection.exec_driver_sql("DROP INDEX ix_jobs_ready")
        return differences(connection)

    # The comparison does see a difference when there is one.
    found = await on_connection(empty_database, drop_an_index)
    assert [(kind, index.name) for kind, index in found] == [("add_index", "ix_jobs_ready")]


async def test_downgrade_to_nothing_and_up_again(empty_database: str) -> None:
    await migrate.upgrade(empty_database)

    def downgrade(connection: Connection) -> list[str]:
        command.downgrade(migrate.alembic_config(connection), "base")
        return sorted(set(inspect(connection).get_table_names()) - {"alembic_version"})

    assert await on_connection(empty_database, downgrade) == []
    assert (await migrate.upgrade(empty_database)).after.revision == head_revision()
    assert await on_connection(empty_database, differences) == []


async def test_two_upgrades_at_once_apply_the_migrations_once(empty_database: str) -> None:
    first, second = await asyncio.gather(
        migrate.upgrade(empty_database), migrate.upgrade(empty_database)
    )
    assert sorted([first.before.has_tables, second.before.has_tables]) == [False, True]
    assert first.after == second.after
    assert first.after.revision == head_revision()


def sqlite_structure(path: Path) -> dict[str, Any]:
    """Every table's columns, keys, indexes and triggers, as SQLite reports them."""
    with sqlite3.connect(path) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        structure: dict[str, Any] = {
            table: {
                "columns": connection.execute(f"PRAGMA table_info({table})").fetchall(),
                "foreign keys": sorted(
                    row[2:5] for row in connection.execute(f"PRAGMA foreign_key_list({table})")
                ),
                "indexes": sorted(
                    (
                        row[1] if row[3] == "c" else row[3],
                        row[2],
                        [info[2] for info in connection.execute(f"PRAGMA index_info('{row[1]}')")],
                    )
                    for row in connection.execute(f"PRAGMA index_list({table})")
                ),
            }
            for table in tables
        }
        structure["triggers"] = connection.execute(
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"
        ).fetchall()
        structure["user_version"] = connection.execute("PRAGMA user_version").fetchone()
    connection.close()
    return structure


@pytest.mark.parametrize(
    ("version", "downgrade"), [(3, ""), (2, TO_V2), (1, TO_V1)], ids=["v3", "v2", "v1"]
)
async def test_a_pre_alembic_file_is_brought_in_with_its_data(
    tmp_path: Path, sqlite_template: Path, version: int, downgrade: str
) -> None:
    url = legacy_file(tmp_path / "legacy.db", downgrade)
    upgraded = await migrate.upgrade(url)
    assert upgraded.before.describe() == f"pre-Alembic schema version {version}"
    assert upgraded.after.revision == head_revision()
    assert await on_connection(url, differences) == []
    # The same schema as a database the migrations made, down to SQLite's own view.
    assert sqlite_structure(tmp_path / "legacy.db") == sqlite_structure(sqlite_template)
    with sqlite3.connect(tmp_path / "legacy.db") as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (ALEMBIC_MARKER,)
        started, updated = connection.execute(
            "SELECT started_at, updated_at FROM interviews WHERE id = ?", (LEGACY_INTERVIEW,)
        ).fetchone()
        assert connection.execute("SELECT count(*) FROM messages").fetchone() == (3,)
    connection.close()
    assert updated >= started


async def test_a_file_that_is_not_what_its_version_says_is_left_alone(tmp_path: Path) -> None:
    # A development file of between versions 2 and 3 whose study_reports
    # still had the earlier columns: refused, and the transaction rolled back.
    url = legacy_file(
        tmp_path / "odd.db",
        TO_V2 + "ALTER TABLE study_reports DROP COLUMN included;",
    )
    with pytest.raises(SchemaUnrecognised, match="study_reports has columns"):
        await migrate.upgrade(url)
    with sqlite3.connect(tmp_path / "odd.db") as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (2,)
        columns = [row[1] for row in connection.execute("PRAGMA table_info(interviews)")]
        assert "updated_at" not in columns
    connection.close()


def refusal(url: str, command_line: list[str]) -> str:
    result = subprocess.run(
        command_line,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(BIN), "KOJI_DATABASE_URL": url, "KOJI_METRICS_LISTEN": ""},
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    return result.stderr


def test_the_server_refuses_an_out_of_date_schema_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "koji.db"
    url = legacy_file(path)
    server = [str(BIN / "koji-server"), "--listen", "127.0.0.1:0"]
    head = head_revision()
    assert refusal(url, server) == (
        f"koji-server: the database {path} has pre-Alembic schema version 3, this version "
        f"needs revision {head}: {UPGRADE_HINT}\n"
    )
    empty = tmp_path / "empty.db"
    admin(sqlite_url(empty), "db", "current")
    assert not empty.exists()  # a typo in the URL leaves no file behind
    assert refusal(sqlite_url(empty), server) == (
        f"koji-server: the database {empty} has no schema (empty), this version needs "
        f"revision {head}: {UPGRADE_HINT}\n"
    )
    # koji-admin's commands refuse it too, except `db`.
    assert refusal(url, [str(BIN / "koji-admin"), "keys", "list"]).startswith(
        f"koji-admin: the database {path} has pre-Alembic schema version 3"
    )
    assert admin(url, "db", "current").stdout == (
        f"{url}: pre-Alembic schema version 3; this version needs revision {head}: {UPGRADE_HINT}\n"
    )


def test_koji_admin_db_upgrade_then_the_server_serves_the_old_data(tmp_path: Path) -> None:
    url = legacy_file(tmp_path / "koji.db")
    assert admin(url, "db", "upgrade").stdout == (
        f"{url}: upgraded from pre-Alembic schema version 3 to revision {head_revision()} (head)\n"
    )
    assert admin(url, "db", "upgrade").stdout == (
        f"{url}: already at revision {head_revision()} (head); nothing to do\n"
    )
    assert admin(url, "db", "current").stdout == f"{url}: revision {head_revision()} (head)\n"
    key = admin(
        url, "keys", "create", "--project", LEGACY_PROJECT, "--name", "k",
        "--permissions", "interview:read",
    ).stdout.strip()  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "koji-server"), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            "PATH": str(BIN),
            "KOJI_DATABASE_URL": url,
            "KOJI_METRICS_LISTEN": "",
            "KOJI_PIPELINE_ENABLED": "false",
        },
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == f"koji-server listening on port {port}"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            interview = pb_grpc.InterviewServiceStub(channel).GetInterview(
                pb.GetInterviewRequest(interview_id=LEGACY_INTERVIEW), metadata=auth(key)
            )
        assert [m.content for m in interview.transcript][1] == "A colleague told me"
    finally:
        stop(server)
        server.communicate(timeout=30)


def test_koji_admin_db_on_postgresql(postgres: ThrowawayPostgres) -> None:
    url = postgres.create_database("admin_cli")
    shown = migrate.display(url)
    head = head_revision()
    assert admin(url, "db", "current").stdout == (
        f"{shown}: no schema (empty); this version needs revision {head}: {UPGRADE_HINT}\n"
    )
    assert admin(url, "db", "upgrade").stdout == (
        f"{shown}: upgraded from no schema (empty) to revision {head} (head)\n"
    )
    assert admin(url, "db", "current").stdout == f"{shown}: revision {head} (head)\n"
    assert postgres.psql("SELECT version_num FROM alembic_version", "admin_cli").strip() == head


def test_the_migrations_ship_in_the_wheel(tmp_path: Path) -> None:
    """Built the way pip installs the package (not an editable checkout):
    the revisions, env.py and the template are inside it."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(Path(__file__).parent.parent)],
        check=True, capture_output=True, timeout=240,
    )  # fmt: skip
    import zipfile

    (wheel,) = tmp_path.glob("koji_interviews-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = "koji_server/storage/migrations/"
    for name in ("env.py", "script.py.mako", "versions/0001_baseline.py"):
        assert migrations + name in names, name
