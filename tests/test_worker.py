"""The generic queue worker stops even when a cancellation goes missing."""

from __future__ import annotations

import asyncio
import contextlib

from koji_server.queueing.worker import QueueWorker


async def test_stop_returns_even_if_the_cancellation_is_swallowed() -> None:
    # On Python 3.11 a timeout-guarded wait can lose a cancellation that lands
    # as the wait finishes; a worker that lost it kept polling and shutdown
    # hung (seen in CI and in a bench run). This claim swallows every
    # cancellation it sees, the worst case of that race.
    claims = 0
    polling = asyncio.Event()

    async def swallowing_a_cancellation() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.05)

    async def claim() -> None:
        nonlocal claims
        claims += 1
        if claims >= 3:
            polling.set()
        await swallowing_a_cancellation()

    async def process(_item: object) -> None:
        raise AssertionError("nothing is ever claimed")

    async def next_due_at() -> None:
        await swallowing_a_cancellation()

    worker: QueueWorker[object] = QueueWorker(
        "test", claim, process, next_due_at, concurrency=1, poll_interval=0.001
    )
    worker.start()
    await asyncio.wait_for(polling.wait(), timeout=30)  # it claimed, slept and claimed again
    stopping = asyncio.ensure_future(worker.stop(grace=0.1))
    # asyncio.wait, not wait_for: a timeout must not depend on a cancellation.
    done, _ = await asyncio.wait({stopping}, timeout=5)
    assert stopping in done, "stop() did not return"
    # No polling after stop: nothing of the worker is left to run.
    assert asyncio.all_tasks() == {asyncio.current_task()}
