"""`koji-admin db`: the schema's migrations.

These commands work on any database the migrations support (a SQLite file,
PostgreSQL), whatever its schema: they are how an out-of-date one is
brought up to date.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from koji_server.storage.schema_version import HEAD_REVISION, UPGRADE_HINT, mismatch

DbCommand = Callable[[str], Awaitable[None]]


async def upgrade(url: str) -> None:
    # Imported here: it loads Alembic (about half of koji-admin's start), which
    # no other command needs.
    from koji_server.storage import migrate

    done = await migrate.upgrade(url)
    where = migrate.display(url)
    if done.before == done.after:
        print(f"{where}: already at {done.after.describe()} (head); nothing to do")
    else:
        print(f"{where}: upgraded from {done.before.describe()} to {done.after.describe()} (head)")


async def current(url: str) -> None:
    from koji_server.storage import migrate

    where = migrate.display(url)
    state = await migrate.current(url)
    if mismatch(state, where) is None:
        print(f"{where}: {state.describe()} (head)")
    else:
        print(
            f"{where}: {state.describe()}; this version needs revision {HEAD_REVISION}: "
            f"{UPGRADE_HINT}"
        )


def add_commands(groups: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The `db` group; its commands set `run_db` instead of `run`."""
    db = groups.add_parser("db", help="the database schema (migrations)").add_subparsers(
        dest="command", required=True, metavar="COMMAND"
    )
    for name, run, text in (
        (
            "upgrade",
            upgrade,
            "Apply the schema migrations this version ships, in one transaction (a SQLite "
            "file of before the migrations is recognised and brought in); nothing to do "
            "when already at the head revision. Creates the schema in an empty database.",
        ),
        ("current", current, "Print the database's schema revision and whether it is the head."),
    ):
        sub = db.add_parser(name, help=text, description=text)
        sub.set_defaults(run_db=run)
