"""Attention in NumPy (chapter 7): masks, the masked softmax and multi-head attention.

Conventions, as in :mod:`recsys_lab.sequences`: a sequence holds input ids ``item + 1`` with
``0`` = padding on the left; a mask is boolean, ``True`` where a query may attend to a key.
A unit test checks :func:`multi_head_attention` against ``keras.layers.MultiHeadAttention``.
"""

from __future__ import annotations

import numpy as np

#: What a masked score becomes before the softmax: exp(-1e9 - max) is exactly 0 in float64.
MASKED_SCORE = -1e9


def padding_mask(items: np.ndarray) -> np.ndarray:
    """``(batch, 1, length)`` bool from input ids ``(batch, length)``: ``True`` for a real key."""
    return (np.asarray(items) != 0)[:, None, :]


def attention_mask(items: np.ndarray) -> np.ndarray:
    """``(batch, length, length)`` bool: causal, no padded keys, and every query sees itself.

    Query ``t`` may read key ``s ≤ t`` unless it is padding. A padded query would otherwise
    have no key at all (an empty softmax); letting it see itself keeps every row well
    defined, and its output is discarded anyway.
    """
    items = np.asarray(items)
    length = items.shape[-1]
    causal = np.tril(np.ones((length, length), dtype=bool))
    return (causal & padding_mask(items)) | np.eye(length, dtype=bool)


def masked_softmax(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Softmax over the last axis where ``mask`` is True; masked entries get weight 0."""
    scores = np.asarray(scores, dtype=float)
    if mask is not None:
        scores = np.where(mask, scores, MASKED_SCORE)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=-1, keepdims=True)


def multi_head_attention(query, value, weights, mask=None):
    """Multi-head attention in NumPy with the weights of ``keras.layers.MultiHeadAttention``.

    query : ``(batch, T, d)``;  value : ``(batch, S, d)`` (also the keys);  mask : bool
    ``(batch, T, S)`` or None;  weights : ``layer.get_weights()``, i.e. ``[W_q, b_q, W_k, b_k,
    W_v, b_v, W_o, b_o]`` with ``W_q, W_k, W_v`` of shape ``(d, h, d_k)``, biases ``(h, d_k)``,
    ``W_o`` ``(h, d_k, d)`` and ``b_o`` ``(d,)``. Returns ``(output (batch, T, d),
    attention weights (batch, h, T, S))``: per head ``softmax(Q Kᵀ / √d_k) V``.
    """
    w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o = (np.asarray(w, dtype=float) for w in weights)
    # Project, one (d → d_k) map per head: shapes (batch, h, T or S, d_k).
    q = np.einsum("btd,dhk->bhtk", query, w_q) + b_q[:, None, :]
    k = np.einsum("bsd,dhk->bhsk", value, w_k) + b_k[:, None, :]
    v = np.einsum("bsd,dhk->bhsk", value, w_v) + b_v[:, None, :]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    attention = masked_softmax(scores, None if mask is None else np.asarray(mask)[:, None])
    # Concatenate the heads and mix them back to d dimensions.
    return np.einsum("bhtk,hkd->btd", attention @ v, w_o) + b_o, attention
