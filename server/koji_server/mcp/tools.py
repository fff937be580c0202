"""The MCP surface of the service: tools, resources and the synthesize_study
prompt, each a call (or a few) of the gRPC API made with the caller's key.

Every tool declares a described input schema, an output schema, a readable
text rendering beside its `structuredContent`, and annotations (reads are
`readOnlyHint`). A refusal of the API comes back as a tool result with
`isError: true` and the API's code and message (`not_found: ...`); a tool
outside the caller's OAuth scopes answers `forbidden` the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from koji.v1 import interview_service_pb2 as ipb
from koji_server.mcp.api import ApiError, KojiApi, as_dict
from koji_server.mcp.search_tool import add_search_tool
from koji_server.mcp.study_tools import add_study_tools

READ_STUDIES = "read:studies"
READ_INTERVIEWS = "read:interviews"
WRITE_STUDIES = "write:studies"
SCOPES = (READ_STUDIES, READ_INTERVIEWS, WRITE_STUDIES)
SCOPE_DESCRIPTIONS = {
    READ_STUDIES: "read studies and their reports",
    READ_INTERVIEWS: "read interviews (transcripts, analyses) and usage",
    WRITE_STUDIES: "create, change and publish studies",
}
# One ListInterviews page of the API; the quality gate reads each completed
# interview's analysis, at most this many at once.
MAX_LIMIT = 100
GATE_CONCURRENCY = 16

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)


@dataclass(frozen=True)
class Caller:
    """Who a request acts as: an API key, narrowed to OAuth scopes."""

    api_key: str
    scopes: frozenset[str]


class Refused(Exception):
    """A tool call refused before reaching the API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --- output models (the tools' output schemas) -----------------------------


class Stats(BaseModel):
    duration_seconds: int = Field(description="Seconds from start to completion (or to now).")
    respondent_messages: int = Field(description="Messages written by the respondent.")
    interviewer_messages: int = Field(description="Messages written by the interviewer.")
    total_messages: int = Field(description="All messages of the transcript.")


class InterviewSummary(BaseModel):
    interview_id: str = Field(description="The interview identifier (a UUID).")
    study_id: str = Field(description="The study it belongs to.")
    status: str = Field(description="`active`, `concluded` or `completed`.")
    analysis_status: str | None = Field(
        None, description="`processing`, `completed` or `failed`; absent before completion."
    )
    started_at: str = Field(description="When it started (RFC 3339).")
    completed_at: str | None = Field(None, description="When it was completed (RFC 3339).")
    updated_at: str = Field(description="When anything of it last changed (RFC 3339).")
    stats: Stats
    respondent: dict[str, Any] = Field(description="The respondent as given at start.")
    quality_score: float | None = Field(
        None, description="Quality from 1.0 to 5.0, when the analysis is complete."
    )
    passed_quality_gate: bool | None = Field(
        None, description="Whether it passed the quality gate (score 3.0 or more)."
    )


class InterviewPage(BaseModel):
    interviews: list[InterviewSummary] = Field(description="This page's interviews.")
    quality: str = Field(description="The quality gate applied: `passed`, `excluded` or `all`.")
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; absent on the last page."
    )


class TranscriptMessage(BaseModel):
    message_id: str
    role: str = Field(description="`interviewer` or `respondent`.")
    content: str
    created_at: str


class Interview(BaseModel):
    interview_id: str
    study_id: str
    status: str = Field(description="`active`, `concluded` or `completed`.")
    analysis_status: str | None = None
    reason: str | None = Field(None, description="Why it ended, once completed.")
    started_at: str
    completed_at: str | None = None
    transcript: list[TranscriptMessage] = Field(description="Every message, oldest first.")
    answers: list[dict[str, str]] = Field(
        description="Each interviewer question with the respondent's reply that followed it."
    )
    analysis: dict[str, Any] | None = Field(
        None,
        description="Themes, insights with quotes, quality score and breakdown, and whether "
        "it counts toward usage; present once the analysis is complete.",
    )
    stats: Stats
    respondent: dict[str, Any]
    mode: str
    locale: str


class Quote(BaseModel):
    interview_id: str
    message_id: str
    quote: str
    type: str = Field(description="`pain_point`, `request` or `praise`.")


class ReportTheme(BaseModel):
    theme_id: str
    label: str = Field(description="A short noun phrase naming the topic.")
    interview_count: int = Field(description="Interviews with an insight in the theme.")
    share: float = Field(description="interview_count / interviews_analyzed, 0.0 to 1.0.")
    sentiment: float = Field(description="Mean sentiment of its insights, -1.0 to 1.0.")
    insight_counts: dict[str, int] = Field(description="Its insights by type.")
    quotes: list[Quote] = Field(description="Representative quotes, at most three.")


