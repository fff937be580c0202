"""Builds and runs the gRPC server: storage, services, servicer, health, reflection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from koji.v1 import interview_service_pb2 as pb
from koji_server.api.handlers import (
    LINK_SERVICE,
    SEARCH_SERVICE,
    SERVICE,
    STUDY_SERVICE,
    add_service,
)
from koji_server.api.link_servicer import LinkServicer
from koji_server.api.observe import ObservingInterceptor
from koji_server.api.ratelimit import KeyRateLimiter, RateLimiter
from koji_server.api.search_servicer import SearchServicer
from koji_server.api.search_setup import QueryEncoder, make_search
from koji_server.api.servicer import InterviewServicer, RpcCall, rpc_call
from koji_server.api.study_servicer import StudyServicer
from koji_server.config import Settings
from koji_server.domain.changes import AnalysisReady, ChangeFeed, Completed
from koji_server.domain.links import LinkService, StartLimiter
from koji_server.domain.model import OPERATOR, Analysis
from koji_server.domain.page_tokens import PageTokens
from koji_server.domain.services import CacheSettings, InterviewService
from koji_server.domain.studies import StudyService
from koji_server.domain.watching import InterviewWatcher
from koji_server.observability.metrics import Metrics, MetricsEndpoint
from koji_server.observability.metrics import serve as metrics_serve
from koji_server.pipeline.analysis_runner import AnalysisRunner
from koji_server.pipeline.executor import make_analysis_executor
from koji_server.pipeline.jobs import Claim, JobQueue
from koji_server.queueing.settings import QueueSettings
from koji_server.queueing.worker import QueueWorker
from koji_server.storage.backends import Storage, open_database
from koji_server.storage.change_relay import PostgresChangeRelay
from koji_server.storage.postgres import PostgresDatabase
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from koji_server.support.clock import Ticks, precise_now
from koji_server.webhooks.deliveries import DeliveryClaim, DeliveryQueue, delivery_settings
from koji_server.webhooks.runner import DeliveryRunner

log = logging.getLogger(__name__)

# What gRPC clients accept by default (4 MiB), stated rather than implied: the
# per-interview limits (domain.validation) keep the largest GetInterview
# response well under it, so every interview is readable by a default client.
MAX_SEND_MESSAGE_BYTES = 4 * 1024 * 1024
# Request metadata: one limit (soft = hard), so a request is not refused at
# random between the two; Envoy's header limit (tools/envoy_config.py, MAX_HEADER_KB)
# keeps REST requests well under it.
MAX_METADATA_BYTES = 16 * 1024
SERVER_OPTIONS = (
    ("grpc.max_send_message_length", MAX_SEND_MESSAGE_BYTES),
    ("grpc.max_metadata_size", MAX_METADATA_BYTES),
    ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    database: Storage
    health: health.aio.HealthServicer
    pipeline: Pipeline | None
    metrics: Metrics
    watcher: InterviewWatcher
    changes: ChangeFeed
    metrics_endpoint: MetricsEndpoint | None = None
    relay: PostgresChangeRelay | None = None
    limiter: RateLimiter | None = None
    search_encoder: QueryEncoder | None = None

    @property
    def metrics_port(self) -> int | None:
        return self.metrics_endpoint.port if self.metrics_endpoint is not None else None

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        # Watch streams would last the whole grace period: end them now.
        self.watcher.shut_down()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.watcher.wait_closed()
        await self.server.stop(grace)
        if self.pipeline is not None:
            await self.pipeline.stop(grace)
        if self.relay is not None:
            await self.relay.stop()
        if self.limiter is not None:
            await self.limiter.close()
        if self.search_encoder is not None:
            self.search_encoder.close()
        if self.metrics_endpoint is not None:
            await asyncio.to_thread(self.metrics_endpoint.stop)
        await self.database.dispose()


@dataclass
class Pipeline:
    """This process's workers: analysis jobs, then webhook deliveries."""

    analysis: QueueWorker[Claim]
    runner: AnalysisRunner
    webhooks: QueueWorker[DeliveryClaim]
    sender: DeliveryRunner

    def start(self) -> None:
        self.runner.start()
        self.analysis.start()
        self.webhooks.start()

    async def stop(self, grace: float) -> None:
        await self.analysis.stop(grace)
        await self.runner.stop()
        await self.webhooks.stop(grace)
        await self.sender.close()


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def build_pipeline(
    settings: Settings,
    units: UnitOfWorkFactory,
    executor: Executor | None,
    metrics: Metrics | None = None,
    changes: ChangeFeed | None = None,
) -> Pipeline:
    changes = changes or ChangeFeed()
    queue = JobQueue(
        units,
        QueueSettings(
            lease_seconds=settings.job_lease_seconds,
            max_attempts=settings.job_max_attempts,
            retry_base_seconds=settings.job_retry_base_seconds,
        ),
        worker_id(),
        changes=changes,
    )
    deliveries = DeliveryQueue(
        units,
        delivery_settings(
            max_retries=settings.webhook_max_retries,
            retry_base_seconds=settings.webhook_retry_base_seconds,
            lease_seconds=settings.webhook_lease_seconds,
        ),
    )
    sender = DeliveryRunner(
        deliveries,
        settings.webhook_timeout_seconds,
        settings.webhook_allow_private_networks,
        metrics,
    )
    webhooks = QueueWorker(
        "webhook-worker",
        deliveries.claim,
        sender.process,
        deliveries.next_due_at,
        concurrency=settings.webhook_concurrency,
        poll_interval=settings.pipeline_poll_seconds,
    )
    runner = AnalysisRunner(
        queue,
        lambda: make_analysis_executor(settings.analysis_workers, settings.analysis_cpu_set),
        executor,
        database_url=settings.database_url,
        metrics=metrics,
    )
    # A stored analysis: its study's report, and its webhook deliveries.
    changes.on_committed(AnalysisReady, runner.analysis_stored)
    changes.on_committed(AnalysisReady, lambda _interview_id, _change: webhooks.wake())
    analysis = QueueWorker(
        "analysis-worker",
        queue.claim,
        runner.process,
        queue.next_due_at,
        concurrency=settings.pipeline_concurrency,
        poll_interval=settings.pipeline_poll_seconds,
    )
    return Pipeline(analysis, runner, webhooks, sender)


