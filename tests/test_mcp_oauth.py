"""koji-mcp's OAuth 2.1 authorization server, end to end through Envoy:
metadata, dynamic registration, the consent form, the token endpoint with
PKCE, /mcp with the access token, refresh rotation, revocation; codes and
tokens stored hashed. The lifetimes (a code's 60 s) are checked in process
with an injected clock."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from mcp.server.auth.provider import AuthorizationParams
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import AnyUrl

from koji_server.mcp.grants import token_hash
from koji_server.mcp.oauth import KojiOAuthProvider
from koji_server.storage.backends import open_database
from koji_server.storage.oauth import SqlGrantStore
from tests.conftest import Tenant, ThreadedServer, make_tenant
from tests.helpers import query
from tests.mcp_stack import McpProcess, mcp_client
from tests.processes import admin

REDIRECT = "http://127.0.0.1:33418/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def register(base: str, name: str = "Test Assistant", redirect: str = REDIRECT) -> httpx.Response:
    return httpx.post(
        f"{base}/oauth/register",
        json={
            "redirect_uris": [redirect],
            "client_name": name,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        },
        timeout=10,
    )


def authorize_fields(client_id: str, challenge: str, scope: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "state": "st-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": scope,
    }


def consent(base: str, fields: dict[str, str], api_key: str) -> httpx.Response:
    return httpx.post(f"{base}/oauth/authorize", data={**fields, "api_key": api_key}, timeout=10)


def token(base: str, **form: str) -> httpx.Response:
    return httpx.post(f"{base}/oauth/token", data=form, timeout=10)


def code_of(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    location = urlparse(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query_params = parse_qs(location.query)
    assert query_params["state"] == ["st-123"]
    return query_params["code"][0]


def signed_in(base: str, tenant: Tenant, scope: str) -> tuple[str, dict[str, Any]]:
    """Register, consent, exchange: (client_id, token response)."""
    client_id = register(base).json()["client_id"]
    verifier, challenge = pkce()
    code = code_of(consent(base, authorize_fields(client_id, challenge, scope), tenant.api_key))
    tokens = token(
        base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
        client_id=client_id, code_verifier=verifier,
    )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    return client_id, tokens.json()


async def usage(base: str, bearer: str) -> Any:
    async with mcp_client(f"{base}/mcp", bearer) as client:
        return await client.call_tool("koji_get_usage", {})


def mcp_status(base: str, bearer: str) -> int:
    return httpx.post(
        f"{base}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"},
        timeout=10,
    ).status_code


@pytest.fixture(scope="module")
def tenant(threaded_server: ThreadedServer, mcp_stack: McpProcess) -> Tenant:
    return threaded_server.run(make_tenant(threaded_server.database_url))


def test_metadata_names_the_endpoints_scopes_and_pkce(mcp_stack: McpProcess) -> None:
    base = mcp_stack.base_url
    server = httpx.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
    assert server["issuer"] == base
    assert server["authorization_endpoint"] == f"{base}/oauth/authorize"
    assert server["token_endpoint"] == f"{base}/oauth/token"
    assert server["registration_endpoint"] == f"{base}/oauth/register"
    assert server["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert server["code_challenge_methods_supported"] == ["S256"]
    assert server["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert server["scopes_supported"] == ["read:studies", "read:interviews", "write:studies"]
    resource = httpx.get(f"{base}/.well-known/oauth-protected-resource", timeout=10).json()
    assert resource["authorization_servers"] == [base]
    assert resource["scopes_supported"] == server["scopes_supported"]


def test_registration_takes_loopback_http_or_https_redirects_only(mcp_stack: McpProcess) -> None:
    created = register(mcp_stack.base_url)
    assert created.status_code == 201, created.text
    assert created.json()["client_id"]
    assert created.json()["redirect_uris"] == [REDIRECT]
    assert register(mcp_stack.base_url, redirect="https://assistant.example/cb").status_code == 201
    refused = register(mcp_stack.base_url, redirect="http://assistant.example/cb")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_redirect_uri"


def test_the_consent_page_and_its_refusals(mcp_stack: McpProcess, tenant: Tenant) -> None:
    base = mcp_stack.base_url
    client_id = register(base, name="Claude <test>").json()["client_id"]
    _, challenge = pkce()
    fields = authorize_fields(client_id, challenge, "read:interviews read:studies")
    page = httpx.get(f"{base}/oauth/authorize", params=fields, timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Claude &lt;test&gt;" in page.text  # named, and escaped
    assert "read:interviews" in page.text and "read:studies" in page.text
    assert "write:studies" not in page.text
    assert 'name="api_key"' in page.text and 'action="/oauth/authorize"' in page.text
    assert not re.search(r"""(src|href)=["']?https?:""", page.text)  # no external assets

    # A redirect URI the client did not register: refused here, not redirected to.
    elsewhere = {**fields, "redirect_uri": "http://127.0.0.1:9/steal"}
    refused = httpx.get(f"{base}/oauth/authorize", params=elsewhere, timeout=10)
    assert refused.status_code == 400 and "location" not in refused.headers
    unknown = httpx.get(
        f"{base}/oauth/authorize", params={**fields, "client_id": "nobody"}, timeout=10
    )
    assert unknown.status_code == 400 and "location" not in unknown.headers

    # A bad key shows the page again, with the error.
    wrong = consent(base, fields, "koji_sk_" + "x" * 43)
    assert wrong.status_code == 400
    assert "not valid" in wrong.text and 'name="api_key"' in wrong.text
    # A plain-method challenge is not offered: back to the client with the error.
    plain = consent(base, {**fields, "code_challenge_method": "plain"}, tenant.api_key)
    assert plain.status_code == 302
    assert parse_qs(urlparse(plain.headers["location"]).query)["error"] == ["invalid_request"]


