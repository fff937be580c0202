"""The free-text answer parser against its held-out set (what `make eval`
gates), and the misses it must never turn into values."""

from __future__ import annotations

import json

import pytest

from koji_server.domain.answer_parsing import parse
from tools.eval_answers import HELD_OUT, TARGET_ACCURACY, as_expected, questions

QUESTIONS = questions()
ROWS = [json.loads(line) for line in HELD_OUT.read_text().splitlines() if line.strip()]


def test_the_held_out_set_meets_the_targets() -> None:
    assert len(ROWS) >= 150
    got = [as_expected(parse(QUESTIONS[row["q"]], row["text"])) for row in ROWS]
    right = sum(g == row["expect"] for g, row in zip(got, ROWS, strict=True))
    wrong = [
        (row["text"], g)
        for g, row in zip(got, ROWS, strict=True)
        if g is not None and g != row["expect"]
    ]
    assert right / len(ROWS) >= TARGET_ACCURACY
    assert wrong == []


@pytest.mark.parametrize(
    ("question", "text"),
    [
        ("nps", "6 or 7"),
        ("nps", "8 out of 5"),
        ("nps", "we have 40 seats"),
        ("sat", "9"),
        ("channel", "Slack and email"),
        ("features", "none of them"),
        ("priorities", "price and speed tie"),
        ("contacted", "yes and no"),
        ("mobile", "maybe"),
    ],
)
def test_ambiguous_words_are_a_miss(question: str, text: str) -> None:
    assert parse(QUESTIONS[question], text) is None


def test_an_open_question_is_never_parsed() -> None:
    from koji_server.domain.model import StudyQuestion

    assert parse(StudyQuestion("q", "What would you change?"), "7") is None
