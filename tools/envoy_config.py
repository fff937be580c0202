"""Renders envoy/envoy.yaml.tmpl for given ports and paths.

Used by `make run` and the tests (which put Envoy on free ports).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parents[1]
ENVOY_DIR = ROOT / "envoy"
TEMPLATE = ENVOY_DIR / "envoy.yaml.tmpl"
LUA = ENVOY_DIR / "rest_shaping.lua"
DESCRIPTOR = ROOT / "gen" / "koji_v1_descriptor.binpb"
OPENAPI = ROOT / "gen" / "openapi.json"
MAX_BODY_BYTES = 64 * 1024
# The transcoder buffers a whole response before printing it as JSON. The
# largest interview (domain.validation's limits) prints as about 6.5 MiB when
# every character needs a \u escape (6 bytes for each byte stored).
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
# Request headers Envoy accepts, in KiB: with what Envoy adds (about 1 KiB),
# safely under the gRPC server's metadata limit (app.MAX_METADATA_BYTES).
MAX_HEADER_KB = 8
# A stream silent for this long is dead (the server sends a heartbeat at
# least every 15 s).
STREAM_IDLE_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class EnvoySettings:
    grpc_port: int
    # More koji-server replicas (on grpc_host) behind the same cluster.
    more_grpc_ports: tuple[int, ...] = ()
    listen_port: int = 8080
    admin_port: int = 9901
    grpc_host: str = "127.0.0.1"
    listen_host: str = "127.0.0.1"
    admin_host: str = "127.0.0.1"
    # Exact origins allowed by CORS; empty allows none.
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    health_interval_seconds: float = 1.0
    max_body_bytes: int = MAX_BODY_BYTES
    max_response_bytes: int = MAX_RESPONSE_BYTES
    max_header_kb: int = MAX_HEADER_KB
    stream_idle_timeout_seconds: float = STREAM_IDLE_TIMEOUT_SECONDS

    # koji-mcp's HTTP port (on grpc_host): None leaves /mcp and /oauth unrouted.
    mcp_port: int | None = None

    @property
    def grpc_ports(self) -> tuple[int, ...]:
        return (self.grpc_port, *self.more_grpc_ports)


def _endpoint(host: str, port: int) -> dict[str, object]:
    return {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}


def _any_one_healthy(replicas: int) -> str:
    """The health_check filter's threshold (a percentage of the cluster) that
    one healthy replica out of `replicas` meets."""
    return f"{100 / replicas - 0.01:.2f}"


# Paths that reach koji-mcp, with neither the REST shaping (Lua) nor the
# transcoder: the MCP endpoint, the OAuth endpoints, their metadata.
MCP_PREFIXES = ("/mcp", "/oauth/", "/.well-known/oauth-")
_MCP_FILTERS_OFF = (
    "{ envoy.filters.http.lua: { '@type': type.googleapis.com/envoy.extensions.filters.http"
    ".lua.v3.LuaPerRoute, disabled: true }, envoy.filters.http.grpc_json_transcoder: "
    "{ '@type': type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true } }"
)


def _mcp_routes(settings: EnvoySettings) -> str:
    if settings.mcp_port is None:
        return ""
    routes = []
    for prefix in MCP_PREFIXES:
        # /mcp exactly (and /mcp/...), not /mcpx.
        match = "{ path: /mcp }" if prefix == "/mcp" else f"{{ prefix: {prefix} }}"
        routes.append(
            f"              - match: {match}\n"
            f"                route: {{ cluster: koji_mcp, timeout: 15s }}\n"
            f"                typed_per_filter_config: {_MCP_FILTERS_OFF}"
        )
    return "\n".join(routes)


def _mcp_cluster(settings: EnvoySettings) -> str:
    if settings.mcp_port is None:
        return ""
    endpoint = json.dumps([_endpoint(settings.grpc_host, settings.mcp_port)])
    return (
        "  - name: koji_mcp\n"
        "    type: STATIC\n"
        "    connect_timeout: 1s\n"
        "    load_assignment:\n"
        "      cluster_name: koji_mcp\n"
        f"      endpoints: [{{ lb_endpoints: {endpoint} }}]"
    )


def render(settings: EnvoySettings) -> str:
    origins = [{"exact": origin} for origin in settings.cors_origins] or [
        {"exact": "null-origin-not-allowed.invalid"}
    ]
    return Template(TEMPLATE.read_text()).substitute(
        admin_host=settings.admin_host,
        admin_port=settings.admin_port,
        listen_host=settings.listen_host,
        listen_port=settings.listen_port,
        lb_endpoints=json.dumps([_endpoint(settings.grpc_host, p) for p in settings.grpc_ports]),
        min_healthy_percent=_any_one_healthy(len(settings.grpc_ports)),
        cors_origins=json.dumps(origins),
        lua_path=json.dumps(str(LUA)),
        descriptor_path=json.dumps(str(DESCRIPTOR)),
        openapi_path=json.dumps(str(OPENAPI)),
        health_interval=json.dumps(f"{settings.health_interval_seconds}s"),
        max_body_bytes=settings.max_body_bytes,
        max_response_bytes=settings.max_response_bytes,
        max_header_kb=settings.max_header_kb,
        stream_idle_timeout=json.dumps(f"{settings.stream_idle_timeout_seconds}s"),
        mcp_routes=_mcp_routes(settings),
        mcp_cluster=_mcp_cluster(settings),
    )


def write(settings: EnvoySettings, path: Path) -> Path:
    path.write_text(render(settings))
    return path
