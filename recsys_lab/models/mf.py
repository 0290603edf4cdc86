"""Biased matrix factorisation, three ways: NumPy SGD, NumPy ALS and a Keras model.

All three learn the same model of a rating,

    r̂_ui = μ + b_u + b_i + p_u · q_i,

with a global mean ``μ`` (the mean training rating, not learned), a user bias ``b_u``, an item
bias ``b_i`` and ``k``-dimensional user and item factors ``p_u``, ``q_i``. All three minimise
the same objective (the Keras model its mean per rating, by mini-batches),

    L = ½ Σ_{(u,i) ∈ train} [ (r_ui − r̂_ui)² + λ (‖p_u‖² + ‖q_i‖²) + λ_b (b_u² + b_i²) ],

(the penalty is counted once per rating, so a user with many ratings is penalised more, as in
SGD), and every model exposes the same fitted attributes, which other chapters rely on:

* ``global_mean_`` (float), ``user_bias_`` ``(n_users,)``, ``item_bias_`` ``(n_items,)``,
* ``user_factors_`` ``(n_users, k)``, ``item_factors_`` ``(n_items, k)``,
* ``curves_``: ``{"train": [...], "validation": [...]}``, RMSE after each epoch / iteration
  (for the NumPy models, ``"validation"`` only when ``fit(..., valid=frame)`` is given).

``predict`` clips ratings to the range seen in training; ``score_items`` ranks by the
unclipped prediction (clipping would create ties at the top of the list).

:class:`SGDMatrixFactorization` and :class:`ALSMatrixFactorization` need only NumPy;
:class:`KerasMatrixFactorization` imports Keras when it is fitted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from recsys_lab.base import RatingRecommender
from recsys_lab.splits import rating_split
from recsys_lab.training import seed_everything
from recsys_lab.validation import check_interactions

PARAMETERS = ("user_bias", "item_bias", "user_factors", "item_factors")


# --------------------------------------------------------------------------------------------
# The objective and its gradient, for teaching and for gradient checks
# --------------------------------------------------------------------------------------------


def predict_ratings(params: dict, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """``μ + b_u + b_i + p_u · q_i`` for each pair; ``params`` as in :func:`model_parameters`."""
    return (params["global_mean"] + params["user_bias"][users] + params["item_bias"][items]
            + np.einsum("nk,nk->n", params["user_factors"][users],
                        params["item_factors"][items]))


def mf_loss(params: dict, users, items, ratings, reg: float, reg_bias: float | None = None
            ) -> float:
    """The regularised objective ``L`` of the module docstring, summed over the given ratings.

    ``params`` maps ``global_mean`` (float), ``user_bias`` ``(n_users,)``, ``item_bias``
    ``(n_items,)``, ``user_factors`` ``(n_users, k)``, ``item_factors`` ``(n_items, k)``.
    ``reg_bias`` defaults to ``reg``.
    """
    reg_bias = reg if reg_bias is None else reg_bias
    users, items = np.asarray(users), np.asarray(items)
    error = np.asarray(ratings, dtype=float) - predict_ratings(params, users, items)
    penalty = (reg * ((params["user_factors"][users] ** 2).sum(1)
                      + (params["item_factors"][items] ** 2).sum(1))
               + reg_bias * (params["user_bias"][users] ** 2 + params["item_bias"][items] ** 2))
    return float(0.5 * (error ** 2 + penalty).sum())


def mf_gradients(params: dict, users, items, ratings, reg: float,
                 reg_bias: float | None = None) -> dict:
    """Analytic gradient of :func:`mf_loss` with respect to the biases and factors.

    With ``e_ui = r_ui − r̂_ui`` each rating contributes ``−e_ui q_i + λ p_u`` to ``∂L/∂p_u``,
    ``−e_ui p_u + λ q_i`` to ``∂L/∂q_i``, ``−e_ui + λ_b b_u`` to ``∂L/∂b_u`` and
    ``−e_ui + λ_b b_i`` to ``∂L/∂b_i``. Returns a dict with the keys of :data:`PARAMETERS`
    and arrays of the parameters' shapes (``μ`` is fixed to the mean rating, not learned).
    """
    reg_bias = reg if reg_bias is None else reg_bias
    users, items = np.asarray(users), np.asarray(items)
    error = np.asarray(ratings, dtype=float) - predict_ratings(params, users, items)
    p, q = params["user_factors"][users], params["item_factors"][items]
    grads = {name: np.zeros_like(params[name], dtype=float) for name in PARAMETERS}
    np.add.at(grads["user_bias"], users, -error + reg_bias * params["user_bias"][users])
    np.add.at(grads["item_bias"], items, -error + reg_bias * params["item_bias"][items])
    np.add.at(grads["user_factors"], users, -error[:, None] * q + reg * p)
    np.add.at(grads["item_factors"], items, -error[:, None] * p + reg * q)
    return grads


def numerical_gradient(function: Callable[[], float], array: np.ndarray, eps: float = 1e-6
                       ) -> np.ndarray:
    """Central differences ``(f(x + ε) − f(x − ε)) / 2ε`` for every entry of ``array``.

    ``function`` takes no argument and reads ``array``, which is perturbed in place and
    restored. Cost: two calls per entry, so use it on small problems only.
    """
    gradient = np.zeros_like(array, dtype=float)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        upper = function()
        array[index] = saved - eps
        lower = function()
        array[index] = saved
        gradient[index] = (upper - lower) / (2 * eps)
    return gradient


def model_parameters(model) -> dict:
    """The fitted parameters of an MF model as the dict :func:`mf_loss` takes."""
    return {"global_mean": model.global_mean_, "user_bias": model.user_bias_,
            "item_bias": model.item_bias_, "user_factors": model.user_factors_,
            "item_factors": model.item_factors_}


# --------------------------------------------------------------------------------------------
# The shared part of the three models
# --------------------------------------------------------------------------------------------


class _MatrixFactorization(RatingRecommender):
    """Prediction, ranking and bookkeeping shared by the MF models."""

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int, *, valid=None):
        """Learn from ``train``; if ``valid`` (a frame of held-out ratings) is given, record
        its RMSE after every epoch in ``curves_["validation"]``. Returns ``self``."""
        if valid is not None:
            check_interactions(valid, name="valid", columns=("user", "item", "rating"),
                               n_users=n_users, n_items=n_items)
        self._valid = valid
        try:
            return super().fit(train, n_users, n_items)
        finally:
            del self._valid

    def _start(self, train: pd.DataFrame):
        """Arrays of the training frame; sets ``global_mean_``, the rating range, ``curves_``."""
        users = train["user"].to_numpy(dtype=np.int64)
        items = train["item"].to_numpy(dtype=np.int64)
        ratings = train["rating"].to_numpy(dtype=float)
        self.global_mean_ = float(ratings.mean())
        self.rating_range_ = (float(ratings.min()), float(ratings.max()))
        self.curves_ = {"train": []} if self._valid is None else {"train": [], "validation": []}
        return users, items, ratings

    def _record(self, users, items, ratings) -> None:
        """Append the current training (and validation) RMSE to ``curves_``."""
        self.curves_["train"].append(_rmse(ratings, self._predict(users, items)))
        if self._valid is not None:
            v = self._valid
            predicted = self._predict(v["user"].to_numpy(), v["item"].to_numpy())
            self.curves_["validation"].append(_rmse(v["rating"].to_numpy(), predicted))

    def _raw(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if len(users) < self.n_items_:  # a few pairs: gather their factors
            return predict_ratings(model_parameters(self), users, items)
        # Many pairs: the dense rows of their users (one matrix product) are faster.
        rows, position = np.unique(users, return_inverse=True)
        return self._score(rows)[position, items]

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.clip(self._raw(users, items), *self.rating_range_)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return (self.global_mean_ + self.user_bias_[users][:, None] + self.item_bias_[None, :]
                + self.user_factors_[users] @ self.item_factors_.T)


def _rmse(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((truth - predicted) ** 2)))


def _check_positive(**values) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")


def _check_non_negative(**values) -> None:
    for name, value in values.items():
        if not value >= 0:
            raise ValueError(f"{name} must be non-negative, got {value!r}")


# --------------------------------------------------------------------------------------------
# Stochastic gradient descent
# --------------------------------------------------------------------------------------------


class SGDMatrixFactorization(_MatrixFactorization):
    """Biased MF trained by mini-batch stochastic gradient descent, in NumPy.

    Each epoch visits the training ratings in a new random order, ``batch_size`` at a time.
    For every rating of a batch, with ``e = r − r̂`` computed from the parameters before the
    batch, the step is ``−lr`` times its gradient (see :func:`mf_gradients`):

        p_u += lr (e q_i − λ p_u),  q_i += lr (e p_u − λ q_i),
        b_u += lr (e − λ_b b_u),    b_i += lr (e − λ_b b_i).

    A parameter touched by several ratings of the batch receives the sum of their steps, so
    ``batch_size=1`` is classic SGD (Funk 2006; Koren et al. 2009).

    Parameters
    ----------
    n_factors : int
        ``k``, the length of ``p_u`` and ``q_i``.
    lr : float
        Learning rate ``γ``.
    reg, reg_bias : float
        ``λ`` for the factors and ``λ_b`` for the biases.
    n_epochs : int
        Passes over the training ratings.
    batch_size : int
        Ratings per vectorised step.
    init_std : float
        Factors start as ``N(0, init_std²)``; biases start at zero.
    seed : int
        Seeds the initialisation and the order of the ratings.
    """

    def __init__(self, n_factors: int = 20, lr: float = 0.02, reg: float = 0.1,
                 reg_bias: float = 0.01, n_epochs: int = 23, batch_size: int = 1024,
                 init_std: float = 0.1, seed: int = 0):
        self.n_factors = n_factors
        self.lr = lr
        self.reg = reg
        self.reg_bias = reg_bias
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.init_std = init_std
        self.seed = seed

    def _fit(self, train: pd.DataFrame) -> None:
        _check_positive(n_factors=self.n_factors, lr=self.lr, n_epochs=self.n_epochs,
                        batch_size=self.batch_size)
        _check_non_negative(reg=self.reg, reg_bias=self.reg_bias, init_std=self.init_std)
        users, items, ratings = self._start(train)
        rng = np.random.default_rng(self.seed)
        k = int(self.n_factors)
        self.user_factors_ = rng.normal(0.0, self.init_std, (self.n_users_, k))
        self.item_factors_ = rng.normal(0.0, self.init_std, (self.n_items_, k))
        self.user_bias_ = np.zeros(self.n_users_)
        self.item_bias_ = np.zeros(self.n_items_)
        for _ in range(int(self.n_epochs)):
            order = rng.permutation(len(ratings))
            for start in range(0, len(order), int(self.batch_size)):
                batch = order[start:start + int(self.batch_size)]
                self._step(users[batch], items[batch], ratings[batch])
            self._record(users, items, ratings)

    def _step(self, u: np.ndarray, i: np.ndarray, r: np.ndarray) -> None:
        """One vectorised SGD step on a batch of ratings (all from the old parameters)."""
        lr, reg, reg_b = self.lr, self.reg, self.reg_bias
        p, q = self.user_factors_[u], self.item_factors_[i]
        e = r - (self.global_mean_ + self.user_bias_[u] + self.item_bias_[i]
                 + np.einsum("nk,nk->n", p, q))
        np.add.at(self.user_bias_, u, lr * (e - reg_b * self.user_bias_[u]))
        np.add.at(self.item_bias_, i, lr * (e - reg_b * self.item_bias_[i]))
        _add_rows(self.user_factors_, u, lr * (e[:, None] * q - reg * p))
        _add_rows(self.item_factors_, i, lr * (e[:, None] * p - reg * q))


def _add_rows(target: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """``target[rows[n]] += values[n]`` for every n, summing repeated rows: ``np.add.at`` on
    the flattened array, which NumPy runs several times faster than on rows of a 2-D one."""
    width = target.shape[1]
    flat = (rows[:, None] * width + np.arange(width)).ravel()
    np.add.at(target.reshape(-1), flat, values.ravel())


# --------------------------------------------------------------------------------------------
# Alternating least squares
# --------------------------------------------------------------------------------------------


class _SideOfMatrix:
    """The ratings seen from one side (users or items): the sparse 0/1 mask of shape
    ``(n_rows, n_columns)``, each row's count, and the CSR layout for the residual targets."""

    def __init__(self, rows, columns, n_rows, n_columns):
        import scipy.sparse as sp

        order = np.lexsort((columns, rows))
        self.order = order
        self.counts = np.bincount(rows, minlength=n_rows)
        self.indptr = np.r_[0, np.cumsum(self.counts)]
        self.indices = columns[order]
        self.shape = (n_rows, n_columns)
        self.mask = sp.csr_matrix((np.ones(len(rows)), self.indices, self.indptr), self.shape)
        self._sp = sp

    def targets(self, values: np.ndarray):
        """The sparse matrix with ``values`` (one per rating, in input order) at the ratings."""
        return self._sp.csr_matrix((values[self.order], self.indices, self.indptr), self.shape)


