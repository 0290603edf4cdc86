"""Checks for chapter 3's exercises: BPR gradients, negative sampling, GMF as MF, sampled HR."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from recsys_lab.exercises import (
    Feedback,
    _as_float_arrays,
    _as_number,
    _grader,
    _ids,
    _not_a_function,
    _parts_found,
    _show,
)
from recsys_lab.exercises import as_float_array as _as_float_array
from recsys_lab.exercises import call_safely as _call_safely


def _reference_bpr_gradients(p_u, q_i, q_j):
    x = p_u @ (q_i - q_j)
    weight = -1.0 / (1.0 + math.exp(x))  # d/dx of −log σ(x) is −σ(−x)
    return weight * (q_i - q_j), weight * p_u, -weight * p_u


@_grader
def check_bpr_gradients(function: Callable) -> Feedback:
    """Grade ``function(p_u, q_i, q_j) -> (grad_p_u, grad_q_i, grad_q_j)``.

    The gradients of the BPR loss ``−log σ(p_u · q_i − p_u · q_j)`` of one triple with
    respect to the three vectors (1-D arrays of the same length).
    """
    if (not_a_function := _not_a_function("bpr_gradients", function)) is not None:
        return not_a_function
    rng = np.random.default_rng(3)
    names = ("grad_p_u", "grad_q_i", "grad_q_j")
    for scale in (0.1, 1.0, 3.0):
        p_u, q_i, q_j = (scale * rng.standard_normal(4) for _ in range(3))
        got, error = _call_safely(function, p_u.copy(), q_i.copy(), q_j.copy())
        if error:
            return Feedback(False, f"your function raised {error}")
        arrays = _as_float_arrays(got, 3)
        if arrays is None or any(g.shape != (4,) for g in arrays):
            return Feedback(False, "return three arrays shaped like p_u: "
                                   f"(grad_p_u, grad_q_i, grad_q_j); got {_parts_found(got)}.")
        got = arrays
        expected = _reference_bpr_gradients(p_u, q_i, q_j)
        for name, g, e in zip(names, got, expected, strict=True):
            if np.allclose(g, -e, atol=1e-9) and not np.allclose(e, 0):
                return Feedback(False, f"{name} has the wrong sign: you computed the gradient "
                                       "of log σ(x), not of the loss −log σ(x).")
            if not np.allclose(g, e, atol=1e-9):
                return Feedback(False, f"{name} is wrong (p_u={np.round(p_u, 3)}). Hint: with "
                                       "x = p_u·(q_i − q_j), d/dx[−log σ(x)] = −σ(−x); then "
                                       "apply the chain rule: ∂x/∂p_u = q_i − q_j, "
                                       "∂x/∂q_i = p_u, ∂x/∂q_j = −p_u.")
    return Feedback(True, "correct: a pair already ranked right by a wide margin (σ(−x) ≈ 0) "
                          "barely moves the embeddings.")


@_grader
def check_sample_negatives(function: Callable) -> Feedback:
    """Grade ``function(history, user, n, rng) -> array (n,)`` of items ``user`` never saw.

    ``history`` is a binary CSR matrix ``(n_users, n_items)``; the items must be drawn
    uniformly (with replacement) from the user's unseen items.
    """
    if (not_a_function := _not_a_function("sample_negatives", function)) is not None:
        return not_a_function
    rng = np.random.default_rng(0)
    dense = rng.random((5, 12)) < 0.5
    dense[0, :] = True
    dense[0, 7] = False  # user 0 has exactly one negative: item 7
    history = sp.csr_matrix(dense.astype(float))
    got, error = _call_safely(function, history.copy(), 0, 20, np.random.default_rng(1))
    if error:
        return Feedback(False, f"your function raised {error}")
    got = _as_float_array(got)
    if got is None or got.shape != (20,):
        found = "no numbers" if got is None else f"shape {got.shape}"
        return Feedback(False, f"expected an array of item ids of shape (20,) for n=20, got "
                               f"{found}")
    if not np.all(got == 7):
        return Feedback(False, "user 0 has seen every item but item 7, yet you returned "
                               f"{_ids(np.unique(got))}. Hint: reject the items in "
                               "history[user].indices and draw again.")
    draws = []
    for user in range(1, 5):
        got, error = _call_safely(function, history.copy(), user, 2000,
                                 np.random.default_rng(user))
        if error:
            return Feedback(False, f"your function raised {error}")
        got = _as_float_array(got)
        unseen = np.flatnonzero(~dense[user])
        if got is None or got.shape != (2000,) or not np.isin(got, unseen).all():
            return Feedback(False, f"for user {user} some items are not among the unseen items "
                                   f"{unseen.tolist()} (or the shape is not (n,)).")
        draws.append((got.astype(np.int64), unseen))  # whole numbers: all are in unseen
    for got, unseen in draws:
        shares = np.bincount(got, minlength=12)[unseen] / len(got)
        if np.abs(shares - 1 / len(unseen)).max() > 0.05:
            return Feedback(False, "the draws are not uniform over the unseen items: each "
                                   f"should appear about {1 / len(unseen):.0%} of the time, "
                                   f"got shares {np.round(shares, 2).tolist()}.")
    return Feedback(True, "correct: uniform draws from the unseen items only.")


@_grader
def check_gmf_as_mf(function: Callable) -> Feedback:
    """Grade ``function(P, Q, h) -> (user_factors, item_factors)`` with ``U Vᵀ`` = GMF's scores.

    ``P`` ``(n_users, d)``, ``Q`` ``(n_items, d)`` and ``h`` ``(d,)`` define GMF's score
    ``hᵀ (p_u ⊙ q_i)`` (without its bias); the answer must reproduce every score as a plain
    dot product.
    """
    if (not_a_function := _not_a_function("gmf_as_mf", function)) is not None:
        return not_a_function
    rng = np.random.default_rng(5)
    P, Q, h = rng.standard_normal((6, 3)), rng.standard_normal((8, 3)), rng.standard_normal(3)
    got, error = _call_safely(function, P.copy(), Q.copy(), h.copy())
    if error:
        return Feedback(False, f"your function raised {error}")
    factors = _as_float_arrays(got, 2)
    if (factors is None or any(f.ndim != 2 for f in factors)
            or factors[0].shape[1] != factors[1].shape[1]):
        found = (_parts_found(got) if factors is None
                 else f"shapes {factors[0].shape} and {factors[1].shape}")
        return Feedback(False, "return two matrices (user_factors, item_factors) whose product "
                               f"U @ V.T has shape (n_users, n_items); got {found}.")
    users, items = factors
    with np.errstate(all="ignore"):  # infinite factors give NaN scores, reported below
        scores = users @ items.T
    expected = (P * h) @ Q.T
    if scores.shape != expected.shape or not np.allclose(scores, expected):
        return Feedback(False, "U @ V.T does not reproduce hᵀ(p_u ⊙ q_i). Hint: "
                               "hᵀ(p ⊙ q) = Σ_k h_k p_k q_k; fold h into one side.")
    return Feedback(True, "correct: GMF is a matrix factorisation whose user factors are "
                          "rescaled by h, so it can represent exactly the same scores.")


@_grader
def check_random_sampled_hit_rate(value) -> Feedback:
    """Grade the expected HR@10 of a random ranker that ranks each test item among 100 negatives."""
    expected = 10 / 101
    number = _as_number(value)
    if number is None:
        return Feedback(False, f"expected a number, got {_show(value)}")
    value = number
    if math.isclose(value, expected, rel_tol=1e-3):
        return Feedback(True, f"correct: 10/101 ≈ {expected:.3f}. On full ranking a random "
                              "ranker would get about 10/1600 ≈ 0.006.")
    if math.isclose(value, 0.1, rel_tol=1e-3):
        return Feedback(False, "almost: the test item is ranked among 101 items, not 100.")
    return Feedback(False, f"{value!r} is not it. Hint: the test item's rank is uniform over "
                           "1..101; what is the chance that it is at most 10?")
