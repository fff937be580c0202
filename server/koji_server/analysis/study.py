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

from koji_server.analysis import clustering
from koji_server.analysis.embedding import DIMENSIONS, topic_vectors
from koji_server.analysis.labels import theme_label
from koji_server.domain.analysis_input import StudyInterview
from koji_server.domain.model import InsightType

MAX_REPORT_THEMES = 30
MAX_QUOTES = 3
# Cosine similarity of an insight's topic vector to a theme's centroid for it
# to join the theme, and of two centroids for their themes to merge. Chosen on
# the training sentences' topics and bench/study_report.py's synthetic study,
# never on tests/study_transcripts.py.
JOIN_THEME = 0.35
MERGE_THEMES = 0.5
LABEL_SAMPLE = 300
# Small themes are relabelled on every change; bigger ones once they have
# grown or shrunk by a tenth since their label was chosen.
RELABEL_BELOW = 50
INSIGHT_TYPES = tuple(kind.value for kind in InsightType)


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
    # How many mentions the theme had when it was last labelled.
    labelled_size: int = 0
    # Mentions added since the quotes were chosen (not stored: an update
    # reads, changes and writes the state in one call).
    added: list[Mention] = field(default_factory=list)

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
    if state.included.pop(interview_id, None) is None:
        return  # never taken in: nothing to take out
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
    # One insight at a time: an interview raises several topics, and its
    # insights averaged together would pull unrelated themes into one.
    for mention, vector in zip(mentions, vectors, strict=True):
        if not np.any(vector):
            continue  # no topic word at all: nothing to file it under
        best: StudyTheme | None = None
        best_similarity = JOIN_THEME
        for theme in state.themes:
            similarity = float(theme.centroid @ vector)
            if similarity >= best_similarity:
                best, best_similarity = theme, similarity
        theme = best or state.new_theme()
        theme.total = theme.total + vector
        theme.mentions.append(mention)
        theme.added.append(mention)
        theme.stale = True


def _merge(state: StudyState) -> None:
    """Themes whose centroids say one topic become one (the older id stays)."""
    if len(state.themes) < 2:
        return
    centroids = np.array([t.centroid for t in state.themes])
    merged: list[StudyTheme] = []
    for group in clustering.groups(centroids, MERGE_THEMES):
        keep = min((state.themes[i] for i in group), key=lambda t: _number(t.theme_id))
        for i in group:
            other = state.themes[i]
            if other is not keep:
                keep.total = keep.total + other.total
                keep.mentions.extend(other.mentions)
                keep.added.extend(other.mentions)
                keep.stale = True
        merged.append(keep)
    state.themes = merged


def _number(theme_id: str) -> int:
    return int(theme_id.rsplit("-", 1)[1])


def _sample(mentions: list[Mention], size: int) -> list[Mention]:
    if len(mentions) <= size:
        return mentions
    step = len(mentions) / size
    return [mentions[int(i * step)] for i in range(size)]


def _refresh(theme: StudyTheme) -> None:
    """Label and representative quotes (one per interview, nearest the
    centroid) of a theme whose mentions changed. A big theme is labelled from
    an even sample, and its quotes are chosen among the current ones and the
    mentions just added: an update costs the new interview, not the theme."""
    if not theme.stale:
        return
    size = len(theme.mentions)
    if not theme.label or size < RELABEL_BELOW or abs(size - theme.labelled_size) * 10 > size:
        sample = _sample(theme.mentions, LABEL_SAMPLE)
        texts = [m.quote for m in sample]
        # A phrase's support is the number of interviews using it.
        sources = [m.interview_id for m in sample]
        theme.label = theme_label(texts, sources, theme.centroid) or "Other"
        theme.labelled_size = size
    present = set(theme.mentions)
    if theme.quotes and all(q in present for q in theme.quotes):
        candidates = [m for m in dict.fromkeys([*theme.quotes, *theme.added]) if m in present]
    else:
        candidates = theme.mentions
    similarity = _vectors(candidates) @ theme.centroid
    ranked = sorted(range(len(candidates)), key=lambda i: (-similarity[i], i))
    quotes: list[Mention] = []
    seen: set[str] = set()
    for i in ranked:
        mention = candidates[i]
        if mention.interview_id not in seen:
            seen.add(mention.interview_id)
            quotes.append(mention)
        if len(quotes) == MAX_QUOTES:
            break
    theme.quotes = quotes
    theme.added = []
    theme.stale = False


def update(state: StudyState, interview: InterviewInsights) -> StudyState:
    """Take one interview's (new or replaced) analysis into the study."""
    _remove(state, interview.interview_id)
    _add(state, interview)
    _merge(state)
    return state


def rebuild(interviews: list[InterviewInsights]) -> StudyState:
    state = StudyState()
    for interview in {i.interview_id: i for i in interviews}.values():
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
                "labelled_size": t.labelled_size,
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
                labelled_size=item.get("labelled_size", 0),
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
