"""koji-mcp's OAuth 2.1 authorization server, for assistants that sign in
(claude.ai and ChatGPT connectors, the MCP Inspector).

The protocol machinery is the MCP SDK's (registration, token and revocation
handlers, PKCE S256, RFC 6749 error bodies); this module is its provider over
the service's database (mcp.grants.GrantStore) and the consent page. The
person consenting pastes an API key of their project: the grant acts as that
key, narrowed to the scopes granted, and dies with it.

Lifetimes: a code 60 s and single-use (reuse revokes what it granted), an
access token 1 hour, a refresh token 30 days, rotated on every use.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from datetime import timedelta
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlparse

from mcp.server.auth.handlers.authorize import AuthorizationRequest
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    RefreshToken,
    RegistrationError,
    TokenError,
    construct_redirect_uri,
)
from mcp.shared.auth import (
    InvalidRedirectUriError,
    InvalidScopeError,
    OAuthClientInformationFull,
    OAuthToken,
)
from pydantic import AnyUrl, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from koji_server.domain.credentials import API_KEY_PREFIX, hash_secret, looks_like
from koji_server.mcp.grants import (
    GrantStore,
    IssuedToken,
    TokenKind,
    new_token,
    seal,
    token_hash,
    unseal,
)
from koji_server.mcp.tools import SCOPE_DESCRIPTIONS
from koji_server.support.clock import Clock

CODE_LIFETIME = timedelta(seconds=60)
ACCESS_LIFETIME = timedelta(hours=1)
REFRESH_LIFETIME = timedelta(days=30)
NO_STORE = {"Cache-Control": "no-store"}


class KojiCode(AuthorizationCode):
    grant_id: str
    api_key_id: str
    api_key: str


class KojiRefresh(RefreshToken):
    grant_id: str
    api_key_id: str
    api_key: str


def _loopback_or_https(uri: str) -> bool:
    parsed = urlparse(uri)
    if parsed.scheme == "https":
        return True
    if parsed.scheme != "http" or parsed.hostname is None:
        return False
    if parsed.hostname == "localhost":
        return True
    try:
        return ip_address(parsed.hostname).is_loopback
    except ValueError:
        return False


@dataclass
class KojiOAuthProvider:
    """The SDK's OAuthAuthorizationServerProvider over a GrantStore."""

    store: GrantStore
    clock: Clock

    # --- clients ---------------------------------------------------------

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        metadata = await self.store.client(client_id)
        return None if metadata is None else OAuthClientInformationFull.model_validate(metadata)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        for uri in client_info.redirect_uris or ():
            if not _loopback_or_https(str(uri)):
                raise RegistrationError(
                    "invalid_redirect_uri",
                    f"Redirect URI {uri} is neither https nor http on a loopback address.",
                )
        metadata = client_info.model_dump(mode="json", exclude_none=True)
        await self.store.add_client(client_info.client_id or "", metadata, self.clock())

    # --- consent: a code for an API key ----------------------------------

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        raise NotImplementedError("the consent page (consent()) issues codes")

    async def issue_code(
        self,
        client: OAuthClientInformationFull,
        params: AuthorizationParams,
        scopes: list[str],
        api_key: str,
    ) -> str | None:
        """A code for `api_key`, or None if the key is not a live one."""
        if not looks_like(api_key, API_KEY_PREFIX):
            return None
        key_id = await self.store.active_key_id(hash_secret(api_key))
        if key_id is None:
            return None
        code = new_token("code")
        now = self.clock()
        await self.store.add_token(
            IssuedToken(
                token_hash=token_hash(code),
                kind="code",
                grant_id=str(uuid.uuid4()),
                client_id=client.client_id or "",
                api_key_id=key_id,
                scopes=tuple(scopes),
                sealed_key=seal(api_key, code),
                created_at=now,
                expires_at=now + CODE_LIFETIME,
                code_challenge=params.code_challenge,
                redirect_uri=str(params.redirect_uri),
                redirect_uri_explicit=params.redirect_uri_provided_explicitly,
                resource=params.resource,
            )
        )
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    # --- codes and tokens --------------------------------------------------

    async def _valid(self, secret: str, kind: TokenKind) -> IssuedToken | None:
        return await self.store.token(token_hash(secret), kind, self.clock())

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> KojiCode | None:
        found = await self._valid(authorization_code, "code")
        if found is None:
            # A code presented twice: what it granted may be in the wrong
            # hands (RFC 6749 4.1.2), so it is all revoked.
            spent = await self.store.spent(token_hash(authorization_code), "code")
            if spent is not None:
                await self.store.revoke_grant(spent.grant_id, self.clock())
            return None
        if found.client_id != client.client_id:
            return None
        return KojiCode(
            code=authorization_code,
            scopes=list(found.scopes),
            expires_at=found.expires_at.timestamp(),
            client_id=found.client_id,
            code_challenge=found.code_challenge or "",
            redirect_uri=AnyUrl(found.redirect_uri or ""),
            redirect_uri_provided_explicitly=bool(found.redirect_uri_explicit),
            resource=found.resource,
            grant_id=found.grant_id,
            api_key_id=found.api_key_id,
            api_key=unseal(found.sealed_key, authorization_code),
        )

    async def _issue_pair(
        self, client_id: str, grant_id: str, api_key_id: str, api_key: str, scopes: list[str],
        resource: str | None,
    ) -> OAuthToken:  # fmt: skip
        now = self.clock()
        access, refresh = new_token("access"), new_token("refresh")
        for secret, kind, lifetime in (
            (access, "access", ACCESS_LIFETIME),
            (refresh, "refresh", REFRESH_LIFETIME),
        ):
            await self.store.add_token(
                IssuedToken(
                    token_hash=token_hash(secret),
                    kind=kind,  # type: ignore[arg-type]
                    grant_id=grant_id,
                    client_id=client_id,
                    api_key_id=api_key_id,
                    scopes=tuple(scopes),
                    sealed_key=seal(api_key, secret),
                    created_at=now,
                    expires_at=now + lifetime,
                    resource=resource,
                )
            )
        return OAuthToken(
            access_token=access,
            token_type="Bearer",
            expires_in=int(ACCESS_LIFETIME.total_seconds()),
            scope=" ".join(scopes),
            refresh_token=refresh,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: KojiCode
    ) -> OAuthToken:
        if not await self.store.use(token_hash(authorization_code.code), "code", self.clock()):
            raise TokenError("invalid_grant", "The authorization code was already used.")
        return await self._issue_pair(
            authorization_code.client_id, authorization_code.grant_id,
            authorization_code.api_key_id, authorization_code.api_key,
            authorization_code.scopes, authorization_code.resource,
        )  # fmt: skip

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> KojiRefresh | None:
        found = await self._valid(refresh_token, "refresh")
        if found is None or found.client_id != client.client_id:
            return None
        return KojiRefresh(
            token=refresh_token,
            client_id=found.client_id,
            scopes=list(found.scopes),
            expires_at=int(found.expires_at.timestamp()),
            resource=found.resource,
            grant_id=found.grant_id,
            api_key_id=found.api_key_id,
            api_key=unseal(found.sealed_key, refresh_token),
        )

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: KojiRefresh, scopes: list[str]
    ) -> OAuthToken:
        if not await self.store.use(token_hash(refresh_token.token), "refresh", self.clock()):
            raise TokenError("invalid_grant", "The refresh token was already used.")
        return await self._issue_pair(
            refresh_token.client_id, refresh_token.grant_id, refresh_token.api_key_id,
            refresh_token.api_key, scopes or refresh_token.scopes, refresh_token.resource,
        )  # fmt: skip

    async def load_access_token(self, token: str) -> AccessToken | None:
        found = await self._valid(token, "access")
        if found is None:
            return None
        return AccessToken(
            token=token,
            client_id=found.client_id,
            scopes=list(found.scopes),
            expires_at=int(found.expires_at.timestamp()),
            resource=found.resource,
            subject=found.api_key_id,
            claims={"grant_id": found.grant_id, "api_key": unseal(found.sealed_key, token)},
        )

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        grant_id = (token.claims or {}).get("grant_id") if isinstance(token, AccessToken) else None
        if isinstance(token, KojiRefresh):
            grant_id = token.grant_id
        if grant_id is not None:
            await self.store.revoke_grant(grant_id, self.clock())

    async def exchange_identity_assertion(self, *args: Any, **kwargs: Any) -> OAuthToken:
        raise TokenError("unsupported_grant_type", "Identity assertions are not accepted.")


