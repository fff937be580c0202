"""The synthesis across a study's interviews: themes that span interviews.

Each analysed interview contributes its insights. An insight's topic vector
(analysis/embedding.py) puts it in the theme whose centroid it is closest to,
if close enough, else in a new theme; themes whose centroids come close
merge. The state (each theme's vector sum and mentions) is kept between
updates, so a landing analysis costs one interview's work, not the study's;
`rebuild` runs the same steps over every interview and then merges once more
over all centroids, so its result does not depend on arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from koji_server.analysis import clustering, phrases
from koji_server.analysis.embedding import DIMENSIONS, label_words, topic_vectors
from koji_server.domain.analysis_input import StudyInterview

MAX_REPORT_THEMES = 30
MAX_QUOTES = 3
INSIGHT_TYPES = ("pain_point", "request", "praise")


@dataclass(frozen=True, slots=True)
class Mention:
    interview_id: str
    message_id: str
    quote: str
    type: str
    sentiment: float


@dataclass(frozen=True, slots=True)
class InterviewInsights:
    """One analysed interview as the study sees it: excluded ones (failed
    the quality gate) are counted, their insights left out."""

    interview_id: str
    passed: bool
    mentions: tuple[Mention, ...] = ()


@dataclass
class StudyTheme:
    theme_id: str
    total: np.ndarray  # sum of its mentions' topic vectors
    mentions: list[Mention] = field(default_factory=list)
    label: str = ""
    quotes: list[Mention] = field(default_factory=list)
    stale: bool = True

    @property
    def centroid(self) -> np.ndarray:
        norm = float(np.linalg.norm(self.total))
        return self.total / norm if norm else self.total


@dataclass
class StudyState:
    themes: list[StudyTheme] = field(default_factory=list)
    # interview id -> whether it passed the gate
    included: dict[str, bool] = field(default_factory=dict)
    next_theme: int = 1

    def new_theme(self) -> StudyTheme:
        theme = StudyTheme(f"theme-{self.next_theme}", np.zeros(DIMENSIONS, dtype=np.float64))
        self.next_theme += 1
        self.themes.append(theme)
        return theme


def _vectors(mentions: list[Mention]) -> np.ndarray:
    return topic_vectors([m.quote for m in mentions]).astype(np.float64)


def _remove(state: StudyState, interview_id: str) -> None:
    state.included.pop(interview_id, None)
    for theme in state.themes:
        leaving = [m for m in theme.mentions if m.interview_id == interview_id]
        if leaving:
            theme.total = theme.total - _vectors(leaving).sum(axis=0)
            theme.mentions = [m for m in theme.mentions if m.interview_id != interview_id]
            theme.stale = True
    state.themes = [t for t in state.themes if t.mentions]


def _add(state: StudyState, interview: InterviewInsights) -> None:
    state.included[interview.interview_id] = interview.passed
    mentions = [m for m in interview.mentions if m.type in INSIGHT_TYPES]
    if not interview.passed or not mentions:
        return
    vectors = _vectors(mentions)
    for group in clustering.groups(vectors):
        if not np.any(vectors[group[0]]):
            continue  # no topic word at all: nothing to file it under
        total = vectors[group].sum(axis=0)
        direction = total / (np.linalg.norm(total) or 1.0)
        best: StudyTheme | None = None
        best_similarity = clustering.SAME_TOPIC
        for theme in state.themes:
            similarity = float(theme.centroid @ direction)
            if similarity >= best_similarity:
                best, best_similarity = theme, similarity
        theme = best or state.new_theme()
        theme.total = theme.total + total
        theme.mentions.extend(mentions[i] for i in group)
        theme.stale = True


def _merge(state: StudyState) -> None:
    """Themes whose centroids say one topic become one (the older id stays)."""
    if len(state.themes) < 2:
        return
    centroids = np.array([t.centroid for t in state.themes])
    merged: list[StudyTheme] = []
    for group in clustering.groups(centroids):
        keep = min((state.themes[i] for i in group), key=lambda t: _number(t.theme_id))
        for i in group:
            other = state.themes[i]
            if other is not keep:
                keep.total = keep.total + other.total
                keep.mentions.extend(other.mentions)
                keep.stale = True
        merged.append(keep)
    state.themes = merged


def _number(theme_id: str) -> int:
    return int(theme_id.rsplit("-", 1)[1])


def _refresh(theme: StudyTheme) -> None:
    """Label and representative quotes (one per interview, nearest the
    centroid) of a theme whose mentions changed."""
    if not theme.stale:
        return
    texts = [m.quote for m in theme.mentions]
    # A phrase's support is the number of interviews using it.
    sources = [m.interview_id for m in theme.mentions]
    centroid = theme.centroid

    def centrality(candidates: list[str]) -> list[float]:
        return [float(x) for x in topic_vectors(candidates) @ centroid]

    theme.label = phrases.best_label(texts, sources, centrality, label_words(texts)) or "Other"
    similarity = _vectors(theme.mentions) @ theme.centroid
    ranked = sorted(range(len(theme.mentions)), key=lambda i: (-similarity[i], i))
    quotes: list[Mention] = []
    seen: set[str] = set()
    for i in ranked:
        mention = theme.mentions[i]
        if mention.interview_id not in seen:
            seen.add(mention.interview_id)
            quotes.append(mention)
        if len(quotes) == MAX_QUOTES:
            break
    theme.quotes = quotes
    theme.stale = False


def update(state: StudyState, interview: InterviewInsights) -> StudyState:
    """Take one interview's (new or replaced) analysis into the study."""
    _remove(state, interview.interview_id)
    _add(state, interview)
    _merge(state)
    return state


