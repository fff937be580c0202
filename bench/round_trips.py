"""Round trips to PostgreSQL per write unit: StartInterview, SendMessage and
CompleteInterview through the domain's use cases (no gRPC, no rate limiter),
on a throwaway PostgreSQL. Counts what asyncpg sends (an `execute`, a
prepared statement's `fetch` or `executemany`, a `prepare` the first time a
connection sees a statement, a connection's own `fetch`, `fetchrow` or
`fetchval`), BEGIN and COMMIT included, for a warm unit (its statements
already prepared) and lists them. A count, not a timing:
the same on a loaded machine.

    .venv/bin/python -m bench.round_trips
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import asyncpg.prepared_stmt

from koji_server.domain.model import InterviewMode, Permission, Respondent, StartedInterview
from koji_server.domain.services import InterviewService
from koji_server.operations.projects import AdminService
from koji_server.storage import migrate
from koji_server.storage.backends import open_database
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from tools.local_postgres import ThrowawayPostgres

ANSWER = "We import spreadsheets every morning and it takes an hour."
# (class, method): each call is one round trip.
SENDING = (
    (asyncpg.connection.Connection, "execute"),
    (asyncpg.connection.Connection, "executemany"),
    (asyncpg.connection.Connection, "fetch"),
    (asyncpg.connection.Connection, "fetchrow"),
    (asyncpg.connection.Connection, "fetchval"),
    (asyncpg.connection.Connection, "prepare"),
    (asyncpg.prepared_stmt.PreparedStatement, "fetch"),
    (asyncpg.prepared_stmt.PreparedStatement, "executemany"),
)


class Recorder:
    """Counts and lists the round trips asyncpg makes while `recording`."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.recording = False
        for cls, name in SENDING:
            self._wrap(cls, name)

    def _wrap(self, cls: type, name: str) -> None:
        original = getattr(cls, name)
        recorder = self

        async def sending(self: Any, *args: Any, **kwargs: Any) -> Any:
            if recorder.recording:
                query = args[0] if isinstance(self, asyncpg.connection.Connection) else None
                query = query if isinstance(query, str) else self.get_query()
                recorder.sent.append(f"{name}: {' '.join(query.split())[:100]}")
            return await original(self, *args, **kwargs)

        setattr(cls, name, sending)

    async def unit(self, label: str, run: Callable[[], Awaitable[Any]]) -> None:
        self.sent, self.recording = [], True
        try:
            await run()
        finally:
            self.recording = False
        kinds = Counter(line.split(":")[0] for line in self.sent)
        print(f"{label}: {len(self.sent)} round trips ({dict(kinds)})")
        for line in self.sent:
            print(f"    {line}")


async def measure(url: str) -> None:
    recorder = Recorder()
    database = open_database(url)
    try:
        units = UnitOfWorkFactory(database)
        admin = AdminService(units)
        project = await admin.create_project("p")
        key = await admin.create_key(project, "k", frozenset(Permission))
        study = await admin.create_study(project, "t", ["q1", "q2", "q3", "q4"])
        service = InterviewService(units)
        principal = await service.authenticate(key.api_key)

        async def start() -> StartedInterview:
            return await service.start_interview(
                principal, study, Respondent(), InterviewMode.TEXT, "en"
            )

        # Warm every connection's statements: units take pooled connections in turn.
        for _ in range(3):
            warm = await start()
            await service.send_message(principal, warm.interview_id, warm.session_token, ANSWER)
            await service.complete_interview(
                principal, warm.interview_id, warm.session_token, None, None
            )
        started: list[StartedInterview] = []

        async def start_one() -> None:
            started.append(await start())

        await recorder.unit("StartInterview", start_one)
        interview = started[-1]
        await recorder.unit(
            "SendMessage",
            lambda: service.send_message(
                principal, interview.interview_id, interview.session_token, ANSWER
            ),
        )
        await recorder.unit(
            "CompleteInterview",
            lambda: service.complete_interview(
                principal, interview.interview_id, interview.session_token, None, None
            ),
        )
    finally:
        await database.dispose()


def main() -> None:
    server = ThrowawayPostgres()
    try:
        url = server.create_database("round_trips")
        asyncio.run(migrate.upgrade(url))
        asyncio.run(measure(url))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