def _bind(server: grpc.aio.Server, listen: str) -> int:
    try:
        return server.add_insecure_port(listen)
    except RuntimeError as error:  # grpc's way of saying the bind failed
        raise OSError(f"cannot listen on {listen}: {error}") from None


async def start_server(
    settings: Settings, analysis_executor: Executor | None = None, ticks: Ticks = time.monotonic
) -> RunningServer:
    """Open the database (refusing a schema other than the migrations' head:
    `koji-admin db upgrade` applies them), start the pipeline worker, then
    serve on settings.listen. `analysis_executor` lets a caller share one
    process pool between servers (the tests do); by default each server
    spawns its own. `ticks` times the caches (tests move a fake)."""
    database = open_database(settings.database_url, settings.sqlite_synchronous)
    try:
        await database.check_schema()
    except BaseException:
        await database.dispose()
        raise
    metrics = Metrics()
    database.observe_commits(metrics.batch_committed)
    metrics.watch_queues(database.queue_depths)
    units = UnitOfWorkFactory(database)
    changes = ChangeFeed()
    pipeline = (
        build_pipeline(settings, units, analysis_executor, metrics, changes)
        if settings.pipeline_enabled
        else None
    )

    server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=(ObservingInterceptor(metrics),))
    page_tokens = PageTokens(
        settings.page_token_secret.encode() if settings.page_token_secret else os.urandom(32)
    )
    if pipeline is not None:
        # A completion: its analysis job is due.
        changes.on_committed(Completed, lambda _interview_id, _change: pipeline.analysis.wake())
    service = InterviewService(
        units,
        caching=CacheSettings(
            auth_seconds=settings.auth_cache_seconds,
            final_interview_seconds=settings.final_interview_cache_seconds,
            ticks=ticks,
        ),
        page_tokens=page_tokens,
        changes=changes,
    )
    watcher = InterviewWatcher(
        service.queries,
        changes,
        heartbeat_seconds=settings.stream_heartbeat_seconds,
        streams_per_key=settings.watch_streams_per_key,
    )
    metrics.watch_streams(lambda: watcher.open_streams)
    relay = None
    if isinstance(database, PostgresDatabase):
        if not settings.page_token_secret:
            log.warning(
                "KOJI_PAGE_TOKEN_SECRET is not set: ListInterviews page tokens from this "
                "server are good on it only; give every replica on the database the same one"
            )
        # Replicas on one database hear each other's changes.

        async def read_analysis(interview_id: str) -> Analysis | None:
            return (await service.get_interview(OPERATOR, interview_id)).analysis

        relay = PostgresChangeRelay(database.connect_args(), changes, read_analysis, precise_now)
        try:
            await relay.start()
        except BaseException:
            await database.dispose()
            raise
        changes.relay_to(relay.send)
    # One per key across both services; replicas on one PostgreSQL database
    # share theirs in it.
    limiter: RateLimiter = KeyRateLimiter()
    if isinstance(database, PostgresDatabase):
        from koji_server.api.ratelimit_postgres import PostgresRateLimiter

        limiter = PostgresRateLimiter(database.connect_args())

    def open_call(context: grpc.aio.ServicerContext) -> AbstractAsyncContextManager[RpcCall]:
        return rpc_call(context, service.authenticator, limiter)

    add_service(InterviewServicer(service, watcher), server, SERVICE, open_call)
    studies = StudyService(units, page_tokens)
    add_service(
        LinkServicer(
            LinkService(units, settings.public_url),
            service.commands,
            StartLimiter(settings.link_starts_per_address, settings.link_starts_per_link, ticks),
        ),
        server,
        LINK_SERVICE,
        open_call,
    )
    add_service(StudyServicer(studies), server, STUDY_SERVICE, open_call)
    search, search_encoder = make_search(units, page_tokens, analysis_executor)
    add_service(SearchServicer(search), server, SEARCH_SERVICE, open_call)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            SERVICE.full_name,
            STUDY_SERVICE.full_name,
            SEARCH_SERVICE.full_name,
            LINK_SERVICE.full_name,
            health.SERVICE_NAME,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    try:
        port = _bind(server, settings.listen)
        endpoint = (
            metrics_serve(metrics, settings.metrics_listen) if settings.metrics_listen else None
        )
    except OSError:
        await server.stop(None)
        if pipeline is not None:
            await pipeline.stop(0)
        if relay is not None:
            await relay.stop(0)
        await database.dispose()
        raise
    await server.start()
    if pipeline is not None:
        pipeline.start()
    search_encoder.start()
    for name in (
        "",
        SERVICE.full_name,
        STUDY_SERVICE.full_name,
        SEARCH_SERVICE.full_name,
        LINK_SERVICE.full_name,
    ):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving %s on port %d (%s)", pb.DESCRIPTOR.package, port, database.describe())
    if endpoint is not None:
        log.info(
            "metrics at http://%s:%d/metrics",
            settings.metrics_listen.rpartition(":")[0],
            endpoint.port,
        )
    return RunningServer(
        server, port, database, health_servicer, pipeline, metrics, watcher, changes,
        endpoint, relay, limiter, search_encoder,
    )  # fmt: skip
