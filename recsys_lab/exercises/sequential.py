"""Checks for chapter 6's exercises: a GRU step, transition counts, a GRU's parameter count."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsys_lab.exercises import Feedback, as_float_array, call_safely, wrong_shape


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def gru_step_reset_after(x, h, kernel, recurrent_kernel, bias):
    """One GRU step in Keras' default convention (``reset_after=True``), NumPy only.

    x : ``(batch, d)`` inputs;  h : ``(batch, n)`` previous states;
    kernel : ``(d, 3n)`` and recurrent_kernel : ``(n, 3n)``, gate blocks ordered ``[z, r, h]``;
    bias : ``(2, 3n)``, the input bias (row 0) and the recurrent bias (row 1).
    Returns the new state ``(batch, n)``:
    ``h' = z * h + (1 - z) * tanh(x W_h + b_h + r * (h U_h + c_h))``.
    """
    n = h.shape[-1]
    from_x = x @ kernel + bias[0]
    from_h = h @ recurrent_kernel + bias[1]
    z = _sigmoid(from_x[:, :n] + from_h[:, :n])
    r = _sigmoid(from_x[:, n:2 * n] + from_h[:, n:2 * n])
    candidate = np.tanh(from_x[:, 2 * n:] + r * from_h[:, 2 * n:])
    return z * h + (1.0 - z) * candidate


def gru_step_reset_before(x, h, kernel, recurrent_kernel, bias):
    """One GRU step in the original convention of Cho et al. (Keras ``reset_after=False``).

    Same shapes as :func:`gru_step_reset_after` except ``bias``: ``(3n,)``, one bias per gate.
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
    z_h = gru_step_reset_before(x, h, kernel, recurrent_kernel, bias)
    # Solve for the candidate and recombine with the roles of z and 1 - z exchanged.
    n = h.shape[-1]
    z = _sigmoid((x @ kernel + bias)[:, :n] + h @ recurrent_kernel[:, :n])
    candidate = (z_h - z * h) / (1.0 - z)
    return (1.0 - z) * h + z * candidate


def check_gru_step(function: Callable) -> Feedback:
    """Grade ``function(x, h, kernel, recurrent_kernel, bias) -> new h`` (reset applied first).

    The reference is :func:`gru_step_reset_before`, i.e. ``keras.layers.GRU(reset_after=False)``.
    """
    if not callable(function):
        return Feedback(False, f"expected a function, got {type(function).__name__}")
    for case in _gru_cases():
        expected = gru_step_reset_before(*case)
        got, error = call_safely(function, *(np.array(a) for a in case))
        shapes = ", ".join(str(np.shape(a)) for a in case)
        if error:
            return Feedback(False, f"with shapes {shapes} your function raised {error}")
        got = as_float_array(got)
        if (mismatch := wrong_shape(got, expected.shape, "a new state")) is not None:
            return mismatch
        if np.allclose(got, expected, atol=1e-8):
            continue
        if np.allclose(got, gru_step_reset_after(*case[:4], np.stack([case[4], 0 * case[4]])),
                       atol=1e-8):
            return Feedback(False, "that is the reset-after variant: here the reset gate "
                                   "multiplies h *before* the recurrent matrix, (r * h) @ U_h.")
        if np.allclose(got, _swapped_update(*case), atol=1e-8):
            return Feedback(False, "z and 1 - z are swapped: in Keras' convention z keeps the "
                                   "old state, h' = z * h + (1 - z) * candidate.")
        return Feedback(False, f"wrong new state for shapes {shapes}. Hint: the gate blocks of "
                               "kernel and recurrent_kernel are ordered [z, r, candidate].")
    return Feedback(True, "your GRU step matches keras.layers.GRU(reset_after=False).")


def transition_counts(histories, n_items: int) -> np.ndarray:
    """``(n_items, n_items)`` array: ``C[i, j]`` = how often item ``j`` directly followed ``i``."""
    counts = np.zeros((n_items, n_items))
    for history in histories:
        history = np.asarray(history, dtype=np.int64)
        np.add.at(counts, (history[:-1], history[1:]), 1.0)
    return counts


def check_transition_counts(function: Callable) -> Feedback:
    """Grade ``function(histories, n_items) -> (n_items, n_items)`` consecutive-pair counts."""
    histories = [np.array([0, 2, 1, 3]), np.array([2, 1]), np.array([4]), np.array([3, 0, 2])]
    expected = transition_counts(histories, 5)
    got, error = call_safely(function, histories, 5)
    if error:
        return Feedback(False, f"your function raised {error}")
    got = as_float_array(got)
    if (mismatch := wrong_shape(got, expected.shape, "a count matrix")) is not None:
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


def gru_parameter_count(input_dim: int, units: int) -> int:
    """Weights of ``keras.layers.GRU(units)`` (``reset_after=True``) on ``input_dim`` inputs."""
    return 3 * (input_dim * units + units * units + 2 * units)


def check_gru_parameter_count(value, input_dim: int, units: int) -> Feedback:
    """Grade the number of trainable weights of a Keras GRU layer (``reset_after=True``)."""
    expected = gru_parameter_count(input_dim, units)
    try:
        value = int(value)
    except (TypeError, ValueError):
        return Feedback(False, f"expected a whole number, got {value!r}")
    if value == expected:
        return Feedback(True, f"{expected:,} weights: three gates, each with an input matrix, "
                              "a recurrent matrix and two biases.")
    if value == 3 * (input_dim * units + units * units + units):
        return Feedback(False, "close: with reset_after=True each gate has two bias vectors, "
                               "one for the input and one for the recurrent part.")
    if value == 4 * (input_dim * units + units * units + units):
        return Feedback(False, "that is an LSTM (four blocks); a GRU has three.")
    return Feedback(False, f"{value:,} is not it. Hint: count kernel (input_dim × 3·units), "
                           "recurrent_kernel (units × 3·units) and the bias of shape (2, 3·units).")
