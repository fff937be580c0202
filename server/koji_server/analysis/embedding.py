"""Sentence and topic vectors from WordLlama's static embeddings.

The weights and the tokenizer ship inside the `wordllama` wheel; they are
loaded from the package folder directly (its `load()` looks for the tokenizer
under a folder name the wheel does not use and then tries the network, which
an analysis must never do).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import wordllama
from safetensors import safe_open
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from wordllama import WordLlama
from wordllama.inference import WordLlamaInference


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


DIMENSIONS = 256
_PACKAGE = Path(wordllama.__file__).parent
_WEIGHTS = _PACKAGE / "weights" / f"l2_supercat_{DIMENSIONS}.safetensors"
_TOKENIZER = _PACKAGE / "tokenizers" / "l2_supercat_tokenizer_config.json"
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'+-]*")
# Words that say how the respondent feels or how much, not what about: a topic
# vector without them groups "the importer is slow" with "I love the importer".
_NOT_TOPIC = _words(
    """
    love loved like liked hate hated great good bad terrible awful amazing awesome nice
    really very quite pretty super so too just also still even always never ever again easy
    easier hard harder difficult simple slow slower fast faster quick quickly frustrating
    frustrated annoying annoyed confusing confused happy unhappy glad sad wish want wanted
    need needed would could should might must can cannot can't couldn't don't didn't doesn't
    won't isn't wasn't aren't weren't i'd i'm i've we're we've it's thing things stuff lot
    lots bit way time times day days week weeks month months hour hours minute minutes use
    used using work works worked working get got getting make made makes take took takes
    taking try tried trying keep kept keeps go went going thank thanks honestly basically
    actually literally definitely probably maybe okay ok part whole every everything
    something anything nothing one ones
    """
)


# Topics that customer interviews keep coming back to, each with the words
# that name it. Static word vectors place some of these far apart ("upload"
# and "spreadsheet", "ticket" and "support") and some unrelated words close
# ("ticket" and "seat"); a sentence that uses any of a topic's words also
# gets the topic's own words, so paraphrases land together.
TOPIC_WORDS: dict[str, frozenset[str]] = {
    topic: frozenset(words.split())
    for topic, words in {
        "data import": "import imports imported importing importer upload uploads uploaded "
        "uploading csv csvs spreadsheet spreadsheets excel xlsx rows row columns column",
        "data export": "export exports exported exporting pdf download downloads downloaded",
        "pricing": "price prices pricing cost costs costly expensive cheap cheaper seat seats "
        "plan plans tier tiers license licenses licence subscription fee fees budget "
        "invoice invoices billing billed bill",
        "customer support": "support ticket tickets agent agents helpdesk reply replied "
        "replies respond responded response answered chat",
        "mobile app": "mobile phone phones android iphone ios tablet ipad smartphone",
        "login": "login log logged password passwords sso signin sign-in 2fa mfa "
        "authentication account locked",
        "performance": "slow slowly lag lags laggy loading load loads freeze freezes "
        "crash crashes crashed speed timeout timeouts",
        "integrations": "integration integrations api sync syncing synced webhook webhooks "
        "zapier slack salesforce hubspot outlook calendar",
        "reports": "report reports reporting dashboard dashboards chart charts graph graphs "
        "analytics metrics",
        "onboarding": "onboarding setup set-up tutorial tutorials walkthrough training "
        "getting-started",
        "notifications": "notification notifications alert alerts reminder reminders email emails",
        "search": "search searching filter filters find",
        "collaboration": "share sharing shared comment comments permission permissions "
        "collaborate teammate teammates",
        "checkout": "checkout cart payment payments card refund refunds shipping delivery",
        "hardware": "battery charger charging device firmware bluetooth sensor cable",
    }.items()
}


# The words of each topic that make a good label ("rows" and "bill" belong
# to their topics but name them badly).
LABEL_WORDS: dict[str, frozenset[str]] = {
    topic: frozenset(words.split())
    for topic, words in {
        "data import": "import importer imports upload uploads csv spreadsheet spreadsheets excel",
        "data export": "export exports pdf download downloads",
        "pricing": "price pricing seat seats plan plans tier tiers subscription license",
        "customer support": "support ticket tickets helpdesk",
        "mobile app": "mobile phone app android iphone ios tablet",
        "login": "login password sso authentication account",
        "performance": "performance speed loading crashes timeouts",
        "integrations": "integration integrations api sync webhooks",
        "reports": "report reports reporting dashboard dashboards charts analytics",
        "onboarding": "onboarding setup tutorial training",
        "notifications": "notification notifications alerts reminders emails",
        "search": "search filters",
        "collaboration": "sharing comments permissions collaboration",
        "checkout": "checkout cart payment payments refunds shipping",
        "hardware": "battery charger charging device firmware bluetooth",
    }.items()
}


# What a reader calls each topic, for a theme whose own phrases offer no
# more than a bare noun ("Setup", "Plan").
TOPIC_LABELS: dict[str, str] = {
    "data import": "Data import",
    "data export": "Data export",
    "pricing": "Plan pricing",
    "customer support": "Customer support",
    "mobile app": "Mobile app",
    "login": "Login and accounts",
    "performance": "Speed and performance",
    "integrations": "Tool integrations",
    "reports": "Reports and dashboards",
    "onboarding": "Onboarding and setup",
    "notifications": "Email notifications",
    "search": "Search and filters",
    "collaboration": "Sharing and permissions",
    "checkout": "Checkout and payment",
    "hardware": "Device hardware",
}


def topic_label(texts: list[str]) -> str | None:
    """The name of the topic that most of the texts name, if any does."""
    counts: dict[str, int] = {}
    for text in texts:
        for topic in _topics_of(topic_words(text)):
            counts[topic] = counts.get(topic, 0) + 1
    if not counts:
        return None
    topic = max(counts, key=lambda t: (counts[t], t))
    return TOPIC_LABELS[topic] if counts[topic] * 2 >= len(texts) else None


def label_words(texts: list[str]) -> frozenset[str]:
    """The label words of the topics that at least half of the texts name."""
    counts: dict[str, int] = {}
    for text in texts:
        for topic in _topics_of(topic_words(text)):
            counts[topic] = counts.get(topic, 0) + 1
    wanted = [t for t, n in counts.items() if n * 2 >= len(texts)]
    return frozenset().union(*(LABEL_WORDS[t] for t in wanted)) if wanted else frozenset()


def _topics_of(words: list[str]) -> list[str]:
    lowered = {w.lower() for w in words}
    return [topic for topic, members in TOPIC_WORDS.items() if lowered & members]


@cache
def model() -> WordLlamaInference:
    tokenizer = WordLlama.load_tokenizer(_TOKENIZER)
    with safe_open(str(_WEIGHTS), framework="np", device="cpu") as weights:
        embedding = weights.get_tensor("embedding.weight")
    return WordLlamaInference(embedding, tokenizer)


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def sentence_vectors(texts: list[str]) -> np.ndarray:
    """Unit vectors of whole sentences (what they say and how)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return _normalised(model().embed(texts))


def topic_words(text: str) -> list[str]:
    return [
        w
        for w in _WORD.findall(text)
        if (lowered := w.lower()) not in ENGLISH_STOP_WORDS
        and lowered not in _NOT_TOPIC
        and len(lowered) > 1
    ]


def topic_vectors(texts: list[str]) -> np.ndarray:
    """Unit vectors of what sentences are about: their content words only, so
    that sentiment and filler do not pull unrelated topics together. A
    sentence with no content word gets a zero vector (similar to nothing)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    contents = []
    for text in texts:
        words = topic_words(text)
        # Twice: a named topic outweighs the rest of the sentence.
        named = [t for t in _topics_of(words) for _ in range(2)]
        contents.append(" ".join([*words, *named]))
    present = [i for i, c in enumerate(contents) if c]
    vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    if present:
        vectors[present] = _normalised(model().embed([contents[i] for i in present]))
    return vectors
