"""koji-admin's JSON: the domain's read models printed as the API prints them.

The same document as the API's JSON for GetInterview, ListInterviews and
CompleteInterview (proto field names, enum value names, RFC 3339 times, a
field with no presence printed even at its default, after the fields that
are set), without going through the API's protobuf translation. Numbers in
free-form JSON (respondent metadata, feedback) print as doubles, as a
`google.protobuf.Struct` holds them; its keys keep their stored order.
tests/test_admin_cli.py checks every shape against the API's own printing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from koji_server.domain.model import (
    Analysis,
    AnswerDetail,
    AskedQuestion,
    CompletionSummary,
    InterviewDetail,
    Message,
    QuestionConfig,
    Respondent,
    Stats,
)

# A field: (name, value, default). A default of ABSENT marks a field with
# presence: printed only when its value is not None.
ABSENT = object()
Field = tuple[str, Any, Any]


def dumps(document: dict[str, Any]) -> str:
    """As the API's JSON printer lays it out (two-space indent, ASCII)."""
    return json.dumps(document, indent=2, ensure_ascii=True)


def timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits, as protobuf prints."""
    moment = value.astimezone(UTC) if value.tzinfo is not None else value
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    micros = moment.microsecond
    if micros == 0:
        return text + "Z"
    if micros % 1000 == 0:
        return f"{text}.{micros // 1000:03d}Z"
    return f"{text}.{micros:06d}Z"


def free_form(value: Any) -> Any:
    """A JSON value as a google.protobuf.Value prints it: numbers as doubles."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {key: free_form(item) for key, item in value.items()}
    return [free_form(item) for item in value]


def _message(fields: Sequence[Field]) -> dict[str, Any]:
    """Fields in field-number order: those set first, then the defaults of
    the fields without presence."""
    document: dict[str, Any] = {}
    for name, value, default in fields:
        if default is ABSENT:
            if value is not None:
                document[name] = value
        elif value != default:
            document[name] = value
    for name, _, default in fields:
        if default is not ABSENT and name not in document:
            document[name] = default
    return document


def stats(value: Stats) -> dict[str, Any]:
    return _message(
        [
            ("duration_seconds", value.duration_seconds, 0),
            ("respondent_messages", value.respondent_messages, 0),
            ("interviewer_messages", value.interviewer_messages, 0),
            ("total_messages", value.total_messages, 0),
        ]
    )


def respondent(value: Respondent) -> dict[str, Any]:
    metadata = None if value.metadata is None else free_form(value.metadata)
    return _message(
        [
            ("external_id", value.external_id, ""),
            ("display_name", value.display_name, ""),
            ("metadata", metadata, ABSENT),
        ]
    )


def completion(value: CompletionSummary) -> dict[str, Any]:
    """As CompleteInterviewResponse."""
    return _message(
        [
            ("interview_id", value.interview_id, ""),
            ("status", value.status.value, "INTERVIEW_STATUS_UNSPECIFIED"),
            ("completed_at", timestamp(value.completed_at), ABSENT),
            ("analysis_status", value.analysis_status.value, "STATUS_UNSPECIFIED"),
            ("stats", stats(value.stats), ABSENT),
        ]
    )


def question_config(value: QuestionConfig) -> dict[str, Any]:
    return _message(
        [
            ("scale_min", value.scale_min, ABSENT),
            ("scale_max", value.scale_max, ABSENT),
            ("scale_labels", {str(k): v for k, v in value.scale_labels.items()}, {}),
            (
                "options",
                [
                    _message([("option_id", o.option_id, ""), ("label", o.label, "")])
                    for o in value.options
                ],
                [],
            ),
        ]
    )


def _asked(value: AskedQuestion | None) -> dict[str, Any] | None:
    if value is None:
        return None
    question = value.question
    return _message(
        [
            ("question_id", question.question_id, ""),
            ("type", question.type.value, "TYPE_UNSPECIFIED"),
            ("text", question.text, ""),
            ("config", question_config(question.config), ABSENT),
            ("follow_up", value.follow_up, False),
        ]
    )


def _transcript_message(value: Message) -> dict[str, Any]:
    return _message(
        [
            ("message_id", value.message_id, ""),
            ("role", value.role.value, "ROLE_UNSPECIFIED"),
            ("content", value.content, ""),
            ("created_at", timestamp(value.created_at), ABSENT),
            ("question", _asked(value.question), ABSENT),
        ]
    )


