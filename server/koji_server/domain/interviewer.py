"""The interviewer's questions as asked, and which one an answer belongs to.

The moves (probe, next question, confirm, ask again, conclude) are decided
by domain.conversation and worded by domain.probes; this module words the
opening and the questions themselves (a structured one names its scale or
options first) and keeps the fixed sentences. Every message says which
question it serves (AskedQuestion).

`current_question` is the one place that says which question an answer
belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from koji_server.domain.model import (
    AskedQuestion,
    InterviewStatus,
    QuestionType,
    StudyQuestion,
)

GOODBYE = (
    "That's everything I wanted to ask. Thank you for your time and for sharing "
    "your experience. Goodbye!"
)
# A streamed reply comes in groups of this many words.
WORDS_PER_PIECE = 3
ACKNOWLEDGEMENT = "Thank you for adding that; I've noted it."
# Before a structured question asked again, and before the next question
# after one skipped.
NOT_READ = "Sorry, I couldn't tell your answer from that."
MOVING_ON = "No problem, let's move on."


@dataclass(frozen=True, slots=True)
class GuidePosition:
    """Where the conversation is: the question being answered, and whether it
    was followed up (an open question probed, a structured one asked again)."""

    question_index: int
    follow_up_asked: bool
    status: InterviewStatus


class Heard(StrEnum):
    """What the respondent's message was to the current question."""

    WORDS = "words"  # an open question's answer (or anything after the guide)
    ANSWERED = "answered"  # a structured question's value, read or given
    MISSED = "missed"  # a structured question's answer that could not be read


@dataclass(frozen=True, slots=True)
class Reply:
    content: str
    # The question the reply serves; None for the goodbye and after it.
    asked: AskedQuestion | None = None


def current_question(
    questions: Sequence[StudyQuestion], position: GuidePosition
) -> StudyQuestion | None:
    """The question the respondent's next message answers; None once the
    guide is done."""
    if position.status is not InterviewStatus.ACTIVE:
        return None
    if position.question_index >= len(questions):
        return None
    return questions[position.question_index]


def opening(title: str, questions: Sequence[StudyQuestion], display_name: str) -> Reply:
    greeting = f"Hi {display_name}!" if display_name else "Hi!"
    first = questions[0]
    content = f"{greeting} Thanks for taking the time to talk with us about {title}. {ask(first)}"
    return Reply(content, AskedQuestion(first, False))


def ask(question: StudyQuestion) -> str:
    """The question as asked: a structured one names its scale or options
    first; every one ends with its text (the analysis finds questions so)."""
    hint = answer_hint(question)
    return f"{hint} {question.text}" if hint else question.text


def answer_hint(question: StudyQuestion) -> str:
    config = question.config
    labels = [option.label for option in config.options]
    match question.type:
        case QuestionType.SCALE:
            low, high = config.scale_min, config.scale_max
            return f"On a scale from {_point(low, question)} to {_point(high, question)}:"
        case QuestionType.SINGLE_CHOICE:
            return f"Choosing one of {_listed(labels, 'or')}:"
        case QuestionType.MULTIPLE_CHOICE:
            return f"Choosing any of {_listed(labels, 'and')}:"
        case QuestionType.RANKING:
            return f"Ordering {_listed(labels, 'and')} from most to least preferred:"
        case QuestionType.YES_NO:
            return "Yes or no:"
    return ""


def _point(value: int | None, question: StudyQuestion) -> str:
    label = question.config.scale_labels.get(value) if value is not None else None
    return f"{value} ({label})" if label else str(value)


def _listed(labels: Sequence[str], last: str) -> str:
    if len(labels) < 2:
        return "".join(labels)
    return f"{', '.join(labels[:-1])} {last} {labels[-1]}"


def pieces(content: str) -> Iterator[str]:
    """A reply as it would be produced: groups of words with their following
    whitespace; joined, they are `content` exactly."""
    words = re.findall(r"\s*\S+\s*", content) or [content]
    for start in range(0, len(words), WORDS_PER_PIECE):
        yield "".join(words[start : start + WORDS_PER_PIECE])