class ALSMatrixFactorization(_MatrixFactorization):
    """Biased MF trained by alternating least squares with batched closed-form solves, in NumPy.

    With the item side fixed, ``L`` is a ridge regression for each user. Folding the biases
    into the factors, ``x_u = [p_u, b_u]`` and ``a_i = [q_i, 1]``, the user's targets are
    ``y_ui = r_ui − μ − b_i`` and setting the gradient to zero gives the normal equations

        (Σ_{i ∈ I_u} a_i a_iᵀ + n_u diag(λ, …, λ, λ_b)) x_u = Σ_{i ∈ I_u} y_ui a_i,

    a ``(k+1) × (k+1)`` system per user. All users' Gram matrices come from one product of
    the 0/1 rating mask with the items' outer products ``a_i a_iᵀ``, and all systems are solved
    in one batched ``np.linalg.solve``; then the same for the items (Zhou et al. 2008).

    Parameters
    ----------
    n_factors : int
        ``k``.
    reg, reg_bias : float
        ``λ`` for the factors, ``λ_b`` for the biases; both positive.
    n_iter : int
        Alternations (each solves all users, then all items).
    init_std : float
        The item factors start as ``N(0, init_std²)``.
    seed : int
        Seeds the initialisation.
    """

    def __init__(self, n_factors: int = 40, reg: float = 0.15, reg_bias: float = 0.05,
                 n_iter: int = 10, init_std: float = 0.1, seed: int = 0):
        self.n_factors = n_factors
        self.reg = reg
        self.reg_bias = reg_bias
        self.n_iter = n_iter
        self.init_std = init_std
        self.seed = seed

    def _fit(self, train: pd.DataFrame) -> None:
        _check_positive(n_factors=self.n_factors, reg=self.reg, reg_bias=self.reg_bias,
                        n_iter=self.n_iter)
        _check_non_negative(init_std=self.init_std)
        users, items, ratings = self._start(train)
        rng = np.random.default_rng(self.seed)
        k = int(self.n_factors)
        by_user = _SideOfMatrix(users, items, self.n_users_, self.n_items_)
        by_item = _SideOfMatrix(items, users, self.n_items_, self.n_users_)
        reg = np.r_[np.full(k, float(self.reg)), self.reg_bias]
        self.item_factors_ = rng.normal(0.0, self.init_std, (self.n_items_, k))
        self.item_bias_ = np.zeros(self.n_items_)
        self.user_bias_ = np.zeros(self.n_users_)
        centred = ratings - self.global_mean_
        for _ in range(int(self.n_iter)):
            solved = self._half_step(by_user, self.item_factors_,
                                     centred - self.item_bias_[items], reg)
            self.user_factors_, self.user_bias_ = solved[:, :k], solved[:, k]
            solved = self._half_step(by_item, self.user_factors_,
                                     centred - self.user_bias_[users], reg)
            self.item_factors_, self.item_bias_ = solved[:, :k], solved[:, k]
            self._record(users, items, ratings)

    @staticmethod
    def _half_step(side: _SideOfMatrix, fixed: np.ndarray, targets: np.ndarray,
                   reg: np.ndarray) -> np.ndarray:
        """Solve every row of ``side`` for ``[factors, bias]`` with the other side ``fixed``.

        Row ``n`` solves ``(Σ_j a_j a_jᵀ + c_n diag(reg)) x_n = Σ_j y_nj a_j`` over its ratings,
        with ``a_j = [factors_j, 1]`` and ``c_n`` its number of ratings (0 counts as 1, so a
        row without ratings gets ``x_n = 0``). Returns ``x``, shape ``(n_rows, k + 1)``.
        """
        augmented = np.hstack([fixed, np.ones((len(fixed), 1))])  # a_j = [factors_j, 1]
        d = augmented.shape[1]
        # All Gram matrices at once: the 0/1 mask times every a_j a_jᵀ, computed for the
        # upper triangle only (they are symmetric) and mirrored.
        upper = np.triu_indices(d)
        products = side.mask @ (augmented[:, upper[0]] * augmented[:, upper[1]])
        system = np.empty((side.shape[0], d, d))
        system[:, upper[0], upper[1]] = products
        system[:, upper[1], upper[0]] = products
        diagonal = np.arange(d)
        system[:, diagonal, diagonal] += np.maximum(side.counts, 1)[:, None] * reg
        rhs = side.targets(targets) @ augmented  # Σ_j y_nj a_j
        return np.linalg.solve(system, np.asarray(rhs)[..., None])[..., 0]


