"""PostgreSQL's conversation writes in two round trips: read, then one statement.

A write unit of work through a session costs BEGIN, a `SELECT ... FOR
UPDATE`, one statement per write and COMMIT: five round trips for a message
or a completion. Here the same unit (the same function of the same
repositories: the entity decides, `InterviewRepository.save` computes what
changed) runs on a pooled asyncpg connection without a transaction:

- reads go straight to asyncpg (one round trip each; the interview's row
  version, PostgreSQL's `xmin`, is read with it);
- the writes (`create`, `save`, `append`, `enqueue`) are kept, and sent when
  the unit returns as ONE statement of data-modifying CTEs, atomic as any
  statement: the interview's UPDATE only where its `xmin` is still the one
  read, the inserts only if that UPDATE happened. If another unit changed the
  row in between, nothing is written and the unit runs again (and sees the
  change: a second completion is answered as already completed, so a
  completion and its analysis job still commit exactly once, together).

A unit that needs anything else (another repository, the session, two
interviews' rows, writes not guarded by the interview they belong to) stops
with `NeedsTransaction` before anything is written and runs in a transaction
as before (storage.postgres); its code is remembered so that it goes there
directly next time. After `MAX_CONFLICTS` lost races a unit also runs there,
where row locks queue it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import CodeType
from typing import Any, NoReturn, TypeVar

import asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.util import await_, greenlet_spawn

from koji_server.storage import postgres
from koji_server.storage.direct import DirectTable
from koji_server.storage.repository import (
    DirectTables,
    InterviewRepository,
    JobRepository,
    StudyRepository,
)
from koji_server.storage.schema import InterviewRow, JobRow, MessageRow, StudyRow

log = logging.getLogger(__name__)

T = TypeVar("T")

# Lost races (another unit changed the interview between the read and the
# write) before a unit runs with row locks instead.
MAX_CONFLICTS = 3


class NeedsTransaction(BaseException):
    """The unit needs what only a transaction offers. A BaseException so
    that no `except Exception` in a unit swallows it."""


class Conflict(Exception):
    """The interview changed between the unit's read and its write."""


