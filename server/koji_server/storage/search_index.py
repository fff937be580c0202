"""Keeps search's entries (storage.schema.SearchEntryRow) up to date: what
the analysis knows of each respondent message, with the message's vector.

Runs where the analyses run, in the analysis process (and in `koji-admin`
for a reanalysis or a reindex), never on the server's event loop: it loads
the embeddings (analysis.embedding) and writes over its own connections.
An interview's entries are replaced as a whole whenever its analysis lands
or its study's themes move; `encode_query` is the same encoder for a
search's words (the server calls it in a worker process).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cache
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, delete, select, update

from koji_server.storage.schema import (
    AnalysisRow,
    InterviewRow,
    MessageRow,
    SearchEntryRow,
    StudyReportRow,
)
from koji_server.support.clock import precise_now

ENTRIES = SearchEntryRow.__table__
MESSAGES = MessageRow.__table__
INTERVIEWS = InterviewRow.__table__
ANALYSES = AnalysisRow.__table__
REPORTS = StudyReportRow.__table__


def encode(texts: list[str]) -> np.ndarray:
    """Unit vectors of what the texts are about (the analysis's topic
    vectors: content words, topics named by any of their words), float32."""
    from koji_server.analysis import embedding

    return np.asarray(embedding.topic_vectors(texts), dtype=np.float32)


def encode_query(text: str) -> bytes:
    """A search's words as a vector (little-endian float32 bytes)."""
    return encode([text])[0].astype("<f4").tobytes()


def warm_up() -> bool:
    encode(["warm up"])
    return True


def _themes_by_message(connection: Connection, study_id: str) -> dict[str, tuple[str, str]]:
    """The study report's theme (id, label) of each message its themes cite."""
    state = connection.execute(
        select(REPORTS.c.state).where(REPORTS.c.study_id == study_id)
    ).scalar_one_or_none()
    found: dict[str, tuple[str, str]] = {}
    if not state:
        return found
    for theme in json.loads(state).get("themes", []):
        for mention in theme.get("mentions", []):
            found[mention[1]] = (theme["theme_id"], theme.get("label", ""))
    return found


def _insight_of_message(insights: Iterable[dict[str, Any]]) -> dict[str, tuple[str, float]]:
    """Each cited message's insight (type, sentiment): the strongest one."""
    found: dict[str, tuple[str, float]] = {}
    for insight in insights:
        message_id, sentiment = insight["message_id"], float(insight["sentiment"])
        if message_id not in found or abs(sentiment) > abs(found[message_id][1]):
            found[message_id] = (insight["type"], sentiment)
    return found


def index_interview(
    connection: Connection,
    interview_id: str,
    now: datetime | None = None,
    themes: dict[str, tuple[str, str]] | None = None,
) -> int:
    """Replace the interview's entries from its analysis (none if it has no
    analysis); the number written."""
    now = now or precise_now()
    connection.execute(delete(ENTRIES).where(ENTRIES.c.interview_id == interview_id))
    interview = connection.execute(
        select(INTERVIEWS.c.project_id, INTERVIEWS.c.study_id).where(
            INTERVIEWS.c.id == interview_id
        )
    ).one_or_none()
    analysis = connection.execute(
        select(ANALYSES.c.quality_score, ANALYSES.c.counts_toward_usage, ANALYSES.c.insights).where(
            ANALYSES.c.interview_id == interview_id
        )
    ).one_or_none()
    if interview is None or analysis is None:
        return 0
    messages = connection.execute(
        select(MESSAGES.c.id, MESSAGES.c.content, MESSAGES.c.created_at)
        .where(MESSAGES.c.interview_id == interview_id, MESSAGES.c.role == "respondent")
        .order_by(MESSAGES.c.seq)
    ).all()
    if not messages:
        return 0
    if themes is None:
        themes = _themes_by_message(connection, interview.study_id)
    insights = _insight_of_message(analysis.insights or [])
    vectors = encode([m.content for m in messages])
    rows = []
    for message, vector in zip(messages, vectors, strict=True):
        kind, sentiment = insights.get(message.id, (None, None))
        theme_id, label = themes.get(message.id, (None, None))
        rows.append(
            {
                "message_id": message.id,
                "interview_id": interview_id,
                "project_id": interview.project_id,
                "study_id": interview.study_id,
                "created_at": message.created_at,
                "insight_type": kind,
                "sentiment": sentiment,
                "theme_id": theme_id,
                "theme_label": label,
                "quality_score": float(analysis.quality_score),
                "passed": bool(analysis.counts_toward_usage),
                "embedding": vector.astype("<f4").tobytes(),
                "dimensions": int(vector.shape[0]),
                "indexed_at": now,
            }
        )
    connection.execute(ENTRIES.insert(), rows)
    return len(rows)


def follow_themes(connection: Connection, study_id: str, now: datetime | None = None) -> int:
    """Move the study's entries whose theme the report changed (themes merge
    and are renamed as analyses land); the number moved."""
    now = now or precise_now()
    themes = _themes_by_message(connection, study_id)
    stored = connection.execute(
        select(ENTRIES.c.message_id, ENTRIES.c.theme_id, ENTRIES.c.theme_label).where(
            ENTRIES.c.study_id == study_id
        )
    ).all()
    moved = 0
    for row in stored:
        theme_id, label = themes.get(row.message_id, (None, None))
        if (theme_id, label) != (row.theme_id, row.theme_label):
            connection.execute(
                update(ENTRIES)
                .where(ENTRIES.c.message_id == row.message_id)
                .values(theme_id=theme_id, theme_label=label, indexed_at=now)
            )
            moved += 1
    return moved


@cache
def _write_engine(database_url: str) -> Engine:
    from koji_server.storage.backends import sync_engines

    return sync_engines(database_url)[1]


def take_in(database_url: str, interview_id: str) -> int:
    """Index the interview whose analysis just landed (after its study
    report took it in: its themes are known), and follow the study's theme
    changes; over this process's own connection. The entries written."""
    with _write_engine(database_url).begin() as connection:
        written = index_interview(connection, interview_id)
        study_id = connection.execute(
            select(INTERVIEWS.c.study_id).where(INTERVIEWS.c.id == interview_id)
        ).scalar_one_or_none()
        if study_id is not None:
            follow_themes(connection, study_id)
    return written


def analysed_interviews(connection: Connection, study_id: str | None = None) -> list[str]:
    query = select(ANALYSES.c.interview_id).order_by(ANALYSES.c.interview_id)
    if study_id is not None:
        query = query.join(INTERVIEWS, INTERVIEWS.c.id == ANALYSES.c.interview_id).where(
            INTERVIEWS.c.study_id == study_id
        )
    return list(connection.execute(query).scalars())


def backfill(connection: Connection, advance: Callable[[int], None] | None = None) -> int:
    """Index every analysed interview on `connection` (migration 0004,
    `koji-admin search reindex`); `advance` is told of each one done."""
    total = 0
    themes_of_study: dict[str, dict[str, tuple[str, str]]] = {}
    for interview_id in analysed_interviews(connection):
        study_id = connection.execute(
            select(INTERVIEWS.c.study_id).where(INTERVIEWS.c.id == interview_id)
        ).scalar_one()
        if study_id not in themes_of_study:
            themes_of_study[study_id] = _themes_by_message(connection, study_id)
        total += index_interview(connection, interview_id, themes=themes_of_study[study_id])
        if advance is not None:
            advance(1)
    return total
