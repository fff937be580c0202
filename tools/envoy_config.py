"""Renders envoy/envoy.yaml.tmpl for given ports and paths.

Used by `make run` and the tests (which put Envoy on free ports). The
documented paths and their methods, for the 405 answers of
envoy/rest_shaping.lua and of a QUERY without Content-Type, come from
gen/openapi.json (itself generated from the protos).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
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


LUA_ROUTES = "local ROUTES = {} -- ROUTES"
_PARAMETER = re.compile(r"\{[^}]+\}")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def documented_paths(openapi: Path = OPENAPI) -> list[tuple[str, str]]:
    """(path template, Allow header) of each documented path, those without
    parameters first, as OpenAPI matches a request's path; among templates,
    the one with more fixed text first (`{id}:publish` before `{id}`)."""
    paths = json.loads(openapi.read_text())["paths"]
    allowed = []
    for path, item in paths.items():
        methods = [method.upper() for method in HTTP_METHODS if method in item]
        if "GET" in methods and "HEAD" not in methods:
            methods.insert(methods.index("GET") + 1, "HEAD")
        allowed.append((path, ", ".join(methods)))
    return sorted(allowed, key=lambda pair: ("{" in pair[0], -len(_PARAMETER.sub("", pair[0]))))


def _pattern(path: str, parameter: str, escape: Callable[[str], str]) -> str:
    parts = _PARAMETER.split(path)
    return "^" + parameter.join(escape(part) for part in parts) + "$"


def _lua_escape(text: str) -> str:
    return re.sub(r"([^A-Za-z0-9/_])", r"%\1", text)


def lua_source(openapi: Path = OPENAPI) -> str:
    routes = ", ".join(
        f"{{ {json.dumps(_pattern(path, '[^/]+', _lua_escape))}, {json.dumps(allow)} }}"
        for path, allow in documented_paths(openapi)
    )
    source = LUA.read_text()
    if LUA_ROUTES not in source:
        raise ValueError(f"{LUA} lacks the line {LUA_ROUTES!r}")
    return source.replace(LUA_ROUTES, f"local ROUTES = {{ {routes} }}")


def query_mappers(openapi: Path = OPENAPI) -> str:
    """local_reply_config mappers: 405 with Allow for a QUERY without
    Content-Type on a documented path."""
    mappers = []
    for path, allow in documented_paths(openapi):
        expression = (
            "response.code_details == 'query_missing_content_type' && "
            # A CEL string literal: its backslashes doubled.
            f"request.url_path.matches('{_pattern(path, '[^/]+', re.escape)}')".replace(
                "\\", "\\\\"
            )
        )
        mapper = {
            "filter": {
                "extension_filter": {
                    "name": "envoy.access_loggers.extension_filters.cel",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.access_loggers.filters"
                        ".cel.v3.ExpressionFilter",
                        "expression": expression,
                    },
                }
            },
            "status_code": 405,
            "headers_to_add": [
                {
                    "header": {"key": "allow", "value": allow},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }
            ],
            "body_format_override": {
                "json_format": {
                    "error": "invalid_request",
                    "message": f"Method QUERY is not allowed here; allowed: {allow}.",
                    "request_id": "%REQ(X-REQUEST-ID)%",
                }
            },
        }
        mappers.append("            - " + json.dumps(mapper))
    return "\n".join(mappers)


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
        lua_source=json.dumps(lua_source()),
        query_mappers=query_mappers(),
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
