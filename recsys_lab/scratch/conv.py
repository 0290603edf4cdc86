"""Convolution and max-pooling over time in NumPy, the two layers of the content CNN (chapter 5).

Checked against ``keras.layers.Conv1D`` and ``GlobalMaxPooling1D`` in the tests.
"""

from __future__ import annotations

import numpy as np


def conv1d(inputs: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None,
           stride: int = 1, padding: str = "valid") -> np.ndarray:
    """A 1-D convolution (cross-correlation, as in every deep-learning library), in NumPy.

    ``out[b, t, f] = bias[f] + Σ_{j < w} Σ_c x[b, t·stride + j, c] · kernel[j, c, f]``, where
    ``x`` is ``inputs`` padded with zeros: not at all for ``padding="valid"`` (output length
    ``⌊(L − w) / stride⌋ + 1``), or for ``"same"`` with ``P = max((⌈L/stride⌉ − 1)·stride + w − L,
    0)`` zeros, ``⌊P/2⌋`` before and the rest after, so the output length is ``⌈L / stride⌉``
    (the convention of Keras and TensorFlow).

    Parameters
    ----------
    inputs : array ``(batch, length, in_channels)``.
    kernel : array ``(width, in_channels, filters)``.
    bias : array ``(filters,)`` or None.
    stride : int ≥ 1.
    padding : ``"valid"`` or ``"same"``.

    Returns
    -------
    array ``(batch, out_length, filters)``.
    """
    inputs, kernel = np.asarray(inputs, dtype=float), np.asarray(kernel, dtype=float)
    if inputs.ndim != 3 or kernel.ndim != 3 or inputs.shape[2] != kernel.shape[1]:
        raise ValueError(f"inputs (batch, length, channels) {inputs.shape} and kernel (width, "
                         f"channels, filters) {kernel.shape} do not fit together")
    if stride < 1 or padding not in ("valid", "same"):
        raise ValueError(f"need stride ≥ 1 and padding 'valid' or 'same', got {stride}, "
                         f"{padding!r}")
    width, length = kernel.shape[0], inputs.shape[1]
    if padding == "same":
        total = max((-(-length // stride) - 1) * stride + width - length, 0)
        inputs = np.pad(inputs, ((0, 0), (total // 2, total - total // 2), (0, 0)))
    if inputs.shape[1] < width:
        raise ValueError(f"sequence of length {inputs.shape[1]} is shorter than the kernel "
                         f"({width})")
    # windows[b, t, c, j] = x[b, t + j, c]; keep every stride-th window.
    windows = np.lib.stride_tricks.sliding_window_view(inputs, width, axis=1)[:, ::stride]
    out = np.einsum("btcj,jcf->btf", windows, kernel)
    return out if bias is None else out + np.asarray(bias, dtype=float)


def max_over_time(feature_maps: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """The largest value of each filter over the positions of a sequence.

    ``feature_maps`` ``(batch, length, filters)``; ``mask`` ``(batch, length)`` of booleans
    marks the real positions (padding is ignored). Returns ``(batch, filters)``: one number
    per filter, whatever the length, which is what lets items of any length share a model.
    """
    feature_maps = np.asarray(feature_maps, dtype=float)
    if mask is not None:
        feature_maps = np.where(np.asarray(mask, dtype=bool)[..., None], feature_maps, -np.inf)
    return feature_maps.max(axis=1)
