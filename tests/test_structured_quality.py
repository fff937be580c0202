"""The quality gate on studies with structured questions: answered structured
questions weigh by the study's mode; a study of open questions only is
scored as before."""

from __future__ import annotations

from koji_server.analysis.quality import score
from koji_server.domain import interviewer
from koji_server.domain.analysis_input import TranscriptInput, Utterance
from koji_server.domain.model import (
    QUALITY_GATE,
    QuestionConfig,
    QuestionOption,
    QuestionType,
    StudyQuestion,
)
from tests.transcripts import ENGAGED, transcript

OPTIONS = QuestionConfig(options=(QuestionOption("o1", "Slack"), QuestionOption("o2", "Email")))
QUESTIONS = [
    StudyQuestion("q1", "How likely are you to recommend us?", QuestionType.SCALE,
                  config=QuestionConfig(scale_min=0, scale_max=10)),
    StudyQuestion("q2", "Which channel do you use most?", QuestionType.SINGLE_CHOICE,
                  config=OPTIONS),
    StudyQuestion("q3", "Have you contacted support this month?", QuestionType.YES_NO),
    StudyQuestion("q4", "What would you change first?"),
]  # fmt: skip
FULL_SENTENCES = (
    "Our tickets wait over the weekend because nobody watches the shared inbox, and the "
    "customers who write on Saturday have usually given up by Monday morning."
)


def structured_transcript(said: list[str], answered: int, mode: str) -> TranscriptInput:
    """The interviewer replayed over `said`: structured answers first, then
    the open one; `answered` structured questions got a value."""
    opening = interviewer.opening("support", QUESTIONS, "")
    utterances = [Utterance("m0", "interviewer", opening.content)]
    position = opening.position
    for number, text in enumerate(said, start=1):
        question = interviewer.current_question(QUESTIONS, position)
        heard = interviewer.Heard.WORDS
        if question is not None and question.type.structured:
            heard = interviewer.Heard.ANSWERED if answered else interviewer.Heard.MISSED
        reply = interviewer.reply(QUESTIONS, position, text, heard)
        position = reply.position
        utterances += [
            Utterance(f"r{number}", "respondent", text),
            Utterance(f"i{number}", "interviewer", reply.content),
        ]
    return TranscriptInput(
        interview_id="i",
        title="support",
        questions=tuple(q.text for q in QUESTIONS),
        utterances=tuple(utterances),
        duration_seconds=240,
        question_types=tuple(q.type.value for q in QUESTIONS),
        mode=mode,
        structured_answered=answered,
    )


def test_answering_every_structured_question_and_one_open_answer_passes_a_structured_study():
    quality = score(structured_transcript(["8", "Slack", "yes", FULL_SENTENCES], 3, "structured"))
    assert quality.score >= QUALITY_GATE, quality
    assert quality.structured == 5.0
    # "8" and "yes" are whole answers, not short or gibberish ones.
    assert "gibberish" not in quality.reasons and "short_answers" not in quality.reasons


def test_skipping_the_structured_questions_fails_a_structured_study():
    skipped = ["no idea", "pass", "no idea", "pass", "dunno", "pass", FULL_SENTENCES]
    quality = score(structured_transcript(skipped, 0, "structured"))
    assert quality.score < QUALITY_GATE, quality
    assert quality.structured == 1.0 and "skipped_questions" in quality.reasons


def test_the_mode_sets_how_much_structured_answers_weigh():
    skipped = ["no idea", "pass", "no idea", "pass", "dunno", "pass", FULL_SENTENCES]
    by_mode = {
        mode: score(structured_transcript(skipped, 0, mode)).score
        for mode in ("structured", "hybrid", "exploratory")
    }
    assert by_mode["structured"] < by_mode["hybrid"] < by_mode["exploratory"], by_mode


def test_a_study_of_open_questions_is_scored_as_before():
    engaged = transcript(ENGAGED, duration_seconds=900, name="engaged")
    quality = score(engaged)
    assert quality.structured is None
    assert quality.score >= 4.0
