"""`make eval`: the insight classifier measured on two held-out sets, side by side.

- eval/insights_heldout.jsonl: 280 sentences written in the voice of the
  training data (target: accuracy >= 0.90).
- eval/insights_real_register.jsonl: 320 sentences written in the register of
  real user feedback (long, hedged, mixed, sarcastic, workarounds, pain
  without negative words, plain facts about usage); target: accuracy >= 0.85
  and every class's recall >= 0.75.

Nothing is trained or tuned on either (tune with `--cv`, a cross-validation
over the training data). Prints accuracy, per-class recall and precision,
both confusion matrices, and the CPU time of analysing 40-message interviews
built from the sentences (budget: p95 under 1 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sklearn.metrics import accuracy_score, confusion_matrix, precision_score

from koji_server.analysis import classifier
from koji_server.analysis.analyze import analyze
from koji_server.domain.analysis_input import TranscriptInput, Utterance

ROOT = Path(__file__).resolve().parent.parent
HELD_OUT = ROOT / "eval" / "insights_heldout.jsonl"
REAL_REGISTER = ROOT / "eval" / "insights_real_register.jsonl"
# (path, title, accuracy target, per-class recall target)
SETS = (
    (HELD_OUT, "written", 0.90, 0.0),
    (REAL_REGISTER, "real register", 0.85, 0.75),
)
MESSAGES_PER_INTERVIEW = 40  # 20 questions and 20 answers
SENTENCES_PER_ANSWER = 2
BUDGET_MS = 1000.0
QUESTIONS = (
    "What were you trying to get done?",
    "What was the hardest part?",
    "What would you change?",
    "What do you like about it?",
)


@dataclass(frozen=True, slots=True)
class Score:
    title: str
    path: Path
    size: int
    accuracy: float
    recall: dict[str, float]
    precision: dict[str, float]
    matrix: list[list[int]]
    target_accuracy: float
    target_recall: float

    @property
    def met(self) -> bool:
        return self.accuracy >= self.target_accuracy and all(
            r >= self.target_recall for r in self.recall.values()
        )


def score(path: Path, title: str, target_accuracy: float, target_recall: float) -> Score:
    texts, truth = classifier.load_examples(path)
    predicted = [v.label for v in classifier.trained().classify(texts)]
    labels = list(classifier.LABELS)
    matrix = confusion_matrix(truth, predicted, labels=labels)
    precision = precision_score(truth, predicted, labels=labels, average=None, zero_division=0)
    return Score(
        title=title,
        path=path,
        size=len(texts),
        accuracy=float(accuracy_score(truth, predicted)),
        recall={
            label: float(row[i] / row.sum()) if row.sum() else 0.0
            for i, (label, row) in enumerate(zip(labels, matrix, strict=True))
        },
        precision={label: float(p) for label, p in zip(labels, precision, strict=True)},
        matrix=[[int(n) for n in row] for row in matrix],
        target_accuracy=target_accuracy,
        target_recall=target_recall,
    )


def side_by_side(scores: list[Score]) -> str:
    width = 22
    lines = ["".ljust(20) + "".join(s.title.rjust(width) for s in scores)]
    lines.append("sentences".ljust(20) + "".join(str(s.size).rjust(width) for s in scores))
    lines.append(
        "accuracy".ljust(20)
        + "".join(f"{s.accuracy:.3f} (>= {s.target_accuracy:.2f})".rjust(width) for s in scores)
    )
    for label in classifier.LABELS:
        lines.append(
            f"recall {label}".ljust(20)
            + "".join(
                (
                    f"{s.recall[label]:.3f} (>= {s.target_recall:.2f})"
                    if s.target_recall
                    else f"{s.recall[label]:.3f}"
                ).rjust(width)
                for s in scores
            )
        )
    for label in classifier.LABELS:
        lines.append(
            f"precision {label}".ljust(20)
            + "".join(f"{s.precision[label]:.3f}".rjust(width) for s in scores)
        )
    lines.append(
        "targets".ljust(20) + "".join(("met" if s.met else "NOT met").rjust(width) for s in scores)
    )
    return "\n".join(lines)


def confusion(s: Score) -> str:
    labels = list(classifier.LABELS)
    width = max(len(label) for label in labels) + 2
    lines = [f"{s.title} ({s.path.relative_to(ROOT)}): rows true, columns predicted"]
    lines.append(" " * width + "".join(label.rjust(width) for label in labels))
    for label, row in zip(labels, s.matrix, strict=True):
        lines.append(label.ljust(width) + "".join(str(n).rjust(width) for n in row))
    return "\n".join(lines)


def timing(texts: list[str]) -> list[float]:
    """CPU milliseconds of analyze() on interviews of 40 messages: 20
    questions, 20 answers of two held-out sentences each."""
    per_interview = MESSAGES_PER_INTERVIEW // 2 * SENTENCES_PER_ANSWER
    spent: list[float] = []
    for start in range(0, len(texts) - per_interview + 1, per_interview // 2):
        chunk = texts[start : start + per_interview]
        utterances = []
        for number in range(MESSAGES_PER_INTERVIEW // 2):
            question = QUESTIONS[number % len(QUESTIONS)]
            utterances.append(Utterance(f"q{number}", "interviewer", question))
            answer = " ".join(
                chunk[number * SENTENCES_PER_ANSWER : (number + 1) * SENTENCES_PER_ANSWER]
            )
            utterances.append(Utterance(f"a{number}", "respondent", answer))
        transcript = TranscriptInput("eval", "eval", QUESTIONS, tuple(utterances), 1800)
        if not spent:
            analyze(transcript)  # loading the model is a start-up cost, not an analysis's
        began = time.process_time()
        analyze(transcript)
        spent.append((time.process_time() - began) * 1000)
    return spent


def cross_validate(folds: int = 5) -> None:
    """Accuracy and recall on the training sentences, each fold holding out
    whole domains: what to tune on (the held-out sets are for reporting)."""
    from sklearn.metrics import classification_report
    from sklearn.model_selection import GroupKFold

    rows = [
        json.loads(line)
        for path in classifier.TRAINING_DATA
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    texts = [r["text"] for r in rows]
    truth = [r["label"] for r in rows]
    predicted = [""] * len(rows)
    for train, test in GroupKFold(n_splits=folds).split(texts, truth, [r["domain"] for r in rows]):
        model = classifier.SentenceClassifier([texts[i] for i in train], [truth[i] for i in train])
        for i, verdict in zip(test, model.classify([texts[i] for i in test]), strict=True):
            predicted[i] = verdict.label
    print(f"cross-validation on {len(rows)} training sentences, {folds} folds by domain")
    print(f"accuracy: {accuracy_score(truth, predicted):.3f}")
    print(classification_report(truth, predicted, labels=list(classifier.LABELS), digits=3))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, help="score only this labelled JSONL (no targets but 0.85 accuracy)"
    )
    parser.add_argument(
        "--cv", action="store_true", help="cross-validate on the training data instead"
    )
    args = parser.parse_args()
    if args.cv:
        cross_validate()
        return 0
    sets = [(args.data.resolve(), args.data.stem, 0.85, 0.0)] if args.data else list(SETS)
    scores = [score(*entry) for entry in sets]
    print(side_by_side(scores))
    for s in scores:
        print()
        print(confusion(s))
    from threadpoolctl import threadpool_limits

    texts = [t for path, *_ in sets for t in classifier.load_examples(path)[0]]
    with threadpool_limits(1):  # as in the analysis processes
        spent = timing(texts)
    if spent:
        p95 = statistics.quantiles(spent, n=20)[-1] if len(spent) >= 2 else spent[0]
        print(
            f"\nanalysis CPU per {MESSAGES_PER_INTERVIEW}-message interview "
            f"({len(spent)} interviews, {MESSAGES_PER_INTERVIEW // 2 * SENTENCES_PER_ANSWER} "
            f"respondent sentences each): p50 {statistics.median(spent):.1f} ms, "
            f"p95 {p95:.1f} ms (budget {BUDGET_MS:.0f} ms)"
        )
    met = all(s.met for s in scores) and (not spent or p95 < BUDGET_MS)
    print("\ntargets met" if met else "\ntargets NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
