"""Checks for chapter 2's exercises: the SGD update, the ALS solve, overfitting, neighbours."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from recsys_lab.exercises import (
    Feedback,
    _as_number,
    _grader,
    _ids,
    _not_a_function,
    _parts_found,
    _show,
)
from recsys_lab.exercises import as_float_array as _as_float_array
from recsys_lab.exercises import call_safely as _call_safely
from recsys_lab.exercises import wrong_shape as _wrong_shape


def _reference_sgd_update(r, mu, b_u, b_i, p_u, q_i, lr, reg):
    error = r - (mu + b_u + b_i + p_u @ q_i)
    return (b_u + lr * (error - reg * b_u), b_i + lr * (error - reg * b_i),
            p_u + lr * (error * q_i - reg * p_u), q_i + lr * (error * p_u - reg * q_i))


def _sgd_cases():
    rng = np.random.default_rng(3)
    cases = []
    for _ in range(4):
        k = int(rng.integers(2, 6))
        cases.append((float(rng.integers(1, 6)), 3.5, float(rng.normal(0, 0.3)),
                      float(rng.normal(0, 0.3)), rng.normal(0, 0.5, k), rng.normal(0, 0.5, k),
                      0.05, 0.1))
    return cases


@_grader
def check_sgd_update(function: Callable) -> Feedback:
    """Grade ``function(r, mu, b_u, b_i, p_u, q_i, lr, reg) -> (b_u, b_i, p_u, q_i)``.

    One SGD step on one rating for ``½[(r − r̂)² + λ(b_u² + b_i² + ‖p_u‖² + ‖q_i‖²)]``; every
    new value is computed from the old ones.
    """
    if (not_a_function := _not_a_function("sgd_update", function)) is not None:
        return not_a_function
    names = ("b_u", "b_i", "p_u", "q_i")
    for case in _sgd_cases():
        expected = _reference_sgd_update(*case)
        got, error = _call_safely(function, *(np.copy(a) for a in case))
        if error:
            return Feedback(False, f"sgd_update raised {error}")
        if not isinstance(got, (tuple, list)) or len(got) != 4:
            return Feedback(False, "return the four updated values (b_u, b_i, p_u, q_i) "
                                   f"as a tuple, got {_parts_found(got)}")
        r, mu, b_u, b_i, p_u, q_i, lr, reg = case
        error_ui = r - (mu + b_u + b_i + p_u @ q_i)
        # The classic slip: updating q_i with the p_u that was just updated.
        stale_q = q_i + lr * (error_ui * expected[2] - reg * q_i)
        for name, answer, want in zip(names, got, expected, strict=True):
            value = _as_float_array(answer)
            if value is None:
                return Feedback(False, f"{name} should be a number or an array, got "
                                       f"{_show(answer)}")
            if value.shape == np.shape(want) and np.allclose(value, want, atol=1e-9):
                continue
            if name == "q_i" and value.shape == q_i.shape and np.allclose(value, stale_q):
                return Feedback(False, "q_i was updated with the *new* p_u. Both steps must "
                                       "use the values from before the step: keep a copy.")
            return Feedback(False, f"{name} is {np.round(value, 4)}, expected "
                                   f"{np.round(want, 4)}. Hint: e = r − (μ + b_u + b_i + "
                                   "p_u·q_i); p_u moves by lr·(e·q_i − λ·p_u), b_u by "
                                   "lr·(e − λ·b_u).")
    return Feedback(True, "sgd_update is correct: each parameter moves against its gradient.")


def _reference_als_user(item_factors, targets, reg):
    item_factors = np.asarray(item_factors, dtype=float)
    k = item_factors.shape[1]
    system = item_factors.T @ item_factors + reg * len(targets) * np.eye(k)
    return np.linalg.solve(system, item_factors.T @ np.asarray(targets, dtype=float))


@_grader
def check_als_user_solve(function: Callable) -> Feedback:
    """Grade ``function(item_factors, targets, reg) -> p_u``.

    ``item_factors`` ``(n_u, k)``: the factors of the items the user rated; ``targets``
    ``(n_u,)``; the answer solves ``(QᵀQ + λ n_u I) p_u = Qᵀ y``.
    """
    if (not_a_function := _not_a_function("als_user_solve", function)) is not None:
        return not_a_function
    rng = np.random.default_rng(5)
    for n, k in ((6, 2), (12, 4), (3, 3), (30, 5)):
        q, y, reg = rng.normal(0, 0.6, (n, k)), rng.normal(0, 1, n), 0.3
        expected = _reference_als_user(q, y, reg)
        got, error = _call_safely(function, q.copy(), y.copy(), reg)
        if error:
            return Feedback(False, f"als_user_solve raised {error}")
        got = _as_float_array(got)
        mismatch = _wrong_shape(got, expected.shape, "a vector (one value per factor)")
        if mismatch is not None:
            return mismatch
        if np.allclose(got, expected, atol=1e-8):
            continue
        unweighted = np.linalg.solve(q.T @ q + reg * np.eye(k), q.T @ y)
        if np.allclose(got, unweighted, atol=1e-8):
            return Feedback(False, "close: the penalty is counted once per rating, so the "
                                   "ridge term is λ·n_u·I, not λ·I.")
        return Feedback(False, f"for {n} ratings and k={k} you returned {np.round(got, 4)}, "
                               f"expected {np.round(expected, 4)}. Hint: build the k×k matrix "
                               "QᵀQ + λ·n_u·I and np.linalg.solve it against Qᵀy.")
    return Feedback(True, "als_user_solve is correct: one ridge regression per user.")


@_grader
def check_overfitting_reg(reg, train, valid, n_users: int, n_items: int,
                          n_factors: int | None = None) -> Feedback:
    """Fit ``ALSMatrixFactorization(l2=reg)`` on ``train``; it must overfit.

    ``valid`` is the validation frame (or a ``valid`` callable for ``fit``, such as
    ``recsys_lab.evaluate.Validation(train, valid_frame, "RATING")``); ``n_factors``
    defaults to that of ``ALSMatrixFactorization()``.

    Overfitting here means: training RMSE below 0.75 while the validation RMSE is above
    0.96, worse than predicting with biases alone.
    """
    from recsys_lab.evaluate import Validation
    from recsys_lab.models.mf import ALSMatrixFactorization

    l2 = _as_number(reg)
    if l2 is None:
        return Feedback(False, f"expected a number for λ, got {_show(reg)}")
    if not (math.isfinite(l2) and l2 > 0):
        return Feedback(False, f"λ must be a positive number (ALS solves need it), got {l2}")
    settings = {"l2": l2} if n_factors is None else {"l2": l2, "n_factors": n_factors}
    try:
        validation = valid if callable(valid) else Validation(train, valid, "RATING")
        with np.errstate(all="ignore"):
            model = ALSMatrixFactorization(**settings).fit(train, n_users, n_items,
                                                           valid=validation)
        fit = float(model.curves_["train_RMSE"].iloc[-1])
        held_out = float(model.curves_["RMSE"].iloc[-1])
    except Exception as error:  # e.g. a λ so large that the solves overflow
        return Feedback(False, f"fitting ALSMatrixFactorization(l2={l2:g}) failed: "
                               f"{type(error).__name__}: {error}")
    if not (math.isfinite(fit) and math.isfinite(held_out)):
        return Feedback(False, f"with λ = {l2:g} the fit breaks down (its RMSE is not a "
                               "finite number). Hint: try values between 0.001 and 1.")
    summary = f"λ = {l2:g}: training RMSE {fit:.3f}, validation RMSE {held_out:.3f}"
    if fit < 0.75 and held_out > 0.96:
        return Feedback(True, f"{summary}. The factors memorise the training ratings and "
                              "generalise worse than biases alone: overfitting.")
    if held_out <= 0.96:
        return Feedback(False, f"{summary}: this still generalises. Hint: try a λ ten or a "
                               "hundred times smaller.")
    return Feedback(False, f"{summary}: the model does not even fit the training ratings — "
                           "that is underfitting. Hint: make λ smaller.")


def _reference_most_similar(item_factors, item, n):
    unit = item_factors / np.maximum(np.linalg.norm(item_factors, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit[item]
    similarity[item] = -np.inf
    return np.argsort(-similarity, kind="stable")[:n]


@_grader
def check_most_similar(function: Callable, item_factors: np.ndarray) -> Feedback:
    """Grade ``function(item_factors, item, n) -> ids``: the ``n`` items of highest cosine
    similarity to ``item`` in factor space, most similar first, ``item`` itself excluded."""
    if (not_a_function := _not_a_function("most_similar", function)) is not None:
        return not_a_function
    item_factors = np.asarray(item_factors, dtype=float)
    for item, n in ((0, 5), (49, 3), (len(item_factors) - 1, 8)):
        expected = _reference_most_similar(item_factors, item, n)
        got, error = _call_safely(function, item_factors.copy(), item, n)
        if error:
            return Feedback(False, f"most_similar raised {error}")
        ids = _as_float_array(got)
        if ids is None:
            return Feedback(False, f"most_similar should return {n} item ids (most similar "
                                   f"first), got {_show(got)}")
        ids = ids.ravel()
        if len(ids) == n and np.array_equal(ids, expected):
            continue
        if item in ids:
            return Feedback(False, f"item {item} is in its own list: exclude it (its cosine "
                                   "with itself is 1).")
        by_dot = item_factors @ item_factors[item]
        by_dot[item] = -np.inf
        if len(ids) == n and np.array_equal(ids, np.argsort(-by_dot, kind="stable")[:n]):
            return Feedback(False, "that ranks by the dot product, which favours items with "
                                   "long factor vectors. Divide by both norms (cosine).")
        return Feedback(False, f"for item {item} and n={n} expected {expected.tolist()}, got "
                               f"{_ids(ids)}. Hint: normalise the rows to unit length, take "
                               "dot products with the item's row, sort descending.")
    return Feedback(True, "most_similar is correct: cosine similarity in factor space.")

