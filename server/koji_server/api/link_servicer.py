"""LinkService servicer: a study's links (API key with `study:write`), and
the two calls a link's holder makes without a key: the respondent's page
and the interview's start (each limited per client address and per link)."""

from __future__ import annotations

from datetime import UTC

from google.api import httpbody_pb2

from koji.v1 import link_service_pb2 as pb
from koji_server import respondent_page
from koji_server.api import translate
from koji_server.api.observe import about_interview
from koji_server.api.servicer import RpcCall
from koji_server.domain.interview_commands import InterviewCommands
from koji_server.domain.links import CreatedLink, Link, LinkService, StartLimiter

FORWARDED_FOR = "x-forwarded-for"


def link(value: Link, url: str = "") -> pb.Link:
    message = pb.Link(
        link_id=value.id,
        url=url,
        max_interviews=value.max_interviews,
        interview_count=value.interview_count,
        created_at=translate.timestamp(value.created_at),
    )
    if value.expires_at is not None:
        message.expires_at.CopyFrom(translate.timestamp(value.expires_at))
    if value.revoked_at is not None:
        message.revoked_at.CopyFrom(translate.timestamp(value.revoked_at))
    return message


def client_address(call: RpcCall) -> str:
    """Who is starting: through Envoy (which sets use_remote_address) the
    address it appended last to X-Forwarded-For, the one a client cannot
    forge; over gRPC, the peer's address without its port."""
    if call.via_rest:
        forwarded = call.header(FORWARDED_FOR)
        if forwarded:
            return forwarded.rsplit(",", 1)[-1].strip()
    peer = call.context.peer() or ""
    return peer.rpartition(":")[0] or peer


class LinkServicer:
    def __init__(
        self, links: LinkService, commands: InterviewCommands, limiter: StartLimiter
    ) -> None:
        self._links = links
        self._commands = commands
        self._limiter = limiter

    async def CreateLink(self, request: pb.CreateLinkRequest, call: RpcCall) -> pb.Link:
        call.rest_success_status = 201
        created: CreatedLink = await self._links.create(
            await call.authenticate_and_admit(),
            request.study_id,
            request.expires_at.ToDatetime(tzinfo=UTC) if request.HasField("expires_at") else None,
            request.max_interviews,
        )
        return link(created.link, created.url)

    async def ListLinks(self, request: pb.ListLinksRequest, call: RpcCall) -> pb.ListLinksResponse:
        found = await self._links.list(await call.authenticate_and_admit(), request.study_id)
        return pb.ListLinksResponse(links=[link(each) for each in found])

    async def RevokeLink(self, request: pb.RevokeLinkRequest, call: RpcCall) -> pb.Link:
        return link(
            await self._links.revoke(
                await call.authenticate_and_admit(), request.study_id, request.link_id
            )
        )

    async def StartLinkInterview(
        self, request: pb.StartLinkInterviewRequest, call: RpcCall
    ) -> pb.StartLinkInterviewResponse:
        call.rest_success_status = 201
        self._limiter.admit(client_address(call), request.token)
        started = await self._commands.start_from_link(
            request.token,
            translate.respondent_from_proto(request),
            request.locale,
            request.rid,
        )
        about_interview(started.interview_id)
        # The same fields with the same numbers: StartInterview's answer, re-read.
        return pb.StartLinkInterviewResponse.FromString(
            translate.started(started).SerializeToString()
        )

    async def GetLinkPage(
        self, request: pb.GetLinkPageRequest, call: RpcCall
    ) -> httpbody_pb2.HttpBody:
        page = await self._links.page(request.token)
        call.response_metadata += [
            ("content-security-policy", respondent_page.content_security_policy()),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
        ]
        html = respondent_page.render(page.title, "en", request.token)
        return httpbody_pb2.HttpBody(
            content_type="text/html; charset=utf-8", data=html.encode("utf-8")
        )
