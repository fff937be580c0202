"""A study's design in its stored (and API) shape, and back.

`studies.questions` and `studies.brief` hold JSON in the API's snake_case
shape (the same a `koji-admin studies create --file` YAML file uses): these
functions are the one translation between it and the domain's values. A
question stored as a plain string (a study of before migration 0003 that
a test or an old tool wrote directly) reads as an open-ended question whose
id is derived from the study's and its place, so it stays stable.
"""

from __future__ import annotations

import uuid
from typing import Any

from koji_server.domain.model import (
    Brief,
    BriefMode,
    Probing,
    QuestionConfig,
    QuestionOption,
    QuestionType,
    StudyQuestion,
)

BRIEF_TEXTS = (
    "problem_statement",
    "decision_to_inform",
    "hypothesis",
    "target_participant",
    "methodology",
)


def question_to_stored(question: StudyQuestion) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if question.config.scale_min is not None:
        config["scale_min"] = question.config.scale_min
    if question.config.scale_max is not None:
        config["scale_max"] = question.config.scale_max
    if question.config.scale_labels:
        config["scale_labels"] = {str(k): v for k, v in question.config.scale_labels.items()}
    if question.config.options:
        config["options"] = [
            {"option_id": o.option_id, "label": o.label} for o in question.config.options
        ]
    return {
        "question_id": question.question_id,
        "text": question.text,
        "type": question.type.value,
        "required": question.required,
        "config": config,
        "probing": {
            "max_follow_ups": question.probing.max_follow_ups,
            "instructions": question.probing.instructions,
        },
    }


def question_from_stored(study_id: str, index: int, stored: Any) -> StudyQuestion:
    if isinstance(stored, str):
        legacy_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"koji:{study_id}:{index}"))
        return StudyQuestion(legacy_id, stored)
    config = stored.get("config") or {}
    probing = stored.get("probing") or {}
    return StudyQuestion(
        question_id=stored["question_id"],
        text=stored["text"],
        type=QuestionType(stored.get("type", QuestionType.OPEN_ENDED.value)),
        required=bool(stored.get("required", True)),
        config=QuestionConfig(
            scale_min=config.get("scale_min"),
            scale_max=config.get("scale_max"),
            scale_labels={int(k): v for k, v in (config.get("scale_labels") or {}).items()},
            options=tuple(
                QuestionOption(o["option_id"], o["label"]) for o in config.get("options") or ()
            ),
        ),
        probing=Probing(
            max_follow_ups=int(probing.get("max_follow_ups", 1)),
            instructions=probing.get("instructions", ""),
        ),
    )


def questions_from_stored(study_id: str, stored: list[Any]) -> tuple[StudyQuestion, ...]:
    return tuple(question_from_stored(study_id, i, q) for i, q in enumerate(stored))


def brief_to_stored(brief: Brief) -> dict[str, Any]:
    stored: dict[str, Any] = {name: getattr(brief, name) for name in BRIEF_TEXTS}
    stored["mode"] = brief.mode.value
    return stored


def brief_from_stored(stored: dict[str, Any] | None) -> Brief:
    if not stored:
        return Brief()
    return Brief(
        **{name: stored.get(name, "") for name in BRIEF_TEXTS},
        mode=BriefMode(stored.get("mode", BriefMode.HYBRID.value)),
    )