def _answer(value: AnswerDetail) -> dict[str, Any]:
    given = value.answer
    return _message(
        [
            ("question_id", given.question_id, ""),
            ("type", given.type.value, "TYPE_UNSPECIFIED"),
            ("scale_value", given.scale_value, ABSENT),
            ("option_ids", list(given.option_ids), []),
            ("yes_no", given.yes_no, ABSENT),
            ("text", value.text, ""),
            ("message_id", given.message_ids[0] if given.message_ids else "", ""),
            ("source", given.source.value if given.source is not None else "", ""),
            ("skipped", given.skipped, False),
        ]
    )


def analysis(value: Analysis) -> dict[str, Any]:
    quality = value.quality
    return _message(
        [
            (
                "themes",
                [
                    _message(
                        [
                            ("label", t.label, ""),
                            ("message_ids", list(t.message_ids), []),
                            ("weight", t.weight, 0.0),
                        ]
                    )
                    for t in value.themes
                ],
                [],
            ),
            (
                "insights",
                [
                    _message(
                        [
                            ("type", i.type, ""),
                            ("summary", i.summary, ""),
                            ("message_id", i.message_id, ""),
                            ("quote", i.quote, ""),
                            ("sentiment", i.sentiment, 0.0),
                        ]
                    )
                    for i in value.insights
                ],
                [],
            ),
            ("quality_score", quality.score, 0.0),
            (
                "quality",
                _message(
                    [
                        ("depth", quality.depth, 0.0),
                        ("coverage", quality.coverage, 0.0),
                        ("engagement", quality.engagement, 0.0),
                        ("penalty", quality.penalty, 0.0),
                        ("reasons", list(quality.reasons), []),
                        ("structured", quality.structured, ABSENT),
                    ]
                ),
                ABSENT,
            ),
            ("counts_toward_usage", quality.counts_toward_usage, False),
        ]
    )


def _optional(value: Any) -> Any:
    return None if value is None else value.value


def _identity(value: InterviewDetail) -> list[Field]:
    """The fields GetInterviewResponse and InterviewSummary open with."""
    return [
        ("interview_id", value.interview_id, ""),
        ("study_id", value.study_id, ""),
        ("status", value.status.value, "INTERVIEW_STATUS_UNSPECIFIED"),
        ("analysis_status", _optional(value.analysis_status), ABSENT),
        ("reason", _optional(value.reason), ABSENT),
    ]


def _who_and_how(value: InterviewDetail) -> list[Field]:
    """The fields both close with."""
    return [
        ("stats", stats(value.stats), ABSENT),
        ("respondent", respondent(value.respondent), ABSENT),
        ("mode", value.mode.value, "INTERVIEW_MODE_UNSPECIFIED"),
        ("locale", value.locale, ""),
    ]


def interview(value: InterviewDetail) -> dict[str, Any]:
    """As GetInterviewResponse."""
    feedback = None if value.feedback is None else free_form(value.feedback)
    return _message(
        [
            *_identity(value),
            ("feedback", feedback, ABSENT),
            ("started_at", timestamp(value.started_at), ABSENT),
            ("completed_at", _optional_time(value.completed_at), ABSENT),
            ("transcript", [_transcript_message(m) for m in value.transcript], []),
            ("analysis", None if value.analysis is None else analysis(value.analysis), ABSENT),
            *_who_and_how(value),
            ("answers", [_answer(a) for a in value.answers], []),
        ]
    )


def interview_summary(value: InterviewDetail) -> dict[str, Any]:
    """As an InterviewSummary of ListInterviews."""
    return _message(
        [
            *_identity(value),
            ("started_at", timestamp(value.started_at), ABSENT),
            ("completed_at", _optional_time(value.completed_at), ABSENT),
            ("updated_at", _optional_time(value.updated_at), ABSENT),
            *_who_and_how(value),
        ]
    )


def interview_list(values: Sequence[InterviewDetail]) -> dict[str, Any]:
    """As ListInterviewsResponse with every page in one (no next page)."""
    return _message(
        [
            ("interviews", [interview_summary(v) for v in values], []),
            ("next_page_token", "", ""),
        ]
    )


def _optional_time(value: datetime | None) -> str | None:
    return None if value is None else timestamp(value)
