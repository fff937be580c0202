"""Answers to a study's questions within an interview: a widget's answer
checked against its question, written out, and the interview's stored list
(`interviews.answers`, JSON) read and updated.

An entry per question asked, in the order asked (the study's): the value of
a structured answer, the respondent messages that gave it (for an open
question, every message while it was current), how it was given, or that
it was skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from koji_server.domain.errors import FieldViolation, InvalidRequest
from koji_server.domain.model import (
    Answer,
    AnswerDetail,
    AnswerSource,
    GivenAnswer,
    QuestionType,
    StudyQuestion,
)

FIELD = "answer"


def checked(question: StudyQuestion | None, given: GivenAnswer) -> Answer:
    """A widget's answer to the current question (None: none is current),
    or InvalidRequest naming every problem."""
    if question is None:
        raise _invalid("question_id", "the interview has no current question to answer")
    if given.question_id != question.question_id:
        raise _invalid("question_id", f"must be the current question's id, {question.question_id}")
    if not question.type.structured:
        raise _invalid("question_id", "an open_ended question is answered in `content`")
    problems: list[FieldViolation] = []
    kind = question.type
    extra = {
        "scale_value": given.scale_value is not None and kind is not QuestionType.SCALE,
        "option_ids": bool(given.option_ids) and not kind.takes_options,
        "yes_no": given.yes_no is not None and kind is not QuestionType.YES_NO,
    }
    for name, present in extra.items():
        if present:
            problems.append(_violation(name, f"a {kind.value} question takes no {name}"))
    if kind is QuestionType.SCALE:
        low, high = question.config.scale_min, question.config.scale_max
        assert low is not None and high is not None
        if given.scale_value is None:
            problems.append(_violation("scale_value", "is required for a scale question"))
        elif not low <= given.scale_value <= high:
            problems.append(_violation("scale_value", f"must be {low} to {high}"))
    elif kind is QuestionType.YES_NO and given.yes_no is None:
        problems.append(_violation("yes_no", "is required for a yes_no question"))
    elif kind.takes_options:
        problems.extend(_option_problems(question, given.option_ids))
    if problems:
        raise InvalidRequest(problems)
    return Answer(
        question_id=question.question_id,
        type=kind,
        scale_value=given.scale_value,
        option_ids=tuple(given.option_ids),
        yes_no=given.yes_no,
        source=AnswerSource.WIDGET,
    )


def _option_problems(question: StudyQuestion, option_ids: Sequence[str]) -> list[FieldViolation]:
    known = [option.option_id for option in question.config.options]
    problems = [
        _violation(f"option_ids[{i}]", f"is not an option of the question ({', '.join(known)})")
        for i, option_id in enumerate(option_ids)
        if option_id not in known
    ]
    if len(set(option_ids)) != len(option_ids):
        problems.append(_violation("option_ids", "must name each option at most once"))
    kind = question.type
    if kind is QuestionType.SINGLE_CHOICE and len(option_ids) != 1:
        problems.append(_violation("option_ids", "must hold exactly one option id"))
    elif kind is QuestionType.MULTIPLE_CHOICE and not option_ids:
        problems.append(_violation("option_ids", "must hold at least one option id"))
    elif kind is QuestionType.RANKING and sorted(set(option_ids)) != sorted(known):
        problems.append(_violation("option_ids", "must rank every option once, first preferred"))
    return problems


def _violation(name: str, description: str) -> FieldViolation:
    return FieldViolation(f"{FIELD}.{name}", description)


def _invalid(name: str, description: str) -> InvalidRequest:
    return InvalidRequest([_violation(name, description)])


def written_out(question: StudyQuestion, answer: Answer) -> str:
    """A structured answer as the respondent's message (a widget's answer
    sent without words)."""
    if answer.scale_value is not None:
        return str(answer.scale_value)
    if answer.yes_no is not None:
        return "Yes" if answer.yes_no else "No"
    return ", ".join(question.option_label(option_id) for option_id in answer.option_ids)


def to_stored(answer: Answer) -> dict[str, Any]:
    stored: dict[str, Any] = {"question_id": answer.question_id, "type": answer.type.value}
    if answer.scale_value is not None:
        stored["scale_value"] = answer.scale_value
    if answer.option_ids:
        stored["option_ids"] = list(answer.option_ids)
    if answer.yes_no is not None:
        stored["yes_no"] = answer.yes_no
    if answer.message_ids:
        stored["message_ids"] = list(answer.message_ids)
    if answer.source is not None:
        stored["source"] = answer.source.value
    if answer.skipped:
        stored["skipped"] = True
    return stored


def from_stored(stored: Mapping[str, Any]) -> Answer:
    source = stored.get("source")
    return Answer(
        question_id=stored["question_id"],
        type=QuestionType(stored["type"]),
        scale_value=stored.get("scale_value"),
        option_ids=tuple(stored.get("option_ids", ())),
        yes_no=stored.get("yes_no"),
        message_ids=tuple(stored.get("message_ids", ())),
        source=AnswerSource(source) if source else None,
        skipped=bool(stored.get("skipped", False)),
    )


def all_from_stored(stored: Sequence[Mapping[str, Any]] | None) -> tuple[Answer, ...]:
    return tuple(from_stored(entry) for entry in stored or ())


def recorded(stored: Sequence[Mapping[str, Any]] | None, answer: Answer) -> list[dict[str, Any]]:
    """The stored list with `answer` in its question's entry (new ones at the
    end: questions are asked in the study's order)."""
    entries = [dict(entry) for entry in stored or ()]
    for i, entry in enumerate(entries):
        if entry["question_id"] == answer.question_id:
            entries[i] = to_stored(answer)
            return entries
    entries.append(to_stored(answer))
    return entries


