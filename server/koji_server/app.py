"""Builds and runs the gRPC server: storage, services, servicer, health, reflection."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from koji.v1 import interview_service_pb2 as pb
from koji_server.api.handlers import SERVICE, add_interview_service
from koji_server.api.servicer import InterviewServicer
from koji_server.config import Settings
from koji_server.domain.ratelimit import KeyRateLimiter
from koji_server.domain.services import InterviewService
from koji_server.storage.database import Database
from koji_server.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    database: Database
    health: health.aio.HealthServicer

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self.database.dispose()


async def start_server(settings: Settings) -> RunningServer:
    """Open the database (creating the schema), then serve on settings.listen."""
    database = Database(settings.database_url)
    await database.create_schema()
    units = UnitOfWorkFactory(database)

    server = grpc.aio.server()
    add_interview_service(InterviewServicer(InterviewService(units), KeyRateLimiter()), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE.full_name, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(settings.listen)
    if port == 0:
        await database.dispose()
        raise OSError(f"cannot listen on {settings.listen}")
    await server.start()
    for name in ("", SERVICE.full_name):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving %s on port %d (database %s)", pb.DESCRIPTOR.package, port, database.path)
    return RunningServer(server, port, database, health_servicer)
