"""Chapter 7: attention in NumPy (the references) and the checks of the chapter's exercises.

The functions here are the from-scratch versions the chapter derives; a unit test checks
:func:`multi_head_attention` against ``keras.layers.MultiHeadAttention``. Conventions, as in
:mod:`recsys_lab.sequences`: a sequence holds input ids ``item + 1`` with ``0`` = padding on
the left; a mask is boolean, ``True`` where a query may attend to a key.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsys_lab.exercises import Feedback, call_safely

#: What a masked score becomes before the softmax: exp(-1e9 - max) is exactly 0 in float64.
MASKED_SCORE = -1e9


def causal_mask(length: int) -> np.ndarray:
    """``(length, length)`` bool, True on and below the diagonal: query ``t`` sees keys ``≤ t``."""
    return np.tril(np.ones((length, length), dtype=bool))


def padding_mask(items: np.ndarray) -> np.ndarray:
    """``(batch, 1, length)`` bool from input ids ``(batch, length)``: ``True`` for a real key."""
    return (np.asarray(items) != 0)[:, None, :]


def attention_mask(items: np.ndarray) -> np.ndarray:
    """``(batch, length, length)`` bool: causal, no padded keys, and every query sees itself.

    A padded query would otherwise have no key at all (an empty softmax); letting it see
    itself keeps every row well defined, and its output is discarded anyway.
    """
    items = np.asarray(items)
    length = items.shape[-1]
    return (causal_mask(length) & padding_mask(items)) | np.eye(length, dtype=bool)


def masked_softmax(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Softmax over the last axis where ``mask`` is True; masked entries get weight 0."""
    scores = np.asarray(scores, dtype=float)
    if mask is not None:
        scores = np.where(mask, scores, MASKED_SCORE)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=-1, keepdims=True)


def scaled_dot_product_attention(queries, keys, values, mask=None):
    """``softmax(Q Kᵀ / √d_k) V`` with a mask; returns ``(output, weights)``.

    queries : ``(..., T, d_k)``;  keys : ``(..., S, d_k)``;  values : ``(..., S, d_v)``;
    mask : bool, broadcastable to ``(..., T, S)``.
    Output ``(..., T, d_v)``, weights ``(..., T, S)``.
    """
    queries, keys, values = (np.asarray(a, dtype=float) for a in (queries, keys, values))
    scores = queries @ np.swapaxes(keys, -1, -2) / np.sqrt(queries.shape[-1])
    weights = masked_softmax(scores, mask)
    return weights @ values, weights


def multi_head_attention(query, value, weights, mask=None):
    """Multi-head attention in NumPy with the weights of ``keras.layers.MultiHeadAttention``.

    query : ``(batch, T, d)``;  value : ``(batch, S, d)`` (also the keys);  mask : bool
    ``(batch, T, S)`` or None;  weights : ``layer.get_weights()``, i.e. ``[W_q, b_q, W_k, b_k,
    W_v, b_v, W_o, b_o]`` with ``W_q, W_k, W_v`` of shape ``(d, h, d_k)``, biases ``(h, d_k)``,
    ``W_o`` ``(h, d_k, d)`` and ``b_o`` ``(d,)``. Returns ``(output (batch, T, d),
    attention weights (batch, h, T, S))``.
    """
    w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o = (np.asarray(w, dtype=float) for w in weights)
    # Project, one (d → d_k) map per head: shapes (batch, h, T or S, d_k).
    q = np.einsum("btd,dhk->bhtk", query, w_q) + b_q[:, None, :]
    k = np.einsum("bsd,dhk->bhsk", value, w_k) + b_k[:, None, :]
    v = np.einsum("bsd,dhk->bhsk", value, w_v) + b_v[:, None, :]
    heads, attention = scaled_dot_product_attention(
        q, k, v, None if mask is None else np.asarray(mask)[:, None])
    # Concatenate the heads and mix them back to d dimensions.
    return np.einsum("bhtk,hkd->btd", heads, w_o) + b_o, attention


def occlusion_influence(score: Callable, history, item: int) -> np.ndarray:
    """How much each past item supports ``item``: its score minus the score without that item.

    score : ``score(histories) -> (len(histories), n_items)`` (e.g. a fitted model's
    ``score_histories``);  history : item ids, oldest first;  item : the recommended item.
    Returns ``(len(history),)``: entry ``t`` is ``s(item | history) − s(item | history
    without its t-th item)``; positive means the item pushed ``item`` up.
    """
    history = np.asarray(history)
    variants = [history] + [np.delete(history, t) for t in range(len(history))]
    scores = np.asarray(score(variants))[:, item]
    return scores[0] - scores[1:]


