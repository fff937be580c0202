"""`make run`: seed a demo project, key and study, then run the service.

Applies the schema migrations (`koji-admin db upgrade`; koji-server itself
refuses an out-of-date schema), prints the demo API key (once) and study id,
starts koji-server and Envoy's REST listener in front of it, and stops both
on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from koji_server.config import Settings
from koji_server.domain.model import Permission
from koji_server.operations.projects import AdminService
from koji_server.storage import migrate
from koji_server.storage.backends import open_database
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from tools.envoy_config import EnvoySettings, write

DEMO_QUESTIONS = [
    "How did you first hear about our product?",
    "What were you hoping it would help you with?",
    "What was the hardest part of getting started?",
    "If you could change one thing, what would it be?",
]


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


def main() -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(prog="make run", description=__doc__)
    parser.add_argument("--listen", default=settings.listen, help="gRPC address (%(default)s)")
    parser.add_argument("--database-url", default=settings.database_url, help="(%(default)s)")
    parser.add_argument("--rest-port", type=int, default=8080, help="Envoy listener (%(default)s)")
    parser.add_argument("--admin-port", type=int, default=9901, help="Envoy admin (%(default)s)")
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser calls from this exact origin (repeatable)",
    )
    args = parser.parse_args()

    api_key, study_id = asyncio.run(seed(args.database_url))
    grpc_address = args.listen
    grpc_host, _, grpc_port = grpc_address.rpartition(":")
    rest = f"http://127.0.0.1:{args.rest_port}"
    metrics = f"http://{settings.metrics_listen}/metrics" if settings.metrics_listen else "off"
    run_dir = Path(".run")
    run_dir.mkdir(exist_ok=True)
    envoy_config = write(
        EnvoySettings(
            grpc_port=int(grpc_port),
            grpc_host=grpc_host,
            listen_port=args.rest_port,
            admin_port=args.admin_port,
            cors_origins=tuple(args.cors_origin),
        ),
        run_dir / "envoy.yaml",
    )
    print(
        f"""
Demo project seeded in {args.database_url}
  API key  : {api_key}   (shown once; stored as a hash)
  study id : {study_id}
  gRPC     : {grpc_address}   (reflection on: grpcurl -plaintext {grpc_address} list)
  REST     : {rest}   (Envoy; health at {rest}/healthz)
  metrics  : {metrics}   (Prometheus; Envoy's: http://127.0.0.1:{args.admin_port}/stats/prometheus)

Start an interview over REST:
  curl -X POST {rest}/api/v1/interviews/start \\
    -H "Authorization: Bearer {api_key}" -H "Content-Type: application/json" \\
    -d '{{"study_id": "{study_id}"}}'
or over gRPC:
  .venv/bin/grpcurl -plaintext -H 'authorization: Bearer {api_key}' \\
    -d '{{"study_id": "{study_id}"}}' {grpc_address} koji.v1.InterviewService/StartInterview
""",
        flush=True,
    )
    env = {**os.environ, "KOJI_DATABASE_URL": args.database_url, "KOJI_LISTEN": grpc_address}
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen([str(bin_dir / "koji-server")], env=env)
    envoy = subprocess.Popen(
        [str(bin_dir / "envoy"), "-c", str(envoy_config), "--disable-hot-restart",
         "--log-level", "warn"]
    )  # fmt: skip
    children = [server, envoy]
    signal.signal(signal.SIGTERM, lambda *_: server.send_signal(signal.SIGTERM))
    try:
        while all(child.poll() is None for child in children):
            try:
                server.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                continue
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                child.wait(timeout=15)
    sys.exit(server.returncode or 0)


if __name__ == "__main__":
    main()
