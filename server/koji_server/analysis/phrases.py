"""Noun phrases and short statements, from a part-of-speech lexicon.

`lemminflect` carries, in its wheel, the parts of speech every English word
can take; a run of words that can be adjectives or nouns and ends on a noun
is a noun phrase candidate ("CSV importer", "per-seat pricing", "mobile
layout"). Theme labels and insight summaries are built from those.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from lemminflect import getAllLemmas
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from koji_server.domain.model import InsightType


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MAX_LABEL_WORDS = 4
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*|[.,;:!?()]")
# Nouns too vague to name a topic on their own.
_VAGUE = _words(
    """
    thing things stuff lot lots bit way time times day days week weeks month months year
    years hour hours minute minutes second seconds part parts kind sort type people person
    guy guys one ones everything something anything nothing everyone someone anyone team
    colleague colleagues friend friends boss company business job work problem problems
    issue issues question questions idea ideas point reason fact case end start moment place
    side number lot experience product tool app feature features thing option options use
    user users today yesterday tomorrow morning afternoon evening night week weekend monday
    tuesday wednesday thursday friday saturday sunday half third quarter couple
    """
)
# After these a word that can be a verb is one ("we import", "to export").
_BEFORE_VERB = _words(
    """
    i we you they he she it to would will can could should did didn't don't doesn't not
    never let me us just always often also
    """
)
# After a verb, not after a noun: "cuts off", "logs me", "make the".
_AFTER_VERB = _words(
    """
    the a an me us them him her it my our your their his its off out up down away back
    faster slower again every all this that these those
    """
)
_NOT_IN_PHRASE = _words(
    """
    really very quite pretty super too just also still even always never ever again honestly
    basically actually literally definitely probably maybe love hate like great good bad
    terrible awful amazing awesome nice easy hard difficult simple slow fast quick whole
    every able sure own last next first new old other same different much many more most
    less least few several enough main only real big small little long short high low
    wrong right fine okay ok sorry glad happy unhappy unable clear
    """
)


@dataclass(frozen=True, slots=True)
class Phrase:
    words: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def head(self) -> str:
        return lemma(self.words[-1])


@cache
def _parts(word: str) -> frozenset[str]:
    return frozenset(getAllLemmas(word.lower()))


@cache
def lemma(word: str) -> str:
    lowered = word.lower()
    lemmas = getAllLemmas(lowered)
    for part in ("NOUN", "VERB", "ADJ"):
        if part in lemmas:
            return lemmas[part][0]
    return lowered


def _is_acronym(word: str) -> bool:
    return len(word) >= 2 and word.isupper()


def _can_be_noun(word: str) -> bool:
    parts = _parts(word)
    if _is_acronym(word) or "-" in word:
        return True
    if not parts:
        return word.isalpha() and len(word) > 2  # unknown word: a name or jargon
    return "NOUN" in parts or "PROPN" in parts or word.lower().endswith("ing")


def _can_modify(word: str) -> bool:
    return _can_be_noun(word) or "ADJ" in _parts(word)


def _usable(word: str) -> bool:
    lowered = word.lower()
    return (
        lowered not in ENGLISH_STOP_WORDS
        and lowered not in _NOT_IN_PHRASE
        and "'" not in lowered
        and not lowered.isdigit()
    )


def noun_phrases(text: str) -> list[Phrase]:
    """Candidate noun phrases of a sentence: maximal runs of modifiers ending
    in a noun, at most MAX_LABEL_WORDS words, vague heads left out."""
    found: list[Phrase] = []
    run: list[str] = []
    previous = ""

    def close(following: str = "") -> None:
        # "the export cuts off the column": a word that can be a verb, after
        # a noun and before an object or a particle, is the verb.
        if len(run) > 1 and following.lower() in _AFTER_VERB and "VERB" in _parts(run[-1]):
            run.pop()
        while run and not _can_be_noun(run[-1]):
            run.pop()
        if run and (len(run) > 1 or run[-1].lower() not in _VAGUE):
            words = tuple(_display(w) for w in run[-MAX_LABEL_WORDS:])
            found.append(Phrase(words))
        run.clear()

    for token in _TOKEN.findall(text):
        verb_here = "VERB" in _parts(token) and (
            previous.lower() in _BEFORE_VERB
            # A sentence that opens with a bare verb is an imperative ("Answer ...").
            or (previous in ("", ".", "!", "?") and _is_bare_verb(token))
        )
        previous = token
        wordlike = token.isalnum() or "-" in token or "'" in token
        if token.lower() in _AFTER_VERB:
            close(token)
            continue
        if wordlike and not verb_here and _usable(token) and _can_modify(token):
            run.append(token)
            continue
        close(token)
    close()
    return found


def _is_bare_verb(word: str) -> bool:
    lowered = word.lower()
    return lowered in getAllLemmas(lowered).get("VERB", ())


def _display(word: str) -> str:
    return word if _is_acronym(word) else word.lower()


def _spans(phrase: Phrase) -> list[tuple[str, ...]]:
    """The phrase and every shorter run inside it that ends on a noun
    ("mobile app cuts" -> "mobile app", "app cuts", "app", "cuts", ...)."""
    words = phrase.words
    return [
        words[start:end]
        for start in range(len(words))
        for end in range(start + 1, len(words) + 1)
        if _can_be_noun(words[end - 1])
        and (end - start > 1 or words[end - 1].lower() not in _VAGUE)
    ]


def best_label(
    texts: list[str],
    sources: list[str] | None = None,
    centrality: Callable[[list[str]], list[float]] | None = None,
    preferred: frozenset[str] = frozenset(),
) -> str | None:
    """The noun phrase that best names what the texts share. A phrase scores
    by the share of sources (interviews, or the texts themselves) that use it
    and, given `centrality` (each phrase's closeness to the group's topic, 0
    to 1), by how central it is, and by naming the topic with one of the
    `preferred` words; a phrase of two or three words reads better than one
    word when it recurs."""
    sources = sources or [str(i) for i in range(len(texts))]
    users: dict[tuple[str, ...], set[str]] = {}
    for text, source in zip(texts, sources, strict=True):
        for phrase in noun_phrases(text):
            for span in _spans(phrase):
                users.setdefault(
                    tuple(w.lower() if not _is_acronym(w) else w for w in span), set()
                ).add(source)
    if not users:
        return None
    total = len(set(sources))
    widest = max(len(u) for u in users.values())
    candidates = [p for p, u in users.items() if len(u) >= min(widest, 2)]
    closeness = centrality([" ".join(p) for p in candidates]) if centrality else None

    def score(index: int) -> tuple[float, int, str]:
        words = candidates[index]
        shared = len(users[words])
        value = shared / total
        if closeness is not None:
            value += closeness[index]
        if preferred and any(w.lower() in preferred for w in words):
            value += 0.3
        if len(words) > 1:
            value += 0.2 * (len(words) - 1) if shared >= 2 or total == 1 else -0.5
        return (value, -len(words), " ".join(words))

    chosen = candidates[max(range(len(candidates)), key=score)]
    if len(chosen) == 1:
        # A bare noun ("Import", "Seat") names a topic less well than the
        # phrase around it ("Spreadsheet import", "Per-seat pricing"): take
        # the most used, most central phrase that holds the word, even if
        # only one interview said it.
        chosen = _extended(chosen[0], users, centrality, preferred) or chosen
    label = " ".join(chosen)
    return label if _is_acronym(chosen[0]) else label[0].upper() + label[1:]


def _extended(
    word: str,
    users: dict[tuple[str, ...], set[str]],
    centrality: Callable[[list[str]], list[float]] | None,
    preferred: frozenset[str],
) -> tuple[str, ...] | None:
    head = lemma(word)

    def holds(words: tuple[str, ...]) -> bool:
        return any(lemma(part) == head for w in words for part in (w, *w.lower().split("-")))

    phrases = [p for p in users if 2 <= len(p) <= 3 and holds(p)]
    if not phrases:
        return None
    closeness = centrality([" ".join(p) for p in phrases]) if centrality else [0.0] * len(phrases)

    def score(index: int) -> tuple[float, str]:
        words = phrases[index]
        value = len(users[words]) + closeness[index]
        if words[-1].lower() in preferred:
            value += 0.3  # its head names the topic ("per-seat pricing")
        return (value, " ".join(words))

    return phrases[max(range(len(phrases)), key=score)]


_LEADING_FILLER = re.compile(
    r"^(?:(?:honestly|well|so|basically|actually|frankly|really|also|and|but|plus|"
    r"to be honest|to be fair|in general|for me|for us|overall|i mean|i think|i guess|"
    r"i feel like|i'd say|i would say|the thing is|the problem is|my problem is|"
    r"the main thing is|what i'd (?:really )?(?:like|love) is|what we need is|"
    r"what i need is|my only complaint is|one thing is)(?: that)?[\s,:-]+)+",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(
    r"[;:]|\s+-\s+|,\s+(?=(?:but|and|so|because|which|although|i|we|it|they|that|this)\b)"
    r"|\s+(?:and|but|so)\s+(?=(?:the|a|it|i|we|they|then)\b)",
    re.IGNORECASE,
)
_REQUEST_FRAME = re.compile(
    r"^(?:(?:i|we)\s+(?:really\s+)?(?:wish|hope)\s+"
    r"(?:there\s+(?:was|were|is)\s+|that\s+|it\s+|you\s+)?|"
    r"(?:i|we)(?:'d| would)\s+(?:really\s+)?(?:like|love|want)\s+"
    r"(?:to\s+(?:see|have)\s+|it\s+if\s+)?|"
    r"(?:i|we)\s+(?:really\s+)?(?:want|need)\s+(?:to\s+(?:see|have)\s+)?|"
    r"it\s+would\s+be\s+(?:nice|great|good|helpful|amazing|awesome)\s+(?:if|to\s+have)\s+|"
    r"(?:could|can|would)\s+you\s+(?:please\s+)?|please\s+|if\s+only\s+|"
    r"what\s+(?:i|we)(?:'d)?\s+(?:really\s+)?(?:need|want|like|love)\s+is\s+)",
    re.IGNORECASE,
)
_SUBJECT = re.compile(r"^(?:i|we|my team|our team|they)\s+", re.IGNORECASE)
_ARTICLE = re.compile(r"^(?:the|a|an|our|my)\s+", re.IGNORECASE)
_TRAILING = re.compile(r"[\s,;:.!?]+$")
MAX_STATEMENT_WORDS = 12
MIN_STATEMENT_WORDS = 5
# A long statement is cut before one of these (the detail that follows can go).
_CUT_BEFORE = _words(
    "for in on with about when because after before since while so which that without and "
    "until by during every each than"
)
_HEDGES = re.compile(
    r"\b(?:really|very|just|actually|basically|literally|kind of|sort of|pretty much|"
    r"quite|totally|honestly)\s+",
    re.IGNORECASE,
)
KIND_NAMES = {kind.value: kind.title for kind in InsightType}


def statement(sentence: str, kind: str) -> str:
    """A short statement of a sentence's point: fillers, the speaker, a
    request's framing ("I wish there was") and a leading article dropped, one
    clause kept, trailing detail cut; if nothing could be dropped, the kind
    leads ("Request: make it work on phones"); if it stays long, the kind and
    the sentence's main noun phrase ("Pain point: CSV importer")."""
    clause = _CLAUSE_BREAK.split(sentence)[0]
    if len(clause.split()) < 3:
        clause = sentence
    text = _LEADING_FILLER.sub("", clause.strip())
    # A request loses its framing ("I wish there was"), anything else its speaker.
    text = (_REQUEST_FRAME if kind == "request" else _SUBJECT).sub("", text)
    text = _ARTICLE.sub("", text)
    text = _TRAILING.sub("", text)
    text = _HEDGES.sub("", text)
    words = text.split()
    if len(words) > MAX_STATEMENT_WORDS:
        cuts = [
            i
            for i in range(MIN_STATEMENT_WORDS, MAX_STATEMENT_WORDS + 1)
            if words[i].lower() in _CUT_BEFORE
        ]
        if cuts:
            words = words[: cuts[-1]]
            text = _TRAILING.sub("", " ".join(words))
    prefix = KIND_NAMES.get(kind, "Insight")
    if 2 <= len(words) <= MAX_STATEMENT_WORDS:
        if _comparable(text) == _comparable(sentence):
            return (
                f"{prefix}: {text[0].lower()}{text[1:]}"
                if not _is_acronym(words[0])
                else (f"{prefix}: {text}")
            )
        return text[0].upper() + text[1:]
    phrases = noun_phrases(clause) or noun_phrases(sentence)
    if not phrases:
        return f"{prefix}: {' '.join(words[:8])}..."
    longest = max(phrases, key=lambda p: len(p.words))
    return f"{prefix}: {longest.text}"


def _comparable(text: str) -> str:
    return _TRAILING.sub("", text).strip().lower()
