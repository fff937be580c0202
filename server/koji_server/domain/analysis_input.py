"""What the analysis of one interview reads and returns: plain, picklable values
(the analysis runs in a worker process)."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class AnalysisOutput:
    quality: Quality
    themes: tuple[Theme, ...]
    insights: tuple[Insight, ...]
    # Wall-clock seconds (time.time()) at the end of each stage.
    scored_at: float
    analyzed_at: float
