"""Grouping sentences by topic: average-linkage clustering of topic vectors,
and an online variant that keeps a study's themes as centroids."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import AgglomerativeClustering

# Cosine similarity of topic vectors above which two groups are one topic.
# Chosen on the theme cases in tests/test_study_themes.py's training topics;
# WordLlama's static vectors put paraphrases of one topic around 0.3-0.5.
SAME_TOPIC = 0.28


def groups(vectors: np.ndarray, same_topic: float = SAME_TOPIC) -> list[list[int]]:
    """Indices of the rows, grouped; rows with a zero vector stay alone.
    Groups come largest first, then by their first row."""
    present = [i for i in range(len(vectors)) if np.any(vectors[i])]
    alone = [[i] for i in range(len(vectors)) if i not in set(present)]
    if len(present) < 2:
        return sorted([[i] for i in present] + alone, key=lambda g: (-len(g), g[0]))
    model = AgglomerativeClustering(
        n_clusters=None,
        metric="cosine",
        linkage="average",
        distance_threshold=1.0 - same_topic,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assignment = model.fit_predict(vectors[present])
    found: dict[int, list[int]] = {}
    for row, cluster in zip(present, assignment, strict=True):
        found.setdefault(int(cluster), []).append(row)
    return sorted([*found.values(), *alone], key=lambda g: (-len(g), g[0]))


def centroid(vectors: np.ndarray) -> np.ndarray:
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else mean
