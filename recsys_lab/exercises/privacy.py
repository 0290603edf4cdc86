"""Checks for the exercises of the chapter on privacy and learning online: the FedAvg update of
the item factors, per-example gradient clipping, and the fold-in solve of a new user.

The expected answers come from the library's reference implementations
(:func:`recsys_lab.models.federated.federated_average`, :func:`recsys_lab.privacy.clip_rows`,
:func:`recsys_lab.online.fold_in_rows`), imported privately.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsys_lab.exercises import Feedback, _grader, _not_a_function, _show
from recsys_lab.exercises import as_float_array as _as_float_array
from recsys_lab.exercises import call_quietly as _call_quietly
from recsys_lab.exercises import same_values as _same_values
from recsys_lab.models.federated import federated_average as _federated_average
from recsys_lab.online import fold_in_rows as _fold_in_rows
from recsys_lab.privacy import clip_rows as _clip_rows


def _grade_array(name: str, case: str, got, error, expected: np.ndarray,
                 mistakes: list[tuple[np.ndarray, str]], hint: str) -> Feedback | None:
    """A failing Feedback for a wrong array answer (a known mistake named), None if right."""
    if error:
        return Feedback(False, f"{case} raised {error}. Hint: {hint}")
    answer = _as_float_array(got)
    if answer is None or answer.shape != expected.shape:
        found = "no numbers" if answer is None else f"shape {answer.shape}"
        return Feedback(False, f"{case} returned {_show(got)} ({found}); expected an array of "
                               f"shape {expected.shape}. Hint: {hint}")
    if not np.all(np.isfinite(answer)):
        return Feedback(False, f"{case} holds NaN or infinity: did you divide by zero? "
                               f"Hint: {hint}")
    if _same_values(answer, expected):
        return None
    for mistake, message in mistakes:
        if mistake.shape == expected.shape and _same_values(answer, mistake):
            return Feedback(False, f"{case}: {message}")
    wrong = tuple(int(i) for i in np.argwhere(~np.isclose(answer, expected, rtol=1e-6,
                                                          atol=1e-9))[0])
    return Feedback(False, f"{case} is wrong at {wrong}: expected {expected[wrong]:.4f}, got "
                           f"{answer[wrong]:.4f}. Hint: {hint}")


# --------------------------------------------------------------------------------------------
# The FedAvg update
# --------------------------------------------------------------------------------------------


def _fedavg_cases():
    rng = np.random.default_rng(22)
    small_counts = np.array([[1, 0, 1], [1, 1, 0]], dtype=float)  # item 2: client 0 only
    small = (rng.normal(size=(3, 2)), rng.normal(size=(2, 3, 2)) * small_counts[..., None],
             small_counts)
    counts = (rng.random((4, 5)) < 0.5).astype(float) * rng.integers(1, 4, (4, 5))
    counts[:, 3] = 0  # item 3: nobody rated it this round
    counts[0, 0] = counts[1, 0] = 2
    updates = rng.normal(size=(4, 5, 3)) * (counts > 0)[..., None]
    return [small, (rng.normal(size=(5, 3)), updates, counts)]


@_grader
def check_fedavg_update(function: Callable) -> Feedback:
    """Grade ``function(item_factors, updates, counts) -> new item factors``.

    ``item_factors`` ``(n_items, d)`` are the server's; ``updates`` ``(n_clients, n_items, d)``
    each sampled client's change of each item's factors (zero where it has no rating);
    ``counts`` ``(n_clients, n_items)`` the number of ratings behind each change. The answer
    adds to each row the counts-weighted mean of its changes over the clients that sent
    one, and leaves a row that no client changed as it was.
    """
    name = "fedavg_update"
    if (not_a_function := _not_a_function(name, function)) is not None:
        return not_a_function
    hint = ("new q_i = q_i + Σ_k n_ki Δ_ki / Σ_k n_ki over the clients k, for every item i "
            "with Σ_k n_ki > 0; other rows stay as they were.")
    for item_factors, updates, counts in _fedavg_cases():
        expected = item_factors + _federated_average(updates, counts)
        touched = counts.sum(axis=0) > 0
        plain_mean = item_factors + updates.mean(axis=0)
        with np.errstate(all="ignore"):
            by_clients = item_factors + np.where(
                touched[:, None], updates.sum(axis=0) / (counts > 0).sum(axis=0)[:, None], 0)
        mistakes = [
            (_federated_average(updates, counts), "you returned the averaged update only: "
             "add it to the server's item factors."),
            (item_factors + updates.sum(axis=0), "you summed the clients' changes: FedAvg "
             "averages them, weighted by counts."),
            (plain_mean, "you averaged over all sampled clients, counting a client that did "
             "not rate an item as a change of 0: average each row over the clients that "
             "sent one, weighted by their counts."),
            (by_clients, "you averaged each row over the clients that changed it but "
             "ignored the counts: weight each change by its number of ratings."),
        ]
        case = (f"{name} with {updates.shape[0]} clients, {updates.shape[1]} items, "
                f"counts {_show(counts.astype(int).tolist())}")
        got, error = _call_quietly(function, item_factors.copy(), updates.copy(), counts.copy())
        if (feedback := _grade_array(name, case, got, error, expected, mistakes, hint)) \
                is not None:
            return feedback
    return Feedback(True, "correct: each item moves by the average change of the clients who "
                          "rated it, and no client's ratings left its device.")


# --------------------------------------------------------------------------------------------
# Per-example clipping
# --------------------------------------------------------------------------------------------


def _clip_cases():
    rng = np.random.default_rng(5)
    small = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0], [-6.0, 8.0]])
    return [(small, 1.0), (rng.normal(size=(6, 4)) * rng.uniform(0.1, 3, (6, 1)), 1.5)]


@_grader
def check_clip_gradients(function: Callable) -> Feedback:
    """Grade ``function(gradients, clip_norm) -> clipped``: each row (one example's
    gradient) scaled by ``min(1, C / ‖row‖)``; a zero row stays zero."""
    name = "clip_gradients"
    if (not_a_function := _not_a_function(name, function)) is not None:
        return not_a_function
    hint = "scale each row g by min(1, C / ‖g‖₂), its own L2 norm (a zero row stays zero)."
    for gradients, clip_norm in _clip_cases():
        expected = _clip_rows(gradients, clip_norm)[0]
        norms = np.sqrt((gradients ** 2).sum(axis=1, keepdims=True))
        safe = np.where(norms > 0, norms, 1.0)
        total = np.sqrt((gradients ** 2).sum())
        mistakes = [
            (np.clip(gradients, -clip_norm, clip_norm), "you clipped each entry to [−C, C]: "
             "DP-SGD bounds each example's whole gradient vector, by its L2 norm."),
            (gradients * clip_norm / safe, "you scaled every row to norm C, small ones up "
             "too: only rows longer than C shrink (min(1, C / ‖g‖))."),
            (gradients * min(1.0, clip_norm / total), "you clipped the norm of the whole "
             "batch: clip each example (row) separately, before summing."),
            (gradients * np.minimum(1.0, clip_norm / np.where(norms > 0, (gradients ** 2).sum(
                axis=1, keepdims=True), 1.0)), "you divided by the squared norm: use ‖g‖₂."),
        ]
        case = f"{name}({_show(gradients)}, {clip_norm})"
        got, error = _call_quietly(function, gradients.copy(), clip_norm)
        if (feedback := _grade_array(name, case, got, error, expected, mistakes, hint)) \
                is not None:
            return feedback
    return Feedback(True, "correct: no single rating can move the summed gradient by more "
                          "than C, which is what lets noise of scale σC hide it.")


# --------------------------------------------------------------------------------------------
# Fold-in
# --------------------------------------------------------------------------------------------


def _fold_in_cases():
    rng = np.random.default_rng(13)
    hand = (np.array([[1.0], [2.0]]), np.array([1.0, 2.0]), 0.5, 0.5)  # x = [2/3, 1/3]
    return [hand, (rng.normal(size=(6, 3)), rng.normal(size=6), 0.2, 0.05)]


def _solve(factors, targets, penalty_diagonal):
    augmented = np.hstack([factors, np.ones((len(factors), 1))])
    system = augmented.T @ augmented + np.diag(penalty_diagonal)
    return np.linalg.solve(system, augmented.T @ targets)


@_grader
def check_fold_in(function: Callable) -> Feedback:
    """Grade ``function(item_factors, targets, l2, l2_bias) -> x``, ``x = [p_u, b_u]``.

    ``item_factors`` ``(n, d)`` are the factors of the ``n`` items a new user rated and
    ``targets`` ``(n,)`` their ``r − μ − b_i``. ``x`` ``(d + 1,)`` solves
    ``(Σ a aᵀ + n diag(λ, …, λ, λ_b)) x = Σ y a`` with ``a = [q_i, 1]``.
    """
    name = "fold_in"
    if (not_a_function := _not_a_function(name, function)) is not None:
        return not_a_function
    hint = ("append a 1 to each q_i (a = [q_i, 1]), then solve (AᵀA + n·diag(λ, …, λ, λ_b)) "
            "x = Aᵀy, n the number of ratings.")
    for factors, targets, l2, l2_bias in _fold_in_cases():
        n, d = factors.shape
        expected = _fold_in_rows(np.zeros(n, int), np.arange(n), targets, factors, 1, l2,
                                 l2_bias)[0]
        ridge = np.linalg.solve(factors.T @ factors + n * l2 * np.eye(d), factors.T @ targets)
        mistakes = [
            (_solve(factors, targets, np.r_[np.full(d, l2), l2_bias]), "the penalty is "
             "counted once per rating in the book's objective: multiply diag(λ, …, λ, λ_b) "
             "by n, the user's number of ratings."),
            (_solve(factors, targets, n * np.full(d + 1, l2)), "you penalised the bias "
             "with λ: its penalty is λ_b."),
            (np.r_[ridge, 0.0], "you left the bias out of the solve (b_u = 0): append a 1 "
             "to each q_i so that b_u is solved with p_u."),
        ]
        case = f"{name} of {n} ratings (d = {d}, λ = {l2}, λ_b = {l2_bias})"
        got, error = _call_quietly(function, factors.copy(), targets.copy(), l2, l2_bias)
        if (feedback := _grade_array(name, case, got, error, expected, mistakes, hint)) \
                is not None:
            return feedback
    return Feedback(True, "correct: one small (d + 1) × (d + 1) solve places a new user "
                          "among the items, without retraining anything.")
