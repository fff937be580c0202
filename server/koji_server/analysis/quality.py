"""The quality gate: a deterministic 1.0-5.0 score from the transcript alone.

Sub-scores (each 1.0-5.0):
- depth: respondent words per answer, lowered by the share of one-to-three
  word answers;
- coverage: share of the guide's questions that got a substantive answer;
- engagement: respondent turns against the guide's length, and duration;
- structured (a study with structured questions only): share of its
  structured questions answered (a value recorded, not skipped).
The score is their weighted mean minus penalties for gibberish, copy-paste
(duplicate) answers and off-topic (spam) answers. Reason codes name whatever
lowered it.

In a study with structured questions, depth, coverage and the penalties look
at the open questions' answers only (a "7" is a full answer to a scale, not
a shallow or gibberish one), and the weights follow the study's mode
(STRUCTURED_WEIGHTS): a `structured` study weighs answered structured
questions most. A study of open questions only is scored as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from koji_server.domain.analysis_input import TranscriptInput
from koji_server.domain.model import Quality

SHORT_ANSWER_WORDS = 3
SUBSTANTIVE_WORDS = 5
DEEP_ANSWER_WORDS = 30  # an average this long earns full depth
SECONDS_PER_QUESTION = 45  # a guide this long earns full duration credit
WEIGHTS = {"depth": 0.35, "coverage": 0.35, "engagement": 0.30}
# By the study's mode, for a study with structured questions.
STRUCTURED_WEIGHTS = {
    "structured": {"depth": 0.15, "coverage": 0.15, "engagement": 0.20, "structured": 0.50},
    "hybrid": {"depth": 0.25, "coverage": 0.25, "engagement": 0.20, "structured": 0.30},
    "exploratory": {"depth": 0.30, "coverage": 0.30, "engagement": 0.25, "structured": 0.15},
}
PENALTY_WEIGHTS = {"gibberish": 2.5, "duplicate_answers": 2.0, "off_topic": 1.5}

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_URL = re.compile(r"https?://|www\.|\.(?:com|net|io|ru|xyz)\b")
_PROMO = re.compile(
    r"\b(?:buy now|click here|discount code|promo|free money|crypto|casino|viagra|"
    r"subscribe to my|follow me|dm me|earn \$?\d+)\b"
)
_VOWEL = re.compile(r"[aeiouy]")
_CONSONANT_RUN = re.compile(r"[^aeiouy]{5,}")
_REPEAT = re.compile(r"(.)\1{3,}")


@dataclass(frozen=True, slots=True)
class Answer:
    question_index: int | None
    message_id: str
    content: str
    words: tuple[str, ...]


def words_of(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


def answers_of(transcript: TranscriptInput) -> list[Answer]:
    """Respondent messages, each attributed to the guide question it answers
    (None for anything said after the guide was done)."""
    current: int | None = None
    answers: list[Answer] = []
    for utterance in transcript.utterances:
        if utterance.role == "interviewer":
            asked = [i for i, q in enumerate(transcript.questions) if utterance.content.endswith(q)]
            if asked:
                current = asked[-1]
            elif current is not None and not utterance.content.endswith("?"):
                current = None  # goodbye or acknowledgement
            continue
        answers.append(
            Answer(current, utterance.message_id, utterance.content, words_of(utterance.content))
        )
    return answers


def is_gibberish(answer: Answer) -> bool:
    text = answer.content.lower()
    if not answer.words:
        return bool(text.strip())  # only symbols or digits
    wordlike = [
        w
        for w in answer.words
        if len(w) <= 18
        and _VOWEL.search(w)
        and not _CONSONANT_RUN.search(w)
        and not _REPEAT.search(w)
    ]
    if len(wordlike) / len(answer.words) < 0.6:
        return True
    if len(answer.words) >= 5:
        stop_share = sum(w in ENGLISH_STOP_WORDS for w in answer.words) / len(answer.words)
        return stop_share < 0.08
    return False


def is_off_topic(answer: Answer) -> bool:
    text = answer.content.lower()
    return bool(_URL.search(text) or _PROMO.search(text))


def duplicates(answers: list[Answer], questions: tuple[str, ...]) -> set[str]:
    """Message ids of answers that repeat an earlier answer or paste a question."""
    seen: list[frozenset[str]] = [frozenset(words_of(q)) for q in questions]
    repeated: set[str] = set()
    for answer in answers:
        tokens = frozenset(answer.words)
        if len(tokens) >= 3 and any(_jaccard(tokens, earlier) >= 0.8 for earlier in seen):
            repeated.add(answer.message_id)
        seen.append(tokens)
    return repeated


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _scale(fraction: float) -> float:
    """0.0-1.0 onto the 1.0-5.0 scale."""
    return 1.0 + 4.0 * max(0.0, min(1.0, fraction))


def score(transcript: TranscriptInput) -> Quality:
    said = answers_of(transcript)
    questions = transcript.questions
    kinds = transcript.question_types
    structured_at = {i for i, kind in enumerate(kinds) if kind != "open_ended"}
    # The open questions' answers (and anything said outside the guide).
    answers = [a for a in said if a.question_index not in structured_at]
    open_count = len(questions) - len(structured_at)
    reasons: list[str] = []
    if not said:
        return Quality(1.0, 1.0, 1.0, 1.0, 0.0, ("no_answers",))

    gibberish = {a.message_id for a in answers if is_gibberish(a)}
    off_topic = {a.message_id for a in answers if is_off_topic(a)} - gibberish
    repeated = duplicates(answers, questions) - gibberish
    flawed = gibberish | off_topic | repeated
    counts = [len(a.words) for a in answers] or [0]
    average_words = sum(counts) / len(counts)
    short_share = sum(c <= SHORT_ANSWER_WORDS for c in counts) / len(counts)

    depth = _scale(min(average_words, DEEP_ANSWER_WORDS) / DEEP_ANSWER_WORDS - 0.5 * short_share)
    if short_share > 0.3:
        reasons.append("short_answers")
    if average_words < 10:
        reasons.append("shallow_answers")

    answered = {
        a.question_index
        for a in answers
        if a.question_index is not None
        and len(a.words) >= SUBSTANTIVE_WORDS
        and a.message_id not in flawed
    }
    structured_share = (
        transcript.structured_answered / len(structured_at) if structured_at else None
    )
    # Without open questions, coverage is the structured one.
    coverage_share = len(answered) / open_count if open_count else structured_share or 0.0
    coverage = _scale(coverage_share)
    if coverage_share < 0.75:
        reasons.append("low_coverage")

    turns_share = min(1.0, len(said) / max(1, len(questions)))
    duration_share = min(
        1.0, transcript.duration_seconds / (SECONDS_PER_QUESTION * max(1, len(questions)))
    )
    engagement = _scale(0.7 * turns_share + 0.3 * duration_share)
    if turns_share < 0.75:
        reasons.append("few_turns")
    if duration_share < 0.5:
        reasons.append("short_duration")

    counted = max(1, len(answers))
    shares = {
        "gibberish": len(gibberish) / counted,
        "duplicate_answers": len(repeated) / counted,
        "off_topic": len(off_topic) / counted,
    }
    penalty = sum(PENALTY_WEIGHTS[name] * share for name, share in shares.items())
    reasons += [name for name, share in shares.items() if share > 0]

    structured = None
    if structured_share is None:
        base = (
            WEIGHTS["depth"] * depth
            + WEIGHTS["coverage"] * coverage
            + WEIGHTS["engagement"] * engagement
        )
    else:
        structured = _scale(structured_share)
        if structured_share < 0.75:
            reasons.append("skipped_questions")
        weights = STRUCTURED_WEIGHTS.get(transcript.mode, STRUCTURED_WEIGHTS["hybrid"])
        base = (
            weights["depth"] * depth
            + weights["coverage"] * coverage
            + weights["engagement"] * engagement
            + weights["structured"] * structured
        )
    total = max(1.0, min(5.0, base - penalty))
    return Quality(
        score=round(total, 1),
        depth=round(depth, 1),
        coverage=round(coverage, 1),
        engagement=round(engagement, 1),
        penalty=round(penalty, 1),
        reasons=tuple(reasons),
        structured=round(structured, 1) if structured is not None else None,
    )
