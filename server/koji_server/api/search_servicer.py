"""SearchService servicer: proto -> domain -> proto, inside the same RPC
wrapper as InterviewService (`api.servicer.rpc_call`: authentication, rate
limit, error mapping)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from koji.v1 import search_service_pb2 as pb
from koji_server.api import translate
from koji_server.api.servicer import RpcCall
from koji_server.domain import validation
from koji_server.domain.search import SearchHit, SearchPage, SearchRequest, SearchService


def _time(request: pb.SearchInterviewsRequest, field: str) -> datetime | None:
    if not request.HasField(field):
        return None
    value: timestamp_pb2.Timestamp = getattr(request, field)
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise validation.invalid(field, "must be a time between years 1 and 9999") from None


def search_request(request: pb.SearchInterviewsRequest) -> SearchRequest:
    return SearchRequest(
        q=request.q,
        study_id=request.study_id,
        type=request.type,
        theme_id=request.theme_id,
        sentiment=request.sentiment,
        min_quality=request.min_quality,
        after=_time(request, "after"),
        before=_time(request, "before"),
        metadata=tuple(request.metadata),
        include_excluded=request.include_excluded,
        page_size=request.page_size,
        page_token=request.page_token,
    )


def result(hit: SearchHit) -> pb.SearchResult:
    found = hit.result
    return pb.SearchResult(
        interview_id=found.interview_id,
        message_id=found.message_id,
        study_id=found.study_id,
        quote=found.content,
        highlight=hit.highlight,
        score=hit.score,
        type=found.insight_type,
        theme_id=found.theme_id,
        theme_label=found.theme_label,
        sentiment=found.sentiment,
        quality_score=found.quality_score,
        created_at=translate.timestamp(found.created_at),
    )


def search_page(page: SearchPage) -> pb.SearchInterviewsResponse:
    return pb.SearchInterviewsResponse(
        results=[result(hit) for hit in page.results], next_page_token=page.next_page_token
    )


class SearchServicer:
    def __init__(self, search: SearchService) -> None:
        self._search = search

    async def SearchInterviews(
        self, request: pb.SearchInterviewsRequest, call: RpcCall
    ) -> pb.SearchInterviewsResponse:
        page = await self._search.search(
            await call.authenticate_and_admit(), search_request(request)
        )
        return search_page(page)
