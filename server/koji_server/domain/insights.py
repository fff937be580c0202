"""Themes and insights from the respondent's own words.

Themes: TF-IDF over the substantive respondent messages, factorised with NMF
(scikit-learn; `nndsvd` initialisation, so the same transcript always gives the
same themes). Each theme is labelled by its top terms and cites the messages
it dominates. Insights: sentences classified as pain points, requests or
praise by cue phrases, scored with VADER sentiment. No model downloads, no
network.
"""

from __future__ import annotations

import re
import warnings
from functools import cache

import numpy as np
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from koji_server.domain.model import Insight, Theme
from koji_server.domain.quality import Answer

MAX_THEMES = 5
MAX_INSIGHTS = 8
LABEL_TERMS = 3
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
CUES: dict[str, tuple[str, ...]] = {
    "pain_point": (
        "hard", "difficult", "confus", "frustrat", "slow", "annoy", "problem", "issue",
        "struggl", "bug", "broken", "painful", "couldn't", "could not", "can't", "cannot",
        "took forever", "took ages", "hours", "stuck", "lost", "error", "fail", "expensive",
    ),
    "request": (
        "wish", "would like", "i'd like", "should", "please add", "add ", "need", "want",
        "feature", "if only", "would love", "missing", "hope", "could you",
    ),
    "praise": (
        "love", "great", "easy", "awesome", "helpful", "fantastic", "excellent", "like how",
        "enjoy", "amazing", "nice", "smooth", "intuitive", "perfect", "fast",
    ),
}  # fmt: skip
SUMMARY_PREFIX = {"pain_point": "Pain point", "request": "Request", "praise": "Praise"}


@cache
def _sentiment() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def themes(answers: list[Answer]) -> tuple[Theme, ...]:
    documents = [a for a in answers if len(a.words) >= 3]
    if not documents:
        return ()
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    try:
        matrix = vectorizer.fit_transform([a.content for a in documents])
    except ValueError:  # nothing left after stop words
        return ()
    terms = vectorizer.get_feature_names_out()
    if len(documents) == 1:
        # One document, one theme: its own terms, all of the weight.
        weights, factors = np.ones((1, 1)), matrix.toarray()
    else:
        components = max(1, min(MAX_THEMES, len(documents) // 2, matrix.shape[1]))
        model = NMF(n_components=components, init="nndsvd", random_state=0, max_iter=400)
        with warnings.catch_warnings():
            # Tiny corpora converge loosely or hit rounding in the loss; the
            # factorisation is still usable and the run must stay quiet.
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            weights = model.fit_transform(matrix)
        factors = model.components_
    total = float(weights.sum()) or 1.0
    found: list[Theme] = []
    for index, component in enumerate(factors):
        top = [terms[i] for i in component.argsort()[::-1] if component[i] > 0]
        label_terms: list[str] = []
        for term in top:
            if not any(term in chosen or chosen in term for chosen in label_terms):
                label_terms.append(term)
            if len(label_terms) == LABEL_TERMS:
                break
        supporting = tuple(
            documents[row].message_id
            for row in range(len(documents))
            if weights[row, index] > 0 and weights[row].argmax() == index
        )
        if not label_terms or not supporting:
            continue
        found.append(
            Theme(
                label=", ".join(label_terms),
                message_ids=supporting,
                weight=round(float(weights[:, index].sum()) / total, 3),
            )
        )
    return tuple(sorted(found, key=lambda t: (-t.weight, t.label)))


def _classify(sentence: str, compound: float) -> str | None:
    lowered = sentence.lower()
    for kind in ("request", "pain_point", "praise"):
        if any(cue in lowered for cue in CUES[kind]):
            if kind == "praise" and compound < 0:
                continue
            return kind
    if compound <= -0.4:
        return "pain_point"
    if compound >= 0.5:
        return "praise"
    return None


def insights(answers: list[Answer]) -> tuple[Insight, ...]:
    analyzer = _sentiment()
    found: list[tuple[float, int, Insight]] = []
    for order, answer in enumerate(answers):
        if len(answer.words) < 4:
            continue
        for sentence in filter(None, (s.strip() for s in _SENTENCE.split(answer.content))):
            if len(sentence.split()) < 4:
                continue
            compound = float(analyzer.polarity_scores(sentence)["compound"])
            kind = _classify(sentence, compound)
            if kind is None:
                continue
            quote = sentence if len(sentence) <= 280 else sentence[:277] + "..."
            insight = Insight(
                type=kind,
                summary=f"{SUMMARY_PREFIX[kind]}: {quote}",
                message_id=answer.message_id,
                quote=quote,
                sentiment=round(compound, 3),
            )
            found.append((abs(compound) + 0.5, -order, insight))
    found.sort(key=lambda item: (item[0], item[1]), reverse=True)
    chosen = [insight for _, _, insight in found[:MAX_INSIGHTS]]
    return tuple(chosen)
