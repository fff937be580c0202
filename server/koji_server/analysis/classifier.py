"""Sentence classifier: pain point, request, praise or nothing.

A logistic regression over three views of a sentence, trained when the
analysis process starts (about a second) from the labelled sentences in
`data/train.jsonl`:
- its WordLlama embedding (what it means: "the keyboard covered the text box"
  reads as a problem without any cue word);
- word and word-pair TF-IDF, function words kept ("would", "let me", "if")
  because they carry requests;
- its form: VADER sentiment, whether it opens with a bare verb (an
  imperative), a modal or a conditional, a question mark.

`make eval` measures it on `eval/insights_heldout.jsonl`, which nothing here
was tuned on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from lemminflect import getAllLemmas
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from koji_server.analysis.embedding import sentence_vectors

LABELS = ("none", "pain_point", "praise", "request")
TRAINING_DATA = Path(__file__).parent / "data" / "train.jsonl"
_FIRST_WORDS = re.compile(r"[A-Za-z']+")
_MODALS = frozenset(
    [
        "would",
        "could",
        "should",
        "might",
        "wish",
        "hope",
        "if",
        "i'd",
        "we'd",
        "it'd",
        "you'd",
        "need",
        "needs",
    ]
)
_NOT_IMPERATIVE = frozenset(
    [
        "i",
        "we",
        "you",
        "they",
        "he",
        "she",
        "it",
        "this",
        "that",
        "there",
        "the",
        "a",
        "an",
        "my",
        "our",
        "its",
        "me",
        "us",
        "them",
    ]
)


@dataclass(frozen=True, slots=True)
class Verdict:
    label: str  # one of LABELS
    confidence: float  # the model's probability for that label
    sentiment: float  # VADER compound, -1.0 to 1.0


@cache
def _vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def _form(sentence: str, compound: float, positive: float, negative: float) -> list[float]:
    words = [w.lower() for w in _FIRST_WORDS.findall(sentence)]
    first = words[0] if words else ""
    parts = getAllLemmas(first) if first else {}
    imperative = (
        first not in _NOT_IMPERATIVE
        and "VERB" in parts
        and parts["VERB"][0] == first  # the bare form: "show", "make", "let"
    )
    return [
        compound,
        positive,
        negative,
        1.0 if imperative else 0.0,
        1.0 if any(w in _MODALS for w in words) else 0.0,
        1.0 if sentence.rstrip().endswith("?") else 0.0,
        min(len(words), 40) / 40,
    ]


class SentenceClassifier:
    def __init__(self, texts: list[str], labels: list[str]) -> None:
        self._words = TfidfVectorizer(
            ngram_range=(1, 2), min_df=2, sublinear_tf=True, token_pattern=r"[a-z']+"
        )
        features = self._features(texts, fit=True)
        self._model = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced")
        self._model.fit(features, labels)
        self._classes = list(self._model.classes_)

    def _features(self, texts: list[str], fit: bool = False) -> sparse.csr_matrix:
        lowered = [t.lower() for t in texts]
        words = self._words.fit_transform(lowered) if fit else self._words.transform(lowered)
        vader = _vader()
        form = []
        for text in texts:
            scores = vader.polarity_scores(text)
            form.append(_form(text, scores["compound"], scores["pos"], scores["neg"]))
        return sparse.hstack(
            [words, sparse.csr_matrix(sentence_vectors(texts) * 2.0), sparse.csr_matrix(form)]
        ).tocsr()

    def classify(self, sentences: list[str]) -> list[Verdict]:
        if not sentences:
            return []
        probabilities = self._model.predict_proba(self._features(sentences))
        vader = _vader()
        verdicts = []
        for sentence, row in zip(sentences, probabilities, strict=True):
            best = int(np.argmax(row))
            verdicts.append(
                Verdict(
                    label=self._classes[best],
                    confidence=float(row[best]),
                    sentiment=float(vader.polarity_scores(sentence)["compound"]),
                )
            )
        return verdicts


def load_examples(path: Path) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                example = json.loads(line)
                texts.append(example["text"])
                labels.append(example["label"])
    return texts, labels


@cache
def trained() -> SentenceClassifier:
    return SentenceClassifier(*load_examples(TRAINING_DATA))
