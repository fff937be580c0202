"""ListInterviews (AIP-132): scoping, order, filters, keyset page tokens; REST query rules."""

from __future__ import annotations

import base64
from typing import Any

import grpc
import pytest

from koji.v1 import interview_service_pb2 as pb
from koji.v1 import interview_service_pb2_grpc as pb_grpc
from koji_server.domain.model import Permission
from tests.conftest import Rest, Tenant, add_key, make_tenant
from tests.helpers import assert_error, auth, start


async def list_all(
    stub: pb_grpc.InterviewServiceStub, tenant: Tenant, **filters: Any
) -> list[pb.InterviewSummary]:
    items: list[pb.InterviewSummary] = []
    token = ""
    while True:
        request = pb.ListInterviewsRequest(study_id=tenant.study_id, page_token=token, **filters)
        page = await stub.ListInterviews(request, metadata=auth(tenant.api_key))
        items += page.interviews
        token = page.next_page_token
        if not token:
            return items


async def test_pages_cover_every_interview_once_in_a_stable_order(
    stub: pb_grpc.InterviewServiceStub, tenant: Tenant
) -> None:
    started = [await start(stub, tenant) for _ in range(7)]
    items = await list_all(stub, tenant, page_size=3)
    assert [i.interview_id for i in items] == [s.interview_id for s in started]
    keys = [(i.updated_at.ToDatetime(), i.interview_id) for i in items]
    assert keys == sorted(keys)
    first = items[0]
    assert first.status == pb.active and first.stats.interviewer_messages == 1
    assert not first.HasField("analysis_status") and first.study_id == tenant.study_id
    assert "transcript" not in pb.InterviewSummary.DESCRIPTOR.fields_by_name


async def test_a_change_moves_an_interview_to_the_end_and_updated_after_syncs(
    stub: pb_grpc.InterviewServiceStub, tenant: Tenant
) -> None:
    first, second = await start(stub, tenant), await start(stub, tenant)
    before = (await list_all(stub, tenant))[-1].updated_at
    await stub.CompleteInterview(
        pb.CompleteInterviewRequest(interview_id=first.interview_id),
        metadata=auth(tenant.api_key, first.session_token),
    )
    items = await list_all(stub, tenant)
    assert [i.interview_id for i in items] == [second.interview_id, first.interview_id]
    changed = await list_all(stub, tenant, updated_after=before)
    assert [i.interview_id for i in changed] == [first.interview_id]
    assert changed[0].status == pb.completed and changed[0].HasField("completed_at")
    completed = await list_all(stub, tenant, status=pb.completed)
    assert [i.interview_id for i in completed] == [first.interview_id]


async def test_page_tokens_are_bound_to_filters_and_cannot_be_altered(
    stub: pb_grpc.InterviewServiceStub, tenant: Tenant
) -> None:
    for _ in range(3):
        await start(stub, tenant)
    key = auth(tenant.api_key)
    page = await stub.ListInterviews(
        pb.ListInterviewsRequest(study_id=tenant.study_id, page_size=1), metadata=key
    )
    token = page.next_page_token
    assert token
    with pytest.raises(grpc.aio.AioRpcError) as other_filters:
        await stub.ListInterviews(
            pb.ListInterviewsRequest(study_id=tenant.study_id, status=pb.active, page_token=token),
            metadata=key,
        )
    assert_error(
        other_filters.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", {"page_token"}
    )
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-3] ^= 1
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    for bad in (forged, "not a token", token[:-4]):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListInterviews(
                pb.ListInterviewsRequest(study_id=tenant.study_id, page_token=bad), metadata=key
            )
        assert_error(
            refused.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", {"page_token"}
        )


async def test_project_scope_permission_and_page_size(
    stub: pb_grpc.InterviewServiceStub, tenant: Tenant, database_url: str
) -> None:
    await start(stub, tenant)
    other = await make_tenant(database_url)
    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await stub.ListInterviews(
            pb.ListInterviewsRequest(study_id=tenant.study_id), metadata=auth(other.api_key)
        )
    assert_error(foreign.value, grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    starter = await add_key(database_url, tenant.project_id, frozenset({Permission.START}))
    with pytest.raises(grpc.aio.AioRpcError) as forbidden:
        await stub.ListInterviews(
            pb.ListInterviewsRequest(study_id=tenant.study_id), metadata=auth(starter)
        )
    assert_error(forbidden.value, grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")
    with pytest.raises(grpc.aio.AioRpcError) as negative:
        await stub.ListInterviews(
            pb.ListInterviewsRequest(study_id=tenant.study_id, page_size=-1),
            metadata=auth(tenant.api_key),
        )
    assert_error(negative.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", {"page_size"})
    for _ in range(2):
        await start(stub, tenant)
    page = await stub.ListInterviews(
        pb.ListInterviewsRequest(study_id=tenant.study_id, page_size=100_000),
        metadata=auth(tenant.api_key),
    )
    assert len(page.interviews) == 3 and page.next_page_token == ""


def test_rest_listing_takes_exactly_the_documented_query_parameters(rest: Rest) -> None:
    tenant = rest.threaded.run(make_tenant(rest.threaded.database_url))
    headers = rest.headers(key=tenant.api_key)
    for _ in range(3):
        started = rest.client.post(
            "/api/v1/interviews/start", json={"study_id": tenant.study_id}, headers=headers
        )
        assert started.status_code == 201
    url = f"/api/v1/interviews?study_id={tenant.study_id}&page_size=2&status=active"
    first = rest.client.get(url, headers=headers)
    assert first.status_code == 200, first.text
    assert "x-ratelimit-limit" in first.headers
    body = first.json()
    assert len(body["interviews"]) == 2 and body["next_page_token"]
    assert "transcript" not in body["interviews"][0]
    assert body["interviews"][0]["status"] == "active"
    second = rest.client.get(f"{url}&page_token={body['next_page_token']}", headers=headers)
    assert second.status_code == 200 and len(second.json()["interviews"]) == 1
    other_filters = rest.client.get(
        f"/api/v1/interviews?study_id={tenant.study_id}&page_token={body['next_page_token']}",
        headers=headers,
    )
    assert other_filters.status_code == 400 and other_filters.json()["error"] == "invalid_request"
    since = rest.client.get(
        f"/api/v1/interviews?study_id={tenant.study_id}&updated_after=2000-01-01T00:00:00Z",
        headers=headers,
    )
    assert since.status_code == 200 and len(since.json()["interviews"]) == 3
    for refused in (
        f"/api/v1/interviews?study_id={tenant.study_id}&interview_id=x",
        f"/api/v1/interviews/{body['interviews'][0]['interview_id']}?study_id=x",
    ):
        response = rest.client.get(refused, headers=headers)
        assert response.status_code == 400, (refused, response.text)
        assert response.json()["error"] == "invalid_request"
