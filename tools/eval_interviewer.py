"""`make eval-interviewer`: the conversation engine on scripted, labelled
conversations it was never tuned on (eval/interviewer_heldout.jsonl).

Each line is one conversation: a study (title, mode, questions with their
type and max_follow_ups) and a scripted respondent: for each question, the
answer to it and the answers to follow-ups, in order (a follow-up beyond the
script gets "Nothing more to add, really."). The real engine (domain.
conversation, domain.probes, interviewer.listening) plays the interviewer.

Labels: `covers` on an answer lists the later questions it already answers
(skip detection is scored on every pair of a first answer and a later
open-ended question); `ending: true` marks a respondent who has to go (the
script stops there); every other answer is an ordinary one that must not end
the interview.

Printed, with the issue's targets:
- grounded-probe rate: a probe names a content phrase (a noun phrase or a
  content word) of the answer it follows, >= 0.90;
- probes beyond max_follow_ups, 0; repeated probes in one interview, 0;
- skip detection precision >= 0.90 and recall >= 0.70 on the labelled pairs;
- ending intents recognised >= 0.90, false endings on ordinary answers 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from koji_server.analysis import embedding, phrases
from koji_server.domain import probes
from koji_server.domain.conversation import (
    Guide,
    Move,
    Question,
    State,
    covering,
    decide,
)
from koji_server.interviewer.listening import Listener

HELD_OUT = Path(__file__).resolve().parents[1] / "eval" / "interviewer_heldout.jsonl"
NOTHING_MORE = "Nothing more to add, really."
TARGETS = {
    "grounded_probe_rate": (">=", 0.90),
    "probes_beyond_max": ("==", 0),
    "repeated_probes": ("==", 0),
    "skip_precision": (">=", 0.90),
    "skip_recall": (">=", 0.70),
    "endings_recognised": (">=", 0.90),
    "false_endings": ("==", 0),
}


@dataclass
class Tally:
    probes: int = 0
    grounded: int = 0
    beyond_max: int = 0
    repeated: int = 0
    pairs: Counter[str] = field(default_factory=Counter)
    endings: int = 0
    endings_seen: int = 0
    ordinary: int = 0
    false_endings: int = 0
    messages: int = 0
    seconds: float = 0.0
    transcripts: list[list[str]] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


def content_phrases(answer: str) -> set[str]:
    found = {p.text.lower() for p in phrases.noun_phrases(answer)}
    found |= {w.lower() for w in embedding.topic_words(answer)}
    return found


def grounded(probe: str, answer: str) -> bool:
    lowered = probe.lower()
    return any(phrase in lowered for phrase in content_phrases(answer))


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def guide_of(case: dict[str, Any], listener: Listener) -> Guide:
    questions = tuple(
        Question(
            id=str(index),
            text=q["text"],
            type=q.get("type", "open_ended"),
            max_follow_ups=q.get("max_follow_ups", 1),
            options=tuple(q.get("options", ())),
            scale=tuple(q["scale"]) if "scale" in q else None,  # type: ignore[arg-type]
        )
        for index, q in enumerate(case["questions"])
    )
    vectors = listener.question_vectors([q.text for q in questions])
    return Guide(case["title"], questions, case.get("mode", "hybrid"), vectors=vectors)


def play(case: dict[str, Any], listener: Listener, tally: Tally) -> None:
    guide = guide_of(case, listener)
    script = case["answers"]  # per question: [{"text", "covers", "ending"}, ...]
    state = State()
    transcript = [f"I: {guide.questions[0].text}"]
    served, asked_count = 0, 0
    used_probes: list[str] = []
    probes_on: Counter[int] = Counter()
    while True:
        turns = script[served] if served < len(script) else []
        turn = turns[asked_count] if asked_count < len(turns) else {"text": NOTHING_MORE}
        answer = turn["text"]
        transcript.append(f"R: {answer}")
        started = time.perf_counter()
        reading = listener.read(answer, parsed=turn.get("parsed"))
        decision = decide(guide, state, reading)
        text = probes.wording(guide, decision, reading)
        tally.seconds += time.perf_counter() - started
        tally.messages += 1
        transcript.append(f"I: {text}")
        if turn.get("ending"):
            tally.endings += 1
            tally.endings_seen += decision.move is Move.CONCLUDE
            if decision.move is not Move.CONCLUDE:
                tally.misses.append(f"{case['id']}: ending missed: {answer!r}")
        else:
            tally.ordinary += 1
            if reading.ending:
                tally.false_endings += 1
                tally.misses.append(f"{case['id']}: false ending: {answer!r}")
        if decision.move is Move.PROBE:
            tally.probes += 1
            if grounded(text, answer):
                tally.grounded += 1
            else:
                tally.misses.append(f"{case['id']}: ungrounded probe {text!r} after {answer!r}")
            probes_on[state.question] += 1
            if text in used_probes:
                tally.repeated += 1
            used_probes.append(text)
            question = guide.questions[state.question]
            if probes_on[state.question] > question.max_follow_ups:
                tally.beyond_max += 1
        state = decision.state
        if decision.move in (Move.CONCLUDE, Move.ACKNOWLEDGE) or turn.get("ending"):
            break
        if decision.question != served:
            served, asked_count = decision.question or 0, 0
        else:
            asked_count += 1
    tally.transcripts.append(transcript)


def score_pairs(case: dict[str, Any], listener: Listener, tally: Tally) -> None:
    """Every (first answer to question i, later open-ended question j)."""
    guide = guide_of(case, listener)
    for i, turns in enumerate(case["answers"]):
        if not turns or turns[0].get("ending"):
            continue
        first = turns[0]
        reading = listener.read(first["text"])
        predicted = {j for j, _ in covering(guide, State(question=i), reading)}
        labelled = set(first.get("covers", ()))
        for j in range(i + 1, len(guide.questions)):
            if not guide.questions[j].open_ended:
                continue
            truth, guess = j in labelled, j in predicted
            tally.pairs[
                "tp" if truth and guess else "fn" if truth else "fp" if guess else "tn"
            ] += 1
            if truth != guess:
                kind = "missed cover" if truth else "false cover"
                tally.misses.append(
                    f"{case['id']}: {kind}: {first['text'][:60]!r} -> {guide.questions[j].text!r}"
                )


def metrics(tally: Tally) -> dict[str, float]:
    tp, fp, fn = tally.pairs["tp"], tally.pairs["fp"], tally.pairs["fn"]
    return {
        "grounded_probe_rate": tally.grounded / tally.probes if tally.probes else 1.0,
        "probes_beyond_max": tally.beyond_max,
        "repeated_probes": tally.repeated,
        "skip_precision": tp / (tp + fp) if tp + fp else 1.0,
        "skip_recall": tp / (tp + fn) if tp + fn else 1.0,
        "endings_recognised": tally.endings_seen / tally.endings if tally.endings else 1.0,
        "false_endings": tally.false_endings,
    }


def met(value: float, rule: tuple[str, float]) -> bool:
    op, target = rule
    return value >= target if op == ">=" else value == target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=HELD_OUT)
    parser.add_argument("--transcripts", type=int, default=0, help="print this many transcripts")
    parser.add_argument("--misses", action="store_true", help="list every miss")
    args = parser.parse_args(argv)
    cases = load(args.file)
    listener = Listener()
    listener.warm()
    tally = Tally()
    for case in cases:
        play(case, listener, tally)
        score_pairs(case, listener, tally)
    results = metrics(tally)
    print(f"{len(cases)} conversations, {tally.messages} respondent messages ({args.file.name})")
    print(
        f"probes {tally.probes}, labelled cover pairs {sum(tally.pairs.values())} "
        f"({tally.pairs['tp'] + tally.pairs['fn']} covered), endings {tally.endings}, "
        f"ordinary answers {tally.ordinary}"
    )
    print(f"{'metric':<22} {'value':>8}  target")
    failed = False
    for name, value in results.items():
        rule = TARGETS[name]
        ok = met(value, rule)
        failed |= not ok
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{name:<22} {shown:>8}  {rule[0]} {rule[1]}  {'ok' if ok else 'MISSED'}")
    per_message = tally.seconds / tally.messages * 1e6 if tally.messages else 0.0
    print(f"engine CPU per message (read + decide + word): {per_message:.0f} us")
    if args.misses:
        print("\n".join(["", "misses:", *tally.misses]))
    for transcript in tally.transcripts[: args.transcripts]:
        print("\n" + "\n".join(transcript))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
