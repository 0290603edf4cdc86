"""Biased matrix factorisation in NumPy: the score, the objective, its gradient, one SGD step
and one ALS half-step (chapter 2).

The model of a rating is ``r̂_ui = μ + b_u + b_i + p_u · q_i`` and the objective, summed over
the training ratings, is

    L = ½ Σ_{(u,i)} [ (r_ui − r̂_ui)² + λ (‖p_u‖² + ‖q_i‖²) + λ_b (b_u² + b_i²) ].

``params`` is a dict with ``global_mean`` (float), ``user_bias`` ``(n_users,)``,
``item_bias`` ``(n_items,)``, ``user_factors`` ``(n_users, d)`` and ``item_factors``
``(n_items, d)``; :data:`PARAMETERS` names the learned ones (``μ`` is the mean rating).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PARAMETERS = ("user_bias", "item_bias", "user_factors", "item_factors")


def predict_ratings(params: dict, users, items) -> np.ndarray:
    """``μ + b_u + b_i + p_u · q_i`` for each pair ``(users[n], items[n])``, shape ``(n,)``."""
    users, items = np.asarray(users), np.asarray(items)
    return (params["global_mean"] + params["user_bias"][users] + params["item_bias"][items]
            + np.einsum("nk,nk->n", params["user_factors"][users],
                        params["item_factors"][items]))


def score_all_items(params: dict, users) -> np.ndarray:
    """``μ + b_u + b_i + p_u · q_i`` for every item, shape ``(len(users), n_items)``."""
    users = np.asarray(users)
    return (params["global_mean"] + params["user_bias"][users][:, None]
            + params["item_bias"][None, :]
            + params["user_factors"][users] @ params["item_factors"].T)


def mf_loss(params: dict, users, items, ratings, l2: float, l2_bias: float | None = None
            ) -> float:
    """The objective ``L`` of the module docstring over the given ratings.

    ``l2`` is ``λ`` (factors) and ``l2_bias`` is ``λ_b`` (biases; default ``l2``).
    """
    l2_bias = l2 if l2_bias is None else l2_bias
    users, items = np.asarray(users), np.asarray(items)
    error = np.asarray(ratings, dtype=float) - predict_ratings(params, users, items)
    penalty = (l2 * ((params["user_factors"][users] ** 2).sum(1)
                     + (params["item_factors"][items] ** 2).sum(1))
               + l2_bias * (params["user_bias"][users] ** 2 + params["item_bias"][items] ** 2))
    return float(0.5 * (error ** 2 + penalty).sum())


def mf_gradients(params: dict, users, items, ratings, l2: float,
                 l2_bias: float | None = None) -> dict:
    """Analytic gradient of :func:`mf_loss` with respect to the biases and factors.

    With ``e_ui = r_ui − r̂_ui`` each rating contributes ``−e_ui q_i + λ p_u`` to ``∂L/∂p_u``,
    ``−e_ui p_u + λ q_i`` to ``∂L/∂q_i``, ``−e_ui + λ_b b_u`` to ``∂L/∂b_u`` and
    ``−e_ui + λ_b b_i`` to ``∂L/∂b_i``. Returns a dict with the keys of :data:`PARAMETERS`
    and arrays of the parameters' shapes.
    """
    l2_bias = l2 if l2_bias is None else l2_bias
    users, items = np.asarray(users), np.asarray(items)
    error = np.asarray(ratings, dtype=float) - predict_ratings(params, users, items)
    p, q = params["user_factors"][users], params["item_factors"][items]
    grads = {name: np.zeros_like(params[name], dtype=float) for name in PARAMETERS}
    np.add.at(grads["user_bias"], users, -error + l2_bias * params["user_bias"][users])
    np.add.at(grads["item_bias"], items, -error + l2_bias * params["item_bias"][items])
    np.add.at(grads["user_factors"], users, -error[:, None] * q + l2 * p)
    np.add.at(grads["item_factors"], items, -error[:, None] * p + l2 * q)
    return grads


def numerical_gradient(function: Callable[[], float], array: np.ndarray, eps: float = 1e-6
                       ) -> np.ndarray:
    """Central differences ``(f(x + ε) − f(x − ε)) / 2ε`` for every entry of ``array``.

    ``function`` takes no argument and reads ``array``, which is perturbed in place and
    restored. Cost: two calls per entry, so use it on small problems only.
    """
    gradient = np.zeros_like(array, dtype=float)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        upper = function()
        array[index] = saved - eps
        lower = function()
        array[index] = saved
        gradient[index] = (upper - lower) / (2 * eps)
    return gradient


def add_rows(target: np.ndarray, rows, values: np.ndarray) -> None:
    """``target[rows[n]] += values[n]`` for every ``n``, in place, summing repeated rows.

    ``target`` is a C-contiguous ``(n_rows, width)`` array, ``values`` ``(len(rows), width)``.
    It runs ``np.add.at`` on the flattened array, which NumPy does several times faster than
    on the rows of a 2-D one (the sums are the same).
    """
    width = target.shape[1]
    flat = (np.asarray(rows)[:, None] * width + np.arange(width)).ravel()
    np.add.at(target.reshape(-1), flat, values.ravel())


def sgd_step(params: dict, users, items, ratings, learning_rate: float, l2: float,
             l2_bias: float) -> None:
    """One SGD step on a mini-batch of ratings, updating ``params`` in place.

    Every rating's error ``e = r − r̂`` and every step come from the parameters *before* the
    step; a parameter touched by several ratings of the batch receives the sum of their
    steps ``γ (e q_i − λ p_u)``, ``γ (e p_u − λ q_i)``, ``γ (e − λ_b b_u)``,
    ``γ (e − λ_b b_i)`` (``γ`` = ``learning_rate``). A batch of every rating is thus one
    step of gradient descent on :func:`mf_loss`, and a batch of one rating Funk's SGD.
    """
    p, q = params["user_factors"][users], params["item_factors"][items]
    error = ratings - predict_ratings(params, users, items)
    np.add.at(params["user_bias"], users,
              learning_rate * (error - l2_bias * params["user_bias"][users]))
    np.add.at(params["item_bias"], items,
              learning_rate * (error - l2_bias * params["item_bias"][items]))
    add_rows(params["user_factors"], users, learning_rate * (error[:, None] * q - l2 * p))
    add_rows(params["item_factors"], items, learning_rate * (error[:, None] * p - l2 * q))


def als_half_step(mask, targets, fixed: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """Solve every row of the rating matrix for ``x_n = [factors_n, bias_n]``, with the
    other side's factors ``fixed``: the ALS half-step.

    ``mask`` is the sparse 0/1 matrix of observed ratings, shape ``(n_rows, n_columns)``
    (users × items for the user step, items × users for the item step); ``targets`` the
    sparse matrix of the same pattern holding the targets ``y_nj``; ``fixed`` the other
    side's factors ``(n_columns, d)``; ``penalty`` ``(λ, …, λ, λ_b)``, shape ``(d + 1,)``.
    Row ``n`` solves its normal equations ``(Σ_j a_j a_jᵀ + c_n diag(penalty)) x_n =
    Σ_j y_nj a_j`` over its ratings ``j``, with ``a_j = [fixed_j, 1]`` and ``c_n`` its number
    of ratings (0 counts as 1, so a row without ratings gets ``x_n = 0``). Returns ``x``,
    shape ``(n_rows, d + 1)``.
    """
    augmented = np.hstack([fixed, np.ones((len(fixed), 1))])
    size = augmented.shape[1]
    upper = np.triu_indices(size)
    products = mask @ (augmented[:, upper[0]] * augmented[:, upper[1]])
    system = np.empty((mask.shape[0], size, size))
    system[:, upper[0], upper[1]] = products
    system[:, upper[1], upper[0]] = products
    diagonal = np.arange(size)
    counts = np.maximum(mask.getnnz(axis=1), 1)
    system[:, diagonal, diagonal] += counts[:, None] * penalty
    rhs = targets @ augmented
    return np.linalg.solve(system, np.asarray(rhs)[..., None])[..., 0]
