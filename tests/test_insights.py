"""Per-interview insights and themes: what they cite, how they read, how many.

Service level: the analysis functions on transcripts, no server. How right
the classification is gets measured by `make eval` on held-out sentences,
not asserted here sentence by sentence.
"""

from __future__ import annotations

from koji_server.analysis import insights, phrases
from koji_server.analysis.analyze import analyze
from koji_server.analysis.quality import answers_of
from tests.study_transcripts import TOPICS
from tests.transcripts import ENGAGED, transcript

PAIN = "The export job failed again last night and the file was empty when it arrived."
THINGS = ["export job", "CSV import", "invoice sync", "mobile app", "login page", "report builder"]
FAILURES = [
    "crashed twice this morning",
    "lost my changes again",
    "took an hour to load",
    "showed the wrong totals",
    "logged everyone out",
]


def test_insights_cite_their_message_and_summarise_instead_of_quoting() -> None:
    engaged = transcript(ENGAGED, duration_seconds=900, name="engaged")
    result = analyze(engaged)
    by_id = {u.message_id: u.content for u in engaged.utterances if u.role == "respondent"}
    assert result.insights
    for insight in result.insights:
        assert insight.quote.rstrip(".") in by_id[insight.message_id]
        assert insight.summary and insight.summary != insight.quote
        assert insight.summary.rstrip(".") != insight.quote.rstrip(".")
        assert len(insight.summary.split()) <= phrases.MAX_STATEMENT_WORDS + 2


def test_theme_labels_are_short_noun_phrases_not_word_lists() -> None:
    for topic in TOPICS:
        for number, answers in enumerate(topic.interviews):
            result = analyze(transcript(list(answers), duration_seconds=600, name=f"t{number}"))
            for theme in result.themes:
                assert "," not in theme.label
                assert 1 <= len(theme.label.split()) <= 5
                assert theme.label[0].isupper()


def test_a_long_interview_keeps_more_than_a_handful_of_insights() -> None:
    answers = [f"The {thing} {failure}." for thing in THINGS for failure in FAILURES]
    result = analyze(transcript(answers, duration_seconds=3600, name="long"))
    kinds = [i.type for i in result.insights]
    assert len(kinds) == insights.MAX_INSIGHTS == 20
    assert kinds.count("pain_point") >= 15


def test_statements_drop_fillers_the_speaker_and_trailing_detail() -> None:
    assert (
        phrases.statement("Honestly, I waited four days for a reply from support.", "pain_point")
        == "Waited four days for a reply from support"
    )
    assert (
        phrases.statement("The charts saved me hours every Friday, I love that part.", "praise")
        == "Charts saved me hours every Friday"
    )
    long = (
        "We ended up copying every invoice into the accounting system by hand because "
        "the integration never synced the tax lines."
    )
    assert phrases.statement(long, "pain_point") == (
        "Ended up copying every invoice into the accounting system by hand"
    )
    assert (
        phrases.statement("I wish there was a bulk edit for approval rules.", "request")
        == "Bulk edit for approval rules"
    )
    assert phrases.statement("We need a flat team plan.", "request") == "Flat team plan"
    # Nothing to drop: the kind leads, so the summary never repeats the quote.
    assert phrases.statement("Make it work on phones.", "request") == (
        "Request: make it work on phones"
    )


def test_noun_phrases_end_on_nouns() -> None:
    found = [p.text for p in phrases.noun_phrases("The mobile app logs me out on my phone.")]
    assert found == ["mobile app", "phone"]
    found = [p.text for p in phrases.noun_phrases("The CSV importer rejected our date format.")]
    assert found == ["CSV importer", "date format"]


def test_sentences_of_an_answer_are_split_and_short_ones_skipped() -> None:
    engaged = transcript(["Yes. " + PAIN + " No idea why."], duration_seconds=60, name="s")
    said = insights.sentences(answers_of(engaged))
    assert [s.text for s in said] == [PAIN, "No idea why."]


def test_shipped_encodings_cover_the_training_data_and_match_the_encoder() -> None:
    """data/encoder_vectors.npz is the encoder's output for every training
    sentence (`make encoder-vectors` after changing either)."""
    import numpy as np

    from koji_server.analysis import classifier, encoder

    texts, _ = classifier.load_examples(*classifier.TRAINING_DATA)
    stored = classifier.encodings(texts[:: len(texts) // 5])
    assert set(map(classifier.text_key, texts)) <= set(classifier._precomputed())
    fresh = encoder.encode(texts[:: len(texts) // 5])
    assert np.allclose(stored, fresh, atol=2e-3)
    assert np.allclose(np.linalg.norm(fresh, axis=1), 1.0, atol=1e-5)
