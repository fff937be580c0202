"""koji-mcp's OAuth clients and tokens on SQLite or PostgreSQL (the
mcp.grants.GrantStore port): writes through the database's write path, reads
on its read engine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session

from koji_server.mcp.grants import IssuedToken, TokenKind
from koji_server.storage.backends import Storage
from koji_server.storage.schema import ApiKeyRow, OAuthClientRow, OAuthTokenRow

T = OAuthTokenRow


def _issued(row: Row[Any]) -> IssuedToken:
    return IssuedToken(
        token_hash=row.token_hash,
        kind=row.kind,
        grant_id=row.grant_id,
        client_id=row.client_id,
        api_key_id=row.api_key_id,
        scopes=tuple(row.scopes.split()),
        sealed_key=row.sealed_key,
        created_at=row.created_at,
        expires_at=row.expires_at,
        code_challenge=row.code_challenge,
        redirect_uri=row.redirect_uri,
        redirect_uri_explicit=row.redirect_uri_explicit,
        resource=row.resource,
    )


_COLUMNS = [c for c in T.__table__.columns]  # type: ignore[attr-defined]


class SqlGrantStore:
    def __init__(self, database: Storage) -> None:
        self.database = database

    async def _first(self, statement: Any) -> Row[Any] | None:
        async with self.database.read_engine.connect() as connection:
            return (await connection.execute(statement)).first()

    async def add_client(self, client_id: str, metadata: dict[str, Any], now: datetime) -> None:
        def work(session: Session) -> None:
            session.add(OAuthClientRow(client_id=client_id, metadata_json=metadata, created_at=now))

        await self.database.write(work)

    async def client(self, client_id: str) -> dict[str, Any] | None:
        row = await self._first(
            select(OAuthClientRow.metadata_json).where(OAuthClientRow.client_id == client_id)
        )
        return None if row is None else dict(row[0])

    async def active_key_id(self, key_hash: str) -> str | None:
        row = await self._first(
            select(ApiKeyRow.id).where(
                ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None)
            )
        )
        return None if row is None else str(row[0])

    async def add_token(self, token: IssuedToken) -> None:
        def work(session: Session) -> None:
            session.add(
                OAuthTokenRow(
                    token_hash=token.token_hash,
                    kind=token.kind,
                    grant_id=token.grant_id,
                    client_id=token.client_id,
                    api_key_id=token.api_key_id,
                    scopes=" ".join(token.scopes),
                    sealed_key=token.sealed_key,
                    code_challenge=token.code_challenge,
                    redirect_uri=token.redirect_uri,
                    redirect_uri_explicit=token.redirect_uri_explicit,
                    resource=token.resource,
                    created_at=token.created_at,
                    expires_at=token.expires_at,
                    used_at=None,
                )
            )

        await self.database.write(work)

    async def token(self, token_hash: str, kind: TokenKind, now: datetime) -> IssuedToken | None:
        row = await self._first(
            select(*_COLUMNS)
            .join(ApiKeyRow, ApiKeyRow.id == T.api_key_id)
            .where(
                T.token_hash == token_hash,
                T.kind == kind,
                T.used_at.is_(None),
                T.expires_at > now,
                ApiKeyRow.revoked_at.is_(None),
            )
        )
        return None if row is None else _issued(row)

    async def spent(self, token_hash: str, kind: TokenKind) -> IssuedToken | None:
        row = await self._first(
            select(*_COLUMNS).where(
                T.token_hash == token_hash, T.kind == kind, T.used_at.is_not(None)
            )
        )
        return None if row is None else _issued(row)

    async def use(self, token_hash: str, kind: TokenKind, now: datetime) -> bool:
        def work(session: Session) -> bool:
            result = session.execute(
                update(T)
                .where(
                    T.token_hash == token_hash,
                    T.kind == kind,
                    T.used_at.is_(None),
                    T.expires_at > now,
                )
                .values(used_at=now)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return await self.database.write(work)

    async def revoke_grant(self, grant_id: str, now: datetime) -> None:
        def work(session: Session) -> None:
            session.execute(
                update(T).where(T.grant_id == grant_id, T.used_at.is_(None)).values(used_at=now)
            )

        await self.database.write(work)
