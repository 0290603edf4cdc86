"""Checks for chapter 3's exercises: BPR and hinge gradients, negative sampling, GMF as MF,
distances as dot products, sampled HR."""

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


def _reference_hinge_gradients(p_u, q_i, q_j, margin):
    violation = margin + np.sum((p_u - q_i) ** 2) - np.sum((p_u - q_j) ** 2)
    if violation <= 0:
        return np.zeros_like(p_u), np.zeros_like(q_i), np.zeros_like(q_j)
    return 2 * (q_j - q_i), 2 * (q_i - p_u), 2 * (p_u - q_j)


@_grader
def check_hinge_gradients(function: Callable) -> Feedback:
    """Grade ``function(p_u, q_i, q_j, margin) -> (grad_p_u, grad_q_i, grad_q_j)``.

    The gradients of collaborative metric learning's triplet loss
    ``[margin + ‖p_u − q_i‖² − ‖p_u − q_j‖²]₊`` with respect to the three vectors.
    """
    if (not_a_function := _not_a_function("hinge_gradients", function)) is not None:
        return not_a_function
    rng = np.random.default_rng(4)
    names = ("grad_p_u", "grad_q_i", "grad_q_j")
    cases = [(0.5 * rng.standard_normal(3) for _ in range(3)) for _ in range(6)]
    cases = [tuple(case) for case in cases]
    p_u = np.array([0.1, 0.0, 0.0])  # q_j far beyond the margin: the loss is 0
    cases.append((p_u, np.array([0.2, 0.1, 0.0]), np.array([-0.9, 0.0, 0.0])))
    for p_u, q_i, q_j in cases:
        expected = _reference_hinge_gradients(p_u, q_i, q_j, 0.5)
        got, error = _call_safely(function, p_u.copy(), q_i.copy(), q_j.copy(), 0.5)
        if error:
            return Feedback(False, f"your function raised {error}")
        arrays = _as_float_arrays(got, 3)
        if arrays is None or any(g.shape != p_u.shape for g in arrays):
            return Feedback(False, "return three arrays shaped like p_u: "
                                   f"(grad_p_u, grad_q_i, grad_q_j); got {_parts_found(got)}.")
        active = bool(np.any(expected[0]))
        if not active and any(np.any(g != 0) for g in arrays):
            return Feedback(False, "for a triple already beyond the margin "
                                   "(‖p_u − q_j‖² > margin + ‖p_u − q_i‖²) the loss is 0 "
                                   "and so is every gradient: the hinge [·]₊ is flat there.")
        for name, g, e in zip(names, arrays, expected, strict=True):
            if active and np.allclose(g, -e, atol=1e-9):
                return Feedback(False, f"{name} has the wrong sign. Hint: "
                                       "∂‖p − q‖²/∂p = 2(p − q) and ∂‖p − q‖²/∂q = 2(q − p).")
            if not np.allclose(g, e, atol=1e-9):
                return Feedback(False, f"{name} is wrong (p_u={np.round(p_u, 3)}). Hint: inside "
                                       "the margin the loss is margin + ‖p_u − q_i‖² − "
                                       "‖p_u − q_j‖², and ∂‖p − q‖²/∂p = 2(p − q).")
    return Feedback(True, "correct: inside the margin q_i moves towards p_u, q_j away from it, "
                          "and p_u along q_i − q_j; beyond the margin nothing moves.")


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
def check_distance_as_dot_product(function: Callable) -> Feedback:
    """Grade ``function(P, Q) -> (user_vectors, item_vectors)`` whose dot products rank like
    ``−‖p_u − q_i‖²``.

    ``P`` ``(n_users, d)`` and ``Q`` ``(n_items, d)`` are the points of a metric model; for
    every user, ``U Vᵀ`` must equal ``−‖p_u − q_i‖²`` up to a constant of that user (which
    does not change the user's ranking), so that an inner-product search serves the model.
    """
    if (not_a_function := _not_a_function("distance_as_dot_product", function)) is not None:
        return not_a_function
    rng = np.random.default_rng(7)
    P = rng.standard_normal((5, 3))
    Q = rng.standard_normal((9, 3)) * rng.uniform(0.2, 2.0, size=(9, 1))  # lengths vary
    got, error = _call_safely(function, P.copy(), Q.copy())
    if error:
        return Feedback(False, f"your function raised {error}")
    vectors = _as_float_arrays(got, 2)
    if (vectors is None or any(v.ndim != 2 for v in vectors)
            or vectors[0].shape[0] != 5 or vectors[1].shape[0] != 9
            or vectors[0].shape[1] != vectors[1].shape[1]):
        found = (_parts_found(got) if vectors is None
                 else f"shapes {vectors[0].shape} and {vectors[1].shape}")
        return Feedback(False, "return two matrices (user_vectors (n_users, d'), item_vectors "
                               f"(n_items, d')) whose product has one row per user; got {found}.")
    with np.errstate(all="ignore"):  # infinite vectors give NaN scores, reported below
        scores = vectors[0] @ vectors[1].T
    target = -((P[:, None, :] - Q[None, :, :]) ** 2).sum(axis=2)
    offset = scores - target
    if not np.all(np.isfinite(offset)) or not np.allclose(offset, offset[:, :1], atol=1e-8):
        if np.allclose(scores, P @ Q.T):
            return Feedback(False, "P @ Q.T ranks by the dot product, not by the distance: "
                                   "the item's length is missing. Hint: expand "
                                   "‖p − q‖² = ‖p‖² + ‖q‖² − 2 pᵀq and give each item one "
                                   "extra coordinate.")
        return Feedback(False, "U @ V.T − (−‖p_u − q_i‖²) is not constant along a user's row. "
                               "Hint: ‖p − q‖² = ‖p‖² + ‖q‖² − 2 pᵀq; the term ‖p‖² is the "
                               "same for all items of a user, the other two are a dot product "
                               "of [2p, 1] with [q, −‖q‖²].")
    return Feedback(True, "correct: −‖p − q‖² = [2p, 1]ᵀ[q, −‖q‖²] − ‖p‖², so a maximum "
                          "inner product search over the augmented item vectors returns a "
                          "user's nearest items.")


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
