"""Interview links: a study's links (created, listed, revoked with
`study:write`), the page and the interview start they give anyone holding the
url, and the limits on those starts.

A link's token is a capability: 32 random bytes, shown once in the link's url
and stored as its SHA-256 (like API keys). Starting an interview from it takes
no API key; the interview is marked with the link, and its session token is
then its only credential (domain.auth.Authenticator.session).
"""

from __future__ import annotations

import math
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime

from koji_server.domain import credentials, validation
from koji_server.domain.auth import require
from koji_server.domain.errors import (
    FieldViolation,
    InvalidRequest,
    LinkUnavailable,
    NotFound,
    RateLimited,
)
from koji_server.domain.model import Caller, Permission, StudyStatus
from koji_server.domain.ports import UnitOfWork, UnitOfWorkFactory
from koji_server.support.clock import Clock, Ticks, precise_now, whole_seconds

MAX_INTERVIEWS = 1_000_000
# The limits on starts without an API key (docs/links.md): per client address
# and per link, in a sliding minute.
STARTS_PER_ADDRESS_PER_MINUTE = 10
STARTS_PER_LINK_PER_MINUTE = 120


@dataclass(frozen=True, slots=True)
class Link:
    """A study's interview link, as stored (its token only as a hash)."""

    id: str
    project_id: str
    study_id: str
    token_hash: str
    max_interviews: int
    interview_count: int
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def closed_because(self, now: datetime) -> str | None:
        """Why the link starts no interview now (None: it does)."""
        if self.revoked_at is not None:
            return "it was revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "it has expired"
        if self.max_interviews and self.interview_count >= self.max_interviews:
            return "it has all the interviews it takes"
        return None


@dataclass(frozen=True, slots=True)
class CreatedLink:
    link: Link
    url: str


@dataclass(frozen=True, slots=True)
class LinkPage:
    """All the respondent's page learns of the project."""

    title: str


def token_hash(token: str) -> str:
    return credentials.hash_secret(token)


def open_link(uow: UnitOfWork, token: str, now: datetime, lock: bool = False) -> Link:
    """The link of `token` if it starts interviews now: NotFound when no link
    has it; LinkUnavailable when it is revoked, expired or full, or its study
    is not active."""
    link = uow.links.by_token_hash(token_hash(token), lock)
    if link is None:
        raise NotFound("link", "with this token")
    why = link.closed_because(now)
    if why is not None:
        raise LinkUnavailable(why)
    study = uow.studies.get(link.study_id)
    if study is None or study.status != StudyStatus.ACTIVE:
        raise LinkUnavailable("its study is not open")
    return link


class LinkService:
    """A study's links, for callers with `study:write`, and the page's data."""

    def __init__(
        self, units: UnitOfWorkFactory, public_url: str, clock: Clock = precise_now
    ) -> None:
        self._units = units
        self._public_url = public_url.rstrip("/")
        self._clock = clock

    def url(self, token: str) -> str:
        return f"{self._public_url}/i/{token}"

    async def create(
        self,
        caller: Caller,
        study_id: str,
        expires_at: datetime | None = None,
        max_interviews: int = 0,
    ) -> CreatedLink:
        require(caller, Permission.STUDY_WRITE)
        study_id = validation.uuid_field("study_id", study_id)
        now = whole_seconds(self._clock())
        if not 0 <= max_interviews <= MAX_INTERVIEWS:
            raise InvalidRequest(
                [FieldViolation("max_interviews", f"must be 0 to {MAX_INTERVIEWS:,}")]
            )
        token = secrets.token_urlsafe(32)

        def add(uow: UnitOfWork) -> Link:
            study = uow.studies.get(study_id, caller.project_id)
            if study is None:
                raise NotFound("study", study_id)
            link = Link(
                id=str(uuid.uuid4()),
                project_id=study.project_id,
                study_id=study.id,
                token_hash=token_hash(token),
                max_interviews=max_interviews,
                interview_count=0,
                created_at=now,
                expires_at=expires_at,
            )
            uow.links.add(link)
            return link

        return CreatedLink(await self._units.write(add), self.url(token))

    async def list(self, caller: Caller, study_id: str) -> list[Link]:
        require(caller, Permission.STUDY_WRITE)
        study_id = validation.uuid_field("study_id", study_id)

        def read(uow: UnitOfWork) -> list[Link]:
            if uow.studies.get(study_id, caller.project_id) is None:
                raise NotFound("study", study_id)
            return uow.links.of_study(study_id)

        return await self._units.read(read)

    async def revoke(self, caller: Caller, study_id: str, link_id: str) -> Link:
        require(caller, Permission.STUDY_WRITE)
        study_id = validation.uuid_field("study_id", study_id)
        link_id = validation.uuid_field("link_id", link_id)
        now = whole_seconds(self._clock())

        def revoke(uow: UnitOfWork) -> Link:
            if uow.studies.get(study_id, caller.project_id) is None:
                raise NotFound("study", study_id)
            link = uow.links.get(link_id, lock=True)
            if link is None or link.study_id != study_id:
                raise NotFound("link", link_id)
            if link.revoked_at is not None:
                return link
            revoked = replace(link, revoked_at=now)
            uow.links.save(revoked)
            return revoked

        return await self._units.write(revoke)

    async def page(self, token: str) -> LinkPage:
        """What the link's page shows (NotFound, LinkUnavailable as a start)."""
        now = self._clock()

        def read(uow: UnitOfWork) -> LinkPage:
            link = open_link(uow, token, now)
            study = uow.studies.get(link.study_id)
            assert study is not None  # open_link read it
            return LinkPage(study.title)

        return await self._units.read(read)


class StartLimiter:
    """Starts without an API key: at most `per_address` a minute from one
    client address and `per_link` a minute on one link (sliding windows, in
    this process's memory: replicas each count their own). `ticks`: seconds
    that only go forward (tests move a fake)."""

    def __init__(
        self,
        per_address: int = STARTS_PER_ADDRESS_PER_MINUTE,
        per_link: int = STARTS_PER_LINK_PER_MINUTE,
        ticks: Ticks | None = None,
        tracked: int = 100_000,
    ) -> None:
        self._limits = {"address": per_address, "link": per_link}
        self._ticks = ticks or time.monotonic
        self._tracked = tracked
        self._hits: OrderedDict[tuple[str, str], list[float]] = OrderedDict()

    def admit(self, address: str, token: str) -> None:
        """Count one start, or raise RateLimited (counting nothing)."""
        now = self._ticks()
        keys = [("address", address), ("link", token_hash(token))]
        recent = []
        for key in keys:
            hits = [t for t in self._hits.get(key, ()) if now - t < 60.0]
            if len(hits) >= self._limits[key[0]]:
                retry = max(1, math.ceil(60.0 - (now - hits[0])))
                raise RateLimited(
                    retry, f"Too many interviews started from this {key[0]}; retry in {retry} s."
                )
            recent.append(hits)
        for key, hits in zip(keys, recent, strict=True):
            hits.append(now)
            self._hits[key] = hits
            self._hits.move_to_end(key)
        while len(self._hits) > self._tracked:
            self._hits.popitem(last=False)
