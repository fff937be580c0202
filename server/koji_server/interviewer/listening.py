"""Reading an answer for the conversation engine (domain.conversation).

What the respondent said, as the engine weighs it: the clause a probe quotes
back in the interviewer's voice ("I find the export to Excel really slow" ->
"you find the export to Excel slow"), the noun phrases the analysis extracts
(analysis.phrases), the insight type from cue words (pain point, request,
praise: the analysis's classifier takes seconds to train and milliseconds per
sentence, too much for every message), how deep the answer goes (an example,
a consequence, a number or time), whether the respondent is leaving, and one
topic vector per sentence (analysis.embedding, the analysis's own) for the
engine to compare with later questions.

Reading costs tens of microseconds per sentence; the service does it before
its write unit, so none of it runs on the database's writer.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise
from types import ModuleType

import numpy as np

from koji_server.domain import probes
from koji_server.domain.conversation import Reading

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# A respondent with nothing (more) to say: moved on from, never probed.
_DECLINES = (
    r"no|nope|nah|not really|nothing|nothing else|nothing (?:more |else )?to add|"
    r"no(?:thing)? more|that's (?:it|all)|that covers it|n/?a|idk|i don't know|dunno|"
    r"no idea|not sure|pass|skip|no comment|same as (?:before|above)|as i said|like i said|"
    r"really|sorry|thanks|for now|i think|honestly|to add|i guess"
)
_DECLINE = re.compile(rf"^\W*(?:{_DECLINES})(?:[\s,.!]+(?:{_DECLINES}))*\W*$", re.IGNORECASE)
_HEDGES = frozenset("just probably usually maybe mainly mostly basically honestly".split())
# Replies too vague to name back ("You mentioned fine" reads badly).
_VAGUE_REPLIES = frozenset(
    "fine meh sure yes yeah yep maybe alright whatever decent average so-so normal usual "
    "same mostly sometimes often rarely never always".split()
)
# Clause boundaries inside a sentence, for skip detection.
_CLAUSES = re.compile(
    r",\s+|;\s+|\s+(?:and|so|but|because|which|then|though|while)\s+", re.IGNORECASE
)
# A clause with fewer content words says too little to compare on its own.
MIN_CLAUSE_CONTENT = 2
# A sentence said to the interviewer ("you") reads oddly said back.
_ADDRESSES_US = re.compile(r"\b(?:you|your|yours|you're|you've)\b", re.IGNORECASE)

# Leaving: said as the point of the message, not as part of an answer ("I
# need to run reports on Mondays" is not leaving): each form must end the
# message, a sentence or a clause ("sorry, I need to run", "gotta go, bye").
_LEAVING_FORMS = (
    r"(?:i|we)\s+(?:really\s+)?(?:need|have|got|gotta|must|should)\s+(?:to\s+)?"
    r"(?:go|run|leave|head\s+(?:off|out)|jump(?:\s+off|\s+on\s+(?:a|another)\s+call)?|"
    r"drop(?:\s+off)?|stop|wrap\s+(?:this\s+|it\s+)?up|hop\s+off|get\s+going|dash|bounce|"
    r"take\s+(?:this|another|a)\s+call|leave\s+it(?:\s+there)?|sign\s+off|log\s+off|"
    r"get\s+off|get\s+back\s+to\s+(?:work|my\s+desk|the\s+\w+))",
    r"(?:gotta|got\s+to)\s+(?:go|run|jump|dash|head\s+out|leave|bounce|fly)",
    r"(?:i'm|i\s+am|we're|we\s+are)\s+(?:going\s+to|gonna)\s+have\s+to\s+"
    r"(?:go|stop|leave|run|drop(?:\s+off)?|cut\s+(?:this|it)\s+short)",
    r"(?:i'm|i\s+am)\s+(?:out\s+of\s+time|off|late\s+for\s+(?:a|my|another|the)\s+\w+)",
    r"(?:i'm|i\s+am|we're|we\s+are)\s+done(?:\s+here)?",
    r"(?:that's|that\s+is)\s+(?:all|it|everything)\s+(?:from\s+me|for\s+(?:me|now|today)|"
    r"(?:the\s+time\s+)?(?:i|we)\s+(?:have|can\s+(?:say|give|spare)|'ve\s+got|got))",
    r"(?:let's|can\s+we|could\s+we|we\s+(?:should|need\s+to))\s+"
    r"(?:stop|wrap\s+(?:it\s+|this\s+)?up|end\s+(?:it|here|this|the\s+interview)|"
    r"finish(?:\s+up)?|call\s+it\s+a\s+day|leave\s+it(?:\s+there)?)",
    r"(?:i|we)\s+(?:don't|do\s+not)\s+have\s+(?:any\s+)?more\s+time|no\s+more\s+time",
    r"(?:my|the)\s+(?:next\s+)?(?:meeting|call)\s+is\s+(?:starting|about\s+to\s+start)",
    r"call\s+it\s+a\s+day|bye|goodbye|bye\s+bye|see\s+(?:you|ya)|talk\s+(?:to\s+you\s+)?later",
)
_ENDING = re.compile(
    r"(?:^|[.!?,;:]\s*|\b(?:sorry|ok|okay|so|but|anyway|actually|well|oh|ah|shoot|oops|"
    r"thanks|and|hmm|um)\b[\s,\u2014-]*)(?:i\s+think\s+|i'm\s+afraid\s+|unfortunately\s+)?"
    r"(?:really\s+)?(?:" + "|".join(_LEAVING_FORMS) + r")"
    r"(?:\s+(?:here|there|now|for\s+(?:now|today)|soon|right\s+now))?"
    r"(?:,?\s+(?:i'm\s+afraid|unfortunately|i'm\s+sorry))?"
    r"(?=\s*(?:$|[.!?;,]|\s-\s|\u2014|now\b|sorry\b|thanks?\b|thank\s+you\b|bye\b))",
    re.IGNORECASE,
)

# Insight-type cues (the analysis's types, read from cue words and word
# pairs: one pass over the words, where a regex of alternatives costs a
# search at every character).
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_REQUEST_PAIRS = frozenset(
    pair.strip()
    for pair in """
    i wish|we wish|i hope|we hope|i'd like|i'd love|we'd like|we'd love|would like|would love|
    i'd prefer|would prefer|be nice|be great|be good|be helpful|be amazing|be awesome|
    be better|if only|please add|you add|should have|should support|should let|should allow|
    should show|be able|there's no|is no|no way|is missing|are missing|i want|we want|
    i need|we need|wish there|wish it
    """.split("|")
)
_PAIN_WORDS = frozenset(
    """
    slow slowly broken breaks broke bug bugs buggy fails failed failing fail painful pain
    hate hated terrible awful horrible clunky tedious cumbersome hard difficult stuck lost
    losing wait waiting forever manual manually workaround expensive overpriced can't cannot
    couldn't won't worse mess messy nightmare unreliable annoying annoyed frustrating
    frustrated confusing confused problem problems issue issues crash crashes crashed
    crashing lag lags laggy freeze freezes froze error errors timeout timeouts wasted waste
    struggle struggled struggling
    """.split()
)
_PAIN_PAIRS = frozenset(
    "by hand|times out|doesn't work|never works|too slow|too long|too many|too much|"
    "too expensive|too hard|takes forever|gave up|had to".split("|")
)
_PRAISE_WORDS = frozenset(
    """
    love loved great excellent amazing awesome fantastic brilliant perfect easy smooth
    intuitive helpful reliable fast quick saves saved enjoy enjoyed happy best favourite
    favorite nice
    """.split()
)
_PRAISE_PAIRS = frozenset(
    "like it|like that|like how|works well|works great|just works|really like".split("|")
)


# Depth cues.
_EXAMPLE = re.compile(
    r"\b(?:for\s+example|for\s+instance|e\.g\.|like\s+when|last\s+(?:week|month|time|year|"
    r"monday|tuesday|wednesday|thursday|friday|quarter)|yesterday|the\s+other\s+day|once|"
    r"recently|this\s+morning|when\s+(?:i|we|our|my)|every\s+time|one\s+time|"
    r"a\s+(?:client|customer|colleague|coworker)\s+(?:asked|wanted|needed|sent))\b",
    re.IGNORECASE,
)
# A told episode: verbs in the past ("she showed me", "it kept rejecting").
_PAST = re.compile(
    r"\b(?:[a-z]{3,}ed|was|were|had|did|went|got|took|made|told|showed|kept|spent|saw|"
    r"came|gave|found|felt|left|lost|sent|paid|broke|thought|said|tried|built|ran|wrote)\b",
    re.IGNORECASE,
)
_CONSEQUENCE = re.compile(
    r"\b(?:so\s+(?:i|we|that|it|they|now)|which\s+means|that\s+means|means\s+(?:i|we)|"
    r"because|as\s+a\s+result|ended?\s+up|had\s+to|have\s+to|has\s+to|lost|cost\w*|"
    r"missed|delay\w*|late|blocked|couldn't|can't|saves?|saved|instead|otherwise|"
    r"meaning|resulted|leads?\s+to|led\s+to|lose|losing|spent|spend|wasting|chasing|"
    r"gave\s+up|stopped|switched)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|"
    r"twenty|thirty|forty|fifty|hundred|thousand|dozen|half|couple|few|several|daily|"
    r"weekly|monthly|hourly|every\s+(?:day|week|month|morning|evening|monday|tuesday|"
    r"wednesday|thursday|friday|quarter|sprint|year)|minutes?|hours?|days?|weeks?|"
    r"months?|years?|twice|once\s+a)\b",
    re.IGNORECASE,
)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def _best_sentence(sentences: list[str]) -> str:
    """The sentence a probe should name: the one with the most content words
    (an insight cue counts as one), the earliest on a tie; one that speaks to
    the interviewer ("you") only if there is nothing else."""
    best: tuple[int, int, int] | None = None
    chosen = ""
    topic_words = _analysis().embedding.topic_words
    for order, sentence in enumerate(sentences):
        content = len(topic_words(sentence))
        cue = 1 if _kind_of(_WORD.findall(sentence.lower())) != "none" else 0
        addressed = 1 if _ADDRESSES_US.search(sentence) else 0
        score = (-addressed, content + cue, -order)
        if best is None or score > best:
            best, chosen = score, sentence
    return chosen


def ending(text: str) -> bool:
    """Whether the respondent is leaving ("sorry, I need to run")."""
    return _ENDING.search(text.strip()) is not None


def kind(text: str) -> str:
    """pain_point, request, praise or none, from cue words."""
    return _kind_of(_WORD.findall(text.lower()))


def _kind_of(words: list[str]) -> str:
    pairs = {f"{a} {b}" for a, b in pairwise(words)}
    if pairs & _REQUEST_PAIRS:
        return "request"
    pain = len(_PAIN_WORDS.intersection(words)) + len(pairs & _PAIN_PAIRS)
    praise = len(_PRAISE_WORDS.intersection(words)) + len(pairs & _PRAISE_PAIRS)
    if pain and pain >= praise:
        return "pain_point"
    return "praise" if praise else "none"


def read(text: str, parsed: bool | None = None) -> Reading:
    """The engine's reading of an answer, without vectors (`Listener` adds them)."""
    sentences = _sentences(text)
    best = _best_sentence(sentences)
    said = probes.clause(best) if best else ""
    statement = len(said.split()) >= 3
    declined = _DECLINE.match(text) is not None
    if declined:
        said = ""
    elif statement:
        said = probes.lowered_start(probes.in_our_voice(said))
    elif said:
        # A bare answer ("Slack", "mostly the exports"): its longest noun
        # phrase, as written; without one ("fine", "meh") nothing to name.
        found = [p for s in sentences for p in _analysis().phrases.noun_phrases(s)]
        words = text.strip(" .,!?").split()
        while words and words[0].lower() in _VAGUE_REPLIES | _HEDGES:
            words.pop(0)
        content = _analysis().embedding.topic_words(" ".join(words))
        if content and not set(map(str.lower, content)) <= _VAGUE_REPLIES:
            said = " ".join(words)  # a bare answer, as written ("a friend", "Slack")
            if words[0].lower() in _analysis().embedding.ENGLISH_STOP_WORDS:
                said = said[0].lower() + said[1:]  # "Too expensive" -> "too expensive"
        elif found:
            said = _as_written(max(found, key=lambda p: len(p.words)).text, text)
        else:  # a name the lexicon does not know ("Slack"), or nothing to name
            named = [
                w
                for w in _analysis().embedding.topic_words(text)
                if w.lower() not in _VAGUE_REPLIES
            ]
            said = " ".join(named)
    return Reading(
        text=text,
        sentences=tuple(sentences),
        clause=said,
        clause_is_statement=statement,
        kind=kind(text),
        words=len(text.split()),
        has_example=_EXAMPLE.search(text) is not None or len(_PAST.findall(text)) >= 2,
        has_consequence=_CONSEQUENCE.search(text) is not None,
        has_number=_NUMBER.search(text) is not None,
        ending=ending(text),
        declined=declined,
        parsed=parsed,
    )


