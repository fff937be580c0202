"""The built-in wording of the interviewer's moves (no model needed).

A probe names what the respondent said: the clause interviewer.listening
took from the answer, in the interviewer's voice ("You said the export to
Excel is slow — how long does it take, and what do you do meanwhile?"). Each
template has a form for a clause ("the export to Excel is slow") and one for
a bare phrase ("Slack"). A language model, when configured, words the same
move instead (interviewer.llm); this wording is its fallback.
"""

from __future__ import annotations

import re

from koji_server.domain.conversation import Decision, Guide, Move, Question, Reading
from koji_server.domain.interviewer import ACKNOWLEDGEMENT, GOODBYE, MOVING_ON, NOT_READ

MAX_CLAUSE_WORDS = 12
_CLAUSE_BREAK = re.compile(
    r"[;:()]|\s+[-\u2013\u2014]\s+|,\s+(?=(?:but|and|so|because|which|although|though|"
    r"i|we|it|they|that|this|then|plus|especially)\b)"
    r"|\s+(?:but|so|because|although|though)\s+",
    re.IGNORECASE,
)
# A long clause is cut before one of these (the detail after them can go).
_CUT_BEFORE = frozenset(
    """
    because when since while although though which until unless whereas for in on with
    about after before during by than and but so every each from
    """.split()
)
# Up to this many words a clause is kept whole rather than cut mid-phrase.
MAX_UNCUT_WORDS = 16
_HEDGES = re.compile(
    r"\b(?:really|very|just|actually|basically|literally|kind of|sort of|pretty much|"
    r"quite|totally|honestly|super|so)\s+(?=\w)",
    re.IGNORECASE,
)
_FILLER = re.compile(
    r"^(?:(?:oh|um+|uh+|hmm+|yeah|yes|yep|no|nope|well|so|ok|okay|right|honestly|then|and|"
    r"but|also|plus|anyway|"
    r"basically|actually|frankly|i mean|i guess|i think|i'd say|i would say|to be honest|"
    r"good question|great question|let me think|hm)\b[\s,.!:-]*)+",
    re.IGNORECASE,
)
# The respondent's voice to the interviewer's: "I", "my", "we" -> "you".
_VOICE = {
    "i": "you",
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "we": "you",
    "us": "you",
    "our": "your",
    "ours": "yours",
    "ourselves": "yourselves",
    "i'm": "you're",
    "i've": "you've",
    "i'd": "you'd",
    "i'll": "you'll",
    "we're": "you're",
    "we've": "you've",
    "we'd": "you'd",
    "we'll": "you'll",
    # The respondent speaking of the company: "I heard about you" -> "us".
    "you": "us",
    "your": "our",
    "yours": "ours",
}
_I_WAS = re.compile(r"\bI\s+(am|was)\b", re.IGNORECASE)
_VOICE_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")


def in_our_voice(text: str) -> str:
    """The respondent's words as the interviewer says them back."""

    def flip(match: re.Match[str]) -> str:
        word = match.group(0)
        before = match.string[: match.start()].rstrip()
        if word.lower() == "you" and (not before or before[-1] in ".!?,;:"):
            return "we"  # "you" as the subject: "you should add" -> "we should add"
        return _VOICE.get(word.lower(), word)

    text = _I_WAS.sub(lambda m: "you are" if m.group(1).lower() == "am" else "you were", text)
    return _VOICE_WORD.sub(flip, text)


def clause(sentence: str) -> str:
    """The sentence's main clause, fillers and hedges dropped, cut to
    MAX_CLAUSE_WORDS before a subordinate clause where it can be."""
    text = _FILLER.sub("", sentence.strip())
    parts = [p.strip(" ,.;:!?") for p in _CLAUSE_BREAK.split(text)]
    parts = [p for p in parts if p]
    clause = next((p for p in parts if len(p.split()) >= 3), parts[0] if parts else "")
    clause = _HEDGES.sub("", clause)
    words = clause.split()
    if len(words) > MAX_CLAUSE_WORDS:
        cuts = [i for i in range(4, MAX_CLAUSE_WORDS + 1) if words[i].lower() in _CUT_BEFORE]
        if cuts:
            words = words[: cuts[-1]]
        elif len(words) > MAX_UNCUT_WORDS:
            words = words[:MAX_CLAUSE_WORDS]
        clause = " ".join(words).rstrip(" ,;:")
    return clause.rstrip(" ,.;:!?")


