"""`make run`: seed a demo project, key and study, then run the service.

Applies the schema migrations (`koji-admin db upgrade`; koji-server itself
refuses an out-of-date schema), prints the demo API key (once) and study id,
starts koji-server and Envoy's REST listener in front of it, and stops both
on Ctrl-C or SIGTERM.

On PostgreSQL (`--postgres`: a throwaway server from Debian's `postgresql`
package in a temporary directory, durable settings, removed on exit; or
`--database-url postgresql+asyncpg://...` for one of your own) it can run
several replicas (`--replicas N`): N koji-server processes on consecutive
ports from --listen's, each with its own metrics port (consecutive from
KOJI_METRICS_LISTEN's, or all off when that is empty), one shared page-token
secret, and Envoy in front of them all (one health-checked round-robin
cluster: a dead replica is ejected). SQLite takes one replica: a SQLite file
has one writing process. Ctrl-C or SIGTERM stops everything it started
(servers, Envoy, the throwaway PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

from koji_server.config import Settings
from koji_server.domain.model import Permission
from koji_server.operations.projects import AdminService
from koji_server.storage import migrate
from koji_server.storage.backends import open_database
from koji_server.storage.postgres import is_postgres
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from tools.envoy_config import EnvoySettings, write

DEMO_QUESTIONS = [
    "How did you first hear about our product?",
    "What were you hoping it would help you with?",
    "What was the hardest part of getting started?",
    "If you could change one thing, what would it be?",
]
POSTGRES_DATABASE = "koji"
STOP_TIMEOUT_SECONDS = 15


class Stop(Exception):
    """SIGTERM (or SIGINT) arrived: stop everything started."""


def _raise_stop(signum: int, _frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


async def seed(database_url: str) -> tuple[str, str]:
    upgraded = await migrate.upgrade(database_url)
    if upgraded.before != upgraded.after:
        print(f"Schema upgraded from {upgraded.before.describe()} to {upgraded.after.describe()}")
    database = open_database(database_url)
    try:
        await database.check_schema()
        admin = AdminService(UnitOfWorkFactory(database))
        project = await admin.create_project("Demo project")
        key = await admin.create_key(project, "demo key", frozenset(Permission))
        study = await admin.create_study(
            project, "getting started with our product", DEMO_QUESTIONS
        )
    finally:
        await database.dispose()
    return key.api_key, study


def consecutive(address: str, count: int) -> list[str]:
    """`address` (HOST:PORT) and the next count-1 ports on the same host
    (port 0, a free port each, stays 0)."""
    host, _, port = address.rpartition(":")
    step = 1 if int(port) else 0
    return [f"{host}:{int(port) + i * step}" for i in range(count)]


def check_free(addresses: list[str]) -> None:
    for address in addresses:
        host, _, port = address.rpartition(":")
        if port == "0":
            continue
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, int(port)))
            except OSError as error:
                sys.exit(f"cannot listen on {address}: {error.strerror} (choose --listen)")


def parse_args(settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--listen", default=settings.listen,
        help="gRPC address of the first replica; the others take the next ports (%(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--database-url", default=None,
        help=f"SQLite file or postgresql+asyncpg://... URL ({settings.database_url})",
    )  # fmt: skip
    parser.add_argument(
        "--postgres", action="store_true",
        help="start a throwaway PostgreSQL (Debian's package, a temporary data directory "
        "removed on exit) and use it (make run DB=postgres)",
    )  # fmt: skip
    parser.add_argument(
        "--replicas", type=int, default=1,
        help="koji-server processes behind Envoy, PostgreSQL only (%(default)s; "
        "make run REPLICAS=3)",
    )  # fmt: skip
    parser.add_argument("--rest-port", type=int, default=8080, help="Envoy listener (%(default)s)")
    parser.add_argument("--admin-port", type=int, default=9901, help="Envoy admin (%(default)s)")
    parser.add_argument(
        "--mcp-port", type=int, default=8090,
        help="koji-mcp's own HTTP port; clients use /mcp on the REST port (%(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser calls from this exact origin (repeatable)",
    )
    args = parser.parse_args()
    if args.postgres and args.database_url is not None:
        parser.error("--postgres starts a PostgreSQL of its own: give it or --database-url")
    if args.database_url is None and not args.postgres:
        args.database_url = settings.database_url
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    if args.replicas > 1 and not (args.postgres or is_postgres(args.database_url)):
        parser.error(
            f"--replicas {args.replicas} needs PostgreSQL (--postgres, make run DB=postgres, or "
            "--database-url postgresql+asyncpg://...): a SQLite file is one process's "
            "(its single writer), so it takes one replica"
        )
    return args


def main() -> None:
    settings = Settings()
    args = parse_args(settings)
    listens = consecutive(args.listen, args.replicas)
    metrics = consecutive(settings.metrics_listen, args.replicas) if settings.metrics_listen else []
    check_free(listens + metrics)

    # From here on SIGTERM unwinds like Ctrl-C: everything started is stopped.
    # (SIGINT explicitly too: a shell starting this in the background leaves
    # SIGINT ignored, and Python then installs no handler of its own.)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    postgres = None
    children: list[subprocess.Popen[bytes]] = []
    code = 0
    try:
        database_url = args.database_url
        if args.postgres:
            from tools.local_postgres import ThrowawayPostgres

            postgres = ThrowawayPostgres(durable=True)
            database_url = postgres.create_database(POSTGRES_DATABASE)
            postmaster = (postgres.data / "postmaster.pid").read_text().split()[0]
            print(
                f"PostgreSQL {postgres.bin.parent.name} started: pid {postmaster}, data in "
                f"{postgres.root} (removed on exit), socket only",
                flush=True,
            )
        api_key, study_id = asyncio.run(seed(database_url))
        code = run(args, settings, database_url, listens, metrics, api_key, study_id, children)
    except (KeyboardInterrupt, Stop):
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if postgres is not None:
            postgres.stop()
            print(f"PostgreSQL stopped, {postgres.root} removed", flush=True)
    sys.exit(code)


def run(
    args: argparse.Namespace,
    settings: Settings,
    database_url: str,
    listens: list[str],
    metrics: list[str],
    api_key: str,
    study_id: str,
    children: list[subprocess.Popen[bytes]],
) -> int:
    """Start the servers and Envoy (appended to `children` as they start);
    wait until one of them exits (its exit code) or a signal arrives."""
    grpc_host = listens[0].rpartition(":")[0]
    ports = [int(address.rpartition(":")[2]) for address in listens]
    rest = f"http://127.0.0.1:{args.rest_port}"
    run_dir = Path(".run")
    run_dir.mkdir(exist_ok=True)
    envoy_config = write(
        EnvoySettings(
            grpc_port=ports[0],
            more_grpc_ports=tuple(ports[1:]),
            grpc_host=grpc_host,
            listen_port=args.rest_port,
            admin_port=args.admin_port,
            cors_origins=tuple(args.cors_origin),
            mcp_port=args.mcp_port,
        ),
        run_dir / "envoy.yaml",
    )
    env = {**os.environ, "KOJI_DATABASE_URL": database_url}
    if len(listens) > 1 and not settings.page_token_secret:
        # ListInterviews' page tokens must verify on every replica.
        env["KOJI_PAGE_TOKEN_SECRET"] = secrets.token_urlsafe(32)
    bin_dir = Path(sys.executable).parent
    for index, listen in enumerate(listens):
        replica_env = {
            **env,
            "KOJI_LISTEN": listen,
            "KOJI_METRICS_LISTEN": metrics[index] if metrics else "",
        }
        # Own process groups: a terminal's Ctrl-C reaches this script only,
        # which then stops each child once (a second signal would cut a
        # koji-server's graceful shutdown short).
        children.append(
            subprocess.Popen([str(bin_dir / "koji-server")], env=replica_env, process_group=0)
        )
    # koji-mcp: the MCP server, a client of the replicas' gRPC API, behind
    # Envoy at /mcp (and its OAuth endpoints).
    mcp_env = {
        **env,
        "KOJI_GRPC_TARGET": ",".join(listens),
        "KOJI_MCP_LISTEN": f"{grpc_host}:{args.mcp_port}",
        "KOJI_MCP_PUBLIC_URL": rest,
    }
    mcp = subprocess.Popen([str(bin_dir / "koji-mcp")], env=mcp_env, process_group=0)
    children.append(mcp)
    envoy = subprocess.Popen(
        [str(bin_dir / "envoy"), "-c", str(envoy_config), "--disable-hot-restart",
         "--log-level", "warn"],
        process_group=0,
    )  # fmt: skip
    children.append(envoy)
    first = listens[0]

    def metrics_at(index: int) -> str:
        if not metrics:
            return "off"
        if metrics[index].endswith(":0"):
            return "on a free port (its log says which)"
        return f"http://{metrics[index]}/metrics"

    replicas = "\n".join(
        f"  replica {i + 1}: gRPC {listen}, metrics {metrics_at(i)}, pid {children[i].pid}"
        for i, listen in enumerate(listens)
    )
    print(
        f"""
