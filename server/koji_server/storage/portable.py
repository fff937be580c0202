"""SQL expressions whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class utf8_bytes(FunctionElement[int]):
    """The length in bytes of a text column's UTF-8 encoding. SQLite counts
    characters in `length(text)` and has no `octet_length` before 3.43;
    PostgreSQL's cast of text to bytea reads backslashes as escapes (and
    fails on some), so each gets its own spelling."""

    type = Integer()
    name = "utf8_bytes"
    inherit_cache = True


@compiles(utf8_bytes)
def _sqlite(element: utf8_bytes, compiler: SQLCompiler, **kw: Any) -> str:
    return f"length(CAST({compiler.process(element.clauses, **kw)} AS BLOB))"


@compiles(utf8_bytes, "postgresql")
def _postgresql(element: utf8_bytes, compiler: SQLCompiler, **kw: Any) -> str:
    return f"octet_length({compiler.process(element.clauses, **kw)})"
