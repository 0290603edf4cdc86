"""Checks for the feature-rich chapter's exercises: the FM identity, a DCN-v2 cross layer
and the embedding of a multi-hot field.

Conventions, as in :mod:`recsys_lab.scratch.fm` and :mod:`recsys_lab.fields`: rows are
examples; ``X`` is ``(n, p)``, ``V`` ``(p, k)``; a cross layer is ``x0 ⊙ (x W + b) + x``; a
field's values are ids into an embedding table, 0 for "none" (padding), with inputs
``weights`` that are 0 where the value is none.
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
from recsys_lab.exercises import call_quietly as _call_quietly
from recsys_lab.exercises import same_values as _same_values
from recsys_lab.scratch.fm import cross_layer as _cross_layer
from recsys_lab.scratch.fm import field_embedding as _field_embedding
from recsys_lab.scratch.fm import fm_pairwise_naive as _fm_pairwise_naive


def _grade(name: str, function: Callable, cases, reference: Callable, mistakes: Callable,
           describe: Callable, shape_hint: Callable, hint: str, success: str) -> Feedback:
    """Run ``function`` on every case; compare with ``reference`` and the typical mistakes.

    ``mistakes(*args)`` lists ``(wrong answer, message)``; ``describe(*args)`` names the
    case; ``shape_hint(answer shape, expected shape)`` explains a wrong shape (or None).
    """
    if (not_a_function := _not_a_function(name, function)) is not None:
        return not_a_function
    for args in cases:
        expected = reference(*args)
        case = f"{name}({describe(*args)})"
        got, error = _call_quietly(function, *(np.array(a, copy=True) for a in args))
        if error:
            return Feedback(False, f"{case} raised {error}. Hint: {hint}")
        answer = _as_float_array(got)
        if answer is None:
            return Feedback(False, f"{case} returned {_show(got)}, expected an array of shape "
                                   f"{expected.shape}. Hint: {hint}")
        if answer.shape != expected.shape:
            extra = shape_hint(answer.shape, expected.shape) or hint
            return Feedback(False, f"{case} has shape {answer.shape}, expected "
                                   f"{expected.shape}. Hint: {extra}")
        if _same_values(answer, expected):
            continue
        for mistake, message in mistakes(*args):
            if _same_values(answer, mistake):
                return Feedback(False, f"{case}: {message}")
        with np.errstate(all="ignore"):
            gap = np.abs(answer - expected)
        where = tuple(int(i) for i in np.argwhere(~(gap <= 1e-6 + 1e-6 * np.abs(expected)))[0])
        return Feedback(False, f"{case} is wrong at {where}: expected {expected[where]:.4f}, "
                               f"got {answer[where]:.4f}. Hint: {hint}")
    return Feedback(True, success)


# --------------------------------------------------------------------------------------------
# The FM identity
# --------------------------------------------------------------------------------------------


def _fm_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """``(X, V)`` with inputs that are not all 0/1 (so that ``x²`` differs from ``x``)."""
    rng = np.random.default_rng(31)
    small = np.array([[1.0, 0.0, 0.5, 0.5],
                      [0.0, 1.0, 1 / 3, 0.0]])
    larger = rng.random((5, 7)) * (rng.random((5, 7)) < 0.6)
    return [(small, rng.standard_normal((4, 3))), (larger, rng.standard_normal((7, 5))),
            (rng.standard_normal((3, 6)), rng.standard_normal((6, 1)))]


def _fm_mistakes(X, V) -> list[tuple[np.ndarray, str]]:
    XV = X @ V
    identity = ("Hint: ½ Σ_f [(Σ_i v_if x_i)² − Σ_i v_if² x_i²], i.e. 0.5 * ((X @ V) ** 2 "
                "− (X ** 2) @ (V ** 2)).sum(axis=1).")
    return [
        (np.sum(XV ** 2 - (X ** 2) @ (V ** 2), axis=1),
         f"you forgot the ½: the square (Σ_i v_i x_i)² holds every pair i ≠ j twice. {identity}"),
        (0.5 * np.sum(XV ** 2 - X @ (V ** 2), axis=1),
         f"square the inputs too in the second term: Σ_i v_if² x_i², not Σ_i v_if² x_i "
         f"(the two agree only for 0/1 inputs). {identity}"),
        (0.5 * np.sum(XV ** 2 - (X ** 2) @ V, axis=1),
         f"square the factors too in the second term: v_if², not v_if. {identity}"),
        (0.5 * np.sum(XV ** 2, axis=1),
         f"you kept the terms i = j: subtract Σ_i v_if² x_i², the diagonal of the square. "
         f"{identity}"),
        (np.sum(XV ** 2, axis=1),
         f"that sums over all pairs (i, j), i = j included and each pair twice. {identity}"),
        (0.5 * np.sum(XV ** 2 - (X ** 2) @ (V ** 2), axis=1) + X.sum(axis=1),
         "return the pairwise term only, without the linear term Σ_i w_i x_i."),
    ]


@_grader
def check_fm_identity(function: Callable) -> Feedback:
    """Grade ``function(X, V) -> (n,)``, the FM's pairwise term ``Σ_{i<j} ⟨v_i, v_j⟩ x_i x_j``
    of each row, computed in ``O(k · p)`` per row.

    ``X`` is a dense NumPy array ``(n, p)`` of inputs (not only 0 and 1), ``V`` the factors
    ``(p, k)``. The answer is compared with the double sum on several cases.
    """
    def shape_hint(got, expected):
        if got == (expected[0], 0) or len(got) == 2 and got[0] == expected[0]:
            return "one number per row: sum over the k factors too (axis=1)."
        if got == ():
            return "one number per row of X, not one for all rows: sum over axis=1 only."
        return None

    return _grade(
        "fm_pairwise", function, _fm_cases(), _fm_pairwise_naive, _fm_mistakes,
        lambda X, V: f"X {X.shape}, V {V.shape}", shape_hint,
        "with s_f = Σ_i v_if x_i, the pairwise term is ½ Σ_f [s_f² − Σ_i v_if² x_i²].",
        "correct: the pairwise term in O(k · p) per row instead of O(k · p²), which is what "
        "makes a factorization machine over thousands of columns affordable.")


# --------------------------------------------------------------------------------------------
# The cross layer
# --------------------------------------------------------------------------------------------


def _cross_cases():
    rng = np.random.default_rng(37)
    cases = []
    for n, d in ((3, 4), (2, 5)):
        x0 = rng.standard_normal((n, d))
        cases.append((x0, x0.copy(), rng.standard_normal((d, d)), rng.standard_normal(d)))
        cases.append((x0, rng.standard_normal((n, d)), rng.standard_normal((d, d)),
                      rng.standard_normal(d)))
    return cases[1:] + cases[:1]  # x ≠ x0 first, so that mixing them up shows at once


def _cross_mistakes(x0, x, W, b) -> list[tuple[np.ndarray, str]]:
    layer = "Hint: x0 * (x @ W + b) + x, element-wise product with x0, residual x."
    return [
        (x0 * (x @ W + b), f"you left out the residual + x. {layer}"),
        (x0 * (x0 @ W + b) + x, f"project x, the previous layer's output, not x0. {layer}"),
        (x * (x @ W + b) + x, f"multiply by x0 (the input of the first layer), not by x. "
                              f"{layer}"),
        (x0 * (x @ W.T + b) + x, f"rows are examples, so the projection is x @ W, not W @ x "
                                 f"(that is the paper's column convention). {layer}"),
        (x0 * (x @ W) + x, f"you forgot the bias b. {layer}"),
        (x0 * (x @ W + b) + x0, f"the residual is x (the previous output), not x0. {layer}"),
        (x0 * (x @ W) + b + x, f"the bias goes inside the product: x0 ⊙ (x W + b). {layer}"),
    ]


@_grader
def check_cross_layer(function: Callable) -> Feedback:
    """Grade ``function(x0, x, W, b) -> (n, d)``, one DCN-v2 cross layer.

    ``x0`` and ``x`` are ``(n, d)`` (rows are examples; ``x`` the previous layer's output),
    ``W`` ``(d, d)`` and ``b`` ``(d,)``; the answer is ``x0 ⊙ (x W + b) + x``.
    """
    return _grade(
        "cross_layer", function, _cross_cases(), _cross_layer, _cross_mistakes,
        lambda x0, x, W, b: f"x0 {x0.shape}, x {x.shape}, W {W.shape}, b {b.shape}",
        lambda got, expected: None,
        "x0 * (x @ W + b) + x, an (n, d) array like x.",
        "correct: each layer multiplies the input x0 element-wise by a linear map of the "
        "previous layer, raising the degree of the feature crosses by one.")


# --------------------------------------------------------------------------------------------
# A multi-hot field's embedding
# --------------------------------------------------------------------------------------------


def _field_cases():
    rng = np.random.default_rng(41)
    values = np.array([[3, 1, 0], [2, 0, 0], [0, 0, 0], [1, 2, 4]])
    counts = np.maximum((values > 0).sum(axis=1, keepdims=True), 1)
    mean_weights = (values > 0) / counts
    odd_values = np.array([[2, 1], [4, 0], [3, 3]])
    odd_weights = np.array([[0.7, 0.3], [2.0, 0.0], [0.5, 0.25]])
    return [(values, mean_weights, rng.standard_normal((5, 3))),
            (odd_values, odd_weights, rng.standard_normal((5, 2)))]


def _field_mistakes(values, weights, embeddings) -> list[tuple[np.ndarray, str]]:
    known = (values > 0)[..., None]
    rows = embeddings[values]
    counts = np.maximum(known.sum(axis=1), 1)
    weighted = ("Hint: Σ_j weights[:, j, None] * embeddings[values[:, j]] "
                "(np.einsum('nw,nwk->nk', weights, embeddings[values])).")
    return [
        (rows.sum(axis=1), "that is the plain sum of the rows, padding (value 0) included: "
                           f"multiply each row by its weight. {weighted}"),
        ((rows * known).sum(axis=1), f"use the weights: each value's row counts x times. "
                                     f"{weighted}"),
        (rows.mean(axis=1), "the mean over the width counts the padding (value 0) too: "
                            f"weigh each row by its input, which is 0 for padding. {weighted}"),
        ((rows * known).sum(axis=1) / counts,
         f"use the weights given, not a mean you compute: they need not be 1/count. {weighted}"),
        (np.einsum("nw,nwk->nk", weights ** 2, rows),
         f"weigh the rows by x, not x² (x² belongs in the FM's correction term). {weighted}"),
    ]


@_grader
def check_field_embedding(function: Callable) -> Feedback:
    """Grade ``function(values, weights, embeddings) -> (n, k)``, a field's embedding per row.

    ``values`` ``(n, width)`` int ids (0 = none), ``weights`` ``(n, width)`` their inputs
    ``x`` (0 where the value is none), ``embeddings`` the field's table
    ``(vocab_size, k)``, whose row 0 is not zero. The answer is
    ``Σ_j weights[r, j] · embeddings[values[r, j]]`` for each row ``r``.
    """
    def shape_hint(got, expected):
        if len(got) == 3:
            return "sum the weighted rows over the width (axis=1): one vector per row."
        return None

    return _grade(
        "field_embedding", function, _field_cases(), _field_embedding, _field_mistakes,
        lambda v, w, e: f"values {v.shape}, weights {w.shape}, embeddings {e.shape}",
        shape_hint, "the weighted sum of the rows of embeddings that a row's values pick.",
        "correct: with weights 1/count a film's genre embedding is the mean of its genres' "
        "embeddings, and a row with no value gets the zero vector.")


# --------------------------------------------------------------------------------------------
# The new user: folding in, and popularity within a group
# --------------------------------------------------------------------------------------------


def _fold_in_by_definition(item_factors, films, alpha, l2) -> np.ndarray:
    """``x_u = (Vᵀ C_u V + λI)⁻¹ Vᵀ C_u p_u`` with ``C_u`` built in full (the slow way)."""
    n_items, d = item_factors.shape
    preference = np.zeros(n_items)
    preference[np.asarray(films, dtype=int)] = 1.0
    confidence = np.diag(1.0 + alpha * preference)
    system = item_factors.T @ confidence @ item_factors + l2 * np.eye(d)
    return np.linalg.solve(system, item_factors.T @ confidence @ preference)


def _fold_in_cases():
    rng = np.random.default_rng(41)
    return [(rng.normal(0, 0.3, (n_items, d)), rng.choice(n_items, n_films, replace=False),
             np.float64(10.0), np.float64(5.0))
            for n_items, d, n_films in ((30, 4, 3), (200, 8, 5), (50, 3, 12))]


def _fold_in_mistakes(V, films, alpha, l2) -> list[tuple[np.ndarray, str]]:
    mine = V[np.asarray(films, dtype=int)]
    d = V.shape[1]
    hint = "Hint: VᵀC_uV = VᵀV + α Σ_j v_j v_jᵀ and VᵀC_u p_u = (1 + α) Σ_j v_j."
    return [
        (np.linalg.solve(alpha * mine.T @ mine + l2 * np.eye(d), (1 + alpha) * mine.sum(0)),
         f"the films she did not watch count too, with confidence 1: add VᵀV. {hint}"),
        (np.linalg.solve(V.T @ V + alpha * mine.T @ mine + l2 * np.eye(d), mine.sum(0)),
         f"the right-hand side is Vᵀ C_u p_u: her films have confidence 1 + α. {hint}"),
        (np.linalg.solve(V.T @ V + alpha * mine.T @ mine, (1 + alpha) * mine.sum(0)),
         f"you left out the penalty λI. {hint}"),
    ]


@_grader
def check_fold_in(function: Callable) -> Feedback:
    """Grade ``function(item_factors, films, alpha, l2) -> (d,)``: a new user's iALS vector
    given the film factors ``V`` ``(n_items, d)`` and the ids of her films, without building
    the ``n_items × n_items`` confidence matrix. Compared with the definition on random cases.
    """
    return _grade(
        "fold_in", function, _fold_in_cases(), _fold_in_by_definition, _fold_in_mistakes,
        lambda V, films, alpha, l2: f"V {V.shape}, {len(films)} films, α={alpha:g}, λ={l2:g}",
        lambda got, expected: "return her vector only, one number per factor (d,).",
        "x_u = (VᵀV + α Σ_j v_j v_jᵀ + λI)⁻¹ (1 + α) Σ_j v_j over her films j.",
        "correct: one d × d solve per new user, after VᵀV once for everyone — which is why "
        "iALS can take in a new user without refitting.")


def _group_cases():
    rng = np.random.default_rng(43)
    cases = []
    for n_users, n_items, n_groups, shrinkage in ((12, 9, 3, 0.0), (40, 15, 4, 10.0)):
        history = (rng.random((n_users, n_items)) < 0.3).astype(float)
        history[0] = 0.0  # a new user: counts neither in her group nor in p(i)
        cases.append((history, rng.integers(0, n_groups, n_users), shrinkage))
    return cases


def _group_popularity(history, groups, shrinkage) -> np.ndarray:
    import pandas as pd

    from recsys_lab.baselines import GroupPopularity

    users, items = np.nonzero(history)
    frame = pd.DataFrame({"user": users, "item": items})
    model = GroupPopularity(groups, shrinkage).fit(frame, *history.shape)
    return model.group_scores_


@_grader
def check_group_popularity(function: Callable) -> Feedback:
    """Grade ``function(history, groups, shrinkage) -> (n_groups, n_items)``: the scores
    ``(c_g(i) + s p(i)) / (n_g + s)`` of :class:`recsys_lab.baselines.GroupPopularity`,
    counting only users with a training interaction. ``history`` is a SciPy sparse 0/1
    matrix ``(n_users, n_items)``, ``groups`` the group of each user.
    """
    import scipy.sparse as sp

    if (not_a_function := _not_a_function("group_popularity", function)) is not None:
        return not_a_function
    hint = ("n_g counts the group's users with at least one interaction, and p(i) = c(i) / "
            "(the number of such users overall).")
    for history, groups, shrinkage in _group_cases():
        expected = _group_popularity(history, groups, shrinkage)
        case = f"group_popularity({history.shape[0]} users, s={shrinkage:g})"
        got, error = _call_quietly(function, sp.csr_matrix(history), groups.copy(), shrinkage)
        if error:
            return Feedback(False, f"{case} raised {error}. Hint: {hint}")
        answer = _as_float_array(got)
        if answer is None or answer.shape != expected.shape:
            return Feedback(False, f"{case} returned {_show(got)}, expected an array of shape "
                                   f"{expected.shape}, one row per group. Hint: {hint}")
        if not _same_values(answer, expected):
            all_users = history.shape[0]
            counts = np.vstack([history[groups == g].sum(0) for g in range(expected.shape[0])])
            sizes = np.bincount(groups, minlength=expected.shape[0])[:, None]
            share = history.sum(0) / all_users
            with_new_users = (counts + shrinkage * share) / np.maximum(sizes + shrinkage, 1e-12)
            if _same_values(answer, with_new_users):
                return Feedback(False, f"{case}: a user without interactions (a new user) "
                                       f"counts in neither n_g nor p(i). Hint: {hint}")
            return Feedback(False, f"{case}: the scores differ from (c_g(i) + s·p(i)) / "
                                   f"(n_g + s). Hint: {hint}")
    return Feedback(True, "correct: one row of counts per group, smoothed towards everyone's "
                          "popularity by s pseudo-users.")
