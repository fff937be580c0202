"""Reads a structured question's answer from the respondent's own words.

Deterministic rules, no model: numbers and number words for a scale ("probably
a seven", "7/10", "an eight out of ten", a scale label said in full), option
labels, their distinctive words and ordinals for choices ("mostly Slack",
"the second one", "Slack and email", "all of them", "everything except the
API"), orderings for a ranking ("price first, then speed, support last",
"A > B > C", "1. A 2. B 3. C"), yes and no in their everyday forms ("nope",
"not really", "absolutely", "I haven't").

The parser prefers a miss to a guess: whenever the words allow two readings
(two numbers, a range, a hedge like "maybe", two options for a single
choice, an incomplete ranking) it answers None, and the interviewer asks
again. `parse` returns a value only with a confidence of at least
CONFIDENT; eval/answers_heldout.jsonl measures it (`make eval`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from koji_server.domain.model import QuestionOption, QuestionType, StudyQuestion

CONFIDENT = 0.8


@dataclass(frozen=True, slots=True)
class Parsed:
    """A value read from words, with how sure the reading is (0 to 1)."""

    confidence: float
    scale_value: int | None = None
    option_ids: tuple[str, ...] = ()
    yes_no: bool | None = None


def parse(question: StudyQuestion, text: str) -> Parsed | None:
    """The answer `text` gives to `question`, or None when it cannot be read
    with confidence (an open question is never parsed)."""
    words = _normalise(text)
    if not words:
        return None
    match question.type:
        case QuestionType.SCALE:
            found = _scale(question, words)
        case QuestionType.SINGLE_CHOICE | QuestionType.MULTIPLE_CHOICE:
            found = _choice(question, words)
        case QuestionType.RANKING:
            found = _ranking(question, words)
        case QuestionType.YES_NO:
            found = _yes_no(words)
        case _:
            found = None
    if found is None or found.confidence < CONFIDENT:
        return None
    return found


def _normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"e-mail", "email", text)
    return re.sub(r"\s+", " ", text).strip()


# --- scale -----------------------------------------------------------------

NUMBER_WORDS = {
    "zero": 0, "nought": 0, "nil": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20,
}  # fmt: skip
_NUMBER = r"(?:-?\d+(?:[.,]\d+)?|" + "|".join(NUMBER_WORDS) + r")"
# "7/10", "7 out of 10", "eight out of ten": the value and the scale's top.
_OUT_OF = re.compile(rf"\b(?P<value>{_NUMBER})\s*(?:/|out of|outta|of)\s*(?P<top>{_NUMBER})\b")
_NUMBERS = re.compile(rf"(?<![\w.,-])(?P<number>{_NUMBER})(?:ish)?(?![\w]|[.,]\d)")
# Two values offered: a range or an alternative.
_RANGE = re.compile(rf"\b{_NUMBER}\s*(?:-|\u2013|to|or|and|/)\s*(?:a |an )?{_NUMBER}\b|\bbetween\b")
# A number counting something is not a score.
_QUANTITY = re.compile(
    r"\s*(?:%|percent|years?|months?|weeks?|days?|hours?|minutes?|times?|people|persons?|"
    r"users?|employees?|seats?|licen[cs]es?|members?|customers?|clients?|projects?|teams?|"
    r"dollars?|euros?|pounds?|k\b|am\b|pm\b|o'clock)"
)
_NEXT_WORD = re.compile(r"\s+([a-z]+)")
# Plural words that follow a score rather than count things.
_SCORE_UNITS = frozenset({"stars", "points", "pts", "is", "was", "as", "this", "yes", "plus"})


def _counted(after: str) -> bool:
    """A number followed by a plural noun counts things ("5 colleagues")."""
    word = _NEXT_WORD.match(after)
    return bool(word) and word[1].endswith("s") and len(word[1]) > 3 and word[1] not in _SCORE_UNITS


# Halves and decimals are not points of a scale.
_FRACTION = re.compile(r"\d[.,]\d|\band a half\b|\bhalf\b")
# "one" is a pronoun as often as a number: a number only when the whole
# answer, or after a word that announces a score.
_SCORE_CUE = re.compile(
    r"(?:give (?:it|them|you)|rate (?:it|them)|rating|score|say|go with|"
    r"a solid|a strong|solid|strong|probably|maybe|about|around|like|guess|"
    r"is|be|a|an)\s+$"
)


def _number(token: str) -> float:
    if token in NUMBER_WORDS:
        return float(NUMBER_WORDS[token])
    return float(token.replace(",", "."))


def _scale(question: StudyQuestion, words: str) -> Parsed | None:
    low, high = question.config.scale_min, question.config.scale_max
    assert low is not None and high is not None
    if _FRACTION.search(words):
        return None
    candidates: set[float] = set()
    for match in _OUT_OF.finditer(words):
        if _number(match["top"]) != high:
            return None  # on another scale: not ours to convert
        candidates.add(_number(match["value"]))
    stripped = _OUT_OF.sub(" ", words)
    if _RANGE.search(stripped):
        return None
    for match in _NUMBERS.finditer(stripped):
        token = match["number"]
        after = stripped[match.end() :]
        if _QUANTITY.match(after) or _counted(after):
            continue  # "3 years", "5 colleagues": a count, not a score
        if token == "one" and not (
            _SCORE_CUE.search(stripped[: match.start()])
            or (match.start() == 0 and re.match(r"\s*(?:[.!,]|$)", stripped[match.end() :]))
        ):
            continue
        candidates.add(_number(token))
    if not candidates:
        return _scale_label(question, words)
    if len(candidates) != 1:
        return None
    (value,) = candidates
    if value != int(value) or not low <= value <= high:
        return None
    return Parsed(0.9, scale_value=int(value))


def _scale_label(question: StudyQuestion, words: str) -> Parsed | None:
    """A scale's labelled point said in full ("extremely likely")."""
    said = [
        (point, label)
        for point, label in question.config.scale_labels.items()
        if re.search(rf"\b{re.escape(_normalise(label))}\b", words)
    ]
    # "not at all likely" also holds "likely": the longest label said wins
    # only if it holds every other one said.
    said.sort(key=lambda item: len(item[1]), reverse=True)
    if not said:
        return None
    longest = _normalise(said[0][1])
    if any(_normalise(label) not in longest for _, label in said[1:]):
        return None
    return Parsed(0.85, scale_value=said[0][0])


