"""StudyService servicer: proto -> domain -> proto, inside the same RPC
wrapper as InterviewService (`api.servicer.rpc_call`: authentication, rate
limit, error mapping)."""

from __future__ import annotations

from koji.v1 import study_service_pb2 as pb
from koji_server.api import translate
from koji_server.api.servicer import RpcCall
from koji_server.domain.model import StudyReport
from koji_server.domain.studies import StudyService


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
    )
    if value.updated_at is not None:
        response.updated_at.CopyFrom(translate.timestamp(value.updated_at))
    return response


class StudyServicer:
    def __init__(self, studies: StudyService) -> None:
        self._studies = studies

    async def GetStudyReport(
        self, request: pb.GetStudyReportRequest, call: RpcCall
    ) -> pb.GetStudyReportResponse:
        found = await self._studies.get_report(
            await call.authenticate_and_admit(), request.study_id
        )
        return report(found)
