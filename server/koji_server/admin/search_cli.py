"""`koji-admin search "words" --study ...` (a table of results) and
`koji-admin search reindex` (every analysed interview's search entries
again, with a progress bar: after an encoder change, or to catch up)."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable
from typing import Any

from koji_server.api.search_setup import make_search
from koji_server.domain.model import OPERATOR
from koji_server.domain.page_tokens import PageTokens
from koji_server.domain.search import MAX_PAGE_SIZE, SearchRequest


def reindex(database_url: str, study_id: str | None) -> tuple[int, int]:
    """(interviews, entries) written, one transaction per interview."""
    from rich.progress import Progress

    from koji_server.storage import search_index
    from koji_server.storage.backends import sync_engines

    engine = sync_engines(database_url)[1]
    try:
        with engine.connect() as connection:
            interview_ids = search_index.analysed_interviews(connection, study_id)
        entries = 0
        with Progress(transient=False) as progress:
            task = progress.add_task("indexing interviews", total=len(interview_ids))
            for interview_id in interview_ids:
                with engine.begin() as connection:
                    entries += search_index.index_interview(connection, interview_id)
                progress.advance(task)
        return len(interview_ids), entries
    finally:
        engine.dispose()


def reindex_study(database_url: str, study_id: str) -> None:
    """A study's entries again, without a progress bar (after its
    reanalysis: its themes moved)."""
    from koji_server.storage import search_index
    from koji_server.storage.backends import sync_engines

    engine = sync_engines(database_url)[1]
    try:
        with engine.begin() as connection:
            for interview_id in search_index.analysed_interviews(connection, study_id):
                search_index.index_interview(connection, interview_id)
    finally:
        engine.dispose()


async def search(args: argparse.Namespace, ctx: Any) -> None:
    if args.words == ["reindex"]:
        interviews, entries = await asyncio.to_thread(reindex, ctx.database_url, args.study)
        print(f"{interviews} interviews indexed, {entries} messages")
        return
    from rich.console import Console
    from rich.table import Table

    service, encoder = make_search(ctx.units, PageTokens(os.urandom(32)))
    try:
        page = await service.search(
            OPERATOR,
            SearchRequest(
                q=" ".join(args.words),
                study_id=args.study or "",
                type=args.type or "",
                include_excluded=args.include_excluded,
                page_size=min(args.limit, MAX_PAGE_SIZE),
            ),
        )
    finally:
        encoder.close()
    table = Table(
        "score", "quote", "type", "theme", "interview", title=f"{len(page.results)} results"
    )
    for hit in page.results:
        table.add_row(
            f"{hit.score:.4f}",
            hit.highlight,
            hit.result.insight_type,
            hit.result.theme_label,
            hit.result.interview_id,
        )
    Console(width=160).print(table)


def add_commands(groups: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    sub = command(
        groups,
        "search",
        search,
        'Search a study\'s respondent messages (words, "phrases", -excluded) and print a '
        "table; `search reindex` rebuilds every analysed interview's search entries "
        "(with a progress bar).",
    )
    sub.add_argument("words", nargs="+", metavar="WORDS", help='the query, or "reindex"')
    sub.add_argument("--study", default=None, metavar="STUDY_ID", help="the study to search")
    sub.add_argument("--type", choices=["pain_point", "request", "praise"], default=None)
    sub.add_argument("--include-excluded", action="store_true")
    sub.add_argument("--limit", type=int, default=20)
