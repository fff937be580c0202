"""Search's SQL, per engine: full-text candidates (SQLite FTS5 with BM25,
PostgreSQL tsvector with websearch_to_tsquery), the listing without a query,
reading a page of results back with every filter applied, highlights, and
the rows the vector cache (storage.search_vectors) catches up from.

Every statement is scoped to one project and applies the filters itself:
a candidate from the vector cache is only a candidate until the page read
(`results`) finds it in the project with the filters true.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from koji_server.domain.search import (
    NEGATIVE_AT_MOST,
    POSITIVE_AT_LEAST,
    ParsedQuery,
    SearchFilters,
    StoredResult,
)
from koji_server.storage.schema import UTCDateTime

# SQLite's CROSS JOIN joins in the order written (it would otherwise start
# from the project's interviews and scan all their messages); PostgreSQL
# plans joins itself (and has no CROSS JOIN ... ON).
_JOINS = (
    " {join} interviews i ON i.id = m.interview_id"
    " LEFT JOIN analyses a ON a.interview_id = m.interview_id"
    " LEFT JOIN search_entries e ON e.message_id = m.id"
)
_LISTING_FROM = (
    " FROM messages m JOIN interviews i ON i.id = m.interview_id"
    " LEFT JOIN analyses a ON a.interview_id = m.interview_id"
    " LEFT JOIN search_entries e ON e.message_id = m.id"
)
# The filters beyond project and study apply to this many times `limit` of
# the best matches by words.
KEYWORD_DEPTH = 4
_TIMES = ("after", "before", "listed_at")


def fts5_phrase(term: str) -> str:
    """A term as an FTS5 string: quoted, its quotes doubled (no syntax)."""
    return '"' + term.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class VectorRow:
    message_id: str
    interview_id: str
    study_id: str
    created_at: datetime
    insight_type: str | None
    sentiment: float | None
    theme_id: str | None
    quality_score: float | None
    passed: bool
    embedding: bytes
    dimensions: int
    indexed_at: datetime


class SearchStore:
    """Search's reads over one session (a read-only unit of work's)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"
        self._joins = _JOINS.format(join="JOIN" if self._postgres else "CROSS JOIN")
        self._from = " FROM messages m" + self._joins

    def _run(
        self,
        sql: str,
        params: dict[str, Any],
        expanding: tuple[str, ...] = (),
        times: tuple[str, ...] = (),
    ) -> Any:
        statement = text(sql)
        binds = [bindparam(name, type_=UTCDateTime()) for name in _TIMES if name in params]
        binds += [bindparam(name, expanding=True) for name in expanding]
        if binds:
            statement = statement.bindparams(*binds)
        if times:
            typed = statement.columns(**{name: UTCDateTime() for name in times})
            return self._session.execute(typed, params)
        return self._session.execute(statement, params)

    # The query's parts as full-text expressions.

    def _tsquery(
        self, terms: tuple[str, ...], joiner: str, params: dict[str, Any], tag: str
    ) -> str:
        parts = []
        for n, term in enumerate(terms):
            params[f"{tag}{n}"] = f'"{term}"'
            parts.append(f"websearch_to_tsquery('english', :{tag}{n})")
        return "(" + f" {joiner} ".join(parts) + ")"

    def _keyword_match(self, query: ParsedQuery, params: dict[str, Any], all_words: bool) -> str:
        """The condition that a message matches the words (any, or all with
        `all_words`), the phrases (all) and none of the excluded words."""
        if self._postgres:
            needed = []
            if query.words:
                needed.append(self._tsquery(query.words, "&&" if all_words else "||", params, "w"))
            if query.phrases:
                needed.append(self._tsquery(query.phrases, "&&", params, "p"))
            combined = " && ".join(needed)
            if query.excluded:
                combined += " && !!" + self._tsquery(query.excluded, "||", params, "x")
            return f"m.search_tsv @@ ({combined})"
        match = []
        if query.words:
            joiner = " AND " if all_words else " OR "
            match.append("(" + joiner.join(fts5_phrase(w) for w in query.words) + ")")
        match += [fts5_phrase(p) for p in query.phrases]
        expression = " AND ".join(match)
        if query.excluded:
            expression += " NOT (" + " OR ".join(fts5_phrase(x) for x in query.excluded) + ")"
        params["match"] = expression
        return "search_fts MATCH :match"

    def _required(self, query: ParsedQuery, params: dict[str, Any]) -> list[str]:
        """The phrases and exclusions as conditions on messages (for results
        that only their meaning found)."""
        conditions = []
        if self._postgres:
            if query.phrases:
                conditions.append(
                    "m.search_tsv @@ " + self._tsquery(query.phrases, "&&", params, "rp")
                )
            if query.excluded:
                conditions.append(
                    "NOT (coalesce(m.search_tsv, ''::tsvector) @@ "
                    + self._tsquery(query.excluded, "||", params, "rx")
                    + ")"
                )
            return conditions
        if query.phrases:
            params["required"] = " AND ".join(fts5_phrase(p) for p in query.phrases)
            conditions.append(
                "m.id IN (SELECT message_id FROM search_fts WHERE search_fts MATCH :required)"
            )
        if query.excluded:
            params["excluded"] = " OR ".join(fts5_phrase(x) for x in query.excluded)
            conditions.append(
                "m.id NOT IN (SELECT message_id FROM search_fts WHERE search_fts MATCH :excluded)"
            )
        return conditions

    def _filters(self, filters: SearchFilters, params: dict[str, Any]) -> list[str]:
        conditions = ["m.role = 'respondent'"]
        if filters.project_id is not None:
            params["project_id"] = filters.project_id
            conditions.append("i.project_id = :project_id")
        if filters.study_id:
            params["study_id"] = filters.study_id
            conditions.append("i.study_id = :study_id")
        if filters.type:
            params["type"] = filters.type
            conditions.append("e.insight_type = :type")
        if filters.theme_id:
            params["theme_id"] = filters.theme_id
            conditions.append("e.theme_id = :theme_id")
        if filters.sentiment == "positive":
            conditions.append(f"e.sentiment >= {POSITIVE_AT_LEAST}")
        elif filters.sentiment == "negative":
            conditions.append(f"e.sentiment <= {NEGATIVE_AT_MOST}")
        elif filters.sentiment == "neutral":
            conditions.append(
                f"e.sentiment > {NEGATIVE_AT_MOST} AND e.sentiment < {POSITIVE_AT_LEAST}"
            )
        if filters.min_quality:
            params["min_quality"] = filters.min_quality
            conditions.append("a.quality_score >= :min_quality")
        if not filters.include_excluded:
            conditions.append("(a.interview_id IS NULL OR a.counts_toward_usage)")
        if filters.after is not None:
            params["after"] = filters.after
            conditions.append("m.created_at >= :after")
        if filters.before is not None:
            params["before"] = filters.before
            conditions.append("m.created_at < :before")
        conditions += self.metadata_conditions(filters, params)
        return conditions

    def metadata_conditions(self, filters: SearchFilters, params: dict[str, Any]) -> list[str]:
        conditions = []
        for n, (key, value) in enumerate(filters.metadata):
            params[f"mv{n}"] = value
            if self._postgres:
                params[f"mk{n}"] = key
                conditions.append(f"(i.respondent_metadata ->> :mk{n}) = :mv{n}")
            else:
                params[f"mk{n}"] = '$."' + key.replace('"', '\\"') + '"'
                extracted = f"json_extract(i.respondent_metadata, :mk{n})"
                conditions.append(f"CAST({extracted} AS TEXT) = :mv{n}")
        return conditions

    # Statements.

    def keyword(
        self, query: ParsedQuery, filters: SearchFilters, limit: int, all_words: bool = False
    ) -> list[tuple[str, float]]:
        """The best `limit` messages by their words (any of them, or all),
        best first, with their full-text score (higher is better)."""
        params: dict[str, Any] = {"limit": limit, "depth": limit * KEYWORD_DEPTH}
        match = self._keyword_match(query, params, all_words)
        # The project's (and study's) best matches first, then the other
        # filters on those: joining every match of a common word to the
        # analyses costs many times as much.
        scope = ""
        if filters.project_id is not None:
            params["project_id"] = filters.project_id
            scope += " AND project_id = :project_id"
        if filters.study_id:
            params["study_id"] = filters.study_id
            scope += " AND study_id = :study_id"
        if self._postgres:
            scope = scope.replace(" study_id", " i.study_id")
            rank = match.replace("m.search_tsv @@ ", "", 1)
            best = (
                f"SELECT m.id AS message_id, ts_rank(m.search_tsv, {rank}, 1) AS relevance"
                " FROM messages m JOIN interviews i ON i.id = m.interview_id"
                f" WHERE {match}{scope.replace(' project_id', ' i.project_id')}"
                " ORDER BY relevance DESC LIMIT :depth"
            )
        else:
            # Project and study ride in the FTS index (migration 0004).
            best = (
                "SELECT message_id, -rank AS relevance"
                f" FROM search_fts WHERE {match}{scope} ORDER BY rank LIMIT :depth"
            )
        conditions = " AND ".join(self._filters(filters, params))
        sql = (
            f"SELECT m.id, f.relevance FROM ({best}) f"
            f" {'JOIN' if self._postgres else 'CROSS JOIN'} messages m ON m.id = f.message_id"
            f"{self._joins} WHERE {conditions} ORDER BY f.relevance DESC, m.id LIMIT :limit"
        )
        return [(row[0], float(row[1])) for row in self._run(sql, params)]

    def newest(
        self,
        query: ParsedQuery,
        filters: SearchFilters,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[str]:
        """Messages that pass the filters (and exclusions), newest first,
        after the keyset position `after`."""
        params: dict[str, Any] = {"limit": limit}
        conditions = self._filters(filters, params) + self._required(query, params)
        if after is not None:
            params["listed_at"], params["listed_id"] = after
            conditions.append(
                "(m.created_at < :listed_at OR (m.created_at = :listed_at AND m.id < :listed_id))"
            )
        sql = (
            f"SELECT m.id{_LISTING_FROM} WHERE {' AND '.join(conditions)}"
            " ORDER BY m.created_at DESC, m.id DESC LIMIT :limit"
        )
        return list(self._run(sql, params).scalars())

    def results(
        self, query: ParsedQuery, filters: SearchFilters, message_ids: list[str]
    ) -> dict[str, StoredResult]:
        """The messages among `message_ids` that pass every filter and the
        query's phrases and exclusions, by id."""
        if not message_ids:
            return {}
        params: dict[str, Any] = {"ids": message_ids}
        conditions = ["m.id IN :ids", *self._filters(filters, params)]
        conditions += self._required(query, params)
        sql = (
            "SELECT m.id, m.interview_id, i.study_id, m.content, m.created_at,"
            " e.insight_type, e.theme_id, e.theme_label, e.sentiment, a.quality_score"
            f"{self._from} WHERE {' AND '.join(conditions)}"
        )
        found = {}
        for row in self._run(sql, params, ("ids",), ("created_at",)):
            found[row.id] = StoredResult(
                message_id=row.id,
                interview_id=row.interview_id,
                study_id=row.study_id,
                content=row.content,
                created_at=row.created_at,
                insight_type=row.insight_type or "",
                theme_id=row.theme_id or "",
                theme_label=row.theme_label or "",
                sentiment=float(row.sentiment or 0.0),
                quality_score=float(row.quality_score or 0.0),
            )
        return found

    def interviews_with_metadata(self, filters: SearchFilters) -> set[str]:
        """The project's interviews whose respondent metadata matches."""
        params: dict[str, Any] = {"project_id": filters.project_id}
        conditions = ["i.project_id = :project_id", *self.metadata_conditions(filters, params)]
        sql = f"SELECT i.id FROM interviews i WHERE {' AND '.join(conditions)}"
        return set(self._run(sql, params).scalars())

    def study_project(self, study_id: str) -> str | None:
        found = self._run("SELECT project_id FROM studies WHERE id = :id", {"id": study_id})
        return found.scalar_one_or_none()

    def vector_rows(self, project_id: str, since: datetime | None) -> list[VectorRow]:
        """The project's entries indexed after `since` (all without it)."""
        params: dict[str, Any] = {"project_id": project_id}
        sql = (
            "SELECT message_id, interview_id, study_id, created_at, insight_type, sentiment,"
            " theme_id, quality_score, passed, embedding, dimensions, indexed_at"
            " FROM search_entries WHERE project_id = :project_id"
        )
        if since is not None:
            params["after"] = since
            sql += " AND indexed_at > :after"
        statement = text(sql).columns(created_at=UTCDateTime(), indexed_at=UTCDateTime())
        if since is not None:
            statement = statement.bindparams(bindparam("after", type_=UTCDateTime()))
        return [
            VectorRow(
                message_id=r.message_id,
                interview_id=r.interview_id,
                study_id=r.study_id,
                created_at=r.created_at,
                insight_type=r.insight_type,
                sentiment=r.sentiment,
                theme_id=r.theme_id,
                quality_score=r.quality_score,
                passed=bool(r.passed),
                embedding=bytes(r.embedding),
                dimensions=r.dimensions,
                indexed_at=r.indexed_at,
            )
            for r in self._session.execute(statement, params)
        ]