def rebuild(interviews: list[InterviewInsights]) -> StudyState:
    state = StudyState()
    for interview in interviews:
        _remove(state, interview.interview_id)
        _add(state, interview)
    _merge(state)
    return state


def report(state: StudyState) -> dict[str, Any]:
    """The report's themes and counts (the API's GetStudyReportResponse,
    without the study id and time), largest themes first."""
    analyzed = sum(1 for passed in state.included.values() if passed)
    excluded = len(state.included) - analyzed
    for theme in state.themes:
        _refresh(theme)
    rows = []
    for theme in state.themes:
        interviews = {m.interview_id for m in theme.mentions}
        counts = {kind: 0 for kind in INSIGHT_TYPES}
        for mention in theme.mentions:
            counts[mention.type] += 1
        rows.append(
            {
                "theme_id": theme.theme_id,
                "label": theme.label,
                "interview_count": len(interviews),
                "share": round(len(interviews) / analyzed, 4) if analyzed else 0.0,
                "sentiment": round(
                    sum(m.sentiment for m in theme.mentions) / len(theme.mentions), 3
                ),
                "insight_counts": counts,
                "quotes": [
                    {
                        "interview_id": m.interview_id,
                        "message_id": m.message_id,
                        "quote": m.quote,
                        "type": m.type,
                    }
                    for m in theme.quotes
                ],
            }
        )
    rows.sort(key=lambda r: (-r["interview_count"], -len(r["quotes"]), r["label"]))
    return {
        "interviews_analyzed": analyzed,
        "interviews_excluded": excluded,
        "themes": rows[:MAX_REPORT_THEMES],
    }


def to_json(state: StudyState) -> dict[str, Any]:
    return {
        "next_theme": state.next_theme,
        "included": state.included,
        "themes": [
            {
                "theme_id": t.theme_id,
                "total": [round(float(x), 6) for x in t.total],
                "label": t.label,
                "mentions": [
                    [m.interview_id, m.message_id, m.quote, m.type, m.sentiment] for m in t.mentions
                ],
                "quotes": [t.mentions.index(q) for q in t.quotes],
                "stale": t.stale,
            }
            for t in state.themes
        ],
    }


def from_json(data: dict[str, Any] | None) -> StudyState:
    if not data:
        return StudyState()
    themes = []
    for item in data["themes"]:
        mentions = [Mention(*m) for m in item["mentions"]]
        themes.append(
            StudyTheme(
                theme_id=item["theme_id"],
                total=np.array(item["total"], dtype=np.float64),
                mentions=mentions,
                label=item["label"],
                quotes=[mentions[i] for i in item["quotes"]],
                stale=item["stale"],
            )
        )
    return StudyState(themes=themes, included=dict(data["included"]), next_theme=data["next_theme"])


def interview_insights(interview: StudyInterview) -> InterviewInsights:
    return InterviewInsights(
        interview_id=interview.interview_id,
        passed=interview.passed,
        mentions=tuple(
            Mention(interview.interview_id, message_id, quote, kind, sentiment)
            for message_id, quote, kind, sentiment in interview.insights
        ),
    )
