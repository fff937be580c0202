"""Log lines: one JSON object per line (default) or text for local runs.

Every line has `time`, `level`, `event` (the message) and `logger`; lines
written while an RPC runs add `rpc`, `request_id` and, once known,
`project_id` and `interview_id`; the line that ends an RPC adds `code` and
`duration_ms`. Credentials (API keys, session tokens, webhook secrets) are
never logged: nothing logs request metadata, and the tests fail on any line
that looks like one.
"""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

from koji_server.observability.context import current

CONTEXT_FIELDS = ("rpc", "request_id", "project_id", "interview_id")
TEXT_FIELDS = (*CONTEXT_FIELDS, "code", "duration_ms")
# Libraries kept at WARNING whatever the level: httpx/httpcore log full URLs
# at INFO (webhook URLs may hold tokens); SQLAlchemy and the database drivers
# log statements with their parameters at INFO/DEBUG (webhook secrets, key
# hashes).
QUIET_LOGGERS = ("httpx", "httpcore", "sqlalchemy", "aiosqlite", "asyncpg", "psycopg")


class RequestFields(logging.Filter):
    """Adds the current RPC's fields to a record (unless the call set them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current()
        if context is not None:
            for name in CONTEXT_FIELDS:
                value = getattr(context, name)
                if value is not None and not hasattr(record, name):
                    setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    """The classic line, then the request fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(
            f"{name}={getattr(record, name)}" for name in TEXT_FIELDS if hasattr(record, name)
        )
        return f"{line} [{extra}]" if extra else line


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "{levelname}{message}{name}",
        style="{",
        timestamp="time",
        rename_fields={"levelname": "level", "message": "event", "name": "logger"},
    )


def make_handler(log_format: str) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.addFilter(RequestFields())
    handler.setFormatter(json_formatter() if log_format == "json" else TextFormatter())
    return handler


def configure(level: str, log_format: str) -> None:
    """The process's logging: one handler on stderr in the chosen format."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(make_handler(log_format))
    root.setLevel(level)
    quiet_libraries()


def quiet_libraries() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
