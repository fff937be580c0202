"""`make encoder-vectors`: the training sentences' encoder vectors, precomputed.

Writes server/koji_server/analysis/data/encoder_vectors.npz (float16, keyed
by classifier.text_key) so that an analysis process trains its classifier in
seconds instead of encoding 3,000 sentences first. Rerun after changing the
training data or the encoder; a sentence without a stored vector is encoded
at start-up, so a stale file costs time, never correctness.
"""

from __future__ import annotations

import sys

import numpy as np
from threadpoolctl import threadpool_limits

from koji_server.analysis import classifier, encoder


def main() -> int:
    texts, _ = classifier.load_examples(*classifier.TRAINING_DATA)
    texts = list(dict.fromkeys(texts))
    with threadpool_limits(1):
        vectors = encoder.encode(texts)
    np.savez_compressed(
        classifier.ENCODER_VECTORS,
        keys=np.array([classifier.text_key(t) for t in texts]),
        vectors=vectors.astype(np.float16),
    )
    print(f"{len(texts)} vectors -> {classifier.ENCODER_VECTORS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
