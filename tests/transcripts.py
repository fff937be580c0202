"""Realistic transcripts for the analysis tests: engaged, terse, spam, copy-paste."""

from __future__ import annotations

from koji_server.domain import interviewer
from koji_server.domain.analysis_input import TranscriptInput, Utterance
from koji_server.domain.model import StudyQuestion

GUIDE = (
    "How did you first hear about our product?",
    "What were you hoping it would help you with?",
    "What was the hardest part of getting started?",
    "If you could change one thing, what would it be?",
)
# The guide as a study of open questions.
QUESTIONS = [StudyQuestion(f"q{i}", text) for i, text in enumerate(GUIDE)]
TITLE = "getting started with our product"

ENGAGED = [
    "A colleague on the finance team showed it to me during a quarterly review. She had "
    "been using it to track vendor invoices and it looked much calmer than our spreadsheets.",
    "I was hoping to stop reconciling invoices by hand every month. We lose about two days "
    "each close chasing missing receipts, and I wanted one place where approvals and "
    "receipts live together.",
    "Honestly the import was the hardest part. The CSV importer kept rejecting our date format and "
    "the error message did not say which row was wrong, so I spent hours splitting the file. "
    "It was really frustrating.",
    "I wish there was a bulk edit for approval rules. Setting up rules one vendor at a time "
    "is slow and we have more than two hundred vendors. I love the dashboard though, it is "
    "clear and fast.",
]
TERSE = ["friend", "idk", "dunno", "fine", "ok", "nothing", "no", "nope"]
SPAM = [
    "asdfgh qwrtzp xkcdvb",
    "BUY NOW cheap crypto at www.best-deals.xyz click here",
    "zzzzzzzz kjhgfd lkjhgf",
    "aaaaaa bbbbbb cccccc dddddd",
]
COPY_PASTE = [
    "The product is good and I think it helps my team with invoices every month.",
    "The product is good and I think it helps my team with invoices every month.",
    "The product is good and I think it helps my team with invoices every month.",
    "The product is good and I think it helps my team with invoices every month.",
]


def transcript(answers: list[str], duration_seconds: int, name: str = "t") -> TranscriptInput:
    """Replays the real interviewer over the answers, as the service would."""
    utterances = [
        Utterance(f"{name}-m0", "interviewer", interviewer.opening(TITLE, QUESTIONS, "").content)
    ]
    position = interviewer.opening(TITLE, QUESTIONS, "").position
    for number, answer in enumerate(answers, start=1):
        utterances.append(Utterance(f"{name}-r{number}", "respondent", answer))
        reply = interviewer.reply(QUESTIONS, position, answer, interviewer.Heard.WORDS)
        position = reply.position
        utterances.append(Utterance(f"{name}-i{number}", "interviewer", reply.content))
    return TranscriptInput(f"{name}-interview", TITLE, GUIDE, tuple(utterances), duration_seconds)


def respondent_ids(value: TranscriptInput) -> set[str]:
    return {u.message_id for u in value.utterances if u.role == "respondent"}
