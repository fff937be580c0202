"""A small TTL + LRU cache (per service instance, never module-level).

Kept rather than `cachetools.TTLCache`: it sits on every authenticated call
(the key cache) and is a dict lookup and a clock read; a TTL of 0 turns it
off (KOJI_FINAL_INTERVIEW_CACHE_SECONDS=0), where TTLCache would store
entries that expire at once; and it is thirty lines against a dependency.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, TypeVar

from koji_server.support.clock import Ticks

Key = TypeVar("Key")
Value = TypeVar("Value")


class TtlCache(Generic[Key, Value]):
    def __init__(self, ttl_seconds: float, max_entries: int, ticks: Ticks = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._ticks = ticks
        self._entries: OrderedDict[Key, tuple[float, Value]] = OrderedDict()

    def get(self, key: Key) -> Value | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < self._ticks():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def discard(self, key: Key) -> None:
        self._entries.pop(key, None)

    def put(self, key: Key, value: Value) -> None:
        if self._ttl <= 0:
            return
        self._entries[key] = (self._ticks() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
