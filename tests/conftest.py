"""Shared fixtures: a real grpc.aio server on an ephemeral port over a real SQLite file
(a copy of one the migrations made), and a throwaway PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
import httpx
import pytest
from hypothesis import settings

from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.app import RunningServer, start_server
from koji_server.config import Settings
from koji_server.domain.credentials import API_KEY_PREFIX, SESSION_TOKEN_PREFIX
from koji_server.domain.model import Permission
from koji_server.observability.logs import RequestFields, json_formatter, quiet_libraries
from koji_server.operations.projects import AdminService
from koji_server.pipeline.executor import make_analysis_executor
from koji_server.storage import migrate
from koji_server.storage.backends import open_database
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from koji_server.webhooks.signing import SECRET_PREFIX
from tests.envoy_process import EnvoyProcess
from tests.helpers import FakeTicks
from tests.mcp_stack import McpProcess
from tests.receiver import Receiver
from tools.local_postgres import ThrowawayPostgres

# Every server the tests start, in this process or as a subprocess, serves its
# metrics on a free port: the default (9464) may be taken.
os.environ["KOJI_METRICS_LISTEN"] = "127.0.0.1:0"
# Every analysis process the tests start (some forty) loads the classifier
# trained by the first, from the checkout's build/ (a clean clone trains once).
os.environ.setdefault(
    "KOJI_CLASSIFIER_CACHE", str(Path(__file__).resolve().parents[1] / "build" / "classifier")
)

# CI replays a fixed set of examples so that a run is reproducible; locally
# every run explores new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# What an API key, a session token or a webhook signing secret looks like.
SECRET_LOOKING = re.compile(
    rf"(?:{API_KEY_PREFIX}|{SESSION_TOKEN_PREFIX}|{SECRET_PREFIX})[A-Za-z0-9_\-+/=]{{6,}}"
)


class LogLines(logging.Handler):
    """Every log line of this process, at DEBUG, as the server would write it
    (same formatter, same libraries kept quiet)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.addFilter(RequestFields())
        self.setFormatter(json_formatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:
            self.handleError(record)

    def secrets(self) -> list[str]:
        return [line for line in self.lines if SECRET_LOOKING.search(line)]


@pytest.fixture(scope="session", autouse=True)
def log_lines() -> Iterator[LogLines]:
    handler = LogLines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    quiet_libraries()  # as koji-server does at every level
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(autouse=True)
def no_secrets_in_logs(log_lines: LogLines) -> Iterator[None]:
    """Fails any test during which a line that looks like a credential was
    logged (by the servers it ran, the pipeline, the libraries), at DEBUG."""
    log_lines.lines.clear()
    yield
    leaked = log_lines.secrets()
    log_lines.lines.clear()
    if leaked:
        pytest.fail(f"a credential reached the logs: {leaked[:3]}")


ALL_PERMISSIONS = frozenset(Permission)
# Short, so that revocation tests need not wait long.
AUTH_CACHE_SECONDS = 0.3
QUESTIONS = [
    "How did you first hear about us?",
    "What was the hardest part of getting started?",
    "What would you change first?",
]


@dataclass(frozen=True)
class Tenant:
    """A project with a full-permission key and a study."""

    project_id: str
    api_key: str
    key_id: str
    study_id: str


async def make_tenant(
    database_url: str,
    permissions: frozenset[Permission] = ALL_PERMISSIONS,
    rate_limit: int = 100_000,
) -> Tenant:
    database = open_database(database_url)
    try:
        admin = AdminService(UnitOfWorkFactory(database))
        project_id = await admin.create_project("Test project")
        key = await admin.create_key(project_id, "test key", permissions, rate_limit)
        study_id = await admin.create_study(project_id, "our onboarding", QUESTIONS)
    finally:
        await database.dispose()
    return Tenant(project_id, key.api_key, key.key_id, study_id)


async def make_guide_tenant(database_url: str) -> Tenant:
    """A tenant whose study has the realistic guide of tests.transcripts."""
    from tests.transcripts import GUIDE, TITLE

    tenant = await make_tenant(database_url)
    database = open_database(database_url)
    try:
        study = await AdminService(UnitOfWorkFactory(database)).create_study(
            tenant.project_id, TITLE, list(GUIDE)
        )
    finally:
        await database.dispose()
    return Tenant(tenant.project_id, tenant.api_key, tenant.key_id, study)


async def add_key(
    database_url: str, project_id: str, permissions: frozenset[Permission], rate_limit: int = 60
) -> str:
    database = open_database(database_url)
    try:
        admin = AdminService(UnitOfWorkFactory(database))
        return (await admin.create_key(project_id, "extra", permissions, rate_limit)).api_key
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def analysis_executor() -> Iterator[Executor]:
    """One analysis process pool for the whole run (spawning one per server
    would cost a second each)."""
    executor = make_analysis_executor()
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the head revision, made once by the real upgrade
    (`koji-admin db upgrade`'s code, about 30 ms); each test database is a
    copy of it (about 0.2 ms)."""
    path = tmp_path_factory.mktemp("template") / "koji.db"
    asyncio.run(migrate.upgrade(sqlite_url(path)))
    leftovers = sorted(p.name for p in path.parent.iterdir() if p != path)
    assert not leftovers, f"the template's WAL was not checkpointed: {leftovers}"
    return path


def copy_of(template: Path, path: Path) -> str:
    """A fresh database at `path`, at the head revision; its URL."""
    shutil.copyfile(template, path)
    return sqlite_url(path)


@pytest.fixture
def database_path(tmp_path: Path, sqlite_template: Path) -> Path:
    path = tmp_path / "koji.db"
    copy_of(sqlite_template, path)
    return path


# The engine under test (issue 16: the whole suite on both engines). `make
# test` runs the suite on SQLite and, alongside, with KOJI_TEST_ENGINE=postgres,
# where every database a test gets from `databases` (`database_url`, and the
# module-scoped servers' databases) is a fresh PostgreSQL database instead of a
# SQLite file.
TEST_ENGINE = os.environ.get("KOJI_TEST_ENGINE", "sqlite")
if TEST_ENGINE not in ("sqlite", "postgres"):
    raise ValueError(f"KOJI_TEST_ENGINE must be sqlite or postgres, got {TEST_ENGINE!r}")
ON_POSTGRES = TEST_ENGINE == "postgres"
# The fixture through which a test's storage follows the engine.
ENGINE_FIXTURE = "databases"


# The suite's tiers (pyproject.toml registers them): `-m unit` runs in
# seconds, `-m "unit or integration"` in a few minutes. A module or test may
# say its tier (`pytestmark = pytest.mark.tooling`); otherwise its fixtures do.
TIERS = ("unit", "integration", "e2e", "tooling")
# Fixtures that put a real Envoy in front of the server: the REST edge.
EDGE_FIXTURES = frozenset({"rest", "sse"})
# Fixtures that give a test a real database.
STORAGE_FIXTURES = frozenset({ENGINE_FIXTURE, "postgres", "sqlite_template"})


def tier_of(item: pytest.Item) -> str:
    for tier in TIERS:
        if item.get_closest_marker(tier) is not None:
            return tier
    fixtures = set(getattr(item, "fixturenames", ()))
    if fixtures & EDGE_FIXTURES:
        return "e2e"
    if fixtures & STORAGE_FIXTURES:
        return "integration"
    return "unit"


def follows_the_engine(item: pytest.Item) -> bool:
    """Whether the PostgreSQL run repeats `item`: it gets its database from
    `databases` (`item.fixturenames`: directly, or through `database_url`,
    `server`, `stub`, `tenant`, `threaded_server`, ...), and it is not a
    tooling test nor one through Envoy (the edge does the same in front of
    either engine; the server behind it is tested on both over gRPC) unless
    it is marked `storage` (what it checks is also the storage's)."""
    fixtures = set(getattr(item, "fixturenames", ()))
    if ENGINE_FIXTURE not in fixtures:
        return False
    if item.get_closest_marker("storage") is not None:
        return True
    return tier_of(item) != "tooling" and not (fixtures & EDGE_FIXTURES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test gets its tier's marker (see `tier_of`). Under
    KOJI_TEST_ENGINE=postgres, the run repeats only what follows the engine
    (`follows_the_engine`); the others touch no storage, only the edge's or
    the tools', or pick their engines themselves (tests/test_migrations.py,
    tests/test_reads_on_both_engines.py, tests/test_server_on_postgres.py,
    tests/test_postgres_storage.py), and already ran in the SQLite run: they
    are deselected (pytest reports how many). A test marked `sqlite_only`
    (SQLite's own machinery: its writer thread, PRAGMAs, its file) is kept
    and skipped, with its reason, so that the run says what it leaves out."""
    for item in items:
        tier = tier_of(item)
        if item.get_closest_marker(tier) is None:
            item.add_marker(getattr(pytest.mark, tier))
    if not ON_POSTGRES:
        return
    kept, deselected = [], []
    for item in items:
        sqlite_only = item.get_closest_marker("sqlite_only")
        if sqlite_only is not None:
            reason = sqlite_only.kwargs.get("reason") or " ".join(map(str, sqlite_only.args))
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))
            kept.append(item)
        elif follows_the_engine(item):
            kept.append(item)
        else:
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


class Databases:
    """Fresh databases at the head revision on the engine under test."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request

    def fresh(self, directory: Path) -> str:
        """A new database (a SQLite file in `directory`, or a PostgreSQL
        database); its URL."""
        if ON_POSTGRES:
            server: ThrowawayPostgres = self._request.getfixturevalue("postgres")
            template: str = self._request.getfixturevalue("postgres_template")
            return server.create_database(f"koji_{uuid.uuid4().hex[:12]}", template)
        template_file: Path = self._request.getfixturevalue("sqlite_template")
        return copy_of(template_file, directory / "koji.db")


@pytest.fixture(scope="session")
def databases(request: pytest.FixtureRequest) -> Databases:
    return Databases(request)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, databases: Databases) -> str:
    """A fresh database on the engine under test; on SQLite the file of
    `database_path`."""
    if ON_POSTGRES:
        return databases.fresh(Path())
    return sqlite_url(request.getfixturevalue("database_path"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    """One PostgreSQL server for the whole run (about a second to start);
    tests make databases in it (`create_database`)."""
    server = ThrowawayPostgres()
    yield server
    server.stop()


POSTGRES_TEMPLATE = "koji_template"


@pytest.fixture(scope="session")
def postgres_template(postgres: ThrowawayPostgres) -> Iterator[str]:
    """A database at the head revision, made by the real upgrade; each test
    copies it."""
    asyncio.run(migrate.upgrade(postgres.create_database(POSTGRES_TEMPLATE)))
    yield POSTGRES_TEMPLATE
    postgres.psql(f'DROP DATABASE "{POSTGRES_TEMPLATE}"')


@pytest.fixture
def postgres_url(postgres: ThrowawayPostgres, postgres_template: str) -> str:
    """A fresh PostgreSQL database at the head revision (CREATE DATABASE from
    the template, about 0.1 s); its asyncpg URL."""
    return postgres.create_database(f"koji_{uuid.uuid4().hex[:12]}", postgres_template)


@pytest.fixture
def ticks() -> FakeTicks:
    """The clock of the `server` fixture's caches: still unless a test moves it."""
    return FakeTicks()


class ServerFactory(Protocol):
    async def __call__(
        self, database_url: str, executor: Executor | None = ..., **settings: Any
    ) -> RunningServer: ...


# What `make_server` gives a server unless the test says otherwise.
SERVER_DEFAULTS: dict[str, Any] = {
    "listen": "127.0.0.1:0",
    "auth_cache_seconds": AUTH_CACHE_SECONDS,
}
_SHARED = object()


@pytest.fixture
async def make_server(
    analysis_executor: Executor, ticks: FakeTicks
) -> AsyncIterator[ServerFactory]:
    """Starts real servers in this process, on `database_url` with the
    test's settings (`Settings` fields), the run's analysis processes (or
    `executor`; None: the server spawns its own) and the `ticks` clock; stops
    them all at the test's end."""
    running: list[RunningServer] = []

    async def make(
        database_url: str, executor: Executor | object | None = _SHARED, **settings: Any
    ) -> RunningServer:
        chosen = analysis_executor if executor is _SHARED else executor
        server = await start_server(
            Settings(**{**SERVER_DEFAULTS, "database_url": database_url, **settings}),
            chosen,  # type: ignore[arg-type]
            ticks,
        )
        running.append(server)
        return server

    yield make  # type: ignore[misc]
    for server in reversed(running):
        await server.stop(0)


@pytest.fixture
async def server(database_url: str, make_server: ServerFactory) -> RunningServer:
    return await make_server(database_url)


@pytest.fixture
async def channel(server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> pb_grpc.InterviewServiceStub:
    return pb_grpc.InterviewServiceStub(channel)


@pytest.fixture
async def tenant(server: RunningServer, database_url: str) -> Tenant:
    return await make_tenant(database_url)


class ThreadedServer:
    """The real server on its own event loop in a thread, for synchronous tests
    (hypothesis drives a blocking client)."""

    def __init__(
        self, database_url: str, executor: Executor | None = None, **settings: Any
    ) -> None:
        self.database_url = database_url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.running: RunningServer = self.run(
            start_server(
                Settings(listen="127.0.0.1:0", database_url=database_url, **settings), executor
            )
        )

    def run(self, coroutine):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def close(self) -> None:
        self.run(self.running.stop(0))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@pytest.fixture(scope="module")
def threaded_server(
    tmp_path_factory: pytest.TempPathFactory, databases: Databases, analysis_executor: Executor
) -> Iterator[ThreadedServer]:
    threaded = ThreadedServer(
        databases.fresh(tmp_path_factory.mktemp("threaded")), analysis_executor
    )
    yield threaded
    threaded.close()


@dataclass
class Rest:
    """A real server and a real Envoy in front of it, plus a tenant and a client."""

    threaded: ThreadedServer
    envoy: EnvoyProcess
    tenant: Tenant
    client: httpx.Client

    def headers(self, session_token: str | None = None, key: str | None = None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {key or self.tenant.api_key}",
            "Content-Type": "application/json",
        }
        if session_token is not None:
            headers["X-Session-Token"] = session_token
        return headers

    def start(self) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/interviews/start",
            json={"study_id": self.tenant.study_id},
            headers=self.headers(),
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def send(self, started: dict[str, Any], content: str) -> httpx.Response:
        return self.client.post(
            f"/api/v1/interviews/{started['interview_id']}/messages",
            json={"content": content},
            headers=self.headers(started["session_token"]),
        )

    def complete(self, started: dict[str, Any], body: object = None) -> httpx.Response:
        return self.client.post(
            f"/api/v1/interviews/{started['interview_id']}/complete",
            json=body,
            headers=self.headers(started["session_token"]),
        )

    def get(self, interview_id: str, key: str | None = None) -> httpx.Response:
        return self.client.get(f"/api/v1/interviews/{interview_id}", headers=self.headers(key=key))


@pytest.fixture(scope="module")
def rest(
    threaded_server: ThreadedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rest]:
    envoy = EnvoyProcess(
        threaded_server.running.port,
        tmp_path_factory.mktemp("envoy"),
        cors_origins=("https://app.example.com",),
    )
    try:
        envoy.wait_ready()
        tenant = threaded_server.run(make_tenant(threaded_server.database_url))
        with httpx.Client(base_url=envoy.base_url, timeout=10) as client:
            yield Rest(threaded_server, envoy, tenant, client)
    finally:
        envoy.stop()


RETRY_BASE = 0.2


@pytest.fixture
async def fast_server(database_url: str, make_server: ServerFactory) -> RunningServer:
    """A server that polls for jobs often and retries deliveries soon, to a
    local receiver."""
    return await make_server(
        database_url,
        pipeline_poll_seconds=0.05,
        webhook_retry_base_seconds=RETRY_BASE,
        webhook_timeout_seconds=2.0,
        webhook_allow_private_networks=True,
    )


@pytest.fixture
async def hook_stub(fast_server) -> AsyncIterator[pb_grpc.InterviewServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{fast_server.port}") as channel:
        yield pb_grpc.InterviewServiceStub(channel)


@pytest.fixture
async def hook_tenant(fast_server, database_url) -> Tenant:
    return await make_guide_tenant(database_url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture(scope="module")
def mcp_stack(
    threaded_server: ThreadedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[McpProcess]:
    """koji-mcp behind Envoy (tests.mcp_stack) in front of threaded_server."""
    stack = McpProcess(
        threaded_server.running.port, threaded_server.database_url, tmp_path_factory.mktemp("mcp")
    )
    try:
        stack.wait_ready()
        yield stack
    finally:
        stack.stop()