# --------------------------------------------------------------------------- the checks
def _compare(name: str, got, expected, case: str, hint: str, atol: float = 1e-6):
    if got is None:
        return Feedback(False, f"{name}({case}) returned None. Hint: {hint}")
    got = np.asarray(got)
    if got.shape != expected.shape:
        return Feedback(False, f"{name}({case}) has shape {got.shape}, expected "
                               f"{expected.shape}. Hint: {hint}")
    if expected.dtype == bool:
        if got.dtype != bool and not np.isin(got, (0, 1)).all():
            return Feedback(False, f"{name}({case}) should hold True/False. Hint: {hint}")
        wrong = np.argwhere(got.astype(bool) != expected)
        if len(wrong):
            where = tuple(int(i) for i in wrong[0])
            return Feedback(False, f"{name}({case}) is wrong at {where}: expected "
                                   f"{bool(expected[where])}. Hint: {hint}")
        return None
    if not np.allclose(got, expected, atol=atol):
        return Feedback(False, f"{name}({case}) differs from the reference by up to "
                               f"{np.abs(got - expected).max():.3g}. Hint: {hint}")
    return None


def check_causal_mask(function: Callable) -> Feedback:
    """Grade ``function(length) -> (length, length) bool``: True where query t may see key s."""
    hint = ("entry [t, s] is True when s <= t: a position sees itself and the past, never "
            "the future (np.tril).")
    for length in (1, 3, 6):
        got, error = call_safely(function, length)
        if error:
            return Feedback(False, f"causal_mask({length}) raised {error}. Hint: {hint}")
        verdict = _compare("causal_mask", got, causal_mask(length), str(length), hint)
        if verdict is not None:
            return verdict
    return Feedback(True, "causal_mask is correct: every position sees itself and its past.")


def _attention_cases():
    rng = np.random.default_rng(7)
    items = np.array([[0, 0, 3, 5], [2, 4, 6, 1]])
    mask = attention_mask(items)
    cases = [(rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3)),
              rng.normal(size=(2, 4, 2)), mask, "causal + padding mask")]
    cases.append((rng.normal(size=(1, 2, 5)), rng.normal(size=(1, 3, 5)),
                  rng.normal(size=(1, 3, 4)), None, "no mask"))
    return cases


def check_attention(function: Callable) -> Feedback:
    """Grade ``function(Q, K, V, mask) -> output``: masked scaled dot-product attention."""
    hint = ("scores = Q @ K.T / sqrt(d_k) (transpose the last two axes), set masked scores to a "
            "large negative number, softmax over the keys (last axis), then multiply by V.")
    for queries, keys, values, mask, label in _attention_cases():
        expected, _ = scaled_dot_product_attention(queries, keys, values, mask)
        got, error = call_safely(function, queries, keys, values, mask)
        if error:
            return Feedback(False, f"attention ({label}) raised {error}. Hint: {hint}")
        if isinstance(got, tuple):
            got = got[0]
        verdict = _compare("attention", got, expected, label, hint)
        if verdict is not None:
            unscaled, _ = scaled_dot_product_attention(queries * np.sqrt(queries.shape[-1]),
                                                       keys, values, mask)
            if got is not None and np.shape(got) == expected.shape and np.allclose(got, unscaled):
                return Feedback(False, "almost: divide the scores by sqrt(d_k) before the "
                                       "softmax.")
            return verdict
    return Feedback(True, "attention is correct, with and without a mask.")


def _toy_scores(histories):
    # A made-up scorer: item 0's score is the sum of fixed weights of the items present.
    weights = np.array([0.5, -1.0, 2.0, 0.0, 3.0, 1.5])
    return np.array([[weights[np.asarray(h, dtype=int)].sum(), 0.0] for h in histories])


def check_occlusion(function: Callable) -> Feedback:
    """Grade ``function(score, history, item) -> (len(history),)`` occlusion influences."""
    hint = ("score the full history and each history with one item removed (np.delete), "
            "then subtract: full score minus the score without item t.")
    for history in ([2, 4, 1], [5, 3, 0, 4]):
        expected = occlusion_influence(_toy_scores, history, 0)
        got, error = call_safely(function, _toy_scores, history, 0)
        if error:
            return Feedback(False, f"occlusion raised {error}. Hint: {hint}")
        verdict = _compare("occlusion", got, expected, f"history={history}", hint)
        if verdict is not None:
            if got is not None and np.shape(got) == expected.shape and np.allclose(got,
                                                                                   -expected):
                return Feedback(False, "the sign is flipped: influence = full score minus the "
                                       "score without the item.")
            return verdict
    return Feedback(True, "occlusion is correct: positive entries pushed the item up.")
