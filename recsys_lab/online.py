"""Learning online: prequential evaluation of a rating model on a stream (TEMPORAL protocol).

The stream of :func:`recsys_lab.splits.temporal_split` is cut into ``n_batches`` batches of
consecutive ratings. For each batch, in time order, :func:`prequential` first asks the model
to *predict* the batch (every rating is scored by a model that has seen only the past), then
lets it *learn* the batch. Three ways of keeping a model up to date:

* :class:`Frozen` — fit once on the training part, never update (the baseline);
* :class:`Retrain` — refit from scratch on everything seen so far, every ``every`` batches;
* :class:`Incremental` — fit once, then after each batch fold in the users and items that
  first appear in it (:func:`fold_in_rows`: the ALS solve of their rows, the rest of the
  model fixed) and take ``sgd_epochs`` passes of SGD over the batch's ratings.

Each strategy works on any model of :mod:`recsys_lab.models.mf` (the fitted attributes
``global_mean_``, ``user_bias_``, ``item_bias_``, ``user_factors_``, ``item_factors_``).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_lab.base import clone
from recsys_lab.scratch.mf import als_half_step, sgd_step
from recsys_lab.validation import check_count, check_interactions

__all__ = ["Frozen", "Incremental", "PrequentialResult", "Retrain", "fold_in_rows",
           "prequential"]


def fold_in_rows(rows, columns, targets, fixed_factors: np.ndarray, n_rows: int,
                 l2: float, l2_bias: float) -> np.ndarray:
    """The ALS solve for some rows with the other side fixed: fold-in of new users or items.

    Parameters
    ----------
    rows, columns : int arrays, shape ``(n,)``
        The ratings to solve from: row ids (e.g. users) in ``[0, n_rows)`` and column ids
        (e.g. items) indexing ``fixed_factors``.
    targets : float array, shape ``(n,)``
        What ``p_row · q_column + b_row`` should match: ``r − μ − b_column``.
    fixed_factors : ndarray, shape ``(n_columns, d)``
        The other side's factors, held fixed.
    n_rows : int
        The number of rows of the result.
    l2, l2_bias : float
        ``λ`` and ``λ_b``.

    Returns
    -------
    ndarray, shape ``(n_rows, d + 1)``
        ``[p_row, b_row]`` solving ``(Σ a aᵀ + n_row diag(λ, …, λ, λ_b)) x = Σ y a`` with
        ``a = [q_column, 1]`` over each row's ratings (zeros for rows without ratings); see
        :func:`recsys_lab.scratch.mf.als_half_step`.
    """
    rows, columns = np.asarray(rows, dtype=np.int64), np.asarray(columns, dtype=np.int64)
    targets = np.asarray(targets, dtype=float)
    if not rows.shape == columns.shape == targets.shape or rows.ndim != 1:
        raise ValueError(f"rows, columns and targets must be 1-D of one length, got shapes "
                         f"{rows.shape}, {columns.shape} and {targets.shape}")
    fixed_factors = np.asarray(fixed_factors, dtype=float)
    n_columns, d = fixed_factors.shape
    shape = (check_count(n_rows, "n_rows"), n_columns)
    mask = sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=shape)
    values = sp.csr_matrix((targets, (rows, columns)), shape=shape)
    penalty = np.r_[np.full(d, float(l2)), float(l2_bias)]
    return als_half_step(mask, values, fixed_factors, penalty)


def _contiguous(model) -> None:
    """Own C-contiguous copies of the fitted arrays (ALS leaves slices of one solve), so that
    the in-place SGD updates reach them."""
    for name in ("user_bias_", "item_bias_", "user_factors_", "item_factors_"):
        setattr(model, name, np.ascontiguousarray(getattr(model, name), dtype=float).copy())


class Frozen:
    """Fit once on the training part; never learn from the stream."""

    name = "frozen"

    def __init__(self, model):
        self.model = model

    def start(self, train: pd.DataFrame, n_users: int, n_items: int) -> None:
        self.model_ = clone(self.model).fit(train, n_users, n_items)

    def learn(self, batch: pd.DataFrame, seen: pd.DataFrame) -> None:
        """Nothing to learn."""


class Retrain(Frozen):
    """Refit a fresh model on everything seen so far, after every ``every``-th batch."""

    name = "retrain"

    def __init__(self, model, every: int = 1):
        super().__init__(model)
        self.every = check_count(every, "every")

    def start(self, train, n_users, n_items) -> None:
        super().start(train, n_users, n_items)
        self._sizes, self._batches = (n_users, n_items), 0

    def learn(self, batch, seen) -> None:
        self._batches += 1
        if self._batches % self.every == 0:
            self.model_ = clone(self.model).fit(seen, *self._sizes)


class Incremental(Frozen):
    """Fit once; after each batch, fold in new users and items, then SGD on the batch.

    ``sgd_epochs`` passes over the batch's ratings in mini-batches of ``batch_size`` with
    step ``learning_rate`` and the model's own ``l2`` and ``l2_bias``
    (:func:`recsys_lab.scratch.mf.sgd_step`); ``fold_in=False`` skips the fold-in.
    """

    name = "incremental"

    def __init__(self, model, sgd_epochs: int = 1, learning_rate: float = 0.005,
                 batch_size: int = 256, fold_in: bool = True, seed: int = 0):
        super().__init__(model)
        if not isinstance(sgd_epochs, (int, np.integer)) or sgd_epochs < 0:
            raise ValueError(f"sgd_epochs must be a whole number ≥ 0, got {sgd_epochs!r}")
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
        self.sgd_epochs, self.learning_rate = int(sgd_epochs), float(learning_rate)
        self.batch_size, self.fold_in, self.seed = check_count(batch_size, "batch_size"), \
            bool(fold_in), seed

    def start(self, train, n_users, n_items) -> None:
        super().start(train, n_users, n_items)
        _contiguous(self.model_)
        self._rng = np.random.default_rng(self.seed)
        self._seen_users = np.bincount(train["user"], minlength=n_users) > 0
        self._seen_items = np.bincount(train["item"], minlength=n_items) > 0
        self.folded_in_ = {"users": 0, "items": 0}

    def learn(self, batch, seen) -> None:
        model = self.model_
        if self.fold_in:
            self._fold_in(batch, seen)
        params = model.parameters()
        users, items = batch["user"].to_numpy(), batch["item"].to_numpy()
        ratings = batch["rating"].to_numpy(dtype=float)
        for _ in range(self.sgd_epochs):
            order = self._rng.permutation(len(batch))
            for start in range(0, len(order), self.batch_size):
                part = order[start:start + self.batch_size]
                sgd_step(params, users[part], items[part], ratings[part], self.learning_rate,
                         model.l2, model.l2_bias)
        self._seen_users[users] = True
        self._seen_items[items] = True

    def _fold_in(self, batch, seen) -> None:
        """Solve the rows of users, then items, that first appear in this batch, from all
        their ratings seen so far (this batch's, since they are new)."""
        model, d = self.model_, self.model_.n_factors
        batch_users = batch["user"].to_numpy()
        new_users = np.unique(batch_users[~self._seen_users[batch_users]])
        if len(new_users):
            mine = batch[batch["user"].isin(new_users)]
            targets = (mine["rating"].to_numpy(dtype=float) - model.global_mean_
                       - model.item_bias_[mine["item"].to_numpy()])
            solved = fold_in_rows(mine["user"], mine["item"], targets, model.item_factors_,
                                  model.n_users_, model.l2, model.l2_bias)
            model.user_factors_[new_users] = solved[new_users, :d]
            model.user_bias_[new_users] = solved[new_users, d]
        batch_items = batch["item"].to_numpy()
        new_items = np.unique(batch_items[~self._seen_items[batch_items]])
        if len(new_items):
            mine = batch[batch["item"].isin(new_items)]
            targets = (mine["rating"].to_numpy(dtype=float) - model.global_mean_
                       - model.user_bias_[mine["user"].to_numpy()])
            solved = fold_in_rows(mine["item"], mine["user"], targets, model.user_factors_,
                                  model.n_items_, model.l2, model.l2_bias)
            model.item_factors_[new_items] = solved[new_items, :d]
            model.item_bias_[new_items] = solved[new_items, d]
        self.folded_in_["users"] += len(new_users)
        self.folded_in_["items"] += len(new_items)


class PrequentialResult(NamedTuple):
    """What :func:`prequential` measured.

    ``curve``: one row per batch (``batch``, ``ratings``, ``start_time`` (the batch's first
    timestamp), ``RMSE`` of the batch, ``cumulative_RMSE`` over the stream so far,
    ``learn_seconds``, ``cumulative_seconds`` (the initial fit included)).
    ``squared_errors``: each stream rating's squared error, in stream order, shape
    ``(len(stream),)``, for paired comparisons. ``fit_seconds``: the initial fit.
    """

    curve: pd.DataFrame
    squared_errors: np.ndarray
    fit_seconds: float


def prequential(strategy, train: pd.DataFrame, stream: pd.DataFrame, n_users: int,
                n_items: int, n_batches: int = 10) -> PrequentialResult:
    """Predict, then learn: run ``strategy`` over ``stream`` cut into ``n_batches`` batches.

    ``strategy`` is a :class:`Frozen`, :class:`Retrain` or :class:`Incremental` (anything
    with ``start(train, n_users, n_items)``, ``model_`` and ``learn(batch, seen)``).
    ``stream`` must be in time order (as :func:`~recsys_lab.splits.temporal_split` returns
    it); its batches hold consecutive ratings, as equal in number as possible.
    """
    columns = ("user", "item", "rating", "timestamp")
    train = check_interactions(train, name="train", columns=columns, n_users=n_users,
                               n_items=n_items)
    stream = check_interactions(stream, name="stream", columns=columns, n_users=n_users,
                                n_items=n_items)
    if np.any(np.diff(stream["timestamp"].to_numpy()) < 0):
        raise ValueError("stream is not in time order: sort it by timestamp (temporal_split "
                         "returns it sorted)")
    n_batches = check_count(n_batches, "n_batches")
    if n_batches > len(stream):
        raise ValueError(f"n_batches={n_batches} is more than the {len(stream)} ratings of "
                         "the stream")
    started = time.perf_counter()
    strategy.start(train, n_users, n_items)
    fit_seconds = cumulative = time.perf_counter() - started
    errors, rows, seen = [], [], [train]
    bounds = np.linspace(0, len(stream), n_batches + 1).round().astype(int)
    for number, (low, high) in enumerate(zip(bounds[:-1], bounds[1:], strict=True),
                                             start=1):
        batch = stream.iloc[low:high]
        predicted = strategy.model_.predict(batch["user"].to_numpy(), batch["item"].to_numpy())
        errors.append((batch["rating"].to_numpy(dtype=float) - predicted) ** 2)
        seen.append(batch)
        started = time.perf_counter()
        strategy.learn(batch, pd.concat(seen, ignore_index=True))
        seconds = time.perf_counter() - started
        cumulative += seconds
        so_far = np.concatenate(errors)
        rows.append({"batch": number, "ratings": len(batch),
                     "start_time": int(batch["timestamp"].iloc[0]),
                     "RMSE": float(np.sqrt(errors[-1].mean())),
                     "cumulative_RMSE": float(np.sqrt(so_far.mean())),
                     "learn_seconds": seconds, "cumulative_seconds": cumulative})
    return PrequentialResult(pd.DataFrame(rows).set_index("batch"), np.concatenate(errors),
                             fit_seconds)
