"""koji-mcp over streamable HTTP: `/mcp` plus the OAuth endpoints, one
Starlette app that Envoy routes to on the REST port.

`/mcp` takes `Authorization: Bearer koji_sk_...` (an API key, passed to the
API as is) or an access token issued here (the API key it acts as, within
its scopes). Without either it answers 401 with
`WWW-Authenticate: Bearer ... resource_metadata="<base>/.well-known/oauth-protected-resource/mcp"`.
Stateless, JSON responses: every request stands alone, so any number of
koji-mcp processes can serve behind Envoy.
"""

from __future__ import annotations

from urllib.parse import urlparse

from mcp.server.auth.handlers.metadata import MetadataHandler, ProtectedResourceMetadataHandler
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import build_metadata, cors_middleware, create_auth_routes
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.auth import ProtectedResourceMetadata
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from koji_server.domain.credentials import API_KEY_PREFIX, looks_like
from koji_server.mcp.api import KojiApi
from koji_server.mcp.grants import PREFIXES
from koji_server.mcp.oauth import ConsentEndpoint, KojiOAuthProvider
from koji_server.mcp.tools import SCOPES, Caller, build_server

OAUTH_PREFIX = "/oauth"


class KojiTokenVerifier:
    """An API key stands for itself (the API judges it on every call); an
    access token is looked up."""

    def __init__(self, provider: KojiOAuthProvider) -> None:
        self.provider = provider

    async def verify_token(self, token: str) -> AccessToken | None:
        if looks_like(token, API_KEY_PREFIX):
            return AccessToken(
                token=token, client_id="api_key", scopes=list(SCOPES), claims={"api_key": token}
            )
        if token.startswith(PREFIXES["access"]):
            return await self.provider.load_access_token(token)
        return None


class PublicClientRevocation:
    """The SDK's revocation handler requires a `client_secret` field, which a
    public client (no secret: PKCE) does not send (RFC 7009 does not ask it
    to): an absent one is added, empty, before the handler reads the form."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if b"client_secret=" not in body:
            body += b"&client_secret=" if body else b"client_secret="
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": headers}, replay, send)


def current_caller() -> Caller | None:
    token = get_access_token()
    if token is None or not token.claims:
        return None
    return Caller(api_key=str(token.claims["api_key"]), scopes=frozenset(token.scopes))


def build_app(api: KojiApi, provider: KojiOAuthProvider, public_url: str) -> Starlette:
    """The app; `public_url` is where clients reach it (Envoy's REST
    listener, e.g. http://127.0.0.1:8080), the OAuth issuer."""
    base = public_url.rstrip("/")
    # Validated by AuthSettings, which keeps an empty path empty (no "/"
    # added): an issuer is compared as a string.
    auth = AuthSettings(
        issuer_url=base,  # type: ignore[arg-type]
        resource_server_url=f"{base}/mcp",  # type: ignore[arg-type]
        validate_token_resource=False,
        client_registration_options=ClientRegistrationOptions(
            enabled=True, valid_scopes=list(SCOPES), default_scopes=list(SCOPES)
        ),
        revocation_options=RevocationOptions(enabled=True),
    )
    issuer, resource = auth.issuer_url, auth.resource_server_url
    assert resource is not None
    server = build_server(
        api, current_caller, auth=auth, token_verifier=KojiTokenVerifier(provider)
    )
    public = urlparse(base)
    loopback_hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    loopback_origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    app = server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=[public.netloc, *loopback_hosts],
            allowed_origins=[f"{public.scheme}://{public.netloc}", *loopback_origins],
        ),
    )

    metadata = build_metadata(
        issuer, None, auth.client_registration_options or ClientRegistrationOptions(),
        auth.revocation_options or RevocationOptions(),
    )  # fmt: skip
    metadata.authorization_endpoint = AnyHttpUrl(f"{base}{OAUTH_PREFIX}/authorize")
    metadata.token_endpoint = AnyHttpUrl(f"{base}{OAUTH_PREFIX}/token")
    metadata.registration_endpoint = AnyHttpUrl(f"{base}{OAUTH_PREFIX}/register")
    metadata.revocation_endpoint = AnyHttpUrl(f"{base}{OAUTH_PREFIX}/revoke")
    metadata.token_endpoint_auth_methods_supported = [
        "none",
        "client_secret_post",
        "client_secret_basic",
    ]
    resource_metadata = ProtectedResourceMetadataHandler(
        ProtectedResourceMetadata(
            resource=resource,
            authorization_servers=[issuer],
            scopes_supported=list(SCOPES),
            resource_name="Koji customer interviews",
        )
    )
    # The SDK's token, registration and revocation endpoints (with their
    # CORS and body limits), under /oauth; the consent page is ours.
    sdk = {route.path: route for route in create_auth_routes(
        provider, issuer, None, auth.client_registration_options, auth.revocation_options,
    ) if isinstance(route, Route)}  # fmt: skip
    consent = ConsentEndpoint(provider, action=f"{OAUTH_PREFIX}/authorize")
    ours = [
        Route(
            "/.well-known/oauth-authorization-server",
            endpoint=cors_middleware(MetadataHandler(metadata).handle, ["GET", "OPTIONS"]),
            methods=["GET", "OPTIONS"],
        ),
        *(
            Route(
                path,
                endpoint=cors_middleware(resource_metadata.handle, ["GET", "OPTIONS"]),
                methods=["GET", "OPTIONS"],
            )
            for path in (
                "/.well-known/oauth-protected-resource",
                "/.well-known/oauth-protected-resource/mcp",
            )
        ),
        Route(f"{OAUTH_PREFIX}/authorize", endpoint=consent.handle, methods=["GET", "POST"]),
        *(
            Route(f"{OAUTH_PREFIX}{path}", endpoint=sdk[path].endpoint, methods=sdk[path].methods)
            for path in ("/token", "/register")
        ),
        Route(
            f"{OAUTH_PREFIX}/revoke",
            endpoint=PublicClientRevocation(sdk["/revoke"].endpoint),
            methods=sdk["/revoke"].methods,
        ),
    ]
    # Ahead of the SDK's own protected-resource route (which names no scopes).
    app.router.routes[:0] = ours
    return app
