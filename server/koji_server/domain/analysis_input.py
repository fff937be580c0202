"""What the analysis of one interview reads and returns: plain, picklable values
(the analysis runs in a worker process)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from koji_server.domain.model import Insight, Quality, Theme


@dataclass(frozen=True, slots=True)
class Utterance:
    message_id: str
    role: str  # "interviewer" | "respondent"
    content: str


@dataclass(frozen=True, slots=True)
class TranscriptInput:
    interview_id: str
    title: str
    questions: tuple[str, ...]
    utterances: tuple[Utterance, ...]
    duration_seconds: int
    # Each question's type (empty: all open_ended), the study's mode, and how
    # many structured questions got a value (not skipped).
    question_types: tuple[str, ...] = ()
    mode: str = "hybrid"
    structured_answered: int = 0


@dataclass(frozen=True, slots=True)
class AnalysisOutput:
    quality: Quality
    themes: tuple[Theme, ...]
    insights: tuple[Insight, ...]
    # Wall-clock seconds (time.time()) at the end of each stage.
    scored_at: float
    analyzed_at: float


@dataclass(frozen=True, slots=True)
class StudyInterview:
    """One analysed interview as a study's synthesis reads it: whether it
    passed the quality gate, and its insights as (message_id, quote, type,
    sentiment)."""

    interview_id: str
    passed: bool
    insights: tuple[tuple[str, str, str, float], ...]


@dataclass(frozen=True, slots=True)
class StudyUpdated:
    """What comes back: the new state (JSON text), the interviews it has
    taken in, and the report to serve."""

    state: str
    included: tuple[str, ...]
    report: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StudyUpdate:
    """What a study report update sends to the analysis process: the stored
    working state as JSON text (None for a new report) and the interviews to
    take in."""

    state: str | None
    interviews: tuple[StudyInterview, ...]
