"""Checks for chapter 4's exercises: the masked loss, the Gaussian KL, the multinomial
log-likelihood and the KL-annealing schedule. NumPy only (no TensorFlow)."""

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
from recsys_lab.exercises import check_cases as _check_cases


def _compare_arrays(name: str, function: Callable, cases, reference: Callable, hint: str,
                    tolerance: float = 1e-6) -> Feedback:
    """Like :func:`check_cases`, for functions that return an array (one value per row)."""
    if (not_a_function := _not_a_function(name, function)) is not None:
        return not_a_function
    for args in cases:
        expected = np.asarray(reference(*args), dtype=float)
        answer, error = _call_safely(function, *(np.copy(a) for a in args))
        if error:
            return Feedback(False, f"{name} raised {error}. Hint: {hint}")
        got = _as_float_array(answer)
        if got is None:
            return Feedback(False, f"{name} returned {_show(answer)}, expected numbers "
                                   f"(one value per row). Hint: {hint}")
        if got.shape != expected.shape:
            return Feedback(False, f"{name} returned shape {got.shape}, expected "
                                   f"{expected.shape} (one value per row). Hint: {hint}")
        if not np.allclose(got, expected, rtol=tolerance, atol=tolerance):
            shown = np.array2string(np.asarray(args[0]), precision=2, threshold=20)
            return Feedback(False, f"{name} is wrong for the case whose first argument is "
                                   f"{shown}: got {np.round(got, 4)}, expected "
                                   f"{np.round(expected, 4)}. Hint: {hint}")
    return Feedback(True, f"{name} is correct on all {len(cases)} test cases.")


# -- masked loss ------------------------------------------------------------------------------

def _reference_masked_loss(ratings, predictions):
    ratings, predictions = np.asarray(ratings, float), np.asarray(predictions, float)
    return float((((ratings - predictions) ** 2) * (ratings != 0)).sum())


def _masked_cases():
    rng = np.random.default_rng(4)
    ratings = rng.integers(0, 6, size=(4, 6)).astype(float)
    return [
        (np.array([[5.0, 0.0, 3.0]]), np.array([[4.0, 2.5, 3.0]])),
        (np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[3.0, 3.0], [2.0, 3.0]])),
        (ratings, rng.normal(3, 1, size=(4, 6))),
    ]


@_grader
def check_masked_loss(function: Callable) -> Feedback:
    """Grade ``function(ratings, predictions) -> float``: squared error over observed entries.

    ``ratings`` is a 2-D array with 0 for a missing rating.
    """
    return _check_cases("masked_loss", function, _masked_cases(), _reference_masked_loss,
                       "only entries with ratings != 0 count; sum (r − r̂)² over them and "
                       "ignore what the network predicts for missing entries.", tolerance=1e-6)


# -- KL divergence ----------------------------------------------------------------------------

def _reference_kl(mu, log_var):
    mu, log_var = np.asarray(mu, float), np.asarray(log_var, float)
    return 0.5 * np.sum(np.exp(log_var) + mu**2 - 1.0 - log_var, axis=-1)


def _kl_cases():
    rng = np.random.default_rng(5)
    return [
        (np.zeros((1, 3)), np.zeros((1, 3))),
        (np.array([[1.0, -2.0]]), np.array([[0.0, np.log(4.0)]])),
        (rng.normal(size=(3, 5)), rng.normal(size=(3, 5))),
    ]


@_grader
def check_gaussian_kl(function: Callable) -> Feedback:
    """Grade ``function(mean, log_var) -> array (batch,)``: KL(N(z̄, diag τ²) ‖ N(0, I)) per
    row, with ``mean`` = z̄ and ``log_var`` = log τ² (chapter 4's notation)."""
    return _compare_arrays("gaussian_kl", function, _kl_cases(), _reference_kl,
                           "per dimension the KL is ½(τ² + z̄² − 1 − log τ²), in most texts "
                           "½(σ² + μ² − 1 − log σ²); sum it over the last axis, and remember "
                           "log_var is log τ², not τ.")


# -- multinomial log-likelihood ---------------------------------------------------------------

def _reference_multinomial(counts, logits):
    counts, logits = np.asarray(counts, float), np.asarray(logits, float)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return (counts * log_softmax).sum(axis=-1)


def _multinomial_cases():
    rng = np.random.default_rng(6)
    return [
        (np.array([[1.0, 0.0, 1.0]]), np.array([[0.0, 0.0, 0.0]])),
        ((rng.random((3, 6)) < 0.5).astype(float), rng.normal(size=(3, 6))),
        (np.array([[1.0, 1.0, 0.0, 0.0]]), np.array([[800.0, 805.0, 790.0, -50.0]])),
    ]


@_grader
def check_multinomial_log_likelihood(function: Callable) -> Feedback:
    """Grade ``function(counts, logits) -> array (batch,)``: ``Σ_i x_i log softmax(logits)_i``.

    One case has logits near 800, where ``np.exp`` overflows: the answer must use the
    log-sum-exp trick.
    """
    return _compare_arrays("multinomial_log_likelihood", function, _multinomial_cases(),
                           _reference_multinomial,
                           "log softmax(l)_i = l_i − log Σ_j exp(l_j); subtract max(l) before "
                           "exponentiating (log-sum-exp) so large logits do not overflow.")


# -- KL annealing schedule --------------------------------------------------------------------

def _reference_schedule(step, beta, anneal_steps):
    return beta * min(1.0, step / anneal_steps)


@_grader
def check_kl_schedule(function: Callable) -> Feedback:
    """Grade ``function(step, beta, anneal_steps) -> float``: ``β · min(1, step / T)``."""
    cases = [(0, 0.2, 100), (50, 0.2, 100), (100, 0.2, 100), (350, 0.2, 100), (7, 1.0, 10),
             (30, 0.5, 10)]
    return _check_cases("kl_schedule", function, cases, _reference_schedule,
                       "β rises linearly from 0 at step 0 to its cap at step T, then stays "
                       "at the cap.")
