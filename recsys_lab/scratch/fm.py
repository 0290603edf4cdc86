"""Factorization machines and the DCN-v2 cross layer in NumPy (the feature-rich chapter).

A factorization machine (Rendle 2010) scores an input row ``x ∈ R^p`` (the design matrix
of :mod:`recsys_lab.fields`: one column per field value) by

    ŷ(x) = w₀ + Σ_i w_i x_i + Σ_{i<j} ⟨v_i, v_j⟩ x_i x_j,

with one factor vector ``v_i ∈ R^k`` per column (the rows of ``V``, shape ``(p, k)``). The
pairwise sum has ``p(p − 1)/2`` terms; the identity

    Σ_{i<j} ⟨v_i, v_j⟩ x_i x_j = ½ Σ_f [ (Σ_i v_if x_i)² − Σ_i v_if² x_i² ]

computes it in ``O(k · nnz(x))``. :func:`fm_pairwise_naive` is the double sum,
:func:`fm_pairwise` the identity; they agree to rounding.

:func:`cross_layer` is one layer of DCN-v2 (Wang et al. 2021). Convention: rows are
examples, so ``x0`` and ``x`` are ``(n, d)`` and the layer is
``x0 ⊙ (x W + b) + x`` with ``W`` ``(d, d)`` and ``b`` ``(d,)`` (the paper writes column
vectors, ``x0 ⊙ (W x + b) + x``: the same layer with ``W`` transposed).

``X`` may be a dense array or a SciPy sparse matrix, shape ``(n, p)``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _dense(X) -> np.ndarray:
    return X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)


def fm_pairwise_naive(X, V) -> np.ndarray:
    """``Σ_{i<j} ⟨v_i, v_j⟩ x_i x_j`` for each row of ``X``, by the double sum: ``(n,)``.

    ``O(n · k · p²)``: for reading and checking, not for use.
    """
    X, V = _dense(X), np.asarray(V, dtype=float)
    p = X.shape[1]
    out = np.zeros(X.shape[0])
    for i in range(p):
        for j in range(i + 1, p):
            out += (V[i] @ V[j]) * X[:, i] * X[:, j]
    return out


def fm_pairwise(X, V) -> np.ndarray:
    """The same pairwise term by the identity ``½ Σ_f [(X V)² − X² V²]``: ``(n,)``.

    Sparse ``X`` stays sparse: the cost is ``O(k · nnz(X))``.
    """
    V = np.asarray(V, dtype=float)
    squared = X.multiply(X) if sp.issparse(X) else np.asarray(X, dtype=float) ** 2
    sum_then_square = np.asarray(X @ V) ** 2            # (n, k): (Σ_i v_if x_i)²
    square_then_sum = np.asarray(squared @ (V ** 2))    # (n, k): Σ_i v_if² x_i²
    return 0.5 * (sum_then_square - square_then_sum).sum(axis=1)


def fm_predict(X, w0: float, w, V) -> np.ndarray:
    """The factorization machine ``w₀ + X w + pairwise(X, V)``, one score per row: ``(n,)``.

    ``w0`` the global bias, ``w`` ``(p,)`` the linear weights, ``V`` ``(p, k)`` the factors.
    """
    linear = np.asarray(X @ np.asarray(w, dtype=float)).ravel()
    return float(w0) + linear + fm_pairwise(X, V)


def cross_layer(x0, x, W, b) -> np.ndarray:
    """One DCN-v2 cross layer, rows as examples: ``x0 ⊙ (x W + b) + x``, shape ``(n, d)``.

    ``x0`` is the input of the first layer, ``x`` the output of the previous one (``x0``
    for the first layer), ``W`` ``(d, d)``, ``b`` ``(d,)``. Stacking ``L`` layers gives every
    product of up to ``L + 1`` input coordinates a learned weight.
    """
    x0, x = np.asarray(x0, dtype=float), np.asarray(x, dtype=float)
    return x0 * (x @ np.asarray(W, dtype=float) + np.asarray(b, dtype=float)) + x


def field_embedding(values, weights, embeddings) -> np.ndarray:
    """A multi-hot field's embedding per row: ``Σ_j weights[r, j] · embeddings[values[r, j]]``.

    ``values`` ``(n, width)`` int ids, ``weights`` ``(n, width)`` (0 for padding),
    ``embeddings`` ``(vocab_size, k)``. Returns ``(n, k)``; with weights ``1 / count`` this is
    the mean of the row's value embeddings, and a row with no value gets zeros.
    """
    values = np.asarray(values, dtype=np.int64)
    table = np.asarray(embeddings, dtype=float)
    return np.einsum("nw,nwk->nk", np.asarray(weights, dtype=float), table[values])
