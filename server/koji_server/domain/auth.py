"""Who is calling: API keys to principals (with their caches), and the
permission check every use case makes of its caller."""

from __future__ import annotations

import time

from koji_server.domain import credentials
from koji_server.domain.errors import Forbidden, InvalidSessionToken, Unauthorized
from koji_server.domain.model import Caller, Permission, Principal
from koji_server.domain.ports import UnitOfWorkFactory
from koji_server.support.cache import TtlCache
from koji_server.support.clock import Ticks
from koji_server.support.singleflight import SingleFlight

CACHED_KEYS = 10_000
# What a link-started interview's session token allows (on that interview only).
SESSION_PERMISSIONS = frozenset({Permission.CHAT, Permission.COMPLETE, Permission.READ})
SESSION_REQUESTS_PER_MINUTE = 60


def require(caller: Caller, permission: Permission) -> None:
    """Forbidden unless the caller holds `permission` (the operator holds all)."""
    if not caller.allows(permission):
        raise Forbidden(permission.value)


class Authenticator:
    """API keys to principals. A revocation takes effect within
    `cache_seconds`: known keys are cached that long, and so are unknown and
    revoked ones (a client repeating a bad key costs no database read each
    time)."""

    def __init__(
        self,
        units: UnitOfWorkFactory,
        cache_seconds: float = 2.0,
        ticks: Ticks = time.monotonic,
    ) -> None:
        self._units = units
        self._principals: TtlCache[str, Principal] = TtlCache(cache_seconds, CACHED_KEYS, ticks)
        self._refused_keys: TtlCache[str, bool] = TtlCache(cache_seconds, CACHED_KEYS, ticks)
        self._key_loads: SingleFlight[str, Principal] = SingleFlight()

    async def authenticate(self, api_key: str | None) -> Principal:
        if not credentials.looks_like(api_key, credentials.API_KEY_PREFIX):
            raise Unauthorized()
        assert api_key is not None
        key_hash = credentials.hash_secret(api_key)
        cached = self._principals.get(key_hash)
        if cached is not None:
            return cached
        if self._refused_keys.get(key_hash):
            raise Unauthorized()

        async def load() -> Principal:
            key = await self._units.read(lambda uow: uow.keys.by_hash(key_hash))
            if (
                key is None
                or not credentials.secret_matches(api_key, key.key_hash)
                or key.revoked_at is not None
            ):
                self._refused_keys.put(key_hash, True)
                raise Unauthorized()
            return Principal(
                key_id=key.id,
                project_id=key.project_id,
                permissions=frozenset(Permission(p) for p in key.permissions.split(",") if p),
                rate_limit_per_minute=key.rate_limit_per_minute,
            )

        # When a busy key's entry expires, its in-flight requests share one load.
        return await self._key_loads.run(
            key_hash, load, lambda principal: self._principals.put(key_hash, principal)
        )

    async def session(self, interview_id: str, session_token: str | None) -> Principal:
        """The session of a link-started interview: with its session token
        alone, a principal that acts on that interview only (messages, its
        own transcript, its completion). An interview started with an API key
        has no such session: its calls keep requiring the key
        (Unauthorized)."""
        if not credentials.looks_like(session_token, credentials.SESSION_TOKEN_PREFIX):
            raise Unauthorized()
        assert session_token is not None
        interview = await self._units.read(lambda uow: uow.interviews.record(interview_id))
        if interview is None or interview.link_id is None:
            raise Unauthorized()
        if not credentials.secret_matches(session_token, interview.session_token_hash):
            raise InvalidSessionToken()
        return Principal(
            key_id=interview.id,
            project_id=interview.project_id,
            permissions=SESSION_PERMISSIONS,
            rate_limit_per_minute=SESSION_REQUESTS_PER_MINUTE,
            interview_id=interview.id,
        )
