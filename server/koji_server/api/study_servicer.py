"""StudyService servicer: proto -> domain -> proto, inside the same RPC
wrapper as InterviewService (`api.servicer.rpc_call`: authentication, rate
limit, error mapping)."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from koji.v1 import study_service_pb2 as pb
from koji_server.api import translate
from koji_server.api.servicer import RpcCall
from koji_server.domain.model import (
    QuestionAggregate,
    Study,
    StudyPage,
    StudyQuestion,
    StudyReport,
    StudyStatus,
)
from koji_server.domain.studies import StudyQuery, StudyService


def question(value: StudyQuestion) -> pb.StudyQuestion:
    return pb.StudyQuestion(
        question_id=value.question_id,
        text=value.text,
        type=pb.StudyQuestion.Type.Value(value.type),
        required=value.required,
        config=translate.question_config(value.config),
        probing=pb.Probing(
            max_follow_ups=value.probing.max_follow_ups, instructions=value.probing.instructions
        ),
    )


def study(value: Study) -> pb.Study:
    brief = value.brief
    result = pb.Study(
        study_id=value.study_id,
        title=value.title,
        status=pb.Study.Status.Value(value.status),
        brief=pb.Brief(
            problem_statement=brief.problem_statement,
            decision_to_inform=brief.decision_to_inform,
            hypothesis=brief.hypothesis,
            target_participant=brief.target_participant,
            methodology=brief.methodology,
            mode=pb.Brief.Mode.Value(brief.mode),
        ),
        questions=[question(q) for q in value.questions],
        interview_count=value.interview_count,
        completed_count=value.completed_count,
        created_at=translate.timestamp(value.created_at),
        updated_at=translate.timestamp(value.updated_at),
    )
    if value.published_at is not None:
        result.published_at.CopyFrom(translate.timestamp(value.published_at))
    return result


def study_document(message: pb.Study) -> dict[str, Any]:
    """A request's study as the domain checks it: the API's JSON shape
    (enum names; an unknown enum number stays a number, refused there)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def page(value: StudyPage) -> pb.ListStudiesResponse:
    return pb.ListStudiesResponse(
        studies=[study(s) for s in value.studies], next_page_token=value.next_page_token
    )


def aggregate(value: QuestionAggregate) -> pb.QuestionAggregate:
    result = pb.QuestionAggregate(
        question_id=value.question_id,
        text=value.text,
        type=pb.StudyQuestion.Type.Value(value.type),
        responses=value.responses,
        skipped=value.skipped,
        distribution=value.distribution,
        options=[
            pb.OptionAggregate(
                option_id=o.option_id,
                label=o.label,
                count=o.count,
                share=o.share,
                mean_rank=o.mean_rank,
            )
            for o in value.options
        ],
    )
    if value.mean is not None:
        result.mean = value.mean
    if value.median is not None:
        result.median = value.median
    return result


def report(value: StudyReport) -> pb.GetStudyReportResponse:
    response = pb.GetStudyReportResponse(
        study_id=value.study_id,
        interviews_analyzed=value.interviews_analyzed,
        interviews_excluded=value.interviews_excluded,
        themes=[
            pb.StudyTheme(
                theme_id=t.theme_id,
                label=t.label,
                interview_count=t.interview_count,
                share=t.share,
                sentiment=t.sentiment,
                insight_counts=pb.InsightCounts(**t.insight_counts),
                quotes=[
                    pb.StudyQuote(
                        interview_id=q.interview_id,
                        message_id=q.message_id,
                        quote=q.quote,
                        type=q.type,
                    )
                    for q in t.quotes
                ],
            )
            for t in value.themes
        ],
        questions=[aggregate(q) for q in value.questions],
    )
    if value.updated_at is not None:
        response.updated_at.CopyFrom(translate.timestamp(value.updated_at))
    return response


def status_from_proto(value: int) -> StudyStatus | None:
    return translate.optional_enum("status", value, pb.Study.Status, StudyStatus)


class StudyServicer:
    def __init__(self, studies: StudyService) -> None:
        self._studies = studies

    async def CreateStudy(self, request: pb.CreateStudyRequest, call: RpcCall) -> pb.Study:
        created = await self._studies.create(
            await call.authenticate_and_admit(), study_document(request.study)
        )
        call.rest_success_status = 201
        return study(created)

    async def GetStudy(self, request: pb.GetStudyRequest, call: RpcCall) -> pb.Study:
        found = await self._studies.get(await call.authenticate_and_admit(), request.study_id)
        return study(found)

    async def ListStudies(
        self, request: pb.ListStudiesRequest, call: RpcCall
    ) -> pb.ListStudiesResponse:
        principal = await call.authenticate_and_admit()
        query = StudyQuery(
            status=status_from_proto(request.status),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return page(await self._studies.list_studies(principal, query))

    async def UpdateStudy(self, request: pb.UpdateStudyRequest, call: RpcCall) -> pb.Study:
        principal = await call.authenticate_and_admit()
        document = study_document(request.study)
        mask = list(request.update_mask.paths)
        if request.HasField("study") and not mask:
            # Without a mask, what the request sets: over REST, the body's fields.
            document = {name: value for name, value in document.items() if value not in ("", [])}
        updated = await self._studies.update(principal, request.study_id, document, mask)
        return study(updated)

    async def PublishStudy(self, request: pb.PublishStudyRequest, call: RpcCall) -> pb.Study:
        done = await self._studies.publish(await call.authenticate_and_admit(), request.study_id)
        return study(done)

    async def CloseStudy(self, request: pb.CloseStudyRequest, call: RpcCall) -> pb.Study:
        done = await self._studies.close(await call.authenticate_and_admit(), request.study_id)
        return study(done)

    async def ArchiveStudy(self, request: pb.ArchiveStudyRequest, call: RpcCall) -> pb.Study:
        done = await self._studies.archive(await call.authenticate_and_admit(), request.study_id)
        return study(done)

    async def GetStudyReport(
        self, request: pb.GetStudyReportRequest, call: RpcCall
    ) -> pb.GetStudyReportResponse:
        found = await self._studies.get_report(
            await call.authenticate_and_admit(), request.study_id
        )
        return report(found)