class StudyReport(BaseModel):
    study_id: str
    interviews_analyzed: int = Field(description="Analysed interviews that passed the gate.")
    interviews_excluded: int = Field(description="Analysed interviews that failed the gate.")
    updated_at: str | None = Field(None, description="When the report last changed.")
    themes: list[ReportTheme] = Field(description="The themes, largest first.")
    theme_chart: list[dict[str, Any]] = Field(
        description="Chart data: one {label, interview_count, share} point per theme."
    )
    questions: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Question charts as data: per key question its responses and skips; "
        "mean, median and distribution for scales; count and share per option for choices.",
    )


class Usage(BaseModel):
    project_id: str
    counted_interviews: int = Field(description="Completed interviews that passed the gate.")
    excluded_interviews: int = Field(description="Completed interviews that failed the gate.")
    processing_interviews: int = Field(description="Completed interviews still being analysed.")
    failed_interviews: int = Field(description="Completed interviews whose analysis failed.")


# --- renderings -------------------------------------------------------------


def answers_of(transcript: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Pairs each interviewer message with the respondent's reply after it."""
    pairs: list[dict[str, str]] = []
    for index, message in enumerate(transcript):
        if message["role"] != "interviewer":
            continue
        following = transcript[index + 1] if index + 1 < len(transcript) else None
        if following is not None and following["role"] == "respondent":
            pairs.append({"question": message["content"], "answer": following["content"]})
    return pairs


def transcript_markdown(interview: dict[str, Any]) -> str:
    lines = [f"# Interview {interview['interview_id']}", ""]
    for message in interview["transcript"]:
        who = "Interviewer" if message["role"] == "interviewer" else "Respondent"
        lines.append(f"**{who}:** {message['content']}")
        lines.append("")
    return "\n".join(lines)


def report_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Study report {report['study_id']}",
        "",
        f"{report['interviews_analyzed']} interviews analysed, "
        f"{report['interviews_excluded']} excluded by the quality gate.",
    ]
    for theme in report["themes"]:
        counts = theme["insight_counts"]
        lines += [
            "",
            f"## {theme['label']}",
            f"{theme['interview_count']} interviews ({theme['share']:.0%}), sentiment "
            f"{theme['sentiment']:+.2f}; pain points {counts.get('pain_point', 0)}, "
            f"requests {counts.get('request', 0)}, praise {counts.get('praise', 0)}.",
        ]
        lines += [
            f'- "{quote["quote"]}" ({quote["type"]}, interview {quote["interview_id"]})'
            for quote in theme["quotes"]
        ]
    if not report["themes"]:
        lines += ["", "No themes yet: no interview of the study has passed analysis."]
    for question in report.get("questions", []):
        lines += ["", f"### {question['text']}", f"{question['responses']} responses, "
                  f"{question['skipped']} skipped."]  # fmt: skip
        if "mean" in question:
            lines.append(f"Mean {question['mean']:.2f}, median {question.get('median', 0):g}.")
        lines += [
            f"- {option['label']}: {option['count']} ({option['share']:.0%})"
            for option in question.get("options", [])
        ]
    return "\n".join(lines)


def _interview_text(interview: dict[str, Any]) -> str:
    lines = [
        f"Interview {interview['interview_id']} ({interview['status']}, "
        f"{interview['stats']['total_messages']} messages) in study {interview['study_id']}"
    ]
    analysis = interview.get("analysis")
    if analysis:
        lines.append(
            f"Quality {analysis['quality_score']:.1f}"
            f" ({'counts' if analysis['counts_toward_usage'] else 'excluded'})"
        )
        lines += [f'- {i["type"]}: {i["summary"]} — "{i["quote"]}"' for i in analysis["insights"]]
    lines.append("")
    lines.append(transcript_markdown(interview))
    return "\n".join(lines)


def _page_text(page: InterviewPage) -> str:
    lines = [f"{len(page.interviews)} interviews (quality gate: {page.quality})"]
    for item in page.interviews:
        score = "" if item.quality_score is None else f", quality {item.quality_score:.1f}"
        lines.append(
            f"- {item.interview_id}: {item.status}, {item.stats.total_messages} messages, "
            f"started {item.started_at}{score}"
        )
    if page.next_cursor:
        lines.append(f"More: call again with cursor={page.next_cursor}")
    return "\n".join(lines)


