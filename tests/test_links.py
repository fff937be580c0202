"""Interview links on the engine under test: the link's rules with an
injected clock (expiry, the cap counted in the start's transaction, revoked
links, a study that is not active), the starts' limits per client address
and per link with fake ticks (over gRPC, no key), the session principal's
scope, and the token stored only as a hash."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import link_service_pb2 as link_pb
from koji.v1 import link_service_pb2_grpc as link_grpc
from koji.v1 import study_service_pb2 as study_pb
from koji_server.domain.auth import Authenticator
from koji_server.domain.changes import ChangeFeed
from koji_server.domain.errors import (
    InvalidSessionToken,
    LinkUnavailable,
    NotFound,
    RateLimited,
    Unauthorized,
)
from koji_server.domain.interview_commands import InterviewCommands
from koji_server.domain.links import LinkService, StartLimiter, token_hash
from koji_server.domain.model import OPERATOR, Permission, Respondent
from koji_server.storage.backends import open_database
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from tests.conftest import Tenant, make_tenant
from tests.helpers import FakeTicks, assert_error, auth, query
from tests.test_studies import create, study_message  # noqa: F401
from tests.test_studies import studies as studies

NOBODY = Respondent("", "", None)
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def units(database_url: str) -> AsyncIterator[UnitOfWorkFactory]:
    database = open_database(database_url)
    try:
        yield UnitOfWorkFactory(database)
    finally:
        await database.dispose()


async def active_study(studies, tenant: Tenant) -> str:  # type: ignore[no-untyped-def]
    created = await create(studies, tenant)
    await studies.PublishStudy(
        study_pb.PublishStudyRequest(study_id=created.study_id), metadata=auth(tenant.api_key)
    )
    return str(created.study_id)


async def test_expiry_the_cap_revocation_and_the_study_with_an_injected_clock(
    server, studies, tenant: Tenant, units: UnitOfWorkFactory, database_url: str
) -> None:
    clock = Clock()
    links = LinkService(units, "https://interviews.example.org/", clock)
    commands = InterviewCommands(units, ChangeFeed(), clock)
    study_id = await active_study(studies, tenant)

    expiring = await links.create(OPERATOR, study_id, T0 + timedelta(hours=1))
    assert expiring.url.startswith("https://interviews.example.org/i/")
    token = expiring.url.rsplit("/", 1)[-1]
    # Only the hash is stored.
    stored = query(database_url, "SELECT token_hash FROM interview_links")
    assert stored == [(token_hash(token),)] and token not in str(stored)
    started = await commands.start_from_link(token, NOBODY, "fr", rid="crm-1")
    clock.now = T0 + timedelta(hours=1)
    with pytest.raises(LinkUnavailable, match="expired"):
        await commands.start_from_link(token, NOBODY, "")
    with pytest.raises(LinkUnavailable, match="expired"):
        await links.page(token)

    capped = await links.create(OPERATOR, study_id, max_interviews=2)
    capped_token = capped.url.rsplit("/", 1)[-1]
    for _ in range(2):
        await commands.start_from_link(capped_token, NOBODY, "")
    with pytest.raises(LinkUnavailable, match="all the interviews"):
        await commands.start_from_link(capped_token, NOBODY, "")
    counts = {link.id: link.interview_count for link in await links.list(OPERATOR, study_id)}
    assert counts == {expiring.link.id: 1, capped.link.id: 2}

    revocable = await links.create(OPERATOR, study_id)
    revoked = await links.revoke(OPERATOR, study_id, revocable.link.id)
    assert revoked.revoked_at == clock.now.replace(microsecond=0)
    assert (await links.revoke(OPERATOR, study_id, revocable.link.id)) == revoked
    with pytest.raises(LinkUnavailable, match="revoked"):
        await commands.start_from_link(revocable.url.rsplit("/", 1)[-1], NOBODY, "")
    with pytest.raises(NotFound):
        await commands.start_from_link("not-a-token", NOBODY, "")

    fresh = await links.create(OPERATOR, study_id)
    await studies.CloseStudy(
        study_pb.CloseStudyRequest(study_id=study_id), metadata=auth(tenant.api_key)
    )
    with pytest.raises(LinkUnavailable, match="study"):
        await commands.start_from_link(fresh.url.rsplit("/", 1)[-1], NOBODY, "")

    row = query(
        database_url,
        f"SELECT link_id, respondent_external_id, locale FROM interviews "
        f"WHERE id = '{started.interview_id}'",
    )
    assert row == [(expiring.link.id, "crm-1", "fr")]


async def test_the_session_principal_is_one_link_interview_only(
    server, studies, tenant: Tenant, units: UnitOfWorkFactory, stub
) -> None:
    links = LinkService(units, "http://127.0.0.1:8080")
    commands = InterviewCommands(units, ChangeFeed())
    authenticator = Authenticator(units)
    study_id = await active_study(studies, tenant)
    token = (await links.create(OPERATOR, study_id)).url.rsplit("/", 1)[-1]
    started = await commands.start_from_link(token, NOBODY, "")
    other = await commands.start_from_link(token, NOBODY, "")

    session = await authenticator.session(started.interview_id, started.session_token)
    assert session.interview_id == started.interview_id
    assert session.project_id == tenant.project_id
    assert session.permissions == {Permission.CHAT, Permission.COMPLETE, Permission.READ}
    with pytest.raises(InvalidSessionToken):
        await authenticator.session(other.interview_id, started.session_token)
    keyed = await stub.StartInterview(
        pb.StartInterviewRequest(study_id=study_id), metadata=auth(tenant.api_key)
    )
    with pytest.raises(Unauthorized):
        await authenticator.session(keyed.interview_id, keyed.session_token)


async def test_start_limits_per_address_and_per_link_with_fake_ticks(
    make_server, database_url: str, ticks: FakeTicks
) -> None:
    server = await make_server(database_url, link_starts_per_address=3, link_starts_per_link=5)
    tenant = await make_tenant(database_url)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        from koji.v1 import study_service_pb2_grpc as study_grpc

        studies_stub = study_grpc.StudyServiceStub(channel)
        links_stub = link_grpc.LinkServiceStub(channel)
        study_id = await active_study(studies_stub, tenant)
        made = await links_stub.CreateLink(
            link_pb.CreateLinkRequest(study_id=study_id), metadata=auth(tenant.api_key)
        )
        token = made.url.rsplit("/", 1)[-1]
        # No key: the token is the credential.
        for _ in range(3):
            await links_stub.StartLinkInterview(link_pb.StartLinkInterviewRequest(token=token))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await links_stub.StartLinkInterview(link_pb.StartLinkInterviewRequest(token=token))
        assert_error(refused.value, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
        ticks.advance(60)
        for _ in range(3):
            await links_stub.StartLinkInterview(link_pb.StartLinkInterviewRequest(token=token))
        listed = await links_stub.ListLinks(
            link_pb.ListLinksRequest(study_id=study_id), metadata=auth(tenant.api_key)
        )
        assert listed.links[0].interview_count == 6


def test_the_start_limiter_counts_per_address_and_per_link() -> None:
    ticks = FakeTicks()
    limiter = StartLimiter(per_address=2, per_link=3, ticks=ticks)
    limiter.admit("10.0.0.1", "tok-a")
    limiter.admit("10.0.0.1", "tok-b")
    with pytest.raises(RateLimited) as address:
        limiter.admit("10.0.0.1", "tok-c")
    assert "address" in address.value.message and address.value.retry_after_seconds == 60
    limiter.admit("10.0.0.2", "tok-a")
    limiter.admit("10.0.0.3", "tok-a")
    with pytest.raises(RateLimited, match="link"):
        limiter.admit("10.0.0.4", "tok-a")  # tok-a's fourth in the minute
    ticks.advance(30)
    with pytest.raises(RateLimited) as later:
        limiter.admit("10.0.0.1", "tok-d")
    assert later.value.retry_after_seconds == 30
    ticks.advance(30)
    limiter.admit("10.0.0.1", "tok-a")  # the window has slid past both
