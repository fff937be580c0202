"""The study-report updater's engines (pipeline.study_reports.EngineCache):
a bounded set per process, disposed when evicted or closed."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from koji_server.pipeline.study_reports import EngineCache


def _url(folder: Path, name: str) -> str:
    return f"sqlite+aiosqlite:///{folder / name}.db"


def _used(cache: EngineCache, url: str) -> None:
    """One query on the write engine: its pool then holds a connection."""
    with cache.get(url).write.connect() as connection:
        connection.execute(text("SELECT 1"))


def test_the_least_recently_used_database_is_disposed_beyond_the_bound(tmp_path: Path) -> None:
    cache = EngineCache(size=2)
    first, second, third = (_url(tmp_path, name) for name in ("a", "b", "c"))
    _used(cache, first)
    _used(cache, second)
    evicted = cache.get(second)
    kept = cache.get(first)  # `first` is now the most recently used
    assert evicted.write.pool.checkedin() == 1
    _used(cache, third)
    assert len(cache) == 2
    assert cache.get(first) is kept
    # The evicted engines' connections are closed (their pools replaced).
    assert evicted.write.pool.checkedin() == 0
    assert cache.get(second) is not evicted


def test_close_disposes_every_engine(tmp_path: Path) -> None:
    cache = EngineCache(size=2)
    url = _url(tmp_path, "a")
    _used(cache, url)
    engines = cache.get(url)
    cache.close()
    assert len(cache) == 0
    assert engines.write.pool.checkedin() == 0
    assert cache.get(url) is not engines
