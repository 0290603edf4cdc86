"""One step of a GRU in NumPy, in Keras' default convention (chapter 6).

Checked against ``keras.layers.GRU`` in the tests.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def gru_step(x, h, kernel, recurrent_kernel, bias):
    """One GRU step as ``keras.layers.GRU`` computes it (``reset_after=True``, the default).

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
