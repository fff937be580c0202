"""The study tools of koji-mcp, over StudyService: list, read, create,
update, publish. Reads need `read:studies`, writes `write:studies` (and the
key's own `study:read` / `study:write` permissions, which the API checks)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from google.protobuf import field_mask_pb2, json_format
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from koji.v1 import study_service_pb2 as spb
from koji_server.mcp.api import KojiApi, as_dict

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from koji_server.mcp.tools import Caller

Run = Callable[[str, Callable[["Caller"], Awaitable[CallToolResult]]], Awaitable[CallToolResult]]
Ok = Callable[[BaseModel, str], CallToolResult]

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
StudyStatus = Literal["draft", "active", "completed", "archived"]
QuestionType = Literal[
    "open_ended", "scale", "single_choice", "multiple_choice", "ranking", "yes_no"
]


# --- input ------------------------------------------------------------------


class QuestionConfigInput(BaseModel):
    scale_min: int | None = Field(None, description="scale: the lowest value (default 1).")
    scale_max: int | None = Field(None, description="scale: the highest value (default 5).")
    scale_labels: dict[str, str] | None = Field(
        None, description='scale: labels of some values, e.g. {"1": "Poor", "5": "Great"}.'
    )
    options: list[str] | None = Field(
        None, description="single_choice, multiple_choice, ranking: the options' labels."
    )


class ProbingInput(BaseModel):
    max_follow_ups: int | None = Field(
        None, description="How many follow-up questions the interviewer may ask (0-3)."
    )
    instructions: str | None = Field(None, description="What the follow-ups should dig into.")


class QuestionInput(BaseModel):
    text: str = Field(description="The question as the interviewer asks it.")
    type: QuestionType = Field("open_ended", description="How it is answered.")
    required: bool | None = Field(None, description="Whether it must be answered (default true).")
    config: QuestionConfigInput | None = Field(None, description="Scale or options, by type.")
    probing: ProbingInput | None = Field(None, description="Follow-up questions.")
    question_id: str | None = Field(
        None, description="update only: keep the identifier of this existing question."
    )


class BriefInput(BaseModel):
    problem_statement: str | None = Field(None, description="What problem the study explores.")
    decision_to_inform: str | None = Field(None, description="The decision it informs.")
    hypothesis: str | None = Field(None, description="What you expect to learn.")
    target_participant: str | None = Field(None, description="Who should be interviewed.")
    methodology: str | None = Field(None, description="How the interviews are run.")
    mode: Literal["structured", "exploratory", "hybrid"] | None = Field(
        None, description="How strictly the interviewer follows the questions."
    )


def _question(question: QuestionInput) -> dict[str, Any]:
    body = question.model_dump(exclude_none=True)
    config = body.get("config")
    if config and "options" in config:
        config["options"] = [{"label": label} for label in config["options"]]
    return body


def _study(
    title: str | None, brief: BriefInput | None, questions: list[QuestionInput] | None
) -> spb.Study:
    body: dict[str, Any] = {}
    if title is not None:
        body["title"] = title
    if brief is not None:
        body["brief"] = brief.model_dump(exclude_none=True)
    if questions is not None:
        body["questions"] = [_question(question) for question in questions]
    return json_format.ParseDict(body, spb.Study())


# --- output -----------------------------------------------------------------


class Study(BaseModel):
    study_id: str
    title: str
    status: str = Field(description="`draft`, `active`, `completed` or `archived`.")
    brief: dict[str, Any] = Field(description="Problem, decision, hypothesis, participants.")
    questions: list[dict[str, Any]] = Field(
        description="Key questions with their ids, types, config and probing."
    )
    interview_count: int = Field(description="Interviews started.")
    completed_count: int = Field(description="Interviews completed.")
    created_at: str
    updated_at: str
    published_at: str | None = None


class StudyPage(BaseModel):
    studies: list[Study]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


def study_text(study: dict[str, Any]) -> str:
    lines = [
        f"Study {study['study_id']}: {study['title']} ({study['status']}, "
        f"{study['completed_count']}/{study['interview_count']} interviews completed)"
    ]
    for number, question in enumerate(study["questions"], 1):
        lines.append(f"{number}. [{question.get('type', 'open_ended')}] {question['text']}")
    return "\n".join(lines)


def add_study_tools(
    mcp: MCPServer, api: KojiApi, run: Run, ok: Ok, scopes: tuple[str, str]
) -> None:
    read_scope, write_scope = scopes

    async def answer(api_key: str, method: str, request: Any) -> CallToolResult:
        found = as_dict(await api.study_call(api_key, method, request))
        return ok(Study.model_validate(found), study_text(found))

    @mcp.tool(
        name="koji_list_studies",
        title="List studies",
        description="Lists the project's studies, oldest first, optionally by status.",
        annotations=READ,
    )
    async def koji_list_studies(
        status: Annotated[
            StudyStatus | None, Field(description="Only studies in this status.")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="Studies per page, 1-100.")] = 20,
        cursor: Annotated[
            str | None, Field(description="next_cursor of the previous page, same filters.")
        ] = None,
    ) -> Annotated[CallToolResult, StudyPage]:
        async def work(who: Caller) -> CallToolResult:
            request = spb.ListStudiesRequest(page_size=limit, page_token=cursor or "")
            if status is not None:
                request.status = spb.Study.Status.Value(status)
            response = await api.list_studies(who.api_key, request)
            studies = [as_dict(study) for study in response.studies]
            page = StudyPage(
                studies=[Study.model_validate(study) for study in studies],
                next_cursor=response.next_page_token or None,
            )
            text = "\n".join(study_text(study).split("\n")[0] for study in studies)
            return ok(page, text or "No studies.")

        return await run(read_scope, work)

    @mcp.tool(
        name="koji_get_study",
        title="Read a study",
        description="Returns a study: its brief, its key questions with types and probing, "
        "and its interview counts.",
        annotations=READ,
    )
    async def koji_get_study(
        study_id: Annotated[str, Field(description="The study (a UUID).")],
    ) -> Annotated[CallToolResult, Study]:
        async def work(who: Caller) -> CallToolResult:
            return await answer(who.api_key, "GetStudy", spb.GetStudyRequest(study_id=study_id))

        return await run(read_scope, work)

    @mcp.tool(
        name="koji_create_study",
        title="Create a study",
        description="Creates a study in `draft`: a title, key questions (typed, with "
        "probing) and an optional brief. Publish it to start interviews.",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    async def koji_create_study(
        title: Annotated[str, Field(description="The study's title.")],
        questions: Annotated[
            list[QuestionInput], Field(description="The key questions, in order (1-20).")
        ],
        brief: Annotated[BriefInput | None, Field(description="The research brief.")] = None,
    ) -> Annotated[CallToolResult, Study]:
        async def work(who: Caller) -> CallToolResult:
            study = _study(title, brief, questions)
            return await answer(who.api_key, "CreateStudy", spb.CreateStudyRequest(study=study))

        return await run(write_scope, work)

    @mcp.tool(
        name="koji_update_study",
        title="Change a study",
        description="Replaces the given fields of a study: title and brief in any status, "
        "questions only in `draft` (send question_id to keep an existing question's id). "
        "Fields not given are left as they are.",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    async def koji_update_study(
        study_id: Annotated[str, Field(description="The study (a UUID).")],
        title: Annotated[str | None, Field(description="A new title.")] = None,
        brief: Annotated[BriefInput | None, Field(description="A new brief (replaces it).")] = None,
        questions: Annotated[
            list[QuestionInput] | None, Field(description="New questions (replace them all).")
        ] = None,
    ) -> Annotated[CallToolResult, Study]:
        async def work(who: Caller) -> CallToolResult:
            paths = [
                name
                for name, value in (("title", title), ("brief", brief), ("questions", questions))
                if value is not None
            ]
            request = spb.UpdateStudyRequest(
                study_id=study_id,
                study=_study(title, brief, questions),
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            )
            return await answer(who.api_key, "UpdateStudy", request)

        return await run(write_scope, work)

    @mcp.tool(
        name="koji_publish_study",
        title="Publish a study",
        description="Publishes a `draft` study: it becomes `active`, interviews can start, "
        "and its questions are frozen. A study that is not a draft is refused "
        "(study_not_draft).",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    async def koji_publish_study(
        study_id: Annotated[str, Field(description="The study (a UUID).")],
    ) -> Annotated[CallToolResult, Study]:
        async def work(who: Caller) -> CallToolResult:
            request = spb.PublishStudyRequest(study_id=study_id)
            return await answer(who.api_key, "PublishStudy", request)

        return await run(write_scope, work)
