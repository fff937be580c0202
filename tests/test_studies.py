"""StudyService over gRPC, on the engine under test: the design's validation
(every rule, one violation per problem), the life cycle and its 409s,
scoping and permissions, ids kept across updates, listing, and structured
answers in the conversation (widgets, words, the re-ask and the skip)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, json_format

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji.v1 import study_service_pb2 as study_pb
from koji.v1 import study_service_pb2_grpc as study_grpc
from koji_server.domain import interviewer
from koji_server.domain.model import Permission
from tests.conftest import Tenant, add_key, make_tenant
from tests.helpers import assert_error, auth

MISSING = "00000000-0000-4000-8000-000000000000"

# Every type, as a client would send it (options as bare labels).
DESIGN: dict[str, Any] = {
    "title": "Support channels",
    "brief": {
        "problem_statement": "Support feels slow",
        "decision_to_inform": "Which channel to staff",
        "hypothesis": "Slack users are happiest",
        "target_participant": "Admins of paying teams",
        "methodology": "Short structured interviews",
        "mode": "structured",
    },
    "questions": [
        {
            "text": "How likely are you to recommend us?",
            "type": "scale",
            "config": {
                "scale_min": 0,
                "scale_max": 10,
                "scale_labels": {"0": "Not at all", "10": "Extremely"},
            },
        },
        {
            "text": "Which channel do you use most?",
            "type": "single_choice",
            "config": {"options": [{"label": "Slack"}, {"label": "Email"}, {"label": "Phone"}]},
        },
        {
            "text": "Which features do you use?",
            "type": "multiple_choice",
            "config": {"options": [{"label": "Dashboards"}, {"label": "Alerts"}]},
        },
        {
            "text": "Rank what matters most.",
            "type": "ranking",
            "config": {"options": [{"label": "Price"}, {"label": "Speed"}, {"label": "Support"}]},
        },
        {"text": "Have you contacted support this month?", "type": "yes_no"},
        {
            "text": "What would you change first?",
            "type": "open_ended",
            "probing": {"max_follow_ups": 2, "instructions": "ask for an example"},
        },
    ],
}


def study_message(document: dict[str, Any]) -> study_pb.Study:
    return json_format.ParseDict(document, study_pb.Study())


@pytest.fixture
def studies(channel: grpc.aio.Channel) -> study_grpc.StudyServiceStub:
    return study_grpc.StudyServiceStub(channel)


async def create(
    studies: study_grpc.StudyServiceStub, tenant: Tenant, document: dict[str, Any] = DESIGN
) -> study_pb.Study:
    return await studies.CreateStudy(
        study_pb.CreateStudyRequest(study=study_message(document)), metadata=auth(tenant.api_key)
    )


async def test_create_assigns_ids_and_answers_the_study_in_draft(studies, tenant) -> None:
    created = await create(studies, tenant)
    assert created.status == study_pb.Study.draft
    assert created.title == "Support channels"
    assert created.brief.mode == study_pb.Brief.structured
    assert created.brief.problem_statement == "Support feels slow"
    assert len({q.question_id for q in created.questions}) == 6
    scale, single, multiple, ranking, yes_no, open_ended = created.questions
    assert scale.type == study_pb.StudyQuestion.scale
    assert (scale.config.scale_min, scale.config.scale_max) == (0, 10)
    assert dict(scale.config.scale_labels) == {0: "Not at all", 10: "Extremely"}
    assert [(o.option_id, o.label) for o in single.config.options] == [
        ("o1", "Slack"), ("o2", "Email"), ("o3", "Phone"),
    ]  # fmt: skip
    assert multiple.type == study_pb.StudyQuestion.multiple_choice
    assert ranking.type == study_pb.StudyQuestion.ranking
    assert yes_no.type == study_pb.StudyQuestion.yes_no and not yes_no.config.options
    assert open_ended.probing.max_follow_ups == 2
    assert scale.probing.max_follow_ups == 1 and scale.required
    assert created.created_at == created.updated_at and not created.HasField("published_at")
    got = await studies.GetStudy(
        study_pb.GetStudyRequest(study_id=created.study_id), metadata=auth(tenant.api_key)
    )
    assert got == created


# One bad design per rule, and the field its violation names.
INVALID: list[tuple[str, dict[str, Any], set[str]]] = [
    ("empty title", {"title": " "}, {"study.title"}),
    ("no questions", {"questions": []}, {"study.questions"}),
    (
        "21 questions",
        {"questions": [{"text": f"Question {i}?"} for i in range(21)]},
        {"study.questions"},
    ),
    ("empty text", {"questions": [{"text": ""}]}, {"study.questions[0].text"}),
    ("501 characters", {"questions": [{"text": "x" * 501}]}, {"study.questions[0].text"}),
    (
        "min >= max",
        {"questions": [{"text": "q", "type": "scale", "config": {"scale_min": 5, "scale_max": 5}}]},
        {"study.questions[0].config.scale_max"},
    ),
    (
        "12 points",
        {
            "questions": [
                {"text": "q", "type": "scale", "config": {"scale_min": 0, "scale_max": 11}}
            ]
        },
        {"study.questions[0].config.scale_max"},
    ),
    (
        "one option",
        {"questions": [{"text": "q", "type": "ranking", "config": {"options": [{"label": "A"}]}}]},
        {"study.questions[0].config.options"},
    ),
    (
        "eleven options",
        {
            "questions": [
                {
                    "text": "q",
                    "type": "single_choice",
                    "config": {"options": [{"label": f"O{i}"} for i in range(11)]},
                }
            ]
        },
        {"study.questions[0].config.options"},
    ),
    (
        "duplicate labels",
        {
            "questions": [
                {
                    "text": "q",
                    "type": "multiple_choice",
                    "config": {"options": [{"label": "Slack"}, {"label": "slack"}]},
                }
            ]
        },
        {"study.questions[0].config.options[1].label"},
    ),
    (
        "options on a scale",
        {"questions": [{"text": "q", "type": "scale", "config": {"options": [{"label": "A"}]}}]},
        {"study.questions[0].config.options"},
    ),
    (
        "scale settings on a choice",
        {
            "questions": [
                {
                    "text": "q",
                    "type": "single_choice",
                    "config": {"scale_max": 5, "options": [{"label": "A"}, {"label": "B"}]},
                }
            ]
        },
        {"study.questions[0].config"},
    ),
    (
        "options on yes/no",
        {"questions": [{"text": "q", "type": "yes_no", "config": {"options": [{"label": "A"}]}}]},
        {"study.questions[0].config.options"},
    ),
    (
        "four follow-ups",
        {"questions": [{"text": "q", "probing": {"max_follow_ups": 4}}]},
        {"study.questions[0].probing.max_follow_ups"},
    ),
    (
        "negative follow-ups",
        {"questions": [{"text": "q", "probing": {"max_follow_ups": -1}}]},
        {"study.questions[0].probing.max_follow_ups"},
    ),
]


@pytest.mark.parametrize(("case", "change", "fields"), INVALID, ids=[c[0] for c in INVALID])
async def test_each_rule_is_one_field_violation(
    studies, tenant, case: str, change: dict[str, Any], fields: set[str]
) -> None:
    document = {**DESIGN, **change}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create(studies, tenant, document)
    assert_error(caught.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", fields)


async def test_unknown_type_and_mode_and_every_problem_at_once(studies, tenant) -> None:
    message = study_message({"title": "", "questions": [{"text": "a"}, {"text": ""}]})
    message.questions[0].type = 42  # type: ignore[assignment]  # a number no client knows
    message.brief.mode = 9  # type: ignore[assignment]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await studies.CreateStudy(
            study_pb.CreateStudyRequest(study=message), metadata=auth(tenant.api_key)
        )
    assert_error(
        caught.value,
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_REQUEST",
        {"study.title", "study.brief.mode", "study.questions[0].type", "study.questions[1].text"},
    )


async def test_life_cycle_and_its_conflicts(studies, stub, tenant) -> None:
    key = auth(tenant.api_key)
    created = await create(studies, tenant)
    sid = created.study_id
    # A draft starts no interview and cannot be closed.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.StartInterview(pb.StartInterviewRequest(study_id=sid), metadata=key)
    assert_error(caught.value, grpc.StatusCode.FAILED_PRECONDITION, "STUDY_NOT_ACTIVE")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await studies.CloseStudy(study_pb.CloseStudyRequest(study_id=sid), metadata=key)
    assert_error(caught.value, grpc.StatusCode.FAILED_PRECONDITION, "STUDY_NOT_ACTIVE")

    published = await studies.PublishStudy(study_pb.PublishStudyRequest(study_id=sid), metadata=key)
    assert published.status == study_pb.Study.active and published.HasField("published_at")
    assert [q.question_id for q in published.questions] == [
        q.question_id for q in created.questions
    ]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await studies.PublishStudy(study_pb.PublishStudyRequest(study_id=sid), metadata=key)
    assert_error(caught.value, grpc.StatusCode.FAILED_PRECONDITION, "STUDY_NOT_DRAFT")
    # Questions are frozen; the title is not.
    changed = study_pb.Study(questions=[study_pb.StudyQuestion(text="A new question?")])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await studies.UpdateStudy(
            study_pb.UpdateStudyRequest(study_id=sid, study=changed), metadata=key
        )
    assert_error(caught.value, grpc.StatusCode.FAILED_PRECONDITION, "STUDY_NOT_DRAFT")
    renamed = await studies.UpdateStudy(
        study_pb.UpdateStudyRequest(
            study_id=sid,
            study=study_pb.Study(title="Renamed"),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        ),
        metadata=key,
    )
    assert renamed.title == "Renamed" and renamed.questions == published.questions

    started = await stub.StartInterview(pb.StartInterviewRequest(study_id=sid), metadata=key)
    closed = await studies.CloseStudy(study_pb.CloseStudyRequest(study_id=sid), metadata=key)
    assert closed.status == study_pb.Study.completed and closed.interview_count == 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.StartInterview(pb.StartInterviewRequest(study_id=sid), metadata=key)
    assert_error(caught.value, grpc.StatusCode.FAILED_PRECONDITION, "STUDY_NOT_ACTIVE")
    # An interview under way still finishes.
    session = auth(tenant.api_key, started.session_token)
    await stub.CompleteInterview(
        pb.CompleteInterviewRequest(interview_id=started.interview_id), metadata=session
    )
    archived = await studies.ArchiveStudy(study_pb.ArchiveStudyRequest(study_id=sid), metadata=key)
    assert archived.status == study_pb.Study.archived and archived.completed_count == 1
    again = await studies.ArchiveStudy(study_pb.ArchiveStudyRequest(study_id=sid), metadata=key)
    assert again.status == study_pb.Study.archived


async def test_update_in_draft_keeps_ids_of_questions_and_options_sent_back(
    studies, tenant
) -> None:
    key = auth(tenant.api_key)
    created = await create(studies, tenant)
    kept = created.questions[1]
    edited = study_pb.StudyQuestion()
    edited.CopyFrom(kept)
    edited.text = "Which channel do you use the most?"
    del edited.config.options[1]  # Email goes
    edited.config.options.add(label="Teams")
    updated = await studies.UpdateStudy(
        study_pb.UpdateStudyRequest(
            study_id=created.study_id,
            study=study_pb.Study(questions=[edited, study_pb.StudyQuestion(text="New?")]),
        ),
        metadata=key,
    )
    first, second = updated.questions
    assert first.question_id == kept.question_id and first.text.endswith("the most?")
    # Kept options keep their ids; a new one never reuses a removed one's.
    assert [(o.option_id, o.label) for o in first.config.options] == [
        ("o1", "Slack"), ("o3", "Phone"), ("o4", "Teams"),
    ]  # fmt: skip
    assert second.question_id not in {q.question_id for q in created.questions}
    assert updated.title == created.title and updated.brief == created.brief
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await studies.UpdateStudy(
            study_pb.UpdateStudyRequest(
                study_id=created.study_id,
                study=study_pb.Study(),
                update_mask=field_mask_pb2.FieldMask(paths=["status"]),
            ),
            metadata=key,
        )
    assert_error(caught.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", {"update_mask"})


async def test_scoping_and_permissions(studies, tenant, database_url) -> None:
    created = await create(studies, tenant)
    other = await make_tenant(database_url)
    sid = created.study_id
    calls = {
        "get": lambda key: studies.GetStudy(study_pb.GetStudyRequest(study_id=sid), metadata=key),
        "update": lambda key: studies.UpdateStudy(
            study_pb.UpdateStudyRequest(study_id=sid, study=study_pb.Study(title="x")),
            metadata=key,
        ),
        "publish": lambda key: studies.PublishStudy(
            study_pb.PublishStudyRequest(study_id=sid), metadata=key
        ),
        "close": lambda key: studies.CloseStudy(
            study_pb.CloseStudyRequest(study_id=sid), metadata=key
        ),
        "archive": lambda key: studies.ArchiveStudy(
            study_pb.ArchiveStudyRequest(study_id=sid), metadata=key
        ),
        "report": lambda key: studies.GetStudyReport(
            study_pb.GetStudyReportRequest(study_id=sid), metadata=key
        ),
    }
    for name, call in calls.items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(auth(other.api_key))
        assert_error(caught.value, grpc.StatusCode.NOT_FOUND, "NOT_FOUND"), name
    listed = await studies.ListStudies(study_pb.ListStudiesRequest(), metadata=auth(other.api_key))
    assert sid not in {s.study_id for s in listed.studies}

    reader = await add_key(
        database_url, tenant.project_id, frozenset({Permission.STUDY_READ}), 1000
    )
    writer_only = await add_key(
        database_url, tenant.project_id, frozenset({Permission.STUDY_WRITE}), 1000
    )
    got = await studies.GetStudy(study_pb.GetStudyRequest(study_id=sid), metadata=auth(reader))
    assert got.study_id == sid
    for name in ("update", "publish", "close", "archive"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await calls[name](auth(reader))
        assert_error(caught.value, grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create(studies, Tenant(tenant.project_id, reader, "", ""))
    assert_error(caught.value, grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")
    for read in (
        calls["get"](auth(writer_only)),
        studies.ListStudies(study_pb.ListStudiesRequest(), metadata=auth(writer_only)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await read
        assert_error(caught.value, grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await studies.GetStudy(study_pb.GetStudyRequest(study_id=MISSING), metadata=auth(reader))
    assert_error(caught.value, grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await studies.GetStudy(study_pb.GetStudyRequest(study_id="nope"), metadata=auth(reader))
    assert_error(caught.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", {"study_id"})


async def test_list_pages_by_creation_and_filters_by_status(studies, database_url) -> None:
    tenant = await make_tenant(database_url)
    key = auth(tenant.api_key)
    made = [
        (await create(studies, tenant, {**DESIGN, "title": f"S{i}"})).study_id for i in range(5)
    ]
    await studies.PublishStudy(study_pb.PublishStudyRequest(study_id=made[1]), metadata=key)
    seen: list[str] = []
    token = ""
    while True:
        page = await studies.ListStudies(
            study_pb.ListStudiesRequest(page_size=2, page_token=token), metadata=key
        )
        assert len(page.studies) <= 2
        seen.extend(s.study_id for s in page.studies)
        token = page.next_page_token
        if not token:
            break
    # make_tenant's own study (active, made by koji-admin's old path) first.
    assert seen[0] == tenant.study_id and seen[1:] == made
    drafts = await studies.ListStudies(
        study_pb.ListStudiesRequest(status=study_pb.Study.draft), metadata=key
    )
    assert [s.study_id for s in drafts.studies] == [made[0], *made[2:]]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await studies.ListStudies(
            study_pb.ListStudiesRequest(status=study_pb.Study.active, page_token=token or "x"),
            metadata=key,
        )
    assert_error(caught.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", {"page_token"})
    legacy = (await studies.ListStudies(study_pb.ListStudiesRequest(), metadata=key)).studies[0]
    assert legacy.status == study_pb.Study.active
    assert all(q.type == study_pb.StudyQuestion.open_ended for q in legacy.questions)


# --- structured answers in the conversation ---------------------------------


async def published(studies, tenant: Tenant) -> study_pb.Study:  # type: ignore[no-untyped-def]
    created = await create(studies, tenant)
    return await studies.PublishStudy(
        study_pb.PublishStudyRequest(study_id=created.study_id), metadata=auth(tenant.api_key)
    )


async def test_widget_and_text_answers_the_re_ask_and_the_skip(
    studies, stub: pb_grpc.InterviewServiceStub, tenant
) -> None:
    study = await published(studies, tenant)
    scale, single, multiple, ranking, yes_no, open_ended = study.questions
    started = await stub.StartInterview(
        pb.StartInterviewRequest(study_id=study.study_id), metadata=auth(tenant.api_key)
    )
    first = started.initial_message.question
    assert first.question_id == scale.question_id and not first.follow_up
    assert first.type == study_pb.StudyQuestion.scale and first.config.scale_max == 10
    assert started.initial_message.content.endswith(scale.text)
    session = auth(tenant.api_key, started.session_token)
    iid = started.interview_id

    async def send(content: str = "", **answer: Any) -> pb.SendMessageResponse:
        request = pb.SendMessageRequest(interview_id=iid, content=content)
        if answer:
            request.answer.CopyFrom(pb.WidgetAnswer(**answer))
        return await stub.SendMessage(request, metadata=session)

    # A widget answer out of range, or for another question, is refused.
    for bad, fields in (
        ({"question_id": scale.question_id, "scale_value": 11}, {"answer.scale_value"}),
        ({"question_id": single.question_id, "option_ids": ["o1"]}, {"answer.question_id"}),
        ({"question_id": scale.question_id, "option_ids": ["o1"]}, None),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await send(**bad)
        if fields is None:
            fields = {"answer.option_ids", "answer.scale_value"}
        assert_error(caught.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", fields)
    # Words that give no number: asked again once, naming the scale...
    reply = await send("hard to say really")
    again = reply.interviewer_response
    assert again.question.question_id == scale.question_id and again.question.follow_up
    assert again.content.startswith(interviewer.NOT_READ) and "0 (Not at all)" in again.content
    # ...and a number read from words.
    reply = await send("I'd give it an eight out of ten")
    assert reply.interviewer_response.question.question_id == single.question_id
    reply = await send(question_id=single.question_id, option_ids=["o3"])
    assert reply.interviewer_response.question.question_id == multiple.question_id
    reply = await send("Dashboards and alerts")
    assert reply.interviewer_response.question.question_id == ranking.question_id
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await send(question_id=ranking.question_id, option_ids=["o1", "o2"])
    assert_error(
        caught.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", {"answer.option_ids"}
    )
    reply = await send(question_id=ranking.question_id, option_ids=["o3", "o1", "o2"])
    assert reply.interviewer_response.question.question_id == yes_no.question_id
    # Two misses: the question is skipped and the interview moves on.
    await send("what do you mean?")
    reply = await send("I'd rather not say")
    moved = reply.interviewer_response
    assert moved.content.startswith(interviewer.MOVING_ON)
    assert moved.question.question_id == open_ended.question_id
    reply = await send("Faster replies")
    probe = reply.interviewer_response.question
    assert (probe.question_id, probe.follow_up) == (open_ended.question_id, True)
    reply = await send("On weekends, when our stores are busiest, tickets wait for hours.")
    assert reply.interview_status == pb.concluded
    assert not reply.interviewer_response.HasField("question")

    got = await stub.GetInterview(
        pb.GetInterviewRequest(interview_id=iid), metadata=auth(tenant.api_key)
    )
    by_id = {a.question_id: a for a in got.answers}
    assert [a.question_id for a in got.answers] == [q.question_id for q in study.questions]
    assert by_id[scale.question_id].scale_value == 8
    assert by_id[scale.question_id].source == "text"
    assert by_id[scale.question_id].text == "I'd give it an eight out of ten"
    assert list(by_id[single.question_id].option_ids) == ["o3"]
    assert by_id[single.question_id].source == "widget"
    assert by_id[single.question_id].text == "Phone"  # the widget's answer written out
    assert list(by_id[multiple.question_id].option_ids) == ["o1", "o2"]
    assert list(by_id[ranking.question_id].option_ids) == ["o3", "o1", "o2"]
    skipped = by_id[yes_no.question_id]
    assert skipped.skipped and not skipped.HasField("yes_no") and skipped.source == ""
    assert skipped.text == "what do you mean?\nI'd rather not say"
    words = by_id[open_ended.question_id]
    assert words.text == (
        "Faster replies\nOn weekends, when our stores are busiest, tickets wait for hours."
    )
    assert words.source == "text" and not words.HasField("scale_value")
    assert words.type == study_pb.StudyQuestion.open_ended
    # Every interviewer message in the transcript says which question it served.
    asked = [
        (m.question.question_id, m.question.follow_up)
        for m in got.transcript
        if m.role == pb.interviewer and m.HasField("question")
    ]
    assert asked[:3] == [(scale.question_id, False), (scale.question_id, True),
                         (single.question_id, False)]  # fmt: skip