# --- choices -----------------------------------------------------------------

ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8,
    "ninth": 9, "9th": 9, "tenth": 10, "10th": 10,
}  # fmt: skip
_ALL = re.compile(
    r"\b(?:all of (?:them|those|these|the above)|all (?:the )?(?:options|of it)|"
    r"(?<!for )every(?:thing| one(?: of them)?)|"
    r"all (?:two|three|four|five|six|seven|eight|nine|ten)|"
    r"^all\.?$|the lot)\b"
)
_EXCEPT = re.compile(
    r"\b(?:except|apart from|other than|but not|besides)\b|(?<=everything) but\b|(?<=all) but\b"
)
_NONE = re.compile(r"\b(?:none|neither|nothing)\b")
_HEDGE = re.compile(
    r"\b(?:not sure|don't know|do not know|no idea|depends|can't remember|hard to say|unsure)\b"
)
# Said just before an option: it is not chosen.
_NEGATION = re.compile(r"\b(?:not|no|never|don't use|don't|without|but not|except)\s+(?:the\s+)?$")
# Said just before an option: the main one among those named.
_PRIMARY = re.compile(
    r"\b(?:mostly|mainly|primarily|usually|always|mostly just|just)\s+(?:the\s+)?$"
)
_SECONDARY = re.compile(r"\b(?:sometimes|occasionally|rarely|once in a while)\s+(?:the\s+)?$")
_STOPWORDS = frozenset(
    "a an the and or of to for in on at with by from my our your their it its is are be "
    "use using used access".split()
)


@dataclass(frozen=True, slots=True)
class _Mention:
    option: QuestionOption
    start: int
    end: int


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _tokens(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in re.finditer(r"[a-z0-9+#]+", text)]


def _mentions(options: Sequence[QuestionOption], words: str) -> list[_Mention]:
    """Where each option is named: its whole label, or a word of it that no
    other option's label has (e.g. "Teams" for "Microsoft Teams")."""
    found: list[_Mention] = []
    taken: list[tuple[int, int]] = []
    for option in sorted(options, key=lambda o: len(o.label), reverse=True):
        label = _normalise(option.label)
        pattern = r"\b" + r"\s*".join(re.escape(part) for part in label.split()) + r"(?:e?s)?\b"
        for match in re.finditer(pattern, words):
            if not any(s < match.end() and match.start() < e for s, e in taken):
                found.append(_Mention(option, match.start(), match.end()))
                taken.append((match.start(), match.end()))
    stems_by_option = {
        o.option_id: {_stem(t) for t, _, _ in _tokens(_normalise(o.label))} - _STOPWORDS
        for o in options
    }
    shared = {
        stem
        for oid, stems in stems_by_option.items()
        for stem in stems
        if any(stem in other for other_id, other in stems_by_option.items() if other_id != oid)
    }
    for token, start, end in _tokens(words):
        if any(s <= start < e for s, e in taken):
            continue
        stem = _stem(token)
        for option in options:
            if stem in stems_by_option[option.option_id] - shared and len(stem) >= 3:
                found.append(_Mention(option, start, end))
                taken.append((start, end))
                break
    found.sort(key=lambda m: m.start)
    return found


