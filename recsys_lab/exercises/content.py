"""Checks for chapter 5's exercises: convolution output lengths, a 1-D convolution, and the
linear version of "regress the item factors from content"."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from recsys_lab.exercises import (
    Feedback,
    _grader,
    _not_a_function,
)
from recsys_lab.exercises import as_float_array as _as_float_array
from recsys_lab.exercises import call_safely as _call_safely
from recsys_lab.exercises import check_cases as _check_cases


def _found(got) -> str:
    """What an answer (from :func:`as_float_array`) is, for a message about its shape."""
    return "no numbers" if got is None else f"shape {got.shape}"


def _reference_output_length(length, width, stride, padding):
    if padding == "same":
        return math.ceil(length / stride)
    return (length - width) // stride + 1


_LENGTH_CASES = [
    (10, 3, 1, "valid"), (10, 3, 1, "same"), (10, 3, 2, "valid"), (10, 3, 2, "same"),
    (7, 1, 1, "valid"), (64, 5, 3, "valid"), (64, 5, 3, "same"), (5, 5, 1, "valid"),
]


@_grader
def check_output_length(function: Callable) -> Feedback:
    """Grade ``function(length, width, stride, padding) -> int``: a Conv1D's output length."""
    return _check_cases("output_length", function, _LENGTH_CASES, _reference_output_length,
                       "with 'valid' the window must fit entirely: count the start positions "
                       "0, stride, 2·stride, … that leave room for `width` tokens; with 'same' "
                       "Keras pads so that only the stride shortens the sequence.")


def _reference_conv1d(x, kernel):
    width = kernel.shape[0]
    return np.stack([np.einsum("jc,jcf->f", x[t:t + width], kernel)
                     for t in range(x.shape[0] - width + 1)])


@_grader
def check_conv1d(function: Callable) -> Feedback:
    """Grade ``function(x, kernel) -> array``: a 'valid', stride-1 convolution of one sequence.

    ``x`` has shape ``(length, in_channels)``, ``kernel`` ``(width, in_channels, filters)``;
    the answer has shape ``(length − width + 1, filters)``.
    """
    if (not_a_function := _not_a_function("conv1d", function)) is not None:
        return not_a_function
    rng = np.random.default_rng(5)
    for length, channels, width, filters in ((6, 1, 2, 1), (8, 3, 3, 2), (5, 4, 1, 3),
                                             (9, 2, 4, 5)):
        x = rng.standard_normal((length, channels))
        kernel = rng.standard_normal((width, channels, filters))
        expected = _reference_conv1d(x, kernel)
        got, error = _call_safely(function, x.copy(), kernel.copy())
        case = f"x of shape {x.shape} and kernel of shape {kernel.shape}"
        if error:
            return Feedback(False, f"with {case} your function raised {error}")
        got = _as_float_array(got)
        if got is None or got.shape != expected.shape:
            return Feedback(False, f"with {case} expected shape {expected.shape}, got "
                                   f"{_found(got)}. Hint: a 'valid' convolution has "
                                   "length − width + 1 positions and one column per filter.")
        if np.allclose(got, expected[::-1]) and not np.allclose(got, expected):
            return Feedback(False, "your positions come out in reverse order.")
        flipped = _reference_conv1d(x, kernel[::-1])
        if np.allclose(got, flipped) and not np.allclose(got, expected):
            return Feedback(False, "you flipped the kernel: that is the convolution of "
                                   "signal processing; deep-learning libraries compute the "
                                   "cross-correlation, x[t + j] · kernel[j].")
        if not np.allclose(got, expected):
            return Feedback(False, f"with {case} the values differ, e.g. at position 0 you "
                                   f"have {np.round(got[0], 4)}, expected "
                                   f"{np.round(expected[0], 4)}. Hint: out[t, f] = "
                                   "Σ_j Σ_c x[t + j, c] · kernel[j, c, f].")
    return Feedback(True, "conv1d is correct on all 4 test cases.")


def _reference_ridge(x_warm, factors_warm, x_cold, l2):
    gram = x_warm.T @ x_warm + l2 * np.eye(x_warm.shape[1])
    return x_cold @ np.linalg.solve(gram, x_warm.T @ factors_warm)


@_grader
def check_ridge_factors(function: Callable) -> Feedback:
    """Grade ``function(x_warm, factors_warm, x_cold, l2) -> array (n_cold, d)``.

    The linear version of approach (a): ``A = (CᵀC + λI)⁻¹ Cᵀ Y`` on the warm items'
    content ``C`` and factors ``Y``, then the cold items' predicted factors ``C_cold A``
    (chapter 5's notation).
    """
    if (not_a_function := _not_a_function("ridge_factors", function)) is not None:
        return not_a_function
    rng = np.random.default_rng(11)
    for n_warm, n_cold, n_tokens, d, l2 in ((30, 5, 8, 3, 1.0), (50, 10, 20, 4, 10.0),
                                           (12, 4, 25, 2, 0.5)):
        x_warm = (rng.random((n_warm, n_tokens)) < 0.3).astype(float)
        x_cold = (rng.random((n_cold, n_tokens)) < 0.3).astype(float)
        factors = rng.standard_normal((n_warm, d))
        expected = _reference_ridge(x_warm, factors, x_cold, l2)
        got, error = _call_safely(function, x_warm.copy(), factors.copy(), x_cold.copy(), l2)
        if error:
            return Feedback(False, f"your function raised {error}")
        got = _as_float_array(got)
        if got is None or got.shape != expected.shape:
            return Feedback(False, f"expected shape {expected.shape} (one row per cold item, "
                                   f"one column per factor), got {_found(got)}.")
        if not np.allclose(got, expected, atol=1e-6):
            unregularised = x_cold @ np.linalg.lstsq(x_warm, factors, rcond=None)[0]
            if np.allclose(got, unregularised, atol=1e-6):
                return Feedback(False, "that is least squares without the ridge penalty: add "
                                       "λI to CᵀC.")
            return Feedback(False, "the predicted factors differ from the ridge solution. "
                                   "Hint: A = solve(CᵀC + λI, CᵀY), then x_cold @ A.")
    return Feedback(True, "correct: content → factors by ridge regression, on 3 test cases.")
