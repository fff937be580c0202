"""The deterministic interviewer: follows a study's guide without any model.

It asks the guide's questions in order; an open question whose answer is
very short gets one follow-up; a structured question whose answer could not
be read is asked again once, naming its scale or options, and skipped after
a second miss. When the guide is done it says goodbye (the interview
becomes `concluded`) and acknowledges anything the respondent adds
afterwards. Every message says which question it serves (AskedQuestion).

`current_question` is the one place that says which question an answer
belongs to; `reply` the one place that decides what comes next.
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

# Answers of this many words or fewer get one follow-up.
SHORT_ANSWER_WORDS = 3
FOLLOW_UP = "Could you tell me a bit more about that? An example would really help."
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
    position: GuidePosition
    # The question the reply serves; None for the goodbye and after it.
    asked: AskedQuestion | None = None
    # The structured question given up on (asked twice, never read), if any.
    skipped: StudyQuestion | None = None


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
    return Reply(
        content, GuidePosition(0, False, InterviewStatus.ACTIVE), AskedQuestion(first, False)
    )


def reply(
    questions: Sequence[StudyQuestion], position: GuidePosition, answer: str, heard: Heard
) -> Reply:
    question = current_question(questions, position)
    if question is None:
        return Reply(ACKNOWLEDGEMENT, position)
    if heard is Heard.MISSED:
        if not position.follow_up_asked:
            again = f"{NOT_READ} {ask(question)}"
            return Reply(
                again,
                GuidePosition(position.question_index, True, position.status),
                AskedQuestion(question, True),
            )
        return _next(questions, position, MOVING_ON, skipped=question)
    if (
        heard is Heard.WORDS
        and len(answer.split()) <= SHORT_ANSWER_WORDS
        and not position.follow_up_asked
        and question.probing.max_follow_ups > 0
    ):
        return Reply(
            FOLLOW_UP,
            GuidePosition(position.question_index, True, position.status),
            AskedQuestion(question, True),
        )
    return _next(questions, position)


def _next(
    questions: Sequence[StudyQuestion],
    position: GuidePosition,
    preface: str = "",
    skipped: StudyQuestion | None = None,
) -> Reply:
    next_index = position.question_index + 1
    if next_index < len(questions):
        question = questions[next_index]
        content = f"{preface} {ask(question)}" if preface else ask(question)
        return Reply(
            content,
            GuidePosition(next_index, False, position.status),
            AskedQuestion(question, False),
            skipped,
        )
    content = f"{preface} {GOODBYE}" if preface else GOODBYE
    return Reply(
        content, GuidePosition(next_index, False, InterviewStatus.CONCLUDED), skipped=skipped
    )


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