def _ordinal_choices(options: Sequence[QuestionOption], words: str) -> list[QuestionOption] | None:
    """Options named by place: "the second one", "option 3", "the last one",
    "the first two". None if the words name no place."""
    count = len(options)
    first_n = re.search(r"\b(?:the )?first (two|three|four|five|2|3|4|5)\b", words)
    if first_n:
        n = NUMBER_WORDS.get(first_n[1]) or int(first_n[1])
        return list(options[:n]) if n <= count else []
    places: list[int] = []
    for match in re.finditer(r"\b(?:option|number|no\.?|#)\s*(\d+|[a-j])\b", words):
        token = match[1]
        places.append(int(token) if token.isdigit() else ord(token) - ord("a") + 1)
    for match in re.finditer(
        r"\b(?:the )?(" + "|".join(ORDINALS) + r")(?: one| option| choice)?\b", words
    ):
        places.append(ORDINALS[match[1]])
    if re.search(r"\b(?:the )?last (?:one|option|choice)\b|^(?:the )?last\.?$", words):
        places.append(count)
    if re.search(r"\bthe middle (?:one|option)\b", words) and count % 2 == 1:
        places.append(count // 2 + 1)
    if not places:
        return None
    if any(not 1 <= place <= count for place in places):
        return []
    return [options[place - 1] for place in dict.fromkeys(places)]


def _choice(question: StudyQuestion, words: str) -> Parsed | None:
    options = question.config.options
    single = question.type is QuestionType.SINGLE_CHOICE
    if _HEDGE.search(words):
        return None
    mentions = _mentions(options, words)
    if _ALL.search(words):
        chosen = list(options)
        if _EXCEPT.search(words):
            after = _EXCEPT.search(words)
            assert after is not None
            excluded = {m.option.option_id for m in mentions if m.start > after.start()}
            if not excluded:
                return None
            chosen = [o for o in options if o.option_id not in excluded]
        elif mentions and not re.search(r"\b(?:both|all)\b", words[: mentions[0].start]):
            return None  # "all of them plus X": more than the options
        if single and len(chosen) != 1:
            return None
        if re.search(r"\bplus\b|\bas well as\b", words) and not mentions:
            return None
        return _chosen(question, chosen, 0.9)
    if _NONE.search(words) and not mentions:
        return None
    if not mentions:
        by_place = _ordinal_choices(options, words)
        if not by_place:
            return None
        if single and len(by_place) != 1:
            return None
        return _chosen(question, by_place, 0.85)
    kept = [m for m in mentions if not _NEGATION.search(words[: m.start])]
    if not kept:
        return None
    if re.search(r"\bboth\b", words) and len({m.option.option_id for m in kept}) == 1:
        return None
    ids = list(dict.fromkeys(m.option.option_id for m in kept))
    if single and len(ids) > 1:
        primary = [m for m in kept if _PRIMARY.search(words[: m.start])]
        secondary = {m.option.option_id for m in kept if _SECONDARY.search(words[: m.start])}
        rest = [i for i in ids if i not in secondary]
        if len({m.option.option_id for m in primary}) == 1:
            ids = [primary[0].option.option_id]
        elif len(rest) == 1:
            ids = rest
        else:
            return None
    if _unknown_alternative(words):
        return None
    chosen = [o for o in options if o.option_id in ids]
    return _chosen(question, chosen, 0.9)


def _unknown_alternative(words: str) -> bool:
    """Words that add something outside the options ("plus WhatsApp")."""
    return bool(re.search(r"\b(?:plus|as well as|also use|and also)\b", words))


def _chosen(question: StudyQuestion, chosen: Sequence[QuestionOption], confidence: float) -> Parsed:
    order = [o.option_id for o in question.config.options]
    ids = sorted({o.option_id for o in chosen}, key=order.index)
    return Parsed(confidence, option_ids=tuple(ids))


# --- ranking -----------------------------------------------------------------

_FIRST_CUE = re.compile(
    r"^\W*(?:first(?: and foremost)?|most|matters most|number one|no\.? ?1|#1|top|"
    r"above (?:everything|all)(?: else)?|comes first|is first|is most important|"
    r"is the most important|on top)\b"
)
_LAST_CUE = re.compile(
    r"^\W*(?:last|least|matters least|at the bottom|comes last|is last|"
    r"is (?:the )?least important|bottom)\b"
)
_BEFORE_LAST = re.compile(
    r"\b(?:least important is|last is|bottom is|and lastly|lastly|finally)\s*$"
)
_BEFORE_FIRST = re.compile(
    r"\b(?:most important is|first is|top is|first|firstly|number one is)\s*$"
)
_PLACE_AFTER = re.compile(r"^\W*(?:is |comes |in )?(?:the )?(" + "|".join(ORDINALS) + r")\b")
_NUMBERED = re.compile(r"(?:^|\s)(\d+)\s*[.)]\s*$")
_TIE = re.compile(r"\b(?:tie|tied|equal(?:ly)?|same|both first|joint)\b")


def _ranking(question: StudyQuestion, words: str) -> Parsed | None:
    options = question.config.options
    if _TIE.search(words) or _HEDGE.search(words):
        return None
    mentions = _mentions(options, words)
    seen: dict[str, _Mention] = {}
    for mention in mentions:
        if mention.option.option_id in seen:
            return None  # named twice: which place is meant?
        seen[mention.option.option_id] = mention
    count = len(options)
    if len(seen) < count - 1 or len(seen) < 2:
        return None
    places: dict[str, int] = {}
    for option_id, mention in seen.items():
        before, after = words[: mention.start], words[mention.end :]
        place = None
        numbered = _NUMBERED.search(before)
        ordinal = _PLACE_AFTER.match(after)
        if numbered:
            place = int(numbered[1])
        elif ordinal:
            place = ORDINALS[ordinal[1]]
        elif _FIRST_CUE.match(after) or _BEFORE_FIRST.search(before):
            place = 1
        elif _LAST_CUE.match(after) or _BEFORE_LAST.search(before):
            place = count
        if place is not None:
            if not 1 <= place <= count or place in places.values():
                return None
            places[option_id] = place
    # Unplaced options fill the free places in the order they were said;
    # one option never named takes the place left over.
    free = [p for p in range(1, count + 1) if p not in places.values()]
    unplaced = [oid for oid in seen if oid not in places]
    missing = [o.option_id for o in options if o.option_id not in seen]
    if missing:
        if count - len(places) - len(unplaced) != 1:
            return None
        if free[-1] == count and count not in places.values():
            unplaced.append(missing[0])
        else:
            return None
    for option_id, place in zip(unplaced, free, strict=False):
        places[option_id] = place
    if len(places) != count:
        return None
    order = sorted(places, key=places.__getitem__)
    confidence = 0.9 if not missing else 0.85
    return Parsed(confidence, option_ids=tuple(order))


# --- yes / no ----------------------------------------------------------------

_UNSURE = re.compile(
    r"\b(?:maybe|perhaps|not sure|unsure|don't know|do not know|can't remember|"
    r"cannot remember|depends|sometimes|kind of|sort of|yes and no|no idea|might)\b"
)
_NO = re.compile(
    r"^(?:no|nope|nah|never|negative|not really|not at all|no way|not once|nein|not)\b|"
    r"\bhell no\b|\bno thanks\b|"
    r"\b(?:absolutely|definitely|certainly|of course|probably|surely) not\b|"
    r"\bi (?:haven't|have not|don't|do not|didn't|did not|wouldn't|would not|won't|will not|"
    r"am not|'m not|can't|cannot)\b|\bi don't think so\b|\bnot really\b|\bnot at all\b|"
    r"\bnot interested\b|\bnever\b"
)
_YES = re.compile(
    r"^(?:yes|yeah|yep|yup|ya|yea|sure|absolutely|definitely|certainly|of course|indeed|"
    r"correct|right|affirmative|totally|ok|okay|for sure|uh huh|probably yes|i think so)\b|"
    r"\bi (?:have|do|did|would|will|am|'d|certainly|definitely)(?! not)(?!n't)\b|"
    r"\byes\b|\byeah\b|\bsure did\b|\bof course\b|\bprobably yes\b"
)


_EMPHATIC_NO = re.compile(r"\b(?:absolutely|definitely|certainly|of course|probably|surely) not\b")


def _yes_no(words: str) -> Parsed | None:
    if _UNSURE.search(words) or words.endswith("?"):
        return None
    said_no = bool(_NO.search(words))
    # "absolutely not": the adverb is not a yes of its own.
    said_yes = bool(_YES.search(_EMPHATIC_NO.sub("", words).strip(" ,.!")))
    if said_no and said_yes:
        # "No, not once" or "nope, not interested": both cues say no.
        return None
    if said_no:
        return Parsed(0.9, yes_no=False)
    if said_yes:
        return Parsed(0.9, yes_no=True)
    return None
