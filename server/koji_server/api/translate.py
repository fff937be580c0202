"""Proto <-> domain translation. Domain enum values are the proto value names."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import study_service_pb2 as study_pb
from koji_server.domain import changes, validation
from koji_server.domain.interview_queries import InterviewQuery
from koji_server.domain.model import (
    Analysis,
    AnswerDetail,
    AskedQuestion,
    CompletionReason,
    CompletionSummary,
    GivenAnswer,
    InterviewDetail,
    InterviewMode,
    InterviewPage,
    InterviewStatus,
    Message,
    MessageExchange,
    QuestionConfig,
    ReplyPiece,
    Respondent,
    StartedInterview,
    Stats,
    Usage,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
E = TypeVar("E", bound=StrEnum)


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    # Cheaper than Timestamp.FromDatetime (a hot path): service times are
    # aware UTC datetimes. Integer arithmetic, not value.timestamp(): a float
    # loses the microseconds (.768 came back as .767999887), and a client
    # that sends a time back (ListInterviews' updated_after) must get exactly
    # what was stored.
    since = value - _EPOCH
    return timestamp_pb2.Timestamp(
        seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000
    )


def struct(value: dict[str, Any] | None) -> struct_pb2.Struct | None:
    if value is None:
        return None
    result = struct_pb2.Struct()
    result.update(value)
    return result


def struct_to_dict(message: Any, field: str, path: str | None = None) -> dict[str, Any] | None:
    """The Struct field as a dict; `path` names the field in errors."""
    if not message.HasField(field):
        return None
    try:
        value: dict[str, Any] = json_format.MessageToDict(getattr(message, field))
    except ValueError:  # NaN or Infinity, which JSON cannot carry
        raise validation.invalid(path or field, validation.NOT_JSON) from None
    return value


def reason_from_proto(value: int) -> CompletionReason | None:
    return optional_enum("reason", value, pb.CompletionReason, CompletionReason)


def mode_from_proto(value: int) -> InterviewMode:
    if value == pb.INTERVIEW_MODE_UNSPECIFIED:
        return InterviewMode.TEXT
    try:
        return InterviewMode(pb.InterviewMode.Name(value))
    except ValueError:
        raise validation.invalid(
            "mode", "must be one of " + ", ".join(member.value for member in InterviewMode)
        ) from None


def status_from_proto(value: int) -> InterviewStatus | None:
    return optional_enum("status", value, pb.InterviewStatus, InterviewStatus)


def optional_enum(field: str, value: int, proto: Any, domain: type[E]) -> E | None:
    """A proto enum value as the domain's (whose values are the proto's
    value names); its zero value means not given."""
    if value == 0:
        return None
    try:
        return domain(proto.Name(value))
    except ValueError:
        raise validation.invalid(
            field, "must be one of " + ", ".join(member.value for member in domain)
        ) from None


def list_query(request: pb.ListInterviewsRequest) -> InterviewQuery:
    updated_after = None
    if request.HasField("updated_after"):
        updated_after = request.updated_after.ToDatetime(tzinfo=UTC)
    return InterviewQuery(
        study_id=request.study_id,
        status=status_from_proto(request.status),
        updated_after=updated_after,
        page_size=request.page_size,
        page_token=request.page_token,
    )


def interview_page(page: InterviewPage) -> pb.ListInterviewsResponse:
    return pb.ListInterviewsResponse(
        interviews=[interview_summary(item) for item in page.interviews],
        next_page_token=page.next_page_token,
    )


def interview_summary(value: InterviewDetail) -> pb.InterviewSummary:
    summary = pb.InterviewSummary(
        interview_id=value.interview_id,
        study_id=value.study_id,
        status=pb.InterviewStatus.Value(value.status),
        started_at=timestamp(value.started_at),
        stats=stats(value.stats),
        respondent=pb.Respondent(
            external_id=value.respondent.external_id,
            display_name=value.respondent.display_name,
            metadata=struct(value.respondent.metadata),
        ),
        mode=pb.InterviewMode.Value(value.mode),
        locale=value.locale,
    )
    if value.analysis_status is not None:
        summary.analysis_status = pb.Analysis.Status.Value(value.analysis_status)
    if value.reason is not None:
        summary.reason = pb.CompletionReason.Value(value.reason)
    if value.completed_at is not None:
        summary.completed_at.CopyFrom(timestamp(value.completed_at))
    if value.updated_at is not None:
        summary.updated_at.CopyFrom(timestamp(value.updated_at))
    return summary


def respondent_from_proto(request: pb.StartInterviewRequest) -> Respondent:
    given = request.respondent
    return Respondent(
        external_id=given.external_id,
        display_name=given.display_name,
        metadata=struct_to_dict(given, "metadata", "respondent.metadata"),
    )


def stats(value: Stats) -> pb.InterviewStats:
    return pb.InterviewStats(
        duration_seconds=value.duration_seconds,
        respondent_messages=value.respondent_messages,
        interviewer_messages=value.interviewer_messages,
        total_messages=value.total_messages,
    )


def question_config(value: QuestionConfig) -> study_pb.QuestionConfig:
    config = study_pb.QuestionConfig(
        scale_labels=value.scale_labels,
        options=[
            study_pb.QuestionOption(option_id=o.option_id, label=o.label) for o in value.options
        ],
    )
    if value.scale_min is not None:
        config.scale_min = value.scale_min
    if value.scale_max is not None:
        config.scale_max = value.scale_max
    return config


def asked_question(value: AskedQuestion | None) -> pb.AskedQuestion | None:
    if value is None:
        return None
    question = value.question
    return pb.AskedQuestion(
        question_id=question.question_id,
        type=study_pb.StudyQuestion.Type.Value(question.type),
        text=question.text,
        config=question_config(question.config),
        follow_up=value.follow_up,
    )


def given_answer(request: pb.SendMessageRequest | pb.StreamMessageRequest) -> GivenAnswer | None:
    if not request.HasField("answer"):
        return None
    given = request.answer
    return GivenAnswer(
        question_id=given.question_id,
        scale_value=given.scale_value if given.HasField("scale_value") else None,
        option_ids=tuple(given.option_ids),
        yes_no=given.yes_no if given.HasField("yes_no") else None,
    )


def answer(value: AnswerDetail) -> pb.QuestionAnswer:
    given = value.answer
    result = pb.QuestionAnswer(
        question_id=given.question_id,
        type=study_pb.StudyQuestion.Type.Value(given.type),
        option_ids=list(given.option_ids),
        text=value.text,
        message_id=given.message_ids[0] if given.message_ids else "",
        source=given.source.value if given.source is not None else "",
        skipped=given.skipped,
    )
    if given.scale_value is not None:
        result.scale_value = given.scale_value
    if given.yes_no is not None:
        result.yes_no = given.yes_no
    return result


def interviewer_message(value: Message) -> pb.InterviewerMessage:
    return pb.InterviewerMessage(
        message_id=value.message_id,
        role=pb.Role.Value(value.role),
        content=value.content,
        question=asked_question(value.question),
    )


def started(value: StartedInterview) -> pb.StartInterviewResponse:
    return pb.StartInterviewResponse(
        interview_id=value.interview_id,
        session_token=value.session_token,
        status=pb.InterviewStatus.Value(value.status),
        started_at=timestamp(value.started_at),
        initial_message=interviewer_message(value.initial_message),
    )


def exchange(value: MessageExchange) -> pb.SendMessageResponse:
    return pb.SendMessageResponse(
        message_id=value.message_id,
        interviewer_response=interviewer_message(value.interviewer_response),
        interview_status=pb.InterviewStatus.Value(value.interview_status),
        messages_count=value.messages_count,
    )


def completion(value: CompletionSummary) -> pb.CompleteInterviewResponse:
    return pb.CompleteInterviewResponse(
        interview_id=value.interview_id,
        status=pb.InterviewStatus.Value(value.status),
        completed_at=timestamp(value.completed_at),
        analysis_status=pb.Analysis.Status.Value(value.analysis_status),
        stats=stats(value.stats),
    )


def usage(value: Usage) -> pb.GetUsageResponse:
    return pb.GetUsageResponse(
        project_id=value.project_id,
        counted_interviews=value.counted,
        excluded_interviews=value.excluded,
        processing_interviews=value.processing,
        failed_interviews=value.failed,
    )


def analysis(value: Analysis) -> pb.Analysis:
    quality = value.quality
    return pb.Analysis(
        quality_score=quality.score,
        quality=pb.QualityBreakdown(
            depth=quality.depth,
            coverage=quality.coverage,
            engagement=quality.engagement,
            penalty=quality.penalty,
            reasons=list(quality.reasons),
            structured=quality.structured,
        ),
        counts_toward_usage=quality.counts_toward_usage,
        themes=[
            pb.Theme(label=t.label, message_ids=list(t.message_ids), weight=t.weight)
            for t in value.themes
        ],
        insights=[
            pb.Insight(
                type=i.type,
                summary=i.summary,
                message_id=i.message_id,
                quote=i.quote,
                sentiment=i.sentiment,
            )
            for i in value.insights
        ],
    )


def interview(value: InterviewDetail) -> pb.GetInterviewResponse:
    response = pb.GetInterviewResponse(
        interview_id=value.interview_id,
        study_id=value.study_id,
        status=pb.InterviewStatus.Value(value.status),
        started_at=timestamp(value.started_at),
        transcript=[
            pb.TranscriptMessage(
                message_id=m.message_id,
                role=pb.Role.Value(m.role),
                content=m.content,
                created_at=timestamp(m.created_at),
                question=asked_question(m.question),
            )
            for m in value.transcript
        ],
        answers=[answer(a) for a in value.answers],
        stats=stats(value.stats),
        respondent=pb.Respondent(
            external_id=value.respondent.external_id,
            display_name=value.respondent.display_name,
            metadata=struct(value.respondent.metadata),
        ),
        mode=pb.InterviewMode.Value(value.mode),
        locale=value.locale,
        feedback=struct(value.feedback),
    )
    if value.analysis_status is not None:
        response.analysis_status = pb.Analysis.Status.Value(value.analysis_status)
    if value.reason is not None:
        response.reason = pb.CompletionReason.Value(value.reason)
    if value.completed_at is not None:
        response.completed_at.CopyFrom(timestamp(value.completed_at))
    if value.analysis is not None:
        response.analysis.CopyFrom(analysis(value.analysis))
    return response


def reply_event(value: ReplyPiece | MessageExchange) -> pb.StreamMessageResponse:
    if isinstance(value, ReplyPiece):
        return pb.StreamMessageResponse(
            delta=pb.ReplyDelta(message_id=value.message_id, content=value.content)
        )
    return pb.StreamMessageResponse(reply=exchange(value))


def watch_event(event: changes.Event) -> pb.WatchInterviewResponse:
    response = pb.WatchInterviewResponse(event_time=timestamp(event.at))
    change = event.change
    match change:
        case changes.InterviewState():
            state = response.state
            state.interview_id = change.interview_id
            state.status = pb.InterviewStatus.Value(change.status)
            state.stats.CopyFrom(stats(change.stats))
            if change.analysis_status is not None:
                state.analysis_status = pb.Analysis.Status.Value(change.analysis_status)
        case changes.MessageAdded():
            response.message_added.CopyFrom(
                pb.MessageAdded(
                    message_id=change.message_id,
                    role=pb.Role.Value(change.role),
                    messages_count=change.messages_count,
                    interview_status=pb.InterviewStatus.Value(change.interview_status),
                )
            )
        case changes.Completed():
            response.completed.CopyFrom(completion(change.summary))
        case changes.AnalysisStatusChanged():
            response.analysis_status.status = pb.Analysis.Status.Value(change.status)
        case changes.QualityScored():
            response.quality_scored.CopyFrom(
                pb.QualityScored(
                    quality_score=change.quality_score,
                    counts_toward_usage=change.counts_toward_usage,
                )
            )
        case changes.AnalysisReady():
            response.analysis_ready.CopyFrom(analysis(change.analysis))
        case changes.Heartbeat():
            response.heartbeat.SetInParent()
    return response


def stream_error(code: str, message: str, request_id: str) -> pb.StreamError:
    return pb.StreamError(error=code, message=message, request_id=request_id)