# --------------------------------------------------------------------------------------------
# Keras
# --------------------------------------------------------------------------------------------


def build_mf_network(n_users: int, n_items: int, n_factors: int, reg: float,
                     reg_bias: float, global_mean: float):
    """Biased MF as a shallow Keras network: two embeddings, their dot product, two biases.

    Inputs ``user`` and ``item`` (int32, shape ``(batch,)``); output the predicted rating,
    shape ``(batch, 1)``. The L2 *activity* regularisers penalise the rows looked up for each
    rating of the batch, averaged over the batch, so with the mean squared error the loss is
    ``mean over the batch of (r − r̂)² + λ(‖p_u‖² + ‖q_i‖²) + λ_b(b_u² + b_i²)``: the objective
    of the NumPy models, per rating.
    """
    import keras
    from keras import layers

    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")
    factors = {"embeddings_initializer": keras.initializers.RandomNormal(stddev=0.1),
               "activity_regularizer": keras.regularizers.L2(reg)}
    biases = {"embeddings_initializer": "zeros",
              "activity_regularizer": keras.regularizers.L2(reg_bias)}
    p_u = layers.Embedding(n_users, n_factors, name="user_embedding", **factors)(user)
    q_i = layers.Embedding(n_items, n_factors, name="item_embedding", **factors)(item)
    b_u = layers.Embedding(n_users, 1, name="user_bias", **biases)(user)
    b_i = layers.Embedding(n_items, 1, name="item_bias", **biases)(item)
    interaction = layers.Dot(axes=1, name="dot_product")([p_u, q_i])
    centred = layers.Add(name="add_biases")([interaction, b_u, b_i])
    rating = layers.Rescaling(1.0, offset=global_mean, name="plus_global_mean")(centred)
    return keras.Model(inputs=[user, item], outputs=rating, name="matrix_factorization")