def _ok(model: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=model.model_dump(mode="json"),
    )


def _failed(code: str, message: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=f"{code}: {message}")],
        structured_content={"error": code, "message": message},
        is_error=True,
    )


# --- the server -------------------------------------------------------------

CallerSource = Callable[[], Caller | None]


def build_server(api: KojiApi, caller: CallerSource, **options: Any) -> MCPServer:
    """The MCP server over `api`; `caller` says who the current request is
    (None: no credential, which the HTTP transport has refused already).
    `options` go to MCPServer (the HTTP transport's auth settings)."""
    mcp = MCPServer(
        name="koji",
        title="Koji customer interviews",
        instructions=(
            "Create, change, publish and read studies; read a study's interviews "
            "(transcripts, analyses) and its report of themes, quotes and question charts. "
            "Interview and study ids are UUIDs."
        ),
        **options,
    )

    def who(scope: str) -> Caller:
        current = caller()
        if current is None:
            raise Refused("unauthorized", "No credential: send an API key or OAuth token.")
        if scope not in current.scopes:
            raise Refused("forbidden", f"This token lacks the {scope} scope.")
        return current

    async def run(
        scope: str, work: Callable[[Caller], Awaitable[CallToolResult]]
    ) -> CallToolResult:
        try:
            return await work(who(scope))
        except (ApiError, Refused) as error:
            return _failed(error.code, error.message)

    async def gate(api_key: str, item: dict[str, Any]) -> dict[str, Any]:
        if item.get("analysis_status") == "completed":
            interview = await api.get_interview(api_key, item["interview_id"])
            item["quality_score"] = interview.analysis.quality_score
            item["passed_quality_gate"] = interview.analysis.counts_toward_usage
        return item

    @mcp.tool(
        name="koji_list_interviews",
        title="List a study's interviews",
        description=(
            "Lists a study's interviews without transcripts, least recently updated first. "
            "By default only completed interviews that passed the quality gate (score 3.0 "
            "or more); quality='all' lists every interview, 'excluded' those that failed it. "
            "Page with next_cursor."
        ),
        annotations=READ,
    )
    async def koji_list_interviews(
        study_id: Annotated[str, Field(description="The study (a UUID).")],
        status: Annotated[
            Literal["active", "concluded", "completed"] | None,
            Field(description="Only interviews in this status (quality='all' only)."),
        ] = None,
        quality: Annotated[
            Literal["passed", "excluded", "all"],
            Field(description="Quality gate: passed (default), excluded, or all."),
        ] = "passed",
        limit: Annotated[
            int, Field(ge=1, le=MAX_LIMIT, description="Interviews read per page, 1-100.")
        ] = 20,
        cursor: Annotated[
            str | None, Field(description="next_cursor of the previous page, same filters.")
        ] = None,
    ) -> Annotated[CallToolResult, InterviewPage]:
        async def work(who: Caller) -> CallToolResult:
            if quality != "all" and status not in (None, "completed"):
                raise Refused(
                    "invalid_request", "Only completed interviews pass the quality gate: "
                    "use quality='all' to filter by another status."
                )  # fmt: skip
            request = ipb.ListInterviewsRequest(
                study_id=study_id, page_size=limit, page_token=cursor or ""
            )
            wanted = "completed" if quality != "all" else status
            if wanted:
                request.status = ipb.InterviewStatus.Value(wanted)
            response = await api.list_interviews(who.api_key, request)
            items = [as_dict(item) for item in response.interviews]
            if quality != "all":
                limiter = asyncio.Semaphore(GATE_CONCURRENCY)

                async def one(item: dict[str, Any]) -> dict[str, Any]:
                    async with limiter:
                        return await gate(who.api_key, item)

                items = [
                    item
                    for item in await asyncio.gather(*(one(item) for item in items))
                    if item.get("passed_quality_gate") is (quality == "passed")
                ]
            page = InterviewPage(
                interviews=[InterviewSummary.model_validate(item) for item in items],
                quality=quality,
                next_cursor=response.next_page_token or None,
            )
            return _ok(page, _page_text(page))

        return await run(READ_INTERVIEWS, work)

    async def read_interview(api_key: str, interview_id: str) -> dict[str, Any]:
        found = as_dict(await api.get_interview(api_key, interview_id))
        if not found.get("analysis", {}).get("insights") and not found.get("analysis_status"):
            found.pop("analysis", None)
        found["answers"] = answers_of(found["transcript"])
        return found

    @mcp.tool(
        name="koji_get_interview",
        title="Read an interview",
        description=(
            "Returns one interview: its transcript, each question with the respondent's "
            "answer, and its analysis (themes, insights with quotes, quality score)."
        ),
        annotations=READ,
    )
    async def koji_get_interview(
        interview_id: Annotated[str, Field(description="The interview (a UUID).")],
    ) -> Annotated[CallToolResult, Interview]:
        async def work(who: Caller) -> CallToolResult:
            found = await read_interview(who.api_key, interview_id)
            return _ok(Interview.model_validate(found), _interview_text(found))

        return await run(READ_INTERVIEWS, work)

    async def read_report(api_key: str, study_id: str) -> dict[str, Any]:
        report = as_dict(await api.get_study_report(api_key, study_id))
        report["theme_chart"] = [
            {key: theme[key] for key in ("label", "interview_count", "share")}
            for theme in report["themes"]
        ]
        return report

    @mcp.tool(
        name="koji_get_study_report",
        title="Read a study's report",
        description=(
            "Returns a study's report across its interviews: themes largest first, with "
            "their share of interviews, sentiment, insight counts and representative "
            "quotes, plus the theme chart as data."
        ),
        annotations=READ,
    )
    async def koji_get_study_report(
        study_id: Annotated[str, Field(description="The study (a UUID).")],
    ) -> Annotated[CallToolResult, StudyReport]:
        async def work(who: Caller) -> CallToolResult:
            report = await read_report(who.api_key, study_id)
            return _ok(StudyReport.model_validate(report), report_markdown(report))

        return await run(READ_STUDIES, work)

    @mcp.tool(
        name="koji_get_usage",
        title="Read the project's usage",
        description=(
            "Counts the project's completed interviews: those that passed the quality gate "
            "(what usage counts), those excluded, still processing, or whose analysis failed."
        ),
        annotations=READ,
    )
    async def koji_get_usage() -> Annotated[CallToolResult, Usage]:
        async def work(who: Caller) -> CallToolResult:
            usage = Usage.model_validate(as_dict(await api.get_usage(who.api_key)))
            text = (
                f"Project {usage.project_id}: {usage.counted_interviews} counted, "
                f"{usage.excluded_interviews} excluded, {usage.processing_interviews} "
                f"processing, {usage.failed_interviews} failed."
            )
            return _ok(usage, text)

        return await run(READ_INTERVIEWS, work)

    add_study_tools(mcp, api, run, _ok, (READ_STUDIES, WRITE_STUDIES))
    add_search_tool(mcp, api, run, _ok, READ_INTERVIEWS)

    async def resource(scope: str, read: Callable[[str], Awaitable[str]]) -> str:
        # A resource cannot answer as a tool result: the API's code and
        # message become the read's error.
        try:
            return await read(who(scope).api_key)
        except (ApiError, Refused) as error:
            raise ValueError(f"{error.code}: {error.message}") from None

    @mcp.resource(
        "koji://studies/{study_id}/report",
        name="study_report",
        title="Study report",
        description="A study's report as Markdown: themes, shares, sentiment, quotes.",
        mime_type="text/markdown",
    )
    async def study_report_resource(study_id: str) -> str:
        async def read(api_key: str) -> str:
            return report_markdown(await read_report(api_key, study_id))

        return await resource(READ_STUDIES, read)

    @mcp.resource(
        "koji://interviews/{interview_id}/transcript",
        name="interview_transcript",
        title="Interview transcript",
        description="An interview's transcript as Markdown.",
        mime_type="text/markdown",
    )
    async def transcript_resource(interview_id: str) -> str:
        async def read(api_key: str) -> str:
            return transcript_markdown(await read_interview(api_key, interview_id))

        return await resource(READ_INTERVIEWS, read)

    @mcp.prompt(
        name="synthesize_study",
        title="Synthesize a study",
        description="Write the findings of a study from its report, citing quotes.",
    )
    def synthesize_study(
        study_id: Annotated[str, Field(description="The study (a UUID).")],
    ) -> str:
        return (
            f"Read the report of study {study_id} (the koji_get_study_report tool, or the "
            f"resource koji://studies/{study_id}/report) and write its findings for a product "
            "team: the three to five most important themes, largest first, each with what "
            "respondents said, how many interviews raised it, and one or two verbatim quotes "
            "cited with their interview id. If a theme needs more context, read the interview "
            "with koji_get_interview. End with recommended next steps. Do not invent quotes."
        )

    return mcp
