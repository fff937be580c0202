"""A study's design as given (the API's JSON shape: a request's study, or a
`koji-admin studies create --file` document) checked against every rule and
turned into the domain's values; ids are the caller's to assign.

Each problem is one field violation (`study.questions[2].config.options`):
a caller fixes them all in one go. The field rules (sizes, ranges) live here
and in domain.validation; buf.validate annotations did not exist in proto/
when this was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from koji_server.domain import validation
from koji_server.domain.model import (
    Brief,
    BriefMode,
    Probing,
    QuestionConfig,
    QuestionOption,
    QuestionType,
    StudyQuestion,
)
from koji_server.domain.study_design import BRIEF_TEXTS
from koji_server.domain.validation import Violations

# Fields of a study document that are the server's to set: accepted (a
# document read back from GetStudy can be sent again) and ignored.
OUTPUT_ONLY = {
    "study_id",
    "status",
    "interview_count",
    "completed_count",
    "created_at",
    "updated_at",
    "published_at",
}
STUDY_FIELDS = {"title", "brief", "questions"} | OUTPUT_ONLY
QUESTION_FIELDS = {"question_id", "text", "type", "required", "config", "probing"}
CONFIG_FIELDS = {"scale_min", "scale_max", "scale_labels", "options"}


@dataclass(frozen=True, slots=True)
class Design:
    """What the caller gave (None: not given). Questions and options carry
    the ids the caller sent, if any (empty otherwise)."""

    title: str | None
    brief: Brief | None
    questions: tuple[StudyQuestion, ...] | None


def design(data: dict[str, Any], path: str = "study", partial: bool = False) -> Design:
    """Checks a study document; `partial` (an update): absent fields stay
    None instead of being required."""
    found = Violations()
    _unknown(found, path, data, STUDY_FIELDS)
    title = None
    if "title" in data or not partial:
        title = found.text(f"{path}.title", data.get("title"), validation.MAX_NAME_CHARS, True)
    brief = None
    if data.get("brief") is not None:
        brief = _brief(found, f"{path}.brief", data["brief"])
    elif not partial:
        brief = Brief()
    questions = None
    if "questions" in data or not partial:
        questions = _questions(found, f"{path}.questions", data.get("questions"))
    found.raise_any()
    return Design(title, brief, questions)


def _unknown(found: Violations, path: str, data: dict[str, Any], known: set[str]) -> None:
    for name in sorted(set(data) - known):
        found.add(f"{path}.{name}", "is not a field of this object")


def _brief(found: Violations, path: str, given: Any) -> Brief:
    data = found.mapping(path, given)
    _unknown(found, path, data, {*BRIEF_TEXTS, "mode"})
    texts = {
        name: found.text(f"{path}.{name}", data.get(name), validation.MAX_BRIEF_CHARS)
        for name in BRIEF_TEXTS
    }
    mode = BriefMode.HYBRID
    given_mode = data.get("mode")
    if given_mode not in (None, "", "MODE_UNSPECIFIED"):
        try:
            mode = BriefMode(given_mode)
        except ValueError:
            found.add(f"{path}.mode", "must be one of " + ", ".join(m.value for m in BriefMode))
    return Brief(**texts, mode=mode)


def _questions(found: Violations, path: str, given: Any) -> tuple[StudyQuestion, ...]:
    if given is None:
        given = []
    if not isinstance(given, list):
        found.add(path, "must be a list of questions")
        return ()
    if not 1 <= len(given) <= validation.MAX_QUESTIONS:
        found.add(path, f"must hold 1 to {validation.MAX_QUESTIONS} questions, not {len(given)}")
    return tuple(_question(found, f"{path}[{i}]", q) for i, q in enumerate(given))


def _question(found: Violations, path: str, given: Any) -> StudyQuestion:
    data = found.mapping(path, given)
    _unknown(found, path, data, QUESTION_FIELDS)
    question_id = data.get("question_id") or ""
    if not isinstance(question_id, str):
        found.add(f"{path}.question_id", "must be a string")
        question_id = ""
    text = found.text(f"{path}.text", data.get("text"), validation.MAX_QUESTION_CHARS, True)
    kind = QuestionType.OPEN_ENDED
    given_type = data.get("type")
    if given_type not in (None, "", "TYPE_UNSPECIFIED"):
        try:
            kind = QuestionType(given_type)
        except ValueError:
            found.add(f"{path}.type", "must be one of " + ", ".join(t.value for t in QuestionType))
            kind = None  # type: ignore[assignment]
    required = data.get("required", True)
    if not isinstance(required, bool):
        found.add(f"{path}.required", "must be true or false")
        required = True
    config = _config(found, f"{path}.config", data.get("config"), kind)
    probing = _probing(found, f"{path}.probing", data.get("probing"))
    return StudyQuestion(
        question_id, text, kind or QuestionType.OPEN_ENDED, required, config, probing
    )


def _config(found: Violations, path: str, given: Any, kind: QuestionType | None) -> QuestionConfig:
    data = found.mapping(path, given)
    _unknown(found, path, data, CONFIG_FIELDS)
    has_scale = any(data.get(name) not in (None, {}) for name in CONFIG_FIELDS - {"options"})
    has_options = data.get("options") not in (None, [])
    if kind is None:  # an unknown type: nothing more to check against
        return QuestionConfig()
    if has_scale and not kind.takes_scale:
        found.add(path, f"a {kind.value} question takes no scale settings")
    if has_options and not kind.takes_options:
        found.add(f"{path}.options", f"a {kind.value} question takes no options")
    if kind.takes_scale:
        return _scale(found, path, data)
    if kind.takes_options:
        return QuestionConfig(options=_options(found, f"{path}.options", data.get("options")))
    return QuestionConfig()


def _scale(found: Violations, path: str, data: dict[str, Any]) -> QuestionConfig:
    low = found.integer(f"{path}.scale_min", data.get("scale_min"))
    high = found.integer(f"{path}.scale_max", data.get("scale_max"))
    low = validation.DEFAULT_SCALE[0] if low is None else low
    high = validation.DEFAULT_SCALE[1] if high is None else high
    if low >= high:
        found.add(f"{path}.scale_max", f"must be greater than scale_min ({low})")
    elif high - low + 1 > validation.MAX_SCALE_POINTS:
        found.add(
            f"{path}.scale_max",
            f"a scale has at most {validation.MAX_SCALE_POINTS} points; "
            f"{low} to {high} has {high - low + 1}",
        )
    labels: dict[int, str] = {}
    for key, label in found.mapping(f"{path}.scale_labels", data.get("scale_labels")).items():
        field = f"{path}.scale_labels[{key}]"
        try:
            point = int(key)
        except (TypeError, ValueError):
            found.add(field, "must be keyed by a point of the scale (an integer)")
            continue
        if not low <= point <= high:
            found.add(field, f"must be a point of the scale, {low} to {high}")
        labels[point] = found.text(field, label, validation.MAX_LABEL_CHARS, True)
    return QuestionConfig(scale_min=low, scale_max=high, scale_labels=labels)


def _options(found: Violations, path: str, given: Any) -> tuple[QuestionOption, ...]:
    if given is None:
        given = []
    if not isinstance(given, list):
        found.add(path, "must be a list of options")
        return ()
    if not validation.MIN_OPTIONS <= len(given) <= validation.MAX_OPTIONS:
        found.add(
            path,
            f"must hold {validation.MIN_OPTIONS} to {validation.MAX_OPTIONS} options, "
            f"not {len(given)}",
        )
    options = []
    seen: set[str] = set()
    for i, item in enumerate(given):
        field = f"{path}[{i}]"
        # A bare string is an option's label (handy in YAML).
        data = {"label": item} if isinstance(item, str) else found.mapping(field, item)
        _unknown(found, field, data, {"option_id", "label"})
        label = found.text(f"{field}.label", data.get("label"), validation.MAX_NAME_CHARS, True)
        if label and label.casefold() in seen:
            found.add(f"{field}.label", f"repeats the label {label!r}")
        seen.add(label.casefold())
        option_id = data.get("option_id") or ""
        options.append(QuestionOption(option_id if isinstance(option_id, str) else "", label))
    return tuple(options)


def _probing(found: Violations, path: str, given: Any) -> Probing:
    data = found.mapping(path, given)
    _unknown(found, path, data, {"max_follow_ups", "instructions"})
    most = found.integer(f"{path}.max_follow_ups", data.get("max_follow_ups"))
    if most is None:
        most = 1
    elif not 0 <= most <= validation.MAX_FOLLOW_UPS:
        found.add(f"{path}.max_follow_ups", f"must be 0 to {validation.MAX_FOLLOW_UPS}")
    instructions = found.text(
        f"{path}.instructions", data.get("instructions"), validation.MAX_INSTRUCTIONS_CHARS
    )
    return Probing(most, instructions)
