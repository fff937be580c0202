"""The conversation engine: the state of one interview's conversation and the
decision of the interviewer's next move.

Pure and deterministic: it takes the study's guide (its questions as plain
data), the state stored with the interview and a reading of the answer
(interviewer.listening: what was said, how deep, whether the respondent is
leaving, which later questions it already touches) and returns the move and
the state after it. Nothing here calls a model or the database; the wording
of a move is domain.probes' (or a language model's, given the move).

Moves:
- PROBE: an open-ended answer that is vague or short, while the question's
  follow-ups remain (`max_follow_ups`, 0 never probes);
- NEXT: the next question of the guide;
- CONFIRM: the next question was already covered by an earlier answer
  (meaning, not only shared words): ask briefly whether there is anything to
  add (`exploratory`/`hybrid`); in `structured` mode a covered open-ended
  question is skipped instead. Structured questions are never skipped;
- REASK: a structured question whose answer did not parse, asked again once;
- CONCLUDE: the last question answered, or the respondent has to go;
- ACKNOWLEDGE: anything said after the conclusion.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from koji_server.domain.model import Brief, StudyQuestion

OPEN_ENDED = "open_ended"
MODES = ("structured", "exploratory", "hybrid")
DEFAULT_MODE = "hybrid"
DEFAULT_MAX_FOLLOW_UPS = 1
# An answer sentence this close (cosine of topic vectors) to a later
# question covers it. Chosen on tests/test_conversation.py's tuning pairs,
# never on eval/interviewer_heldout.jsonl.
COVERAGE_THRESHOLD = 0.39
# A covered question keeps this much of the sentence that covered it.
MAX_COVERED_CLAUSE = 160
# An answer of this many words with two of the depth signals, or of
# LONG_WORDS whatever it says, is not probed.
DEEP_WORDS = 20
LONG_WORDS = 30
# Re-ask a structured question whose answer did not parse this many times.
MAX_REASKS = 1


class Move(StrEnum):
    PROBE = "probe"
    NEXT = "next"
    CONFIRM = "confirm"
    REASK = "reask"
    CONCLUDE = "conclude"
    ACKNOWLEDGE = "acknowledge"


@dataclass(frozen=True, slots=True)
class Question:
    """One question of the guide, as the engine needs it."""

    id: str
    text: str
    type: str = OPEN_ENDED
    max_follow_ups: int = DEFAULT_MAX_FOLLOW_UPS
    instructions: str = ""
    # Structured questions: what a re-ask names.
    options: tuple[str, ...] = ()
    scale: tuple[int, int] | None = None
    # The question as the interviewer asks it (a structured one names its
    # scale or options first); empty: its text.
    asked: str = ""

    @property
    def open_ended(self) -> bool:
        return self.type == OPEN_ENDED


@dataclass(frozen=True, slots=True)
class Guide:
    """A study's questions, mode and title; `vectors`: one topic vector per
    question (interviewer.listening), or None (no skip detection)."""

    title: str
    questions: tuple[Question, ...]
    mode: str = DEFAULT_MODE
    brief: str = ""
    vectors: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Reading:
    """What an answer says, as the engine weighs it (interviewer.listening)."""

    text: str
    # Its sentences, and one topic vector per sentence (rows of `vectors`).
    sentences: tuple[str, ...] = ()
    vectors: np.ndarray | None = field(default=None, compare=False)
    # The clause a probe quotes back, in the interviewer's voice ("the export
    # to Excel is slow"), and the content phrases it names.
    clause: str = ""
    # Whether the clause is a statement ("the export is slow"), not a bare
    # phrase ("Slack").
    clause_is_statement: bool = False
    phrases: tuple[str, ...] = ()
    # pain_point | request | praise | none (the analysis's insight types).
    kind: str = "none"
    words: int = 0
    has_example: bool = False
    has_consequence: bool = False
    has_number: bool = False
    ending: bool = False
    # Nothing (more) to say ("not really", "that covers it"): not probed.
    declined: bool = False
    # Structured questions: whether the answer parsed (None: not structured).
    parsed: bool | None = None

    @property
    def deep(self) -> bool:
        """Deep enough to move on: an example, a consequence and a number or
        time; two of them in a few sentences; or a long answer (not vague)."""
        signals = self.has_example + self.has_consequence + self.has_number
        return (
            signals == 3 or (signals == 2 and self.words >= DEEP_WORDS) or self.words >= LONG_WORDS
        )


@dataclass(frozen=True, slots=True)
class State:
    """The conversation so far, stored with the interview (to_json/from_json)."""

    # The question being answered (len(questions) once past the last).
    question: int = 0
    # Follow-ups (probes, a confirmation) asked on it, and re-asks.
    follow_ups: int = 0
    reasks: int = 0
    # Probe templates already used in this interview (never twice).
    probes_used: tuple[str, ...] = ()
    # Later questions an earlier answer covered: index -> the clause.
    covered: tuple[tuple[int, str], ...] = ()
    # Questions skipped as covered (structured mode) or after a second miss.
    skipped: tuple[int, ...] = ()
    concluded: bool = False
    # Whether the message serving the current question confirmed it.
    confirming: bool = False

    def covered_clause(self, index: int) -> str | None:
        for covered, clause in self.covered:
            if covered == index:
                return clause
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "follow_ups": self.follow_ups,
            "reasks": self.reasks,
            "probes_used": list(self.probes_used),
            "covered": [[i, c] for i, c in self.covered],
            "skipped": list(self.skipped),
            "concluded": self.concluded,
            "confirming": self.confirming,
        }

    def stored(self) -> dict[str, Any]:
        """As the interview row keeps it: the question is its question_index."""
        kept = self.to_json()
        del kept["question"]
        return kept

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        return cls(
            question=int(data.get("question", 0)),
            follow_ups=int(data.get("follow_ups", 0)),
            reasks=int(data.get("reasks", 0)),
            probes_used=tuple(str(p) for p in data.get("probes_used", ())),
            covered=tuple((int(i), str(c)) for i, c in data.get("covered", ())),
            skipped=tuple(int(i) for i in data.get("skipped", ())),
            concluded=bool(data.get("concluded", False)),
            confirming=bool(data.get("confirming", False)),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The move, the question the interviewer's message serves (None after
    the conclusion), whether that message is a follow-up on it, the probe
    template chosen (PROBE only), the clause a confirmation quotes, and the
    state after."""

    move: Move
    question: int | None
    follow_up: bool
    state: State
    probe: str | None = None
    clause: str = ""
    # The current (structured) question was given up on: asked again once
    # and still not answered.
    gave_up: bool = False


