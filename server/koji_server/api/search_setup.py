"""Puts search together for a server: the service over this database's read
units, the vector cache, and the encoder of queries, which runs in a worker
process (the server process never loads the analysis's libraries)."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import datetime
from typing import Any

import numpy as np

from koji_server.domain.page_tokens import PageTokens
from koji_server.domain.search import NearestVectors, SearchReads, SearchService
from koji_server.pipeline import search_index
from koji_server.storage.search_store import SearchStore, VectorRow
from koji_server.storage.search_vectors import VectorIndex
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from koji_server.support.clock import precise_now

# Queries asked again (paging, a dashboard's refresh) skip the worker.
CACHED_QUERIES = 1024


class QueryEncoder:
    """A query's vector, computed in a worker process: the analysis pool a
    caller shares (the tests), else a one-process pool of its own, spawned
    on the first search."""

    def __init__(self, executor: Executor | None = None) -> None:
        self._executor = executor
        self._owns = executor is None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._warm_up: asyncio.Future[bool] | None = None

    def start(self) -> None:
        """Spawn the worker and load the encoder now, not on the first
        search (seconds on a busy machine)."""
        if self._executor is None:
            self._executor = self._spawn()
        self._warm_up = asyncio.get_running_loop().run_in_executor(
            self._executor, search_index.warm_up
        )

    @staticmethod
    def _spawn() -> Executor:
        # Not the analysis pool's lowered priority: a search waits on it.
        return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))

    async def __call__(self, text: str) -> np.ndarray:
        if text in self._cache:
            self._cache.move_to_end(text)
            return self._cache[text]
        if self._executor is None:
            self._executor = self._spawn()
        loop = asyncio.get_running_loop()
        raw = await loop.run_in_executor(self._executor, search_index.encode_query, text)
        vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        self._cache[text] = vector
        if len(self._cache) > CACHED_QUERIES:
            self._cache.popitem(last=False)
        return vector

    def close(self) -> None:
        if self._warm_up is not None:
            self._warm_up.cancel()
        if self._owns and self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def make_search(
    units: UnitOfWorkFactory,
    page_tokens: PageTokens,
    executor: Executor | None = None,
    clock: Callable[[], datetime] = precise_now,
) -> tuple[SearchService, QueryEncoder]:
    index = VectorIndex(clock)

    async def read(work: Callable[[SearchReads], Any]) -> Any:
        return await units.read(lambda uow: work(SearchStore(uow.session)))

    async def rows(project_id: str, since: datetime | None) -> list[VectorRow]:
        return await units.read(lambda uow: SearchStore(uow.session).vector_rows(project_id, since))

    async def vectors_of(project_id: str) -> NearestVectors:
        return await index.project(project_id, rows)

    encoder = QueryEncoder(executor)
    return SearchService(read, vectors_of, encoder, page_tokens), encoder