def _as_written(phrase: str, text: str) -> str:
    """The phrase as the respondent wrote it ("Slack", not "slack")."""
    match = re.search(re.escape(phrase), text, re.IGNORECASE)
    return match.group(0) if match else phrase


class _Analysis:
    """The analysis modules the reading uses (imported on first use: with
    wordllama and scikit-learn, about two seconds)."""

    def __init__(self) -> None:
        from koji_server.analysis import embedding, phrases

        embedding.model()
        self.embedding: ModuleType = embedding
        self.phrases: ModuleType = phrases


_loaded: list[_Analysis] = []
_loading = threading.Lock()


def _analysis() -> _Analysis:
    if not _loaded:
        with _loading:
            if not _loaded:
                _loaded.append(_Analysis())
    return _loaded[0]


class Listener:
    """Reads answers and guides with the analysis's topic vectors."""

    @property
    def ready(self) -> bool:
        """Whether the analysis modules are loaded (else the first reading
        loads them: run `warm` in a thread first)."""
        return bool(_loaded)

    def warm(self) -> None:
        """Import and load everything a reading uses (the part-of-speech
        lexicon loads on its first use): one reading of a sample answer."""
        self.read("Honestly, I'd love the CSV exports to run faster, we wait for hours.")

    def read(self, text: str, parsed: bool | None = None) -> Reading:
        reading = read(text, parsed)
        if not reading.sentences:
            return reading
        # Each sentence, and each clause of it with some content: a long
        # sentence often touches two topics ("pick-up took an hour, and at
        # drop-off they charged me").
        topic_words = _analysis().embedding.topic_words
        units = list(reading.sentences)
        for sentence in reading.sentences:
            clauses = _CLAUSES.split(sentence)
            if len(clauses) > 1:
                units += [c for c in clauses if len(topic_words(c)) >= MIN_CLAUSE_CONTENT]
        vectors = np.stack([_vector(unit) for unit in units])
        return replace(reading, sentences=tuple(units), vectors=vectors)

    def question_vectors(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([_vector(text) for text in texts])


def _vector(text: str) -> np.ndarray:
    """The analysis's topic vector of a text, its words lemmatised
    ("orders" and "order" alike)."""
    analysis = _analysis()
    return analysis.embedding.topic_vector(text, analysis.phrases.lemma)
