"""The study report: themes across interviews, over gRPC, REST and koji-admin."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji.v1 import study_service_pb2 as study_pb
from koji.v1 import study_service_pb2_grpc as study_grpc
from koji_server.domain.model import Permission
from koji_server.operations.projects import AdminService
from koji_server.storage.backends import open_database
from koji_server.storage.schema import StudyReportRow
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from tests.conftest import Tenant, add_key, make_tenant
from tests.helpers import assert_error, auth, metadata_dict
from tests.processes import admin_async
from tests.study_transcripts import GUIDE, TOPICS, Topic
from tests.transcripts import TERSE

MAX_LABEL_WORDS = 5
# Words that say what kind of thing a theme is about, not which: a label of
# one of these alone ("Rows" for spreadsheet import errors) names nothing.
GENERIC_LABELS = frozenset(
    "rows row plan plans results result setup import seat seats support app data file "
    "files issue issues problem problems team price pricing account feature".split()
)


async def study_tenant(database_url: str) -> Tenant:
    tenant = await make_tenant(database_url)
    database = open_database(database_url)
    try:
        study = await AdminService(UnitOfWorkFactory(database)).create_study(
            tenant.project_id, "why teams churn", list(GUIDE)
        )
    finally:
        await database.dispose()
    return Tenant(tenant.project_id, tenant.api_key, tenant.key_id, study)


async def interview(stub, tenant: Tenant, answers: tuple[str, ...] | list[str]) -> str:  # type: ignore[no-untyped-def]
    started = await stub.StartInterview(
        pb.StartInterviewRequest(study_id=tenant.study_id), metadata=auth(tenant.api_key)
    )
    session = auth(tenant.api_key, started.session_token)
    for answer in answers:
        await stub.SendMessage(
            pb.SendMessageRequest(interview_id=started.interview_id, content=answer),
            metadata=session,
        )
    await stub.CompleteInterview(
        pb.CompleteInterviewRequest(interview_id=started.interview_id, reason=pb.natural),
        metadata=session,
    )
    return str(started.interview_id)


async def report_when(
    studies: study_grpc.StudyServiceStub, tenant: Tenant, analysed: int, excluded: int
) -> study_pb.GetStudyReportResponse:
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        report = await studies.GetStudyReport(
            study_pb.GetStudyReportRequest(study_id=tenant.study_id),
            metadata=auth(tenant.api_key),
        )
        if (report.interviews_analyzed, report.interviews_excluded) == (analysed, excluded):
            return report
        assert asyncio.get_running_loop().time() < deadline, (
            report.interviews_analyzed,
            report.interviews_excluded,
        )
        await asyncio.sleep(0.1)


def names(topic: Topic, label: str) -> bool:
    lowered = label.lower()
    return any(word in lowered for word in topic.label_words)


@pytest.fixture
async def studied(server, channel, database_url):  # type: ignore[no-untyped-def]
    """Twelve interviews around four topics plus one terse interview that
    fails the quality gate; the report once all are analysed."""
    interviews = pb_grpc.InterviewServiceStub(channel)
    studies = study_grpc.StudyServiceStub(channel)
    tenant = await study_tenant(database_url)
    by_topic: dict[str, set[str]] = {}
    for topic in TOPICS:
        for answers in topic.interviews:
            interview_id = await interview(interviews, tenant, answers)
            by_topic.setdefault(topic.name, set()).add(interview_id)
    await interview(interviews, tenant, TERSE)
    report = await report_when(studies, tenant, analysed=12, excluded=1)
    return tenant, by_topic, report, studies


async def test_each_topic_is_one_theme_with_its_interviews_and_a_label_naming_it(
    server, studied
) -> None:
    tenant, by_topic, report, _ = studied
    async with server.database.read_engine.connect() as connection:
        row = (
            await connection.execute(
                select(StudyReportRow.state).where(StudyReportRow.study_id == tenant.study_id)
            )
        ).one()
    members = {
        theme["theme_id"]: {mention[0] for mention in theme["mentions"]}
        for theme in json.loads(row.state)["themes"]
    }
    served = {theme.theme_id: theme for theme in report.themes}
    for topic in TOPICS:
        expected = by_topic[topic.name]
        holding = [theme_id for theme_id, ids in members.items() if ids & expected]
        named = [t for t in report.themes if names(topic, t.label)]
        assert len(named) == 1, (topic.name, [t.label for t in report.themes])
        theme = named[0]
        assert members[theme.theme_id] == expected, (topic.name, theme.label)
        assert theme.interview_count == len(expected)
        assert theme.share == pytest.approx(len(expected) / 12, abs=1e-4)
        assert {q.interview_id for q in theme.quotes} <= expected
        assert len({q.interview_id for q in theme.quotes}) == len(theme.quotes) > 0
        # Whatever else holds this topic's interviews is a side remark of
        # one interview, never a second theme of the topic.
        for other in holding:
            if other != theme.theme_id and other in served:
                assert served[other].interview_count == 1, served[other].label
    counts = [t.interview_count for t in report.themes]
    assert counts == sorted(counts, reverse=True)
    assert report.themes[0].interview_count == 5  # the import theme leads


async def test_report_fields_labels_and_counts(studied) -> None:
    tenant, _, report, _ = studied
    assert report.study_id == tenant.study_id
    assert (report.interviews_analyzed, report.interviews_excluded) == (12, 1)
    assert report.HasField("updated_at")
    for theme in report.themes:
        assert theme.label and "," not in theme.label
        assert len(theme.label.split()) <= MAX_LABEL_WORDS
        counts = theme.insight_counts
        assert counts.pain_point + counts.request + counts.praise >= theme.interview_count
        assert -1.0 <= theme.sentiment <= 1.0
        for quote in theme.quotes:
            assert quote.type in {"pain_point", "request", "praise"}
            assert quote.quote and quote.message_id


async def test_labels_are_noun_phrases_not_generic_words(studied) -> None:
    """A label names the topic as a reader would ("Spreadsheet import",
    "Per-seat pricing"): two to four words, never one generic word."""
    _, _, report, _ = studied
    assert report.themes
    for theme in report.themes:
        words = theme.label.split()
        assert 2 <= len(words) <= 4, theme.label
        assert theme.label.lower() not in GENERIC_LABELS, theme.label


async def test_report_errors_and_scoping(server, channel, database_url) -> None:
    studies = study_grpc.StudyServiceStub(channel)
    tenant = await study_tenant(database_url)
    other = await study_tenant(database_url)

    empty = await studies.GetStudyReport(
        study_pb.GetStudyReportRequest(study_id=tenant.study_id), metadata=auth(tenant.api_key)
    )
    assert (empty.interviews_analyzed, empty.interviews_excluded, len(empty.themes)) == (0, 0, 0)
    assert not empty.HasField("updated_at")

    call = studies.GetStudyReport(
        study_pb.GetStudyReportRequest(study_id=tenant.study_id), metadata=auth(tenant.api_key)
    )
    await call
    trailers = metadata_dict(await call.trailing_metadata())
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(trailers)

    with pytest.raises(grpc.aio.AioRpcError) as error:
        await studies.GetStudyReport(
            study_pb.GetStudyReportRequest(study_id=other.study_id), metadata=auth(tenant.api_key)
        )
    assert_error(error.value, grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await studies.GetStudyReport(
            study_pb.GetStudyReportRequest(study_id="not-a-uuid"), metadata=auth(tenant.api_key)
        )
    assert_error(error.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", {"study_id"})
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await studies.GetStudyReport(study_pb.GetStudyReportRequest(study_id=tenant.study_id))
    assert_error(error.value, grpc.StatusCode.UNAUTHENTICATED, "UNAUTHORIZED")
    writer_only = await add_key(
        database_url, tenant.project_id, frozenset({Permission.START, Permission.CHAT})
    )
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await studies.GetStudyReport(
            study_pb.GetStudyReportRequest(study_id=tenant.study_id), metadata=auth(writer_only)
        )
    assert_error(error.value, grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")


async def test_admin_prints_table_json_and_html(studied, database_url, tmp_path: Path) -> None:
    tenant, _, report, _ = studied
    table, _ = await admin_async(database_url, "studies", "report", tenant.study_id)
    assert "12 interviews analysed" in table
    for theme in report.themes[:4]:
        assert theme.label in table

    printed, _ = await admin_async(database_url, "studies", "report", tenant.study_id, "--json")
    data = json.loads(printed)
    assert data["study_id"] == tenant.study_id
    assert data["interviews_analyzed"] == 12 and data["interviews_excluded"] == 1
    assert [t["label"] for t in data["themes"]] == [t.label for t in report.themes]
    first = data["themes"][0]
    assert set(first) == {
        "theme_id", "label", "interview_count", "share", "sentiment", "insight_counts", "quotes",
    }  # fmt: skip
    assert set(first["insight_counts"]) == {"pain_point", "request", "praise"}

    page = tmp_path / "study.html"
    await admin_async(database_url, "studies", "report", tenant.study_id, "--html", str(page))
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<rect") == len(report.themes)
    assert "<script" not in html and "src=" not in html and "href=" not in html
    assert report.themes[0].quotes[0].quote.replace("'", "&#x27;") in html


async def test_reanalyze_rebuilds_the_same_themes(studied, database_url) -> None:
    tenant, _, report, studies = studied
    out, _ = await admin_async(database_url, "studies", "reanalyze", tenant.study_id)
    assert "13 interviews reanalysed" in out  # the terse one too: it was completed
    again = await report_when(studies, tenant, analysed=12, excluded=1)
    assert sorted((t.label, t.interview_count) for t in again.themes) == sorted(
        (t.label, t.interview_count) for t in report.themes
    )
