"""Direct SQL for the hot write paths: one table, statements written once.

Sending a message or completing an interview is three or four statements.
Through the ORM (identity map, unit-of-work flush) or even SQLAlchemy Core
(statement construction, cache keys, execution contexts), the Python around
those statements costs several times what SQLite spends running them, and on
the single writer thread that cost is the throughput limit. These helpers
write each statement once from the table's definition and run it on the
session's own DBAPI connection, in the session's transaction (a read
session on aiosqlite runs the same SQL through SQLAlchemy's connection).

A `DirectTable` is built for one engine's dialect and used only by that
engine's connections: the database keeps one set for the writer thread and
one for the event loop's reads (`storage.repository.DirectTables`), so
neither thread changes what the other reads. On PostgreSQL the write side's
set locks the row it selects by key (`FOR UPDATE`): two write units on one
interview (two completions, say) run one after the other, as SQLite's
single write lock makes them.

Values pass through each column type's own bind and result processors, so
rows written here read back exactly like rows written by the ORM, and the
other way round. Python-side column defaults apply to columns left out of an
insert.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

Processor = Callable[[Any], Any] | None


class DirectTable:
    """Select by primary key, insert and update one table with plain SQL, for
    one dialect."""

    def __init__(self, table: Table, dialect: Dialect, lock_rows: bool = False) -> None:
        (key,) = table.primary_key.columns
        self.table = table
        self.columns = tuple(column.name for column in table.columns)
        self._key = key.name
        self._select_all = f"SELECT {', '.join(self.columns)} FROM {table.name}"
        self._select = f"{self._select_all} WHERE {self._key} = ?"
        if lock_rows:
            self._select += " FOR UPDATE"
        self._insert = (
            f"INSERT INTO {table.name} ({', '.join(self.columns)}) "
            f"VALUES ({', '.join('?' * len(self.columns))})"
        )
        self._updates: dict[tuple[str, ...], str] = {}
        self._defaults = {
            column.name: column.default.arg
            for column in table.columns
            if column.default is not None and column.default.is_scalar
        }
        # dialect_impl: the processors SQLAlchemy itself would use here.
        types = [(column.name, column.type.dialect_impl(dialect)) for column in table.columns]
        self._binders: dict[str, Processor] = {
            name: kind.bind_processor(dialect) for name, kind in types
        }
        self._readers = tuple(kind.result_processor(dialect, None) for _, kind in types)
        self._dialect = dialect
        # SQL in the driver's placeholder style, when it is not qmark.
        self._rendered: dict[str, str] = {}

    def get(self, session: Session, key: str) -> dict[str, Any] | None:
        row = self._execute(self._connect(session), self._select, (key,)).fetchone()
        return None if row is None else self.read(row)

    def where(
        self, session: Session, column: str, value: Any, order_by: str
    ) -> list[dict[str, Any]]:
        """Every row whose `column` equals `value`, ordered by `order_by`."""
        if column not in self.columns or order_by not in self.columns:
            raise ValueError(f"no such columns in {self.table.name}: {column}, {order_by}")
        connection = self._connect(session)
        sql = f"{self._select_all} WHERE {column} = ? ORDER BY {order_by}"
        rows = self._execute(connection, sql, (self.bind(column, value),))
        return [self.read(row) for row in rows]

    def read(self, row: Sequence[Any]) -> dict[str, Any]:
        """A row as the driver returned it (every column, in order) as values."""
        return {
            name: value if read is None or value is None else read(value)
            for name, value, read in zip(self.columns, row, self._readers, strict=True)
        }

    def insert(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        self._execute(self._connect(session), self._insert, [self.bound(row) for row in rows])

    def bound(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """A row to insert as the driver's parameters, every column in order
        (defaults for those left out)."""
        defaults, bind = self._defaults, self.bind
        return tuple(bind(n, row.get(n, defaults.get(n))) for n in self.columns)

    def update(self, session: Session, key: str, values: Mapping[str, Any]) -> int:
        """Set `values` on the row with this key; the number of rows changed."""
        names = tuple(values)
        sql = self._updates.get(names)
        if sql is None:
            unknown = set(names) - set(self.columns)
            if unknown:
                raise ValueError(f"no such columns in {self.table.name}: {sorted(unknown)}")
            assignments = ", ".join(f"{name} = ?" for name in names)
            sql = f"UPDATE {self.table.name} SET {assignments} WHERE {self._key} = ?"
            self._updates[names] = sql
        connection = self._connect(session)
        parameters = (*(self.bind(name, values[name]) for name in names), key)
        return int(self._execute(connection, sql, parameters).rowcount)

    def bind(self, name: str, value: Any) -> Any:
        """A column's value as the driver's parameter."""
        bind = self._binders[name]
        return value if bind is None or value is None else bind(value)

    def _connect(self, session: Session) -> Connection:
        """The session's connection (flushed first, as the ORM's autoflush
        would); it must belong to an engine of this table's dialect."""
        if session.new or session.dirty or session.deleted:
            session.flush()
        connection = session.connection()
        assert connection.dialect is self._dialect, "a DirectTable of another engine"
        return connection

    def _execute(self, connection: Connection, sql: str, parameters: Any) -> Any:
        """A cursor (or result) after running `sql`; a list of parameter
        tuples runs it once for each."""
        driver = connection.connection.driver_connection
        if isinstance(driver, sqlite3.Connection):
            cursor = driver.cursor()
            if isinstance(parameters, list):
                return cursor.executemany(sql, parameters)
            return cursor.execute(sql, parameters)
        # Another driver (aiosqlite or asyncpg, inside AsyncSession.run_sync):
        # the same SQL through SQLAlchemy, which knows how to wait for it, in
        # the driver's placeholder style.
        rendered = self._rendered.get(sql)
        if rendered is None:
            rendered = self._rendered[sql] = placeholders(sql, self._dialect.paramstyle)
        return connection.exec_driver_sql(rendered, parameters)


def placeholders(sql: str, paramstyle: str) -> str:
    """`sql`, written with qmark placeholders (`?`, never inside a literal
    here), in the DBAPI's `paramstyle`: `$1, $2` for asyncpg, `%s` for
    psycopg."""
    if paramstyle == "qmark":
        return sql
    head, *rest = sql.split("?")
    if paramstyle == "numeric_dollar":
        marks = [f"${n}" for n in range(1, len(rest) + 1)]
    elif paramstyle == "numeric":
        marks = [f":{n}" for n in range(1, len(rest) + 1)]
    elif paramstyle in ("format", "pyformat"):
        marks = ["%s"] * len(rest)
    else:
        raise ValueError(f"no direct SQL for the {paramstyle} placeholder style")
    return head + "".join(mark + text for mark, text in zip(marks, rest, strict=True))
