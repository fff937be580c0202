"""One interview's analysis: quality gate, themes and insights.

Runs in a worker process (see koji_server.pipeline.executor); the server
process never imports this module, so scikit-learn stays out of it.
"""

from __future__ import annotations

import time

from koji_server.analysis import insights, quality
from koji_server.domain.analysis_input import AnalysisOutput, TranscriptInput


def analyze(transcript: TranscriptInput) -> AnalysisOutput:
    verdict = quality.score(transcript)
    scored_at = time.time()
    answers = quality.answers_of(transcript)
    flawed = quality.duplicates(answers, transcript.questions) | {
        a.message_id for a in answers if quality.is_gibberish(a) or quality.is_off_topic(a)
    }
    usable = [a for a in answers if a.message_id not in flawed]
    return AnalysisOutput(
        quality=verdict,
        themes=insights.themes(usable),
        insights=insights.insights(usable),
        scored_at=scored_at,
        analyzed_at=time.time(),
    )
