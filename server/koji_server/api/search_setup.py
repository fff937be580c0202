"""Puts search together for a server: the service over this database's read
units, the vector cache, and the encoder of queries, which runs in a worker
process (the server process never loads the analysis's libraries)."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

import numpy as np

from koji_server.domain.page_tokens import PageTokens
from koji_server.domain.search import NearestVectors, SearchReads, SearchService
from koji_server.storage import search_index
from koji_server.storage.search_store import SearchStore, VectorRow
from koji_server.storage.search_vectors import VectorIndex
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from koji_server.support.clock import precise_now

# Queries asked again (paging, a dashboard's refresh) skip the worker.
CACHED_QUERIES = 1024
ENCODE_SECONDS = 10.0
log = logging.getLogger(__name__)


class QueryEncoder:
    """A query's vector, computed in a worker process: the analysis pool a
    caller shares (the tests), else a one-process pool of its own, spawned
    and warmed up when the server starts and terminated when it stops (a
    pool that waited for a busy worker would hold the server's exit). A
    query the worker cannot encode in ENCODE_SECONDS is searched by its
    words only."""

    def __init__(self, executor: Executor | None = None) -> None:
        self._executor = executor
        self._pool: Any = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def start(self) -> None:
        """Load the encoder now, not on the first search (seconds on a busy
        machine)."""
        if self._executor is None and self._pool is None:
            # Not the analysis pool's lowered priority: a search waits on it.
            self._pool = multiprocessing.get_context("spawn").Pool(1)
            self._pool.apply_async(search_index.warm_up)

    async def _encode(self, text: str) -> bytes:
        loop = asyncio.get_running_loop()
        if self._executor is not None:
            return await loop.run_in_executor(self._executor, search_index.encode_query, text)
        if self._pool is None:
            self.start()
        future: asyncio.Future[bytes] = loop.create_future()

        def settle(outcome: Any, failed: bool = False) -> None:
            if future.done():
                return
            if failed:
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

        self._pool.apply_async(
            search_index.encode_query,
            (text,),
            callback=lambda raw: loop.call_soon_threadsafe(settle, raw),
            error_callback=lambda error: loop.call_soon_threadsafe(settle, error, True),
        )
        return await future

    async def __call__(self, text: str) -> np.ndarray | None:
        if text in self._cache:
            self._cache.move_to_end(text)
            return self._cache[text]
        try:
            raw = await asyncio.wait_for(self._encode(text), ENCODE_SECONDS)
        except (TimeoutError, OSError, RuntimeError, ValueError) as error:
            log.warning("query not encoded (%s): searched by its words only", error)
            return None
        vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        self._cache[text] = vector
        if len(self._cache) > CACHED_QUERIES:
            self._cache.popitem(last=False)
        return vector

    def close(self) -> None:
        if self._pool is not None:
            # Not terminate(): a worker killed while it loads the encoder
            # leaves its semaphores behind, and the resource tracker then
            # warns on stderr (which holds JSON lines only). The worker
            # finishes its warm-up and exits by itself.
            self._pool.close()
            self._pool.join()
            # The pool's queues release their semaphores when collected.
            self._pool = None
            gc.collect()


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