Demo project seeded in {database_url}
  API key  : {api_key}   (shown once; stored as a hash)
  study id : {study_id}
{replicas}
  REST     : {rest}   (Envoy, pid {envoy.pid}; round robin over {len(listens)} \
replica(s); health at {rest}/healthz)
  Envoy    : http://127.0.0.1:{args.admin_port}/clusters (replicas' health), \
/stats/prometheus
  (reflection on: grpcurl -plaintext {first} list)
  MCP      : {rest}/mcp   (koji-mcp, pid {mcp.pid}; Authorization: Bearer <API key>, \
or OAuth: docs/mcp.md)

Start an interview over REST:
  curl -X POST {rest}/api/v1/interviews/start \\
    -H "Authorization: Bearer {api_key}" -H "Content-Type: application/json" \\
    -d '{{"study_id": "{study_id}"}}'
or over gRPC:
  .venv/bin/grpcurl -plaintext -H 'authorization: Bearer {api_key}' \\
    -d '{{"study_id": "{study_id}"}}' {first} koji.v1.InterviewService/StartInterview

Ctrl-C stops everything.
""",
        flush=True,
    )
    # A replica that exits is reported (Envoy ejects it and serves from the
    # others); the run ends when Envoy or the last replica exits.
    servers = children[: len(listens)]
    reported: set[int] = set()
    while True:
        for index, server in enumerate(servers):
            if server.poll() is not None and index not in reported:
                reported.add(index)
                print(f"replica {index + 1} exited ({server.returncode})", flush=True)
        if envoy.poll() is not None:
            print(f"envoy exited ({envoy.returncode}): stopping the replicas", flush=True)
            return envoy.returncode or 1
        if mcp.poll() is not None:
            print(f"koji-mcp exited ({mcp.returncode}): stopping the rest", flush=True)
            return mcp.returncode or 1
        if len(reported) == len(servers):
            return next((s.returncode for s in servers if s.returncode), 0)
        try:
            envoy.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            continue


if __name__ == "__main__":
    main()
