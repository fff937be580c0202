"""Theme labels: the noun phrase of a group's texts that names its topic."""

from __future__ import annotations

import numpy as np

from koji_server.analysis import phrases
from koji_server.analysis.embedding import label_words, topic_vectors


def theme_label(texts: list[str], sources: list[str], centroid: np.ndarray) -> str | None:
    """Phrases that many sources use, close to the group's centroid and
    made of words that name its topic, win (see phrases.best_label)."""

    def centrality(candidates: list[str]) -> list[float]:
        return [float(x) for x in topic_vectors(candidates) @ centroid]

    return phrases.best_label(texts, sources, centrality, label_words(texts))
