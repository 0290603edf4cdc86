"""Checks for chapter 6's exercises: a GRU step, transition counts, a GRU's parameter count."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsys_lab.exercises import (
    Feedback,
    _as_whole_number,
    _grader,
    _not_a_function,
    _show,
)
from recsys_lab.exercises import as_float_array as _as_float_array
from recsys_lab.exercises import call_safely as _call_safely
from recsys_lab.exercises import wrong_shape as _wrong_shape
from recsys_lab.scratch.gru import gru_step as _gru_step_reset_after


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _reference_gru_step(x, h, kernel, recurrent_kernel, bias):
    """One GRU step in the original convention of Cho et al. (Keras ``reset_after=False``).

    x : ``(batch, d)``;  h : ``(batch, n)``;  kernel : ``(d, 3n)`` and recurrent_kernel :
    ``(n, 3n)`` with gate blocks ordered ``[z, r, h]``;  bias : ``(3n,)``, one bias per gate.
    ``h' = z * h + (1 - z) * tanh(x W_h + (r * h) U_h + b_h)``.
    """
    n = h.shape[-1]
    from_x = x @ kernel + bias
    z = _sigmoid(from_x[:, :n] + h @ recurrent_kernel[:, :n])
    r = _sigmoid(from_x[:, n:2 * n] + h @ recurrent_kernel[:, n:2 * n])
    candidate = np.tanh(from_x[:, 2 * n:] + (r * h) @ recurrent_kernel[:, 2 * n:])
    return z * h + (1.0 - z) * candidate


def _gru_cases():
    rng = np.random.default_rng(6)
    cases = []
    for batch, d, n in ((1, 2, 3), (4, 5, 2), (3, 3, 6)):
        cases.append((rng.normal(size=(batch, d)), rng.normal(size=(batch, n)),
                      rng.normal(size=(d, 3 * n)), rng.normal(size=(n, 3 * n)),
                      rng.normal(size=3 * n)))
    return cases


def _swapped_update(x, h, kernel, recurrent_kernel, bias):
    z_h = _reference_gru_step(x, h, kernel, recurrent_kernel, bias)
    # Solve for the candidate and recombine with the roles of z and 1 - z exchanged.
    n = h.shape[-1]
    z = _sigmoid((x @ kernel + bias)[:, :n] + h @ recurrent_kernel[:, :n])
    candidate = (z_h - z * h) / (1.0 - z)
    return (1.0 - z) * h + z * candidate


@_grader
def check_gru_step(function: Callable) -> Feedback:
    """Grade ``function(x, h, kernel, recurrent_kernel, bias) -> new h`` (reset applied first).

    The reference is the original GRU of Cho et al., i.e.
    ``keras.layers.GRU(reset_after=False)``, with one bias ``(3n,)`` per gate.
    """
    if (not_a_function := _not_a_function("gru_step", function)) is not None:
        return not_a_function
    for case in _gru_cases():
        expected = _reference_gru_step(*case)
        got, error = _call_safely(function, *(np.array(a) for a in case))
        shapes = ", ".join(str(np.shape(a)) for a in case)
        if error:
            return Feedback(False, f"with shapes {shapes} your function raised {error}")
        got = _as_float_array(got)
        if (mismatch := _wrong_shape(got, expected.shape, "a new state")) is not None:
            return mismatch
        if np.allclose(got, expected, atol=1e-8):
            continue
        reset_after = _gru_step_reset_after(*case[:4], np.stack([case[4], 0 * case[4]]))
        if np.allclose(got, reset_after, atol=1e-8):
            return Feedback(False, "that is the reset-after variant: here the reset gate "
                                   "multiplies h *before* the recurrent matrix, (r * h) @ U_h.")
        if np.allclose(got, _swapped_update(*case), atol=1e-8):
            return Feedback(False, "z and 1 - z are swapped: in Keras' convention z keeps the "
                                   "old state, h' = z * h + (1 - z) * candidate.")
        return Feedback(False, f"wrong new state for shapes {shapes}. Hint: the gate blocks of "
                               "kernel and recurrent_kernel are ordered [z, r, candidate].")
    return Feedback(True, "your GRU step matches keras.layers.GRU(reset_after=False).")


@_grader
def check_transition_counts(function: Callable) -> Feedback:
    """Grade ``function(histories, n_items) -> (n_items, n_items)`` consecutive-pair counts.

    ``C[i, j]`` is how often item ``j`` directly followed item ``i`` within a history.
    """
    if (not_a_function := _not_a_function("transition_counts", function)) is not None:
        return not_a_function
    histories = [np.array([0, 2, 1, 3]), np.array([2, 1]), np.array([4]), np.array([3, 0, 2])]
    expected = np.zeros((5, 5))
    for history in histories:
        np.add.at(expected, (history[:-1], history[1:]), 1.0)
    got, error = _call_safely(function, [h.copy() for h in histories], 5)
    if error:
        return Feedback(False, f"your function raised {error}")
    got = _as_float_array(got)
    if (mismatch := _wrong_shape(got, expected.shape, "a count matrix")) is not None:
        return mismatch
    if np.allclose(got, expected.T):
        return Feedback(False, "rows and columns are swapped: row i should count what came "
                               "*after* i.")
    if not np.allclose(got, expected):
        i, j = np.argwhere(~np.isclose(got, expected))[0]
        return Feedback(False, f"C[{i}, {j}] should be {expected[i, j]:g}, got {got[i, j]:g}. "
                               "Hint: count only consecutive pairs (h[t], h[t + 1]) within "
                               "each history, never across two users.")
    return Feedback(True, f"correct: {int(expected.sum())} transitions counted.")


@_grader
def check_gru_parameter_count(value, input_dim: int, units: int) -> Feedback:
    """Grade the number of trainable weights of a Keras GRU layer (``reset_after=True``)."""
    per_gate = input_dim * units + units * units
    expected = 3 * (per_gate + 2 * units)
    count = _as_whole_number(value)
    if count is None:
        return Feedback(False, f"expected a whole number, got {_show(value)}")
    if count == expected:
        return Feedback(True, f"{expected:,} weights: three gates, each with an input matrix, "
                              "a recurrent matrix and two biases.")
    if count == 3 * (per_gate + units):
        return Feedback(False, "close: with reset_after=True each gate has two bias vectors, "
                               "one for the input and one for the recurrent part.")
    if count == 4 * (per_gate + units):
        return Feedback(False, "that is an LSTM (four blocks); a GRU has three.")
    return Feedback(False, f"{count:,} is not it. Hint: count kernel (input_dim × 3·units), "
                           "recurrent_kernel (units × 3·units) and the bias of shape (2, 3·units).")