# The model's prompt holds this many of the latest messages.
RECENT = 6


@dataclass(frozen=True, slots=True)
class Said:
    """One message of the recent transcript, for a model's prompt."""

    role: str  # "interviewer" | "respondent"
    content: str


class Listener(Protocol):
    """Reads answers and questions for the engine (interviewer.listening)."""

    @property
    def ready(self) -> bool: ...

    def warm(self) -> None: ...

    def read(self, text: str, parsed: bool | None = None) -> Reading: ...

    def question_vectors(self, texts: Sequence[str]) -> np.ndarray: ...


class Wording(Protocol):
    """Words a decided move, handing its pieces out as they come; falls back
    to `fallback` (the built-in wording) and never raises (interviewer.llm)."""

    async def word(
        self,
        guide: Guide,
        decision: Decision,
        reading: Reading,
        recent: Sequence[Said],
        fallback: str,
        hand_out: Callable[[str], Awaitable[None]],
    ) -> str: ...


def guide_of(title: str, questions: Sequence[StudyQuestion], brief: Brief) -> Guide:
    """A study's guide as the engine needs it."""
    from koji_server.domain.interviewer import ask

    found = []
    for question in questions:
        config = question.config
        low, high = config.scale_min, config.scale_max
        found.append(
            Question(
                id=question.question_id,
                text=question.text,
                type=question.type.value,
                max_follow_ups=question.probing.max_follow_ups,
                instructions=question.probing.instructions,
                options=tuple(option.label for option in config.options),
                scale=(low, high) if low is not None and high is not None else None,
                asked=ask(question),
            )
        )
    about = " ".join(
        text
        for text in (
            brief.problem_statement,
            brief.decision_to_inform,
            brief.hypothesis,
            brief.target_participant,
        )
        if text
    )
    return Guide(title, tuple(found), brief.mode.value, about)


