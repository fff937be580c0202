"""The deterministic interviewer: follows a study's guide without any model.

It asks the guide's questions in order, asks one follow-up when an answer is
very short, says goodbye when the guide is done (the interview becomes
`concluded`) and acknowledges anything the respondent adds afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from koji_server.domain.model import InterviewStatus

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


@dataclass(frozen=True, slots=True)
class GuidePosition:
    """Where the conversation is: the question being answered, and whether its
    follow-up was already asked."""

    question_index: int
    follow_up_asked: bool
    status: InterviewStatus


@dataclass(frozen=True, slots=True)
class Reply:
    content: str
    position: GuidePosition


def opening(title: str, questions: Sequence[str], display_name: str) -> Reply:
    greeting = f"Hi {display_name}!" if display_name else "Hi!"
    content = f"{greeting} Thanks for taking the time to talk with us about {title}. {questions[0]}"
    return Reply(content, GuidePosition(0, False, InterviewStatus.ACTIVE))


def reply(questions: Sequence[str], position: GuidePosition, answer: str) -> Reply:
    if position.status is not InterviewStatus.ACTIVE:
        return Reply(ACKNOWLEDGEMENT, position)
    if len(answer.split()) <= SHORT_ANSWER_WORDS and not position.follow_up_asked:
        return Reply(FOLLOW_UP, GuidePosition(position.question_index, True, position.status))
    next_index = position.question_index + 1
    if next_index < len(questions):
        return Reply(questions[next_index], GuidePosition(next_index, False, position.status))
    return Reply(GOODBYE, GuidePosition(next_index, False, InterviewStatus.CONCLUDED))


def pieces(content: str) -> Iterator[str]:
    """A reply as it would be produced: groups of words with their following
    whitespace; joined, they are `content` exactly."""
    words = re.findall(r"\s*\S+\s*", content) or [content]
    for start in range(0, len(words), WORDS_PER_PIECE):
        yield "".join(words[start : start + WORDS_PER_PIECE])
