"""`koji-mcp`: the MCP server, over streamable HTTP (behind Envoy, which
routes /mcp, /oauth/* and /.well-known/oauth-* of the REST port to it) or,
with --stdio, for a local client that starts it.

Settings (environment):
  KOJI_GRPC_TARGET     the gRPC API (host:port, or a comma-separated list of
                       replicas), default 127.0.0.1:50051
  KOJI_API_KEY         --stdio only: the API key every call acts as
  KOJI_MCP_LISTEN      HTTP only: where to listen, default 127.0.0.1:8090
  KOJI_MCP_PUBLIC_URL  HTTP only: the URL clients reach (Envoy's), default
                       http://127.0.0.1:8080: the OAuth issuer
  KOJI_DATABASE_URL    HTTP only: the service's database (OAuth clients and
                       tokens), as koji-server's
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from koji_server.config import DEFAULT_DATABASE_URL
from koji_server.domain.credentials import API_KEY_PREFIX, looks_like
from koji_server.mcp.api import KojiApi
from koji_server.mcp.tools import SCOPES, Caller, build_server
from koji_server.support.clock import utc_now

DEFAULT_GRPC_TARGET = "127.0.0.1:50051"
DEFAULT_LISTEN = "127.0.0.1:8090"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"


def run_stdio(target: str) -> None:
    api_key = os.environ.get("KOJI_API_KEY", "")
    if not looks_like(api_key, API_KEY_PREFIX):
        sys.exit("koji-mcp --stdio: set KOJI_API_KEY to an API key (koji_sk_...)")
    caller = Caller(api_key=api_key, scopes=frozenset(SCOPES))

    async def main() -> None:
        api = KojiApi.connect(target)
        try:
            await build_server(api, lambda: caller).run_stdio_async()
        finally:
            await api.close()

    asyncio.run(main())


def run_http(target: str) -> None:
    import uvicorn

    from koji_server.mcp.http import build_app
    from koji_server.mcp.oauth import KojiOAuthProvider
    from koji_server.storage.backends import open_database
    from koji_server.storage.oauth import SqlGrantStore

    listen = os.environ.get("KOJI_MCP_LISTEN", DEFAULT_LISTEN)
    public_url = os.environ.get("KOJI_MCP_PUBLIC_URL", DEFAULT_PUBLIC_URL)
    database_url = os.environ.get("KOJI_DATABASE_URL", DEFAULT_DATABASE_URL)
    host, _, port = listen.rpartition(":")

    async def main() -> None:
        database = open_database(database_url)
        api = KojiApi.connect(target)
        try:
            await database.check_schema()
            provider = KojiOAuthProvider(SqlGrantStore(database), utc_now)
            app = build_app(api, provider, public_url)
            config = uvicorn.Config(
                app, host=host, port=int(port), log_level="warning", access_log=False,
                lifespan="on",
            )  # fmt: skip
            server = uvicorn.Server(config)
            await server.serve()
        finally:
            await api.close()
            await database.dispose()

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="koji-mcp", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stdio", action="store_true", help="serve one client on stdin/stdout")
    args = parser.parse_args()
    # The SDK announces every session at INFO; warnings and errors only.
    logging.getLogger("mcp").setLevel(logging.WARNING)
    target = os.environ.get("KOJI_GRPC_TARGET", DEFAULT_GRPC_TARGET)
    if args.stdio:
        run_stdio(target)
    else:
        run_http(target)


if __name__ == "__main__":
    main()