def words(
    stored: Sequence[Mapping[str, Any]] | None, question: StudyQuestion, message_id: str
) -> list[dict[str, Any]]:
    """An open question's entry with one more of the respondent's messages."""
    found = _entry(stored, question)
    if found is None:
        found = Answer(question.question_id, question.type, source=AnswerSource.TEXT)
    return recorded(stored, replace(found, message_ids=(*found.message_ids, message_id)))


def missed(
    stored: Sequence[Mapping[str, Any]] | None, question: StudyQuestion, message_id: str
) -> list[dict[str, Any]]:
    """A structured question's answer that could not be read: kept pending
    (no value, not skipped; not shown) with the message, until the question
    is answered or skipped."""
    pending = _entry(stored, question)
    ids = pending.message_ids if pending is not None else ()
    return recorded(
        stored, Answer(question.question_id, question.type, message_ids=(*ids, message_id))
    )


def skipped(
    stored: Sequence[Mapping[str, Any]] | None, question: StudyQuestion, message_id: str
) -> list[dict[str, Any]]:
    """The question given up on, with every message that did not answer it."""
    pending = _entry(stored, question)
    ids = pending.message_ids if pending is not None else ()
    if message_id not in ids:
        ids = (*ids, message_id)
    return recorded(
        stored, Answer(question.question_id, question.type, message_ids=ids, skipped=True)
    )


def _entry(stored: Sequence[Mapping[str, Any]] | None, question: StudyQuestion) -> Answer | None:
    return next(
        (from_stored(e) for e in stored or () if e["question_id"] == question.question_id), None
    )


def settled(answers: Sequence[Answer]) -> tuple[Answer, ...]:
    """The answers to show: given or skipped (not those pending a second try)."""
    return tuple(a for a in answers if a.source is not None or a.skipped)


def detailed(answers: Sequence[Answer], contents: Mapping[str, str]) -> tuple[AnswerDetail, ...]:
    """Answers with their words: the contents of their messages, by id."""
    return tuple(
        AnswerDetail(a, "\n".join(contents.get(m, "") for m in a.message_ids)) for a in answers
    )


def as_json(detail: AnswerDetail) -> dict[str, Any]:
    """An answer in the API's JSON shape (webhook payloads): absent values
    left out, as the REST API prints them."""
    answer = detail.answer
    shown: dict[str, Any] = {"question_id": answer.question_id, "type": answer.type.value}
    if answer.scale_value is not None:
        shown["scale_value"] = answer.scale_value
    shown["option_ids"] = list(answer.option_ids)
    if answer.yes_no is not None:
        shown["yes_no"] = answer.yes_no
    shown["text"] = detail.text
    shown["message_id"] = answer.message_ids[0] if answer.message_ids else ""
    shown["source"] = answer.source.value if answer.source is not None else ""
    shown["skipped"] = answer.skipped
    return shown