# --- the consent page ----------------------------------------------------------

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Allow {client} to use Koji</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 34rem; margin: 3rem auto; padding: 0 1rem;
  color: #1b1b1f; }}
h1 {{ font-size: 1.4rem; }} .client {{ color: #3b2fc9; }}
ul {{ padding-left: 1.2rem; }} li {{ margin: .3rem 0; }} code {{ background: #f1f1f4; }}
.error {{ background: #fde8e8; border: 1px solid #e0a0a0; padding: .6rem; border-radius: 4px; }}
label {{ display: block; margin-top: 1rem; font-weight: 600; }}
input[type=password] {{ width: 100%; padding: .5rem; font-size: 1rem; box-sizing: border-box; }}
button {{ margin-top: 1rem; padding: .6rem 1.2rem; font-size: 1rem; background: #3b2fc9;
  color: white; border: 0; border-radius: 4px; }}
</style></head>
<body>
<h1>Allow <span class="client">{client}</span> to use your Koji project?</h1>
{error}
<p>It asks to:</p>
<ul>{scopes}</ul>
<p>It will act as the API key you paste below (never beyond what that key may do), until you
revoke the key. After you allow it, you return to <code>{redirect}</code>.</p>
<form method="post" action="{action}">
{hidden}
<label for="api_key">API key of your project</label>
<input type="password" id="api_key" name="api_key" autocomplete="off" required
  placeholder="koji_sk_...">
<button type="submit">Allow</button>
</form>
</body></html>
"""

CONSENT_FIELDS = (
    "response_type", "client_id", "redirect_uri", "state", "code_challenge",
    "code_challenge_method", "scope", "resource",
)  # fmt: skip


def consent_page(
    client: OAuthClientInformationFull, fields: dict[str, str], scopes: list[str],
    redirect_uri: str, action: str, error: str | None = None,
) -> HTMLResponse:  # fmt: skip
    name = client.client_name or client.client_id or "An application"
    hidden = "\n".join(
        f'<input type="hidden" name="{key}" value="{html.escape(value)}">'
        for key, value in fields.items()
    )
    items = "".join(
        f"<li><code>{html.escape(s)}</code>: {html.escape(SCOPE_DESCRIPTIONS.get(s, s))}</li>"
        for s in scopes
    )
    body = PAGE.format(
        client=html.escape(name),
        scopes=items,
        redirect=html.escape(redirect_uri),
        action=html.escape(action),
        hidden=hidden,
        error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
    )
    # form-action also governs where the form's answer redirects (browsers
    # enforce it on the 302): this page and the client's redirect URI.
    target = urlparse(redirect_uri)
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
        f"form-action 'self' {target.scheme}://{target.netloc}"
    )
    return HTMLResponse(body, status_code=400 if error else 200, headers={
        **NO_STORE, "X-Frame-Options": "DENY", "Content-Security-Policy": csp,
    })  # fmt: skip


def _refuse(description: str) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_request", "error_description": description},
        status_code=400,
        headers=NO_STORE,
    )


@dataclass
class ConsentEndpoint:
    """GET /oauth/authorize shows the consent page; POST (the page's form,
    with `api_key`) issues a code and redirects back to the client. A client
    or redirect URI that does not check out is refused here, never
    redirected to."""

    provider: KojiOAuthProvider
    action: str

    async def handle(self, request: Request) -> Response:
        raw = request.query_params if request.method == "GET" else await request.form()
        fields = {k: str(raw[k]) for k in CONSENT_FIELDS if isinstance(raw.get(k), str)}
        client_id = fields.get("client_id")
        client = await self.provider.get_client(client_id) if client_id else None
        if client is None:
            return _refuse(f"Unknown client_id {client_id!r}.")
        try:
            redirect_uri = client.validate_redirect_uri(
                AnyUrl(fields["redirect_uri"]) if "redirect_uri" in fields else None
            )
        except (InvalidRedirectUriError, ValidationError) as error:
            return _refuse(getattr(error, "message", "redirect_uri is not a valid URL."))

        def back(error: str, description: str) -> Response:
            target = construct_redirect_uri(
                str(redirect_uri), error=error, error_description=description,
                state=fields.get("state"),
            )  # fmt: skip
            return RedirectResponse(target, status_code=302, headers=NO_STORE)

        try:
            parsed = AuthorizationRequest.model_validate(fields)
        except ValidationError as error:
            wrong_type = any(e["loc"] == ("response_type",) for e in error.errors())
            if wrong_type:
                return back("unsupported_response_type", "response_type must be code.")
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
            )
            return back("invalid_request", problems)
        try:
            requested = client.validate_scope(parsed.scope)
        except InvalidScopeError as error:
            return back("invalid_scope", error.message)
        scopes = requested or (client.scope or "").split()
        params = AuthorizationParams(
            state=parsed.state,
            scopes=scopes,
            code_challenge=parsed.code_challenge,
            redirect_uri=redirect_uri,
            redirect_uri_provided_explicitly=parsed.redirect_uri is not None,
            resource=parsed.resource,
        )
        if request.method == "GET":
            return consent_page(client, fields, scopes, str(redirect_uri), self.action)
        api_key = raw.get("api_key")
        target = await self.provider.issue_code(
            client, params, scopes, api_key if isinstance(api_key, str) else ""
        )
        if target is None:
            return consent_page(
                client, fields, scopes, str(redirect_uri), self.action,
                error="That API key is not valid (wrong, or revoked). Paste a key of your project.",
            )  # fmt: skip
        return RedirectResponse(target, status_code=302, headers=NO_STORE)
