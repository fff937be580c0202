"""`koji-server`: run the koji.v1 gRPC service until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys

from pydantic import ValidationError

from koji_server.app import start_server
from koji_server.config import LOG_FORMATS, Settings
from koji_server.observability import logs
from koji_server.storage.schema_version import SchemaMismatch


def parse_args(argv: list[str] | None = None) -> Settings:
    try:
        defaults = Settings()
    except ValidationError as invalid:
        sys.exit(f"koji-server: invalid KOJI_* setting: {_first_problem(invalid)}")
    parser = argparse.ArgumentParser(
        prog="koji-server",
        description=(
            "Serve the koji.v1 InterviewService over gRPC (with server reflection and "
            "grpc.health.v1) on an embedded SQLite database or on PostgreSQL. Every flag "
            "can also be set in the environment as KOJI_<NAME>; flags win."
        ),
    )
    parser.add_argument(
        "--listen",
        default=defaults.listen,
        metavar="HOST:PORT",
        help="address to serve on; port 0 picks a free one (env KOJI_LISTEN, default %(default)s)",
    )
    parser.add_argument(
        "--database-url",
        default=defaults.database_url,
        metavar="URL",
        help="SQLAlchemy URL of the SQLite file or the PostgreSQL database "
        "(postgresql+asyncpg://...), at the schema's newest revision: `koji-admin db upgrade` "
        "(env KOJI_DATABASE_URL, default %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default=defaults.log_level,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity (env KOJI_LOG_LEVEL, default %(default)s)",
    )
    parser.add_argument(
        "--log-format",
        default=defaults.log_format,
        choices=list(LOG_FORMATS),
        help="json: one JSON object per line; text: for reading locally "
        "(env KOJI_LOG_FORMAT, default %(default)s)",
    )
    parser.add_argument(
        "--metrics-listen",
        default=defaults.metrics_listen,
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics; empty turns it off "
        "(env KOJI_METRICS_LISTEN, default %(default)s)",
    )
    parser.add_argument(
        "--shutdown-grace-seconds",
        type=float,
        default=defaults.shutdown_grace_seconds,
        metavar="SECONDS",
        help="how long in-flight RPCs may finish on SIGTERM/SIGINT "
        "(env KOJI_SHUTDOWN_GRACE_SECONDS, default %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        return Settings(
            listen=args.listen,
            database_url=args.database_url,
            log_level=args.log_level,
            log_format=args.log_format,
            metrics_listen=args.metrics_listen,
            shutdown_grace_seconds=args.shutdown_grace_seconds,
        )
    except ValidationError as invalid:
        sys.exit(f"koji-server: invalid setting: {_first_problem(invalid)}")


def _first_problem(invalid: ValidationError) -> str:
    error = invalid.errors()[0]
    name = "_".join(str(part) for part in error["loc"]).upper()
    return f"KOJI_{name}: {error['msg']}"


log = logging.getLogger("koji_server.main")
SHUTDOWN_MARGIN_SECONDS = 10.0


async def serve(settings: Settings) -> None:
    running = await start_server(settings)
    # Everything loaded so far (grpc, SQLAlchemy, protobuf, ...) lives as long
    # as the process: take it out of the cyclic GC's reach, or each full
    # collection walks all of it and stalls the event loop (README,
    # Benchmarks, for what it cost).
    gc.collect()
    gc.freeze()
    # Machine-readable line for supervisors and tests that asked for port 0.
    print(f"koji-server listening on port {running.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    # A second signal, or a shutdown that outlives its grace by
    # SHUTDOWN_MARGIN_SECONDS, ends the process at once: nothing is lost, as
    # every answered write is already committed.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _exit_now, "a second signal")
    grace = settings.shutdown_grace_seconds
    try:
        await asyncio.wait_for(running.stop(grace), timeout=grace + SHUTDOWN_MARGIN_SECONDS)
    except TimeoutError:
        _exit_now(f"shutdown still running after {grace + SHUTDOWN_MARGIN_SECONDS:.0f} s")


def _exit_now(why: str) -> None:
    log.error("%s: exiting without finishing the graceful shutdown", why)
    logging.shutdown()
    os._exit(1)


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    # httpx's INFO lines (full URLs; webhook URLs may carry tokens) are kept out.
    logs.configure(settings.log_level, settings.log_format)
    try:
        asyncio.run(serve(settings))
    except (OSError, ValueError, SchemaMismatch) as error:
        sys.exit(f"koji-server: {error}")
    # Stopped gracefully: every answered write is committed. The interpreter's
    # own exit would wait for the analysis process to finish what it runs
    # (its warm-up can take seconds on a busy machine); a job it held is
    # claimed again when its lease ends, and the process leaves by itself
    # once its parent is gone (pipeline.executor).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
