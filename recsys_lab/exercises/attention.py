"""Checks for chapter 7's exercises: a causal mask, masked scaled dot-product attention and
occlusion influences.

Conventions, as in :mod:`recsys_lab.sequences` and :mod:`recsys_lab.scratch.attention`: a
sequence holds input ids ``item + 1`` with ``0`` = padding on the left; a mask is boolean,
``True`` where a query may attend to a key.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsys_lab.exercises import (
    Feedback,
    _grader,
    _not_a_function,
    _show,
)
from recsys_lab.exercises import as_float_array as _as_float_array
from recsys_lab.exercises import call_safely as _call_safely


def _compare(name: str, answer, expected: np.ndarray, case: str, hint: str,
             atol: float = 1e-6) -> Feedback | None:
    """A failing :class:`Feedback` unless ``answer`` matches ``expected``; None when it does."""
    got = _as_float_array(answer)
    if got is None:
        return Feedback(False, f"{name}({case}) returned {_show(answer)}, expected an array "
                               f"of shape {expected.shape}. Hint: {hint}")
    if got.shape != expected.shape:
        return Feedback(False, f"{name}({case}) has shape {got.shape}, expected "
                               f"{expected.shape}. Hint: {hint}")
    if expected.dtype == bool:
        if not np.isin(got, (0, 1)).all():
            return Feedback(False, f"{name}({case}) should hold True/False. Hint: {hint}")
        wrong = np.argwhere(got.astype(bool) != expected)
        if len(wrong):
            where = tuple(int(i) for i in wrong[0])
            return Feedback(False, f"{name}({case}) is wrong at {where}: expected "
                                   f"{bool(expected[where])}. Hint: {hint}")
        return None
    if not np.allclose(got, expected, atol=atol):
        with np.errstate(all="ignore"):
            gap = np.abs(got - expected).max()
        return Feedback(False, f"{name}({case}) differs from the reference by up to "
                               f"{gap:.3g}. Hint: {hint}")
    return None


def _close(answer, expected: np.ndarray) -> bool:
    """Whether ``answer`` has ``expected``'s shape and values (to recognise a mistake)."""
    got = _as_float_array(answer)
    return got is not None and got.shape == expected.shape and np.allclose(got, expected)


@_grader
def check_causal_mask(function: Callable) -> Feedback:
    """Grade ``function(length) -> (length, length) bool``: True where query t may see key s."""
    if (not_a_function := _not_a_function("causal_mask", function)) is not None:
        return not_a_function
    hint = ("entry [t, s] is True when s <= t: a position sees itself and the past, never "
            "the future (np.tril).")
    for length in (1, 3, 6):
        got, error = _call_safely(function, length)
        if error:
            return Feedback(False, f"causal_mask({length}) raised {error}. Hint: {hint}")
        expected = np.tril(np.ones((length, length), dtype=bool))
        verdict = _compare("causal_mask", got, expected, str(length), hint)
        if verdict is not None:
            return verdict
    return Feedback(True, "causal_mask is correct: every position sees itself and its past.")


def _reference_attention(queries, keys, values, mask):
    """``softmax(Q Kᵀ / √d_k) V`` over the last axis, masked entries weighted 0."""
    scores = queries @ np.swapaxes(keys, -1, -2) / np.sqrt(queries.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -1e9)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return (weights / weights.sum(axis=-1, keepdims=True)) @ values


def _attention_cases():
    rng = np.random.default_rng(7)
    items = np.array([[0, 0, 3, 5], [2, 4, 6, 1]])
    length = items.shape[1]
    # Causal, no padded keys, and every query sees itself (so no row is empty).
    mask = ((np.tril(np.ones((length, length), dtype=bool)) & (items != 0)[:, None, :])
            | np.eye(length, dtype=bool))
    cases = [(rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3)),
              rng.normal(size=(2, 4, 2)), mask, "causal + padding mask")]
    cases.append((rng.normal(size=(1, 2, 5)), rng.normal(size=(1, 3, 5)),
                  rng.normal(size=(1, 3, 4)), None, "no mask"))
    return cases


@_grader
def check_attention(function: Callable) -> Feedback:
    """Grade ``function(Q, K, V, mask) -> output``: masked scaled dot-product attention.

    Q ``(..., T, d_k)``, K ``(..., S, d_k)``, V ``(..., S, d_v)``, mask bool broadcastable
    to ``(..., T, S)`` or None; the output has shape ``(..., T, d_v)``. An answer may also
    return the pair ``(output, weights)``.
    """
    if (not_a_function := _not_a_function("attention", function)) is not None:
        return not_a_function
    hint = ("scores = Q @ K.T / sqrt(d_k) (transpose the last two axes), set masked scores to a "
            "large negative number, softmax over the keys (last axis), then multiply by V.")
    for queries, keys, values, mask, label in _attention_cases():
        expected = _reference_attention(queries, keys, values, mask)
        arguments = (queries, keys, values, mask)
        got, error = _call_safely(function, *(None if a is None else a.copy() for a in arguments))
        if error:
            return Feedback(False, f"attention ({label}) raised {error}. Hint: {hint}")
        if isinstance(got, tuple) and got:
            got = got[0]
        verdict = _compare("attention", got, expected, label, hint)
        if verdict is not None:
            unscaled = _reference_attention(queries * np.sqrt(queries.shape[-1]), keys, values,
                                            mask)
            if _close(got, unscaled):
                return Feedback(False, "almost: divide the scores by sqrt(d_k) before the "
                                       "softmax.")
            return verdict
    return Feedback(True, "attention is correct, with and without a mask.")


def _toy_scores(histories):
    # A made-up scorer: item 0's score is the sum of fixed weights of the items present.
    weights = np.array([0.5, -1.0, 2.0, 0.0, 3.0, 1.5])
    return np.array([[weights[np.asarray(h, dtype=int)].sum(), 0.0] for h in histories])


@_grader
def check_occlusion(function: Callable) -> Feedback:
    """Grade ``function(score, history, item) -> (len(history),)`` occlusion influences.

    ``score(histories) -> (len(histories), n_items)`` scores a list of histories; entry ``t``
    of the answer is ``s(item | history) − s(item | history without its t-th item)``.
    """
    if (not_a_function := _not_a_function("occlusion", function)) is not None:
        return not_a_function
    hint = ("score the full history and each history with one item removed (np.delete), "
            "then subtract: full score minus the score without item t.")
    for history in ([2, 4, 1], [5, 3, 0, 4]):
        variants = [history] + [history[:t] + history[t + 1:] for t in range(len(history))]
        scores = _toy_scores(variants)[:, 0]
        expected = scores[0] - scores[1:]
        got, error = _call_safely(function, _toy_scores, list(history), 0)
        if error:
            return Feedback(False, f"occlusion raised {error}. Hint: {hint}")
        verdict = _compare("occlusion", got, expected, f"history={history}", hint)
        if verdict is not None:
            if _close(got, -expected):
                return Feedback(False, "the sign is flipped: influence = full score minus the "
                                       "score without the item.")
            return verdict
    return Feedback(True, "occlusion is correct: positive entries pushed the item up.")
