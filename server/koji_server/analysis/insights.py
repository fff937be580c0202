"""One interview's insights and themes, from the respondent's own sentences.

Insights: every respondent sentence is classified (analysis/classifier.py)
as a pain point, a request, praise or nothing; each insight cites its message
and quote, with a short statement of its point as the summary. Ranked by the
classifier's confidence and the strength of the sentiment, at most
MAX_INSIGHTS (enough for a long interview's pain points, few enough to read).

Themes: the substantive sentences grouped by topic (analysis/clustering.py)
and labelled with the noun phrase that names the group (analysis/phrases.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from koji_server.analysis import classifier, clustering, phrases
from koji_server.analysis.embedding import topic_vectors
from koji_server.analysis.labels import theme_label
from koji_server.analysis.quality import Answer
from koji_server.domain.model import Insight, Theme

MAX_THEMES = 5
MAX_INSIGHTS = 20
MAX_QUOTE = 280
MIN_SENTENCE_WORDS = 3
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True, slots=True)
class Sentence:
    message_id: str
    order: int
    text: str


def sentences(answers: list[Answer]) -> list[Sentence]:
    found: list[Sentence] = []
    for answer in answers:
        for part in _SENTENCE.split(answer.content):
            text = part.strip()
            if len(text.split()) >= MIN_SENTENCE_WORDS:
                found.append(Sentence(answer.message_id, len(found), text))
    return found


def _quote(text: str) -> str:
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 3] + "..."


def insights(answers: list[Answer]) -> tuple[Insight, ...]:
    said = sentences(answers)
    verdicts = classifier.trained().classify([s.text for s in said])
    ranked: list[tuple[float, int, Insight]] = []
    for sentence, verdict in zip(said, verdicts, strict=True):
        if verdict.label == "none":
            continue
        quote = _quote(sentence.text)
        insight = Insight(
            type=verdict.label,
            summary=phrases.statement(sentence.text, verdict.label),
            message_id=sentence.message_id,
            quote=quote,
            sentiment=round(verdict.sentiment, 3),
        )
        ranked.append((verdict.confidence + 0.25 * abs(verdict.sentiment), sentence.order, insight))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return tuple(insight for _, _, insight in ranked[:MAX_INSIGHTS])


def themes(answers: list[Answer]) -> tuple[Theme, ...]:
    said = [s for s in sentences(answers) if len(s.text.split()) >= 4]
    if not said:
        return ()
    vectors = topic_vectors([s.text for s in said])
    found: list[Theme] = []
    total = sum(1 for row in vectors if np.any(row)) or 1
    for group in clustering.groups(vectors):
        if not np.any(vectors[group[0]]):
            continue
        label = theme_label(
            [said[i].text for i in group],
            [said[i].message_id for i in group],
            clustering.centroid(vectors[group]),
        )
        if label is None:
            continue
        message_ids = tuple(dict.fromkeys(said[i].message_id for i in group))
        found.append(Theme(label=label, message_ids=message_ids, weight=len(group) / total))
    found.sort(key=lambda t: (-t.weight, t.label))
    found = found[:MAX_THEMES]
    kept = sum(t.weight for t in found) or 1.0
    return tuple(
        Theme(label=t.label, message_ids=t.message_ids, weight=round(t.weight / kept, 3))
        for t in found
    )
