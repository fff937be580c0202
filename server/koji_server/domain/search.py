"""The search use case: respondent messages across a project's interviews,
found by their words and by their meaning, fused by reciprocal rank.

The request is checked here (one field violation per bad parameter); the
query `q` is parsed into plain words (any, ranked), "quoted phrases" (each
required) and -excluded words (none allowed). With words, the full-text
ranking (storage.search_store) and the nearest vectors (storage.
search_vectors) each give their best candidates, and reciprocal rank fusion
orders the union; a page is then read back from the database with every
filter applied, so a candidate never escapes the project or the filters.
Without words, the messages that pass the filters are listed newest first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import snowballstemmer

from koji_server.domain import validation
from koji_server.domain.auth import require
from koji_server.domain.errors import FieldViolation, InvalidRequest
from koji_server.domain.model import Caller, Permission
from koji_server.domain.page_tokens import PageTokens

MAX_QUERY_CHARS = 500
MAX_TERMS = 32
MAX_METADATA_FILTERS = 10
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
INSIGHT_TYPES = ("pain_point", "request", "praise")
SENTIMENTS = ("positive", "negative", "neutral")
POSITIVE_AT_LEAST = 0.2
NEGATIVE_AT_MOST = -0.2
# Candidates each ranking brings to the fusion, and the weight of the
# full-text relevance (0 to 1) beside the cosine similarity: chosen on
# eval/search_dev.json, never on the evaluation's corpus.
CANDIDATES = 100
KEYWORD_WEIGHT = 0.2
# A message whose meaning is less similar than this to the query's is no
# candidate by meaning (it may still match by its words).
MIN_SIMILARITY = 0.1

# Words that say nothing of a topic: left out of the full-text ranking (the
# words match any message; FTS5 has no stop list), kept in phrases.
STOP_WORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have
    i i'm if in into is it its me my no not of on or our so than that the their them
    then there these they this to too was we were what when where which who why will
    with would you your""".split()
)
_TERM = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """What the query means, for its vector: its words and phrases."""
        return " ".join(self.words + self.phrases)


def parse_query(q: str) -> ParsedQuery:
    """Plain words, "quoted phrases" and -excluded words (or -"phrases");
    punctuation is dropped, so no term is syntax to the full-text engines."""
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    for match in _TERM.finditer(q):
        quoted = match.group(2) is not None
        minus = match.group(1) if quoted else match.group(3)
        raw = match.group(2) if quoted else match.group(4)
        term = " ".join(_WORD.findall(raw))
        if not term:
            continue
        if minus:
            excluded.append(term)
        elif quoted and " " in term:
            phrases.append(term)
        else:
            words.extend(term.split())
    meaningful = [w for w in words if w.lower() not in STOP_WORDS] or words
    return ParsedQuery(
        tuple(dict.fromkeys(meaningful))[:MAX_TERMS],
        tuple(dict.fromkeys(phrases))[:MAX_TERMS],
        tuple(dict.fromkeys(excluded))[:MAX_TERMS],
    )


_STEMMER = snowballstemmer.stemmer("porter")
_TOKEN = re.compile(r"\w+")
HIGHLIGHT_OPEN, HIGHLIGHT_CLOSE = "«", "»"


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """The Porter stem, as SQLite's FTS5 `porter` tokenizer takes it (and
    close to PostgreSQL's English one)."""
    return str(_STEMMER.stemWord(word.lower()))


def highlight(text: str, query: ParsedQuery) -> str:
    """The text with the words of the query's words and phrases marked
    «like this» (by stem: "uploading" marks "uploads"); stop words are not
    marked."""
    stems = {
        _stem(word)
        for term in query.words + query.phrases
        for word in term.split()
        if word.lower() not in STOP_WORDS
    }
    if not stems:
        return text
    return _TOKEN.sub(
        lambda m: (
            f"{HIGHLIGHT_OPEN}{m.group(0)}{HIGHLIGHT_CLOSE}"
            if _stem(m.group(0)) in stems
            else m.group(0)
        ),
        text,
    )


@dataclass(frozen=True, slots=True)
class SearchFilters:
    project_id: str | None
    study_id: str = ""
    type: str = ""
    theme_id: str = ""
    sentiment: str = ""
    min_quality: float = 0.0
    after: datetime | None = None
    before: datetime | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    include_excluded: bool = False

    def scope(self, q: str) -> str:
        """A stable string of everything a page token is bound to."""
        return "\x1f".join(
            [
                self.project_id or "",
                q,
                self.study_id,
                self.type,
                self.theme_id,
                self.sentiment,
                repr(self.min_quality),
                self.after.isoformat() if self.after else "",
                self.before.isoformat() if self.before else "",
                repr(self.metadata),
                str(self.include_excluded),
            ]
        )