def _needs_transaction(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise NeedsTransaction()


class _NoSession:
    """The session of a unit without one: any use asks for a transaction."""

    def __getattr__(self, name: str) -> Any:
        raise NeedsTransaction()


@dataclass
class _Writes:
    """What a unit wrote, in order, to be sent as one statement."""

    # (table, a row's parameters) per inserted row.
    inserts: list[tuple[DirectTable, tuple[Any, ...]]] = field(default_factory=list)
    # (key, changed column names, their parameters) of the interview's update.
    updates: list[tuple[str, tuple[str, ...], tuple[Any, ...]]] = field(default_factory=list)
    # Row versions (xmin) of the interviews read, by id.
    versions: dict[str, int] = field(default_factory=dict)


class _DeferredTable:
    """A DirectTable's interface (storage.direct) over a raw asyncpg
    connection: reads now, writes kept in `writes`."""

    def __init__(
        self, table: DirectTable, connection: asyncpg.Connection, writes: _Writes, select: str
    ) -> None:
        self.table = table
        self.columns = table.columns
        self._connection = connection
        self._writes = writes
        self._select = select

    def get(self, _session: object, key: str) -> dict[str, Any] | None:
        row = await_(self._connection.fetchrow(self._select, key))
        if row is None:
            return None
        if self.table.table.name == InterviewRow.__tablename__:
            self._writes.versions[key] = row[0]
            return self.table.read(row[1:])
        return self.table.read(row)

    def insert(self, _session: object, rows: Sequence[Mapping[str, Any]]) -> None:
        self._writes.inserts.extend((self.table, self.table.bound(row)) for row in rows)

    def update(self, _session: object, key: str, values: Mapping[str, Any]) -> int:
        if self.table.table.name != InterviewRow.__tablename__ or key not in self._writes.versions:
            raise NeedsTransaction()
        names = tuple(values)
        self._writes.updates.append(
            (key, names, tuple(self.table.bind(name, values[name]) for name in names))
        )
        return 1  # or the whole statement writes nothing (a Conflict)

    where = _needs_transaction


class _Interviews(InterviewRepository):
    def respondent_bytes(self, interview_id: str) -> int:
        # The row version guards this read too: an append changes the interview.
        sql = (
            "SELECT coalesce(sum(octet_length(content)), 0) FROM messages"
            " WHERE interview_id = $1 AND role = 'respondent'"
        )
        connection = self._interviews._connection  # type: ignore[attr-defined]
        return int(await_(connection.fetchval(sql, interview_id)))


class _Studies(StudyRepository):
    def __init__(self, table: _DeferredTable) -> None:
        super().__init__(_NoSession())  # type: ignore[arg-type]
        self._table = table

    def get(
        self, study_id: str, project_id: str | None = None, lock: bool = False
    ) -> StudyRow | None:
        if lock:  # for a change to the study: only in a transaction
            raise NeedsTransaction()
        # Read, not locked: as the transactional path reads it for an interview.
        values = self._table.get(None, study_id)
        if values is None or (project_id is not None and values["project_id"] != project_id):
            return None
        return StudyRow(**values)


class _Unit:
    """The unit of work's repositories for one run without a transaction:
    interviews (with their messages), jobs and studies; anything else asks
    for a transaction."""

    def __init__(self, statements: _Statements, connection: asyncpg.Connection) -> None:
        self.writes = _Writes()
        tables = DirectTables(
            statements.deferred(statements.interviews, connection, self.writes),
            statements.deferred(statements.messages, connection, self.writes),
            statements.deferred(statements.jobs, connection, self.writes),
        )
        session: Any = _NoSession()
        self.interviews = _Interviews(session, tables)
        self.jobs = JobRepository(session, tables)
        self.studies = _Studies(statements.deferred(statements.studies, connection, self.writes))

    def __getattr__(self, name: str) -> Any:
        raise NeedsTransaction()


class _Statements:
    """The tables' SQL and parameter types, for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.interviews = DirectTable(InterviewRow.__table__, dialect)
        self.messages = DirectTable(MessageRow.__table__, dialect)
        self.jobs = DirectTable(JobRow.__table__, dialect)
        self.studies = DirectTable(StudyRow.__table__, dialect)
        self._types = {
            table.table.name: tuple(
                column.type.compile(dialect=dialect) for column in table.table.columns
            )
            for table in (self.interviews, self.messages, self.jobs)
        }
        self._selects = {
            table.table.name: f"SELECT {', '.join(table.columns)} FROM {table.table.name}"
            f" WHERE {table.table.primary_key.columns[0].name} = $1"
            for table in (self.messages, self.jobs, self.studies)
        }
        self._selects[self.interviews.table.name] = (
            f"SELECT xmin, {', '.join(self.interviews.columns)} FROM interviews WHERE id = $1"
        )
        self._cache: dict[tuple[Any, ...], str] = {}

    def deferred(
        self, table: DirectTable, connection: asyncpg.Connection, writes: _Writes
    ) -> _DeferredTable:
        return _DeferredTable(table, connection, writes, self._selects[table.table.name])

    def statement(self, writes: _Writes) -> tuple[str, list[Any]] | None:
        """The unit's writes as one statement and its parameters (None: no
        writes); NeedsTransaction when one statement cannot guard them."""
        if not writes.inserts and not writes.updates:
            return None
        if len(writes.updates) > 1:
            raise NeedsTransaction()
        created = {row[0] for table, row in writes.inserts if table.table is InterviewRow.__table__}
        guarded = writes.updates[0][0] if writes.updates else None
        for table, row in writes.inserts:
            if table.table is InterviewRow.__table__:
                owner = row[0]
            else:
                owner = row[table.columns.index("interview_id")]
            # Every write belongs to the interview the statement guards, or to
            # one it creates (then nobody else can have written it).
            if not (owner == guarded if guarded is not None else owner in created):
                raise NeedsTransaction()
        # The statement's shape: which tables get how many rows, which columns change.
        counts: dict[str, int] = {}
        for table, _row in writes.inserts:
            counts[table.table.name] = counts.get(table.table.name, 0) + 1
        names = writes.updates[0][1] if writes.updates else None
        shape = (names, tuple(counts.items()))
        parameters: list[Any] = []
        if writes.updates:
            key, _names, values = writes.updates[0]
            parameters += [key, writes.versions[key], *values]
        for table_name in counts:
            for table, row in writes.inserts:
                if table.table.name == table_name:
                    parameters += row
        sql = self._cache.get(shape)
        if sql is None:
            sql = self._cache[shape] = self._render(names, counts)
        return sql, parameters

    def _render(self, names: tuple[str, ...] | None, counts: dict[str, int]) -> str:
        ctes, number = [], 0

        def mark() -> str:
            nonlocal number
            number += 1
            return f"${number}"

        guard, result = "", "SELECT 1"
        if names is not None:
            key, version = mark(), mark()
            if names:
                assignments = ", ".join(f"{name} = {mark()}" for name in names)
                ctes.append(
                    f"saved AS (UPDATE interviews SET {assignments}"
                    f" WHERE id = {key} AND xmin = {version} RETURNING 1)"
                )
            else:
                ctes.append(
                    f"saved AS (SELECT 1 FROM interviews"
                    f" WHERE id = {key} AND xmin = {version} FOR UPDATE)"
                )
            guard, result = " WHERE EXISTS (SELECT FROM saved)", "SELECT count(*) FROM saved"
        tables = {t.table.name: t for t in (self.interviews, self.messages, self.jobs)}
        for index, (table_name, count) in enumerate(counts.items()):
            columns, types = tables[table_name].columns, self._types[table_name]
            rows = ", ".join(
                "(" + ", ".join(f"{mark()}::{kind}" for kind in types) + ")" for _ in range(count)
            )
            ctes.append(
                f"w{index} AS (INSERT INTO {table_name} ({', '.join(columns)})"
                f" SELECT * FROM (VALUES {rows}) AS v{guard})"
            )
        return f"WITH {', '.join(ctes)} {result}"


class PostgresWrites:
    """Runs write units of work without a transaction where they allow it
    (see the module's docstring), and in one (`transactional`) otherwise."""

    def __init__(self, database: postgres.PostgresDatabase) -> None:
        self._database = database
        self._engine = database.engine
        self._statements = _Statements(self._engine.sync_engine.dialect)
        # Units (by their function's code) that needed a transaction.
        self._transactional: set[CodeType] = set()

    async def write(self, work: Callable[[Any], T], transactional: Callable[[], Awaitable[T]]) -> T:
        """Run `work` once committed, as storage.postgres runs a unit: to its
        end even if the caller gives up."""
        return await self._database.shielded(self._write(work, transactional))

    async def _write(
        self, work: Callable[[Any], T], transactional: Callable[[], Awaitable[T]]
    ) -> T:
        code = getattr(work, "__code__", None)
        if code is None or code in self._transactional:
            return await transactional()
        for attempt in range(1, MAX_CONFLICTS + 1):
            try:
                return await self._run(work)
            except NeedsTransaction:
                self._transactional.add(code)
                break
            except Conflict:
                log.debug("a write unit runs again after a conflict (attempt %d)", attempt)
            except DBAPIError as error:
                if postgres.sqlstate(error) not in postgres.RETRYABLE:
                    raise
                await asyncio.sleep(postgres.RETRY_PAUSE_SECONDS * attempt)
        return await transactional()

    async def _run(self, work: Callable[[Any], T]) -> T:
        async with self._engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
            try:
                return await greenlet_spawn(self._unit, work, driver)
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                if driver.is_closed():  # not back into the pool
                    await connection.invalidate()
                # As SQLAlchemy would wrap it: callers read its SQLSTATE.
                wrap = (
                    IntegrityError
                    if isinstance(error, asyncpg.IntegrityConstraintViolationError)
                    else DBAPIError
                )
                raise wrap(None, None, error) from error  # type: ignore[arg-type]

    def _unit(self, work: Callable[[Any], T], connection: asyncpg.Connection) -> T:
        unit = _Unit(self._statements, connection)
        done = work(unit)
        statement = self._statements.statement(unit.writes)
        if statement is not None:
            sql, parameters = statement
            saved = await_(connection.fetchval(sql, *parameters))
            if unit.writes.updates and saved != 1:
                raise Conflict()
        return done
