"""The interview use cases behind one object: the authenticator
(`domain.auth`), the commands (`domain.interview_commands`) and the queries
(`domain.interview_queries`), wired to one change feed and one clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from koji_server.domain.auth import Authenticator, require
from koji_server.domain.changes import ChangeFeed, Completed
from koji_server.domain.conversation import Listener, Wording
from koji_server.domain.interview_commands import InterviewCommands, new_id
from koji_server.domain.interview_queries import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    InterviewQueries,
    InterviewQuery,
)
from koji_server.domain.page_tokens import PageTokens
from koji_server.domain.ports import UnitOfWorkFactory
from koji_server.support.clock import Clock, Ticks, precise_now

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "CacheSettings",
    "InterviewQuery",
    "InterviewService",
    "new_id",
    "require",
]


@dataclass(frozen=True, slots=True)
class CacheSettings:
    auth_seconds: float = 2.0
    final_interview_seconds: float = 60.0
    final_interview_entries: int = 10_000
    ticks: Ticks = time.monotonic


class InterviewService:
    """Authenticate, then start, converse, complete and read interviews."""

    def __init__(
        self,
        units: UnitOfWorkFactory,
        listener: Listener,
        on_completed: Callable[[], None] | None = None,
        caching: CacheSettings | None = None,
        page_tokens: PageTokens | None = None,
        clock: Clock = precise_now,
        changes: ChangeFeed | None = None,
        wording: Wording | None = None,
    ) -> None:
        caching = caching or CacheSettings()
        # Where committed changes are announced to watchers (none: not announced).
        changes = changes or ChangeFeed()
        self.authenticator = Authenticator(units, caching.auth_seconds, caching.ticks)
        if on_completed is not None:
            changes.on_committed(Completed, lambda _interview_id, _change: on_completed())
        # `listener` reads answers for the conversation engine
        # (interviewer.listening); `wording`: a language model that words its
        # moves (interviewer.llm; None: the built-in wording).
        self.commands = InterviewCommands(units, changes, clock, listener=listener, wording=wording)
        self.queries = InterviewQueries(
            units,
            changes,
            page_tokens,
            clock,
            caching.final_interview_seconds,
            caching.final_interview_entries,
            caching.ticks,
        )
        self.authenticate = self.authenticator.authenticate
        self.warm = self.commands.warm
        self.start_interview = self.commands.start_interview
        self.send_message = self.commands.send_message
        self.stream_message = self.commands.stream_message
        self.complete_interview = self.commands.complete_interview
        self.complete_as_operator = self.commands.complete_as_operator
        self.usage = self.queries.usage
        self.list_interviews = self.queries.list_interviews
        self.get_interview = self.queries.get_interview
