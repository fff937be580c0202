"""The process pool that runs analyses off the event loop.

Spawned (not forked: forking a process that runs grpc is unsafe), one worker
by default. The entry point imports the analysis lazily so that
scikit-learn is loaded in the worker process only.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass

from koji_server.domain.analysis_input import AnalysisOutput, TranscriptInput


def analyze_in_worker(transcript: TranscriptInput) -> AnalysisOutput:
    from koji_server.analysis.analyze import analyze

    return analyze(transcript)


@dataclass(frozen=True, slots=True)
class MeasuredAnalysis:
    """An analysis and the figures the worker process measured, sent back
    together so the server's metrics see them (a worker's own metrics would
    be lost with the process)."""

    output: AnalysisOutput
    seconds: float


def analyze_measured(transcript: TranscriptInput) -> MeasuredAnalysis:
    started = time.perf_counter()
    output = analyze_in_worker(transcript)
    return MeasuredAnalysis(output, time.perf_counter() - started)


def warm_up() -> bool:
    """Import the analysis stack, load the embeddings and train the sentence
    classifier ahead of the first job (about a second, which the first
    completions would otherwise wait for)."""
    from koji_server.analysis import classifier, embedding

    embedding.model()
    classifier.trained()
    return True


# Analyses are background work: where they share CPUs with the server (or
# anything else), the requests go first.
WORKER_NICENESS = 10


def _initialize(parent_pid: int, cpus: frozenset[int] | None) -> None:
    """Worker initializer: run at a lower priority, on the CPUs given
    (keeping analyses off the event loop's core), and leave when the server
    dies (even by kill -9) instead of lingering as an orphan that holds its
    pipes and memory."""
    os.nice(WORKER_NICENESS)
    if cpus:
        os.sched_setaffinity(0, cpus)
    # One analysis is small matrices: BLAS threads only contend for the CPUs.
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def make_analysis_executor(workers: int = 1, cpus: frozenset[int] | None = None) -> Executor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_initialize,
        initargs=(os.getpid(), cpus),
    )
