"""Theme labels: the noun phrase of a group's texts that names its topic.

A label is what a reader would write as a heading: two to four words, a noun
with its modifier ("Spreadsheet import", "Per-seat pricing") rather than a
bare noun ("Rows", "Plan"). When the group's own phrases offer nothing
longer than one word, the name of the known topic it talks about stands in
("Onboarding and setup"); failing that, the word stays.
"""

from __future__ import annotations

import numpy as np

from koji_server.analysis import phrases
from koji_server.analysis.embedding import label_words, topic_label, topic_vectors


def theme_label(texts: list[str], sources: list[str], centroid: np.ndarray) -> str | None:
    """Phrases that many sources use, close to the group's centroid and
    made of words that name its topic, win (see phrases.best_label)."""

    def centrality(candidates: list[str]) -> list[float]:
        return [float(x) for x in topic_vectors(candidates) @ centroid]

    label = phrases.best_label(texts, sources, centrality, label_words(texts))
    if label is not None and len(label.split()) == 1:
        return topic_label(texts) or label
    return label
