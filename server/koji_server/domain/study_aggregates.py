"""A study's structured questions aggregated over its gated interviews: the
report's `questions` (GetStudyReport, `koji-admin studies report`).

A scale gets its mean, median and distribution; a choice or a yes/no the
count and share of each option; a ranking each option's mean place and how
often it came first. `responses` counts the interviews that gave a value,
`skipped` those that were asked and gave none; shares are of `responses`.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from koji_server.domain import answers
from koji_server.domain.model import (
    Answer,
    OptionAggregate,
    QuestionAggregate,
    QuestionOption,
    QuestionType,
    StudyQuestion,
)

YES_NO_OPTIONS = (QuestionOption("yes", "Yes"), QuestionOption("no", "No"))


def aggregate(
    questions: Sequence[StudyQuestion], interviews: Sequence[Sequence[Mapping[str, Any]] | None]
) -> tuple[QuestionAggregate, ...]:
    """One aggregate per structured question, from each gated interview's
    stored answers."""
    by_question: dict[str, list[Answer]] = {q.question_id: [] for q in questions}
    for stored in interviews:
        for answer in answers.all_from_stored(stored):
            if answer.question_id in by_question and (answer.source or answer.skipped):
                by_question[answer.question_id].append(answer)
    return tuple(_one(q, by_question[q.question_id]) for q in questions if q.type.structured)


def _one(question: StudyQuestion, given: list[Answer]) -> QuestionAggregate:
    valued = [a for a in given if not a.skipped]
    skipped = len(given) - len(valued)
    responses = len(valued)
    base = QuestionAggregate(question.question_id, question.text, question.type, responses, skipped)
    if question.type is QuestionType.SCALE:
        values = [a.scale_value for a in valued if a.scale_value is not None]
        if not values:
            return base
        return replace(
            base,
            mean=statistics.fmean(values),
            median=float(statistics.median(values)),
            distribution=dict(sorted(Counter(values).items())),
        )
    if question.type is QuestionType.YES_NO:
        counts = Counter("yes" if a.yes_no else "no" for a in valued)
        return replace(base, options=_shares(YES_NO_OPTIONS, counts, responses))
    if question.type is QuestionType.RANKING:
        firsts = Counter(a.option_ids[0] for a in valued if a.option_ids)
        places: dict[str, list[int]] = {o.option_id: [] for o in question.config.options}
        for answer in valued:
            for place, option_id in enumerate(answer.option_ids, start=1):
                places.setdefault(option_id, []).append(place)
        options = tuple(
            OptionAggregate(
                o.option_id,
                o.label,
                firsts[o.option_id],
                firsts[o.option_id] / responses if responses else 0.0,
                statistics.fmean(places[o.option_id]) if places[o.option_id] else None,
            )
            for o in question.config.options
        )
        return replace(base, options=options)
    counts = Counter(option_id for a in valued for option_id in a.option_ids)
    return replace(base, options=_shares(question.config.options, counts, responses))


def _shares(
    options: Sequence[QuestionOption], counts: Counter[str], responses: int
) -> tuple[OptionAggregate, ...]:
    return tuple(
        OptionAggregate(
            o.option_id,
            o.label,
            counts[o.option_id],
            counts[o.option_id] / responses if responses else 0.0,
        )
        for o in options
    )


def to_stored(aggregates: Sequence[QuestionAggregate]) -> list[dict[str, Any]]:
    """As the stored report keeps them (JSON)."""
    return [
        {
            "question_id": a.question_id,
            "text": a.text,
            "type": a.type.value,
            "responses": a.responses,
            "skipped": a.skipped,
            "mean": a.mean,
            "median": a.median,
            "distribution": {str(k): v for k, v in a.distribution.items()},
            "options": [
                {
                    "option_id": o.option_id,
                    "label": o.label,
                    "count": o.count,
                    "share": o.share,
                    "mean_rank": o.mean_rank,
                }
                for o in a.options
            ],
        }
        for a in aggregates
    ]


def from_stored(stored: Sequence[Mapping[str, Any]]) -> tuple[QuestionAggregate, ...]:
    return tuple(
        QuestionAggregate(
            question_id=a["question_id"],
            text=a["text"],
            type=QuestionType(a["type"]),
            responses=a["responses"],
            skipped=a["skipped"],
            mean=a.get("mean"),
            median=a.get("median"),
            distribution={int(k): v for k, v in (a.get("distribution") or {}).items()},
            options=tuple(OptionAggregate(**o) for o in a.get("options") or ()),
        )
        for a in stored
    )