class KerasMatrixFactorization(_MatrixFactorization):
    """Biased MF as a Keras 3 network (:func:`build_mf_network`) trained with Adam on MSE.

    ``fit`` holds out ``validation_fraction`` of the training ratings (a
    :func:`~recsys_lab.splits.rating_split` with ``seed``), stops when their RMSE has not
    improved for ``patience`` epochs and restores the best weights. The learned tables are
    then copied into the NumPy attributes shared by all MF models, so prediction needs no
    TensorFlow. ``network_`` keeps the Keras model; ``curves_`` holds the training RMSE
    (averaged over each epoch) and the held-out RMSE, and ``best_epoch_`` the epoch kept.

    Parameters
    ----------
    n_factors : int
        ``k``, the embedding size.
    reg, reg_bias : float
        ``λ`` and ``λ_b``, as in the NumPy models.
    learning_rate : float
        Adam's step size.
    batch_size : int
        Ratings per step.
    max_epochs, patience : int
        Early stopping on the validation ratings.
    validation_fraction : float
        Share of the training ratings held out for early stopping.
    seed : int
        Seeds Keras (initialisation, shuffling) and the validation split.
    """

    def __init__(self, n_factors: int = 32, reg: float = 0.15, reg_bias: float = 0.01,
                 learning_rate: float = 0.01, batch_size: int = 1024, max_epochs: int = 40,
                 patience: int = 3, validation_fraction: float = 0.1, seed: int = 0):
        self.n_factors = n_factors
        self.reg = reg
        self.reg_bias = reg_bias
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed

    def _fit(self, train: pd.DataFrame) -> None:
        import keras

        _check_positive(n_factors=self.n_factors, learning_rate=self.learning_rate,
                        batch_size=self.batch_size, max_epochs=self.max_epochs)
        _check_non_negative(reg=self.reg, reg_bias=self.reg_bias, patience=self.patience)
        if self._valid is not None:
            raise ValueError("KerasMatrixFactorization holds out its own validation ratings "
                             "(validation_fraction); fit it without valid=")
        seed_everything(self.seed)
        fit_part, held_out = rating_split(train, seed=self.seed,
                                          test_fraction=self.validation_fraction)
        self._start(fit_part)
        self.network_ = build_mf_network(self.n_users_, self.n_items_, int(self.n_factors),
                                         self.reg, self.reg_bias, self.global_mean_)
        self.network_.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse",
                              metrics=[keras.metrics.RootMeanSquaredError(name="rmse")])
        stop = keras.callbacks.EarlyStopping(monitor="val_rmse", patience=int(self.patience),
                                             restore_best_weights=True)
        history = self.network_.fit(
            _keras_inputs(fit_part), fit_part["rating"].to_numpy(dtype="float32"),
            validation_data=(_keras_inputs(held_out),
                             held_out["rating"].to_numpy(dtype="float32")),
            batch_size=int(self.batch_size), epochs=int(self.max_epochs), callbacks=[stop],
            verbose=0)
        self.curves_ = {"train": history.history["rmse"],
                        "validation": history.history["val_rmse"]}
        self.best_epoch_ = int(np.argmin(self.curves_["validation"])) + 1
        weights = {name: self.network_.get_layer(name).get_weights()[0]
                   for name in ("user_embedding", "item_embedding", "user_bias", "item_bias")}
        self.user_factors_ = weights["user_embedding"].astype(float)
        self.item_factors_ = weights["item_embedding"].astype(float)
        self.user_bias_ = weights["user_bias"][:, 0].astype(float)
        self.item_bias_ = weights["item_bias"][:, 0].astype(float)


def _keras_inputs(frame: pd.DataFrame) -> dict:
    return {"user": frame["user"].to_numpy(dtype="int32"),
            "item": frame["item"].to_numpy(dtype="int32")}