@dataclass(frozen=True, slots=True)
class SearchRequest:
    q: str = ""
    study_id: str = ""
    type: str = ""
    theme_id: str = ""
    sentiment: str = ""
    min_quality: float = 0.0
    after: datetime | None = None
    before: datetime | None = None
    metadata: tuple[str, ...] = ()
    include_excluded: bool = False
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True, slots=True)
class StoredResult:
    message_id: str
    interview_id: str
    study_id: str
    content: str
    created_at: datetime
    insight_type: str
    theme_id: str
    theme_label: str
    sentiment: float
    quality_score: float


@dataclass(frozen=True, slots=True)
class SearchHit:
    result: StoredResult
    highlight: str
    score: float


@dataclass(frozen=True, slots=True)
class SearchPage:
    results: tuple[SearchHit, ...]
    next_page_token: str


class SearchReads(Protocol):
    """What search reads from storage (storage.search_store.SearchStore)."""

    def keyword(
        self, query: ParsedQuery, filters: SearchFilters, limit: int, all_words: bool = False
    ) -> list[tuple[str, float]]: ...

    def newest(
        self,
        query: ParsedQuery,
        filters: SearchFilters,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[str]: ...

    def results(
        self, query: ParsedQuery, filters: SearchFilters, message_ids: list[str]
    ) -> dict[str, StoredResult]: ...

    def interviews_with_metadata(self, filters: SearchFilters) -> set[str]: ...

    def study_project(self, study_id: str) -> str | None: ...


class NearestVectors(Protocol):
    """A project's vectors (storage.search_vectors.ProjectVectors)."""

    def nearest(
        self,
        vector: np.ndarray,
        filters: SearchFilters,
        interviews: set[str] | None,
        limit: int,
        at_least: float,
    ) -> list[tuple[str, float]]: ...

    def similarities(self, vector: np.ndarray, message_ids: list[str]) -> dict[str, float]: ...


def check(request: SearchRequest, project_id: str | None) -> tuple[ParsedQuery, SearchFilters]:
    """The request's query and filters, or InvalidRequest with every
    violation found."""
    violations: list[FieldViolation] = []

    def bad(field: str, description: str) -> None:
        violations.append(FieldViolation(field, description))

    if len(request.q) > MAX_QUERY_CHARS:
        bad("q", f"must be at most {MAX_QUERY_CHARS} characters")
    if validation.NUL in request.q:
        bad("q", validation.HAS_NUL)
    if request.study_id:
        try:
            validation.uuid_field("study_id", request.study_id)
        except InvalidRequest as error:
            violations += error.violations
    if request.type and request.type not in INSIGHT_TYPES:
        bad("type", f"must be one of {', '.join(INSIGHT_TYPES)}")
    if request.sentiment and request.sentiment not in SENTIMENTS:
        bad("sentiment", f"must be one of {', '.join(SENTIMENTS)}")
    if request.theme_id:
        if not request.study_id:
            bad("theme_id", "requires study_id (theme ids are unique within their study)")
        if len(request.theme_id) > 64 or validation.NUL in request.theme_id:
            bad("theme_id", "must be at most 64 characters, without NUL")
    quality = request.min_quality
    if math.isnan(quality) or not (quality == 0 or 1.0 <= quality <= 5.0):
        bad("min_quality", "must be between 1.0 and 5.0 (or 0 for no minimum)")
    if request.after and request.before and request.after >= request.before:
        bad("before", "must be later than after")
    metadata: list[tuple[str, str]] = []
    if len(request.metadata) > MAX_METADATA_FILTERS:
        bad("metadata", f"at most {MAX_METADATA_FILTERS} filters")
    for item in request.metadata:
        key, equals, value = item.partition("=")
        if not equals or not key or len(item) > 400 or validation.NUL in item:
            bad("metadata", "each filter must be key=value (metadata.<key>=<value> over REST)")
            continue
        metadata.append((key, value))
    if request.page_size < 0:
        bad("page_size", "must not be negative")
    if violations:
        raise InvalidRequest(violations)
    filters = SearchFilters(
        project_id=project_id,
        study_id=request.study_id.lower(),
        type=request.type,
        theme_id=request.theme_id,
        sentiment=request.sentiment,
        min_quality=quality,
        after=request.after,
        before=request.before,
        metadata=tuple(metadata),
        include_excluded=request.include_excluded,
    )
    return parse_query(request.q), filters


def keyword_relevance(
    every: list[tuple[str, float]], some: list[tuple[str, float]]
) -> dict[str, float]:
    """Full-text scores as 0 to 1: messages with every word from 0.5 up
    (a partial match of a rare word may outscore them in BM25), those with
    some below, each group by its score over the group's best."""
    relevance: dict[str, float] = {}
    for group, floor in ((every, 0.5), (some, 0.0)):
        best = max((score for _, score in group), default=0.0) or 1.0
        for message_id, score in group:
            relevance.setdefault(message_id, floor + 0.5 * max(score, 0.0) / best)
    return relevance


def fuse(by_words: dict[str, float], by_meaning: dict[str, float]) -> list[tuple[str, float]]:
    """Score fusion: a message's cosine similarity to the query (0 without
    a vector) plus KEYWORD_WEIGHT times its full-text relevance (0 to 1).
    The similarity orders messages by topic; the words break its near-ties
    (messages on one topic are all about as similar) and find what has no
    vector yet."""
    scores = {m: max(similarity, 0.0) for m, similarity in by_meaning.items()}
    for message_id, relevance in by_words.items():
        scores[message_id] = scores.get(message_id, 0.0) + KEYWORD_WEIGHT * relevance
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


ReadUnit = Callable[[Callable[[SearchReads], Any]], Awaitable[Any]]
Encode = Callable[[str], Awaitable[np.ndarray | None]]
VectorsOf = Callable[[str], Awaitable[NearestVectors]]


class SearchService:
    def __init__(
        self,
        read: ReadUnit,
        vectors_of: VectorsOf,
        encode: Encode,
        page_tokens: PageTokens,
    ) -> None:
        self._read = read
        self._vectors_of = vectors_of
        self._encode = encode
        self._page_tokens = page_tokens

    async def search(self, caller: Caller, request: SearchRequest) -> SearchPage:
        """A page of results; the operator (of no project) must name a
        study, whose project is searched."""
        require(caller, Permission.READ)
        project_id = caller.project_id
        query, filters = check(request, project_id)
        if project_id is None:
            if not filters.study_id:
                raise validation.invalid("study_id", "is required for the operator")
            found = await self._read(lambda store: store.study_project(filters.study_id))
            filters = replace(filters, project_id=found or "-")
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        scope = filters.scope(request.q)
        if not query.words and not query.phrases:
            return await self._newest(query, filters, scope, request.page_token, size)
        offset = 0
        if request.page_token:
            values = self._page_tokens.read_values(scope, request.page_token)
            if len(values) != 1 or not isinstance(values[0], int) or values[0] < 0:
                raise validation.invalid("page_token", "is not a page token of this API")
            offset = values[0]
        ranked = await self._ranked(query, filters)
        page = ranked[offset : offset + size]
        ids = [message_id for message_id, _ in page]

        found = await self._read(lambda store: store.results(query, filters, ids))
        hits = tuple(
            SearchHit(found[i], highlight(found[i].content, query), round(score, 6))
            for i, score in page
            if i in found
        )
        token = ""
        if offset + size < len(ranked):
            token = self._page_tokens.issue_values(scope, [offset + size])
        return SearchPage(hits, token)

    async def _ranked(self, query: ParsedQuery, filters: SearchFilters) -> list[tuple[str, float]]:
        """Every candidate that passes the filters, fused, best first."""
        project_id = filters.project_id
        assert project_id is not None

        def read(store: SearchReads) -> tuple[dict[str, float], set[str] | None]:
            interviews = store.interviews_with_metadata(filters) if filters.metadata else None
            every = store.keyword(query, filters, CANDIDATES, all_words=True)
            some = []
            if len(query.words) > 1 and len(every) < CANDIDATES:
                some = store.keyword(query, filters, CANDIDATES)
            return keyword_relevance(every, some), interviews

        (by_words, interviews), vector = await _both(self._read(read), self._encode(query.text))
        by_meaning: dict[str, float] = {}
        similar: dict[str, float] = {}
        if vector is not None:  # else the encoder failed: words only
            vectors = await self._vectors_of(project_id)
            by_meaning = dict(
                vectors.nearest(vector, filters, interviews, CANDIDATES, MIN_SIMILARITY)
            )
            similar = vectors.similarities(vector, [m for m in by_words if m not in by_meaning])
        fused = fuse(by_words, {**similar, **by_meaning})
        if not by_meaning or not (query.phrases or query.excluded):
            return fused
        # Meaning-only candidates must still hold the phrases and lack the
        # excluded words: keep those the database confirms.
        ids = [message_id for message_id, _ in fused]
        kept = await self._read(lambda store: set(store.results(query, filters, ids)))
        return [pair for pair in fused if pair[0] in kept]

    async def _newest(
        self, query: ParsedQuery, filters: SearchFilters, scope: str, token: str, size: int
    ) -> SearchPage:
        after = None
        if token:
            values = self._page_tokens.read_values(scope, token)
            if len(values) != 2 or not all(isinstance(v, str) for v in values):
                raise validation.invalid("page_token", "is not a page token of this API")
            after = (datetime.fromisoformat(str(values[0])), str(values[1]))

        def read(store: SearchReads) -> tuple[list[str], dict[str, StoredResult]]:
            ids = store.newest(query, filters, after, size + 1)
            return ids, store.results(query, filters, ids[:size])

        ids, found = await self._read(read)
        hits = tuple(SearchHit(found[i], found[i].content, 0.0) for i in ids[:size] if i in found)
        next_token = ""
        if len(ids) > size and hits:
            last = hits[-1].result
            next_token = self._page_tokens.issue_values(
                scope, [last.created_at.isoformat(), last.message_id]
            )
        return SearchPage(hits, next_token)


async def _both(first: Awaitable[Any], second: Awaitable[Any]) -> tuple[Any, Any]:
    import asyncio

    return tuple(await asyncio.gather(first, second))  # type: ignore[return-value]
