"""Search by meaning: each project's stored vectors (search_entries), cached
in memory as one numpy matrix with the filter columns beside it, scored by
one matrix-vector product (cosine: the vectors are unit length).

Chosen by measurement over sqlite-vec and PostgreSQL arrays (docs/search.md,
"Vector store"). The cache follows writes from any process: before each
search it reads the project's entries indexed since the last read (an index
range on (project_id, indexed_at), usually no row), with a margin for
clocks of other writers. Vectors of another dimension than the newest
(an encoder change, while a reindex runs) are left out until reindexed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from koji_server.domain.search import (
    NEGATIVE_AT_MOST,
    POSITIVE_AT_LEAST,
    SearchFilters,
)
from koji_server.storage.search_store import VectorRow

# Rows another process indexed with a clock this far behind ours are still
# picked up (a second read of the last moments costs a few rows).
CLOCK_MARGIN = timedelta(seconds=2)
_TYPES = {"pain_point": 1, "request": 2, "praise": 3}


@dataclass
class ProjectVectors:
    """One project's vectors and what the filters read, row-aligned."""

    dimensions: int = 0
    size: int = 0
    row_of: dict[str, int] = field(default_factory=dict)
    message_ids: list[str] = field(default_factory=list)
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    study: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    interview: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    kind: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    theme: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    sentiment: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    quality: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    passed: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    created: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    codes: dict[str, int] = field(default_factory=dict)
    seen_until: datetime | None = None
    read_at: datetime | None = None

    def code(self, value: str | None) -> int:
        """A small integer per distinct id (0: none)."""
        if value is None:
            return 0
        return self.codes.setdefault(value, len(self.codes) + 1)

    def _grow(self, needed: int) -> None:
        capacity = self.matrix.shape[0]
        if needed <= capacity:
            return
        capacity = max(needed, capacity * 2, 1024)

        def grown(array: np.ndarray) -> np.ndarray:
            bigger = np.zeros((capacity, *array.shape[1:]), array.dtype)
            bigger[: self.size] = array[: self.size]
            return bigger

        self.matrix = grown(self.matrix)
        for name in ("study", "interview", "kind", "theme", "sentiment", "quality", "passed"):
            setattr(self, name, grown(getattr(self, name)))
        self.created = grown(self.created)

    def take(self, rows: list[VectorRow]) -> None:
        if not rows:
            return
        newest = max(rows, key=lambda r: r.indexed_at)
        if newest.dimensions != self.dimensions:
            # A new encoder: start again with its vectors only.
            fresh = ProjectVectors(
                dimensions=newest.dimensions, seen_until=self.seen_until, read_at=self.read_at
            )
            fresh.matrix = np.zeros((0, newest.dimensions), np.float32)
            self.__dict__.update(fresh.__dict__)
        rows = [r for r in rows if r.dimensions == self.dimensions]
        self._grow(self.size + len(rows))
        for r in rows:
            at = self.row_of.get(r.message_id)
            if at is None:
                at = self.size
                self.size += 1
                self.row_of[r.message_id] = at
                self.message_ids.append(r.message_id)
            self.matrix[at] = np.frombuffer(r.embedding, dtype="<f4")
            self.study[at] = self.code(r.study_id)
            self.interview[at] = self.code(r.interview_id)
            self.kind[at] = _TYPES.get(r.insight_type or "", 0)
            self.theme[at] = self.code(f"{r.study_id}/{r.theme_id}" if r.theme_id else None)
            self.sentiment[at] = np.nan if r.sentiment is None else r.sentiment
            self.quality[at] = np.nan if r.quality_score is None else r.quality_score
            self.passed[at] = r.passed
            self.created[at] = r.created_at.timestamp()

    def mask(self, filters: SearchFilters, interviews: set[str] | None) -> np.ndarray:
        n = self.size
        keep = np.ones(n, bool)
        if filters.study_id:
            keep &= self.study[:n] == self.codes.get(filters.study_id, -1)
        if filters.type:
            keep &= self.kind[:n] == _TYPES.get(filters.type, -1)
        if filters.theme_id:
            wanted = self.codes.get(f"{filters.study_id}/{filters.theme_id}", -1)
            keep &= self.theme[:n] == wanted
        sentiment = self.sentiment[:n]
        with np.errstate(invalid="ignore"):
            if filters.sentiment == "positive":
                keep &= sentiment >= POSITIVE_AT_LEAST
            elif filters.sentiment == "negative":
                keep &= sentiment <= NEGATIVE_AT_MOST
            elif filters.sentiment == "neutral":
                keep &= (sentiment > NEGATIVE_AT_MOST) & (sentiment < POSITIVE_AT_LEAST)
            if filters.min_quality:
                keep &= self.quality[:n] >= filters.min_quality
        if not filters.include_excluded:
            keep &= self.passed[:n]
        if filters.after is not None:
            keep &= self.created[:n] >= filters.after.timestamp()
        if filters.before is not None:
            keep &= self.created[:n] < filters.before.timestamp()
        if interviews is not None:
            allowed = [self.codes[i] for i in interviews if i in self.codes]
            keep &= np.isin(self.interview[:n], np.array(allowed, np.int32))
        return keep

    def nearest(
        self,
        vector: np.ndarray,
        filters: SearchFilters,
        interviews: set[str] | None,
        limit: int,
        at_least: float,
    ) -> list[tuple[str, float]]:
        """The `limit` most similar messages that pass the filters (and are
        at least `at_least` similar), best first, with their similarity."""
        if self.size == 0 or vector.shape[0] != self.dimensions:
            return []
        scores = self.matrix[: self.size] @ vector
        scores[~self.mask(filters, interviews)] = -np.inf
        scores[scores < at_least] = -np.inf
        count = min(limit, int(np.isfinite(scores).sum()))
        if count == 0:
            return []
        best = np.argpartition(-scores, count - 1)[:count]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.message_ids[i], float(scores[i])) for i in best]

    def similarities(self, vector: np.ndarray, message_ids: list[str]) -> dict[str, float]:
        """The cosine similarity of each given message that has a vector."""
        rows = [self.row_of[m] for m in message_ids if m in self.row_of]
        if not rows or vector.shape[0] != self.dimensions:
            return {}
        scores = self.matrix[rows] @ vector
        return {self.message_ids[r]: float(s) for r, s in zip(rows, scores, strict=True)}


class VectorIndex:
    """The cache of every project searched by meaning in this process."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._projects: dict[str, ProjectVectors] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def project(
        self,
        project_id: str,
        read: Callable[[str, datetime | None], Awaitable[list[VectorRow]]],
    ) -> ProjectVectors:
        """The project's vectors, caught up with the database."""
        lock = self._locks.setdefault(project_id, asyncio.Lock())
        async with lock:
            vectors = self._projects.setdefault(project_id, ProjectVectors())
            since = vectors.seen_until
            # A read made soon after the newest row may have missed rows
            # stamped just before it that committed later: read those
            # moments again until a read comes well after them.
            read_at_last = vectors.read_at
            if (
                since is not None
                and read_at_last is not None
                and read_at_last - since < 2 * CLOCK_MARGIN
            ):
                since -= CLOCK_MARGIN
            read_at = self._clock()
            rows = await read(project_id, since)
            vectors.read_at = read_at
            if rows:
                vectors.take(rows)
                newest = max(r.indexed_at for r in rows)
                if vectors.seen_until is None or newest > vectors.seen_until:
                    vectors.seen_until = newest
            return vectors
