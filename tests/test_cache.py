"""The TTL + LRU cache on a clock the test moves."""

from __future__ import annotations

import pytest

from koji_server.support.cache import TtlCache
from tests.helpers import FakeTicks

pytestmark = pytest.mark.unit


def test_an_entry_lives_its_ttl_and_not_a_tick_longer() -> None:
    ticks = FakeTicks()
    cache: TtlCache[str, int] = TtlCache(2.0, 10, ticks)
    cache.put("a", 1)
    ticks.advance(2.0)
    assert cache.get("a") == 1
    ticks.advance(0.001)
    assert cache.get("a") is None


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: TtlCache[str, int] = TtlCache(60, 2, FakeTicks())
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now b is the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_a_ttl_of_zero_stores_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(0, 10, FakeTicks())
    cache.put("a", 1)
    assert cache.get("a") is None


def test_discard_drops_an_entry() -> None:
    cache: TtlCache[str, int] = TtlCache(60, 10, FakeTicks())
    cache.put("a", 1)
    cache.discard("a")
    cache.discard("never there")
    assert cache.get("a") is None
