"""Single flight: concurrent calls for one key share one in-flight load.

A burst of requests for something not yet cached (an interview, or an API
key whose cache entry just expired) must not become a burst of identical
queries: the first caller loads, the others await the same result (or the
same error).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")


class SingleFlight(Generic[Key, Value]):
    def __init__(self) -> None:
        self._inflight: dict[Key, asyncio.Future[Value]] = {}

    async def run(
        self,
        key: Key,
        load: Callable[[], Awaitable[Value]],
        on_loaded: Callable[[Value], None] | None = None,
    ) -> Value:
        """The result of `load()`, or of the one already running for `key`.
        `on_loaded` sees each successful result once (to cache it)."""
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(load())
            self._inflight[key] = future
            future.add_done_callback(lambda done: self._finished(key, done, on_loaded))
        # Shielded: one caller giving up does not cancel the others' load.
        return await asyncio.shield(future)

    def _finished(
        self,
        key: Key,
        done: asyncio.Future[Value],
        on_loaded: Callable[[Value], None] | None,
    ) -> None:
        del self._inflight[key]
        if done.cancelled() or done.exception() is not None:  # (marks it retrieved)
            return
        if on_loaded is not None:
            on_loaded(done.result())
