"""koji_search_interviews over SearchService: respondent quotes across the
project's interviews, by words and by meaning, with the API's filters.

Registered only where the generated SearchService stubs exist (the search
issue's proto); without them koji-mcp offers the other tools."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from google.protobuf.message import Message
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from koji_server.mcp.api import KojiApi, as_dict

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from koji_server.mcp.tools import Caller

Run = Callable[[str, Callable[["Caller"], Awaitable[CallToolResult]]], Awaitable[CallToolResult]]
Ok = Callable[[BaseModel, str], CallToolResult]


class SearchResult(BaseModel):
    interview_id: str
    message_id: str
    study_id: str
    quote: str = Field(description="The respondent's message.")
    highlight: str = Field(description="The quote with matched words «marked».")
    score: float = Field(description="Relevance; higher first.")
    type: str = Field(description="Insight type, if the message is one.")
    theme_id: str
    theme_label: str = Field(description="The study-report theme it belongs to, if any.")
    sentiment: float
    quality_score: float = Field(description="The interview's quality score.")
    created_at: str


class SearchPage(BaseModel):
    results: list[SearchResult]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


def add_search_tool(mcp: MCPServer, api: KojiApi, run: Run, ok: Ok, scope: str) -> bool:
    """Adds koji_search_interviews if the SearchService stubs exist."""
    try:
        pb = importlib.import_module("koji.v1.search_service_pb2")
        pb_grpc = importlib.import_module("koji.v1.search_service_pb2_grpc")
    except ImportError:
        return False

    async def search(api_key: str, request: Message) -> Any:
        stub = pb_grpc.SearchServiceStub(api.channel)
        return await api.call(stub.SearchInterviews, request, api_key)

    @mcp.tool(
        name="koji_search_interviews",
        title="Search interviews",
        description=(
            "Finds respondent quotes across the project's interviews by words and meaning "
            '(words ranked, "quoted phrases" required, -word excluded), with filters. '
            "Only interviews that passed the quality gate unless include_excluded."
        ),
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    async def koji_search_interviews(
        query: Annotated[
            str | None, Field(description="What to look for (at most 500 chars).")
        ] = None,
        study_id: Annotated[str | None, Field(description="Only this study (a UUID).")] = None,
        type: Annotated[
            Literal["pain_point", "request", "praise"] | None,
            Field(description="Only insights of this type."),
        ] = None,
        sentiment: Annotated[
            Literal["positive", "negative", "neutral"] | None,
            Field(description="Only quotes of this sentiment."),
        ] = None,
        min_quality: Annotated[
            float | None, Field(ge=1.0, le=5.0, description="Only interviews scoring this much.")
        ] = None,
        after: Annotated[
            datetime | None, Field(description="Only messages after (RFC 3339).")
        ] = None,
        include_excluded: Annotated[
            bool, Field(description="Also interviews that failed the quality gate.")
        ] = False,
        limit: Annotated[int, Field(ge=1, le=100, description="Results per page, 1-100.")] = 20,
        cursor: Annotated[
            str | None, Field(description="next_cursor of the previous page, same filters.")
        ] = None,
    ) -> Annotated[CallToolResult, SearchPage]:
        async def work(who: Caller) -> CallToolResult:
            request = pb.SearchInterviewsRequest(
                q=query or "", study_id=study_id or "", type=type or "",
                sentiment=sentiment or "", min_quality=min_quality or 0.0,
                include_excluded=include_excluded, page_size=limit, page_token=cursor or "",
            )  # fmt: skip
            if after is not None:
                request.after.FromDatetime(after)
            response = await search(who.api_key, request)
            page = SearchPage(
                results=[SearchResult.model_validate(as_dict(r)) for r in response.results],
                next_cursor=response.next_page_token or None,
            )
            lines = [
                f'- "{r.quote}" (interview {r.interview_id}{", " + r.type if r.type else ""})'
                for r in page.results
            ]
            return ok(page, "\n".join(lines) or "No matching quotes.")

        return await run(scope, work)

    return True