async def test_the_whole_flow_pkce_refresh_rotation_and_code_reuse(
    mcp_stack: McpProcess, threaded_server: ThreadedServer, tenant: Tenant
) -> None:
    base = mcp_stack.base_url
    client_id = register(base).json()["client_id"]
    verifier, challenge = pkce()
    code = code_of(
        consent(base, authorize_fields(client_id, challenge, "read:interviews"), tenant.api_key)
    )

    exchange = {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_id": client_id,
    }  # fmt: skip
    wrong = token(base, **exchange, code_verifier=pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    issued = token(base, **exchange, code_verifier=verifier)
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["scope"] == "read:interviews"
    assert issued.headers["cache-control"] == "no-store"

    # /mcp with the access token acts as the key, within the scopes.
    result = await usage(base, tokens["access_token"])
    assert not result.is_error and result.structured_content["project_id"] == tenant.project_id
    async with mcp_client(f"{base}/mcp", tokens["access_token"]) as client:
        outside = await client.call_tool("koji_get_study_report", {"study_id": tenant.study_id})
    assert outside.is_error and outside.structured_content["error"] == "forbidden"

    # Refresh: a new pair; the old refresh token stops working.
    refresh = {"grant_type": "refresh_token", "client_id": client_id}
    rotated = token(base, **refresh, refresh_token=tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    fresh = rotated.json()
    assert fresh["refresh_token"] != tokens["refresh_token"]
    again = token(base, **refresh, refresh_token=tokens["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert not (await usage(base, fresh["access_token"])).is_error

    # Codes and tokens are stored by their SHA-256 only; nor is the key there.
    rows = query(
        threaded_server.database_url,
        f"SELECT token_hash, kind, sealed_key FROM oauth_tokens WHERE client_id = '{client_id}'",
    )
    stored = {row[0] for row in rows}
    assert {row[1] for row in rows} == {"code", "access", "refresh"}
    for secret in (code, tokens["access_token"], fresh["access_token"], fresh["refresh_token"]):
        assert token_hash(secret) in stored
        assert all(secret not in str(row) for row in rows)
    assert all(tenant.api_key not in str(row) for row in rows)

    # The code a second time: refused, and what it granted is revoked.
    reused = token(base, **exchange, code_verifier=verifier)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert mcp_status(base, fresh["access_token"]) == 401
    gone = token(base, **refresh, refresh_token=fresh["refresh_token"])
    assert gone.status_code == 400 and gone.json()["error"] == "invalid_grant"


def test_revocation_by_the_client_and_by_revoking_the_api_key(
    mcp_stack: McpProcess, threaded_server: ThreadedServer
) -> None:
    base = mcp_stack.base_url
    tenant = threaded_server.run(make_tenant(threaded_server.database_url))
    client_id, tokens = signed_in(base, tenant, "read:interviews read:studies")
    assert mcp_status(base, tokens["access_token"]) == 200
    revoked = httpx.post(
        f"{base}/oauth/revoke",
        data={"token": tokens["refresh_token"], "client_id": client_id},
        timeout=10,
    )
    assert revoked.status_code == 200, revoked.text
    assert mcp_status(base, tokens["access_token"]) == 401

    _, tokens = signed_in(base, tenant, "read:interviews")
    assert mcp_status(base, tokens["access_token"]) == 200
    admin(threaded_server.database_url, "keys", "revoke", tenant.key_id)
    assert mcp_status(base, tokens["access_token"]) == 401
    refused = token(
        base, grant_type="refresh_token", client_id=client_id,
        refresh_token=tokens["refresh_token"],
    )  # fmt: skip
    assert refused.status_code == 400


async def test_a_code_lives_60_seconds_and_an_access_token_an_hour(database_url: str) -> None:
    tenant = await make_tenant(database_url)
    now = [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]
    database = open_database(database_url)
    try:
        provider = KojiOAuthProvider(SqlGrantStore(database), lambda: now[0])
        client = OAuthClientInformationFull(
            client_id="c1", redirect_uris=[AnyUrl(REDIRECT)], scope="read:interviews",
            token_endpoint_auth_method="none",
        )  # fmt: skip
        await provider.register_client(client)
        params = AuthorizationParams(
            state=None, scopes=["read:interviews"], code_challenge=pkce()[1],
            redirect_uri=AnyUrl(REDIRECT), redirect_uri_provided_explicitly=True,
        )  # fmt: skip

        async def new_code() -> str:
            target = await provider.issue_code(client, params, ["read:interviews"], tenant.api_key)
            assert target is not None
            return parse_qs(urlparse(target).query)["code"][0]

        code = await new_code()
        now[0] += timedelta(seconds=61)
        assert await provider.load_authorization_code(client, code) is None
        code = await new_code()
        now[0] += timedelta(seconds=59)
        loaded = await provider.load_authorization_code(client, code)
        assert loaded is not None and loaded.api_key == tenant.api_key
        tokens = await provider.exchange_authorization_code(client, loaded)
        now[0] += timedelta(minutes=59)
        assert await provider.load_access_token(tokens.access_token) is not None
        now[0] += timedelta(minutes=2)
        assert await provider.load_access_token(tokens.access_token) is None
        assert tokens.refresh_token is not None
        assert await provider.load_refresh_token(client, tokens.refresh_token) is not None
        now[0] += timedelta(days=30)
        assert await provider.load_refresh_token(client, tokens.refresh_token) is None
        assert await provider.issue_code(client, params, [], "koji_sk_" + "y" * 43) is None
    finally:
        await database.dispose()