def opening(guide: Guide) -> Decision:
    """The first message: the first question."""
    return Decision(Move.NEXT, 0, False, State())


def covering(guide: Guide, state: State, reading: Reading) -> tuple[tuple[int, str], ...]:
    """The later open-ended questions this answer covers (index, the clause
    that covers it), added to those covered before."""
    if guide.vectors is None or reading.vectors is None or not len(reading.sentences):
        return state.covered
    later = [
        i
        for i in range(state.question + 1, len(guide.questions))
        if guide.questions[i].open_ended and state.covered_clause(i) is None
    ]
    if not later:
        return state.covered
    scores = reading.vectors @ guide.vectors[later].T  # sentences x later questions
    found = list(state.covered)
    for column, index in enumerate(later):
        best = int(np.argmax(scores[:, column]))
        if scores[best, column] >= COVERAGE_THRESHOLD:
            found.append((index, reading.sentences[best][:MAX_COVERED_CLAUSE]))
    return tuple(found)


def decide(guide: Guide, state: State, reading: Reading) -> Decision:
    """The interviewer's next move after the respondent said `reading`."""
    if state.concluded:
        return Decision(Move.ACKNOWLEDGE, None, False, state)
    if reading.ending:
        return Decision(Move.CONCLUDE, None, False, replace(state, concluded=True))
    questions = guide.questions
    current = questions[state.question] if state.question < len(questions) else None
    state = replace(state, covered=covering(guide, state, reading))
    if current is not None and not current.open_ended:
        if reading.parsed is False and state.reasks < MAX_REASKS:
            return Decision(
                Move.REASK,
                state.question,
                True,
                replace(state, reasks=state.reasks + 1, confirming=False),
            )
        if reading.parsed is False:
            state = replace(state, skipped=(*state.skipped, state.question))
            return replace(_advance(guide, state), gave_up=True)
    elif current is not None and not state.confirming and _wants_probe(current, state, reading):
        chosen = choose_probe(reading, state.probes_used)
        if chosen is not None:
            return Decision(
                Move.PROBE,
                state.question,
                True,
                replace(
                    state,
                    follow_ups=state.follow_ups + 1,
                    probes_used=(*state.probes_used, chosen),
                ),
                probe=chosen,
            )
    return _advance(guide, state)


def _wants_probe(question: Question, state: State, reading: Reading) -> bool:
    return state.follow_ups < question.max_follow_ups and not reading.deep and not reading.declined


def _advance(guide: Guide, state: State) -> Decision:
    """The next question not skipped: confirmed if covered before, skipped
    if covered in structured mode; past the last, the conclusion."""
    index = state.question + 1
    skipped = state.skipped
    while index < len(guide.questions):
        question = guide.questions[index]
        clause = state.covered_clause(index)
        if clause is None or not question.open_ended:
            moved = replace(
                state, question=index, follow_ups=0, reasks=0, skipped=skipped, confirming=False
            )
            return Decision(Move.NEXT, index, False, moved)
        if guide.mode != "structured":
            moved = replace(
                state, question=index, follow_ups=1, reasks=0, skipped=skipped, confirming=True
            )
            return Decision(Move.CONFIRM, index, True, moved, clause=clause)
        skipped = (*skipped, index)
        index += 1
    done = replace(
        state, question=len(guide.questions), follow_ups=0, skipped=skipped, concluded=True
    )
    return Decision(Move.CONCLUDE, None, False, done)


# Probe templates by the answer's insight type, then those for any answer
# (domain.probes words each one).
PROBES_BY_KIND: dict[str, tuple[str, ...]] = {
    "pain_point": ("impact", "workaround", "frequency"),
    "request": ("change", "without"),
    "praise": ("works", "compare"),
    "none": (),
}
GENERAL_PROBES = ("example", "why", "detail")


def choose_probe(reading: Reading, used: tuple[str, ...]) -> str | None:
    """The probe template for this answer: the first unused one of those its
    kind asks (a pain point: impact, workaround; a request: what it would
    change; praise: what makes it work), then the general ones; None when
    every fitting template was used in this interview."""
    for template in (*PROBES_BY_KIND.get(reading.kind, ()), *GENERAL_PROBES):
        if template not in used:
            return template
    return None
