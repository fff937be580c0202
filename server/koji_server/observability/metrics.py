"""The Prometheus metrics of one server, in a registry of its own.

Components are handed a `Metrics` (or nothing) and call its plain methods;
none of them imports prometheus_client. The analysis processes send their
figures back with their results (`pipeline.executor.MeasuredAnalysis`), so
nothing is lost to multiprocessing. Served by `serve()` on its own port.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Seconds: from a cached read (~0.3 ms) to a request that waited on a busy writer.
RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
COMMIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
ANALYSIS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class _QueueDepths(Collector):
    """Jobs and deliveries waiting, read from the database at scrape time
    (the queues live there, shared by every server process)."""

    def __init__(self, read: Callable[[], dict[str, dict[str, int]]]) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        depths = self._read()
        jobs = GaugeMetricFamily(
            "koji_analysis_queue_depth",
            "Analysis jobs not yet done, by status (pending, running)",
            labels=["status"],
        )
        for status, count in sorted(depths.get("jobs", {}).items()):
            jobs.add_metric([status], count)
        deliveries = GaugeMetricFamily(
            "koji_webhook_queue_depth",
            "Webhook deliveries not yet final, by status",
            labels=["status"],
        )
        for status, count in sorted(depths.get("deliveries", {}).items()):
            deliveries.add_metric([status], count)
        return [jobs, deliveries]


class _Live(Collector):
    """Open watch streams and the event loop's tasks, counted at scrape time
    (a stream that is not cleaned up shows as growth in both)."""

    def __init__(self, open_streams: Callable[[], int], loop: asyncio.AbstractEventLoop) -> None:
        self._open_streams = open_streams
        self._loop = loop

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        streams = GaugeMetricFamily("koji_watch_streams_open", "WatchInterview streams open")
        streams.add_metric([], self._open_streams())
        tasks = GaugeMetricFamily("koji_event_loop_tasks", "Tasks alive on the server's event loop")
        # Read from the scrape thread: all_tasks copes with a set that changes meanwhile.
        tasks.add_metric([], len(asyncio.all_tasks(self._loop)))
        return [streams, tasks]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.rpc_requests = Counter(
            "koji_rpc_requests",
            "RPCs answered, by method and gRPC code",
            ["rpc", "code"],
            registry=r,
        )
        self.rpc_seconds = Histogram(
            "koji_rpc_duration_seconds",
            "Time to answer an RPC, by method and gRPC code",
            ["rpc", "code"],
            buckets=RPC_BUCKETS,
            registry=r,
        )
        self.rpc_errors = Counter(
            "koji_rpc_errors",
            "RPCs that failed with a documented error code, by method and code",
            ["rpc", "error"],
            registry=r,
        )
        self.rate_limited = Counter(
            "koji_rate_limited", "Calls refused by a key's rate limit", ["rpc"], registry=r
        )
        self.analysis_seconds = Histogram(
            "koji_analysis_duration_seconds",
            "Time one analysis took in its worker process",
            buckets=ANALYSIS_BUCKETS,
            registry=r,
        )
        self.analysis_latency = Histogram(
            "koji_analysis_latency_seconds",
            "From an interview's completion to its analysis being stored",
            buckets=ANALYSIS_BUCKETS,
            registry=r,
        )
        self.analysis_jobs = Counter(
            "koji_analysis_jobs",
            "Analysis job attempts that ended, by outcome (done, retrying, failed, lost_lease)",
            ["outcome"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "koji_webhook_deliveries",
            "Webhook delivery attempts, by outcome and attempt number",
            ["outcome", "attempt"],
            registry=r,
        )
        self.writer_batch = Histogram(
            "koji_writer_batch_size",
            "Units of work committed together by the writer (group commit)",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.writer_commit_seconds = Histogram(
            "koji_writer_commit_seconds",
            "Time the writer's COMMIT took (the fsync, with synchronous = FULL)",
            buckets=COMMIT_BUCKETS,
            registry=r,
        )
        # Label lookups cost more than the increments: keep the children.
        self._rpc_children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}

    def rpc_answered(self, rpc: str, code: str, seconds: float, error: str | None) -> None:
        children = self._rpc_children.get((rpc, code))
        if children is None:
            children = (
                self.rpc_requests.labels(rpc, code),
                self.rpc_seconds.labels(rpc, code),
            )
            self._rpc_children[(rpc, code)] = children
        children[0].inc()
        children[1].observe(seconds)
        if error is not None:
            self.rpc_errors.labels(rpc, error).inc()
            if error == "rate_limited":
                self.rate_limited.labels(rpc).inc()

    def batch_committed(self, units: int, commit_seconds: float) -> None:
        self.writer_batch.observe(units)
        self.writer_commit_seconds.observe(commit_seconds)

    def analysis_finished(self, outcome: str, seconds: float | None, latency: float | None) -> None:
        self.analysis_jobs.labels(outcome).inc()
        if seconds is not None:
            self.analysis_seconds.observe(seconds)
        if latency is not None:
            self.analysis_latency.observe(latency)

    def webhook_attempted(self, status: str, attempt: int) -> None:
        """`status` is the delivery's status after the attempt: succeeded,
        pending (to be retried) or failed."""
        outcome = "retrying" if status == "pending" else status
        self.webhook_deliveries.labels(outcome, str(attempt)).inc()

    def watch_queues(self, read: Callable[[], dict[str, dict[str, int]]]) -> None:
        self.registry.register(_QueueDepths(read))

    def watch_streams(self, open_streams: Callable[[], int]) -> None:
        """Call from the event loop whose tasks are to be counted."""
        self.registry.register(_Live(open_streams, asyncio.get_running_loop()))


@dataclass
class MetricsEndpoint:
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(metrics: Metrics, listen: str) -> MetricsEndpoint:
    """The /metrics endpoint on `listen` (host:port; port 0 picks a free one)."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"KOJI_METRICS_LISTEN must be HOST:PORT or empty, got {listen!r}")
    try:
        server, thread = start_http_server(int(port), host.strip("[]"), metrics.registry)
    except OSError as error:
        raise OSError(f"cannot serve metrics on {listen}: {error.strerror or error}") from None
    return MetricsEndpoint(server, thread)