def lowered_start(text: str) -> str:
    """The first word lower-cased, unless it is "I" or an acronym."""
    if not text:
        return text
    first = text.split()[0]
    if (first.isupper() and len(first) > 1) or first in ("I", "I'm", "I've", "I'd"):
        return text
    return text[0].lower() + text[1:]


def voiced_clause(sentence: str) -> str:
    """A sentence's main clause as the interviewer says it back ("I find
    the export really slow" -> "you find the export slow")."""
    return lowered_start(in_our_voice(clause(sentence)))


# Template id -> (wording around a clause, wording around a bare phrase).
PROBE_WORDING: dict[str, tuple[str, str]] = {
    "impact": (
        "You said {x} — what does that cost you when it happens?",
        "You mentioned {x} — what does that cost you when it goes wrong?",
    ),
    "workaround": (
        "You said {x} — what do you do to get around it today?",
        "You mentioned {x} — what do you do to get around it today?",
    ),
    "frequency": (
        "You said {x} — how often does that happen, and what do you do meanwhile?",
        "You mentioned {x} — how often does that come up, and what do you do then?",
    ),
    "change": (
        "You said {x} — what would that change for you day to day?",
        "You mentioned {x} — what would that change for you day to day?",
    ),
    "without": (
        "You said {x} — how do you manage without that today?",
        "You mentioned {x} — how do you manage without it today?",
    ),
    "works": (
        "You said {x} — what makes it work so well for you?",
        "You mentioned {x} — what makes it work well for you?",
    ),
    "compare": (
        "You said {x} — how does that compare with what you did before?",
        "You mentioned {x} — how does it compare with what you used before?",
    ),
    "example": (
        "You said {x} — could you walk me through the last time that happened?",
        "You mentioned {x} — could you walk me through the last time you used it?",
    ),
    "why": (
        "You said {x} — why does that matter to you?",
        "You mentioned {x} — why that, rather than something else?",
    ),
    "detail": (
        "You said {x} — could you say more about how that plays out for you?",
        "You mentioned {x} — could you tell me more about how you use it?",
    ),
}
# Without any content to name ("fine", "meh"), a probe asks what is behind it.
UNGROUNDED_PROBE = "Could you tell me a bit more about what's behind that? An example would help."
EARLY_GOODBYE = "No problem at all — thank you for your time and everything you shared. Goodbye!"


def probe(template: str, reading: Reading) -> str:
    """A probe that names what was said."""
    if not reading.clause:
        return UNGROUNDED_PROBE
    around_clause, around_phrase = PROBE_WORDING[template]
    wording = around_clause if reading.clause_is_statement else around_phrase
    return wording.format(x=reading.clause)


def confirmation(question: Question, sentence: str) -> str:
    """A question an earlier answer (`sentence`) covered, asked as a check;
    the earlier words quoted (a clause of a long sentence may not stand as
    one on its own)."""
    return (
        f"Earlier you mentioned \u201c{voiced_clause(sentence)}\u201d — anything to add on "
        f"this? I was going to ask: {question.text}"
    )


def asked(question: Question) -> str:
    return question.asked or question.text


def wording(guide: Guide, decision: Decision, reading: Reading) -> str:
    """The built-in wording of a decided move."""
    move = decision.move
    if move is Move.ACKNOWLEDGE:
        return ACKNOWLEDGEMENT
    if move is Move.CONCLUDE:
        said = EARLY_GOODBYE if reading.ending else GOODBYE
        return f"{MOVING_ON} {said}" if decision.gave_up else said
    assert decision.question is not None
    question = guide.questions[decision.question]
    if move is Move.PROBE:
        assert decision.probe is not None
        return probe(decision.probe, reading)
    if move is Move.CONFIRM:
        return confirmation(question, decision.clause)
    if move is Move.REASK:
        return f"{NOT_READ} {asked(question)}"
    return f"{MOVING_ON} {asked(question)}" if decision.gave_up else asked(question)
