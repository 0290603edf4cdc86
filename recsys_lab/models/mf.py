"""Biased matrix factorisation, three ways (NumPy SGD, NumPy ALS, Keras); two ALS for clicks.

All three rating models learn the same model of a rating,

    r̂_ui = μ + b_u + b_i + p_u · q_i,

with a global mean ``μ`` (the mean training rating, not learned), a user bias ``b_u``, an item
bias ``b_i`` and ``d``-dimensional user and item factors ``p_u``, ``q_i``. All three minimise
the same objective (the Keras model its mean per rating, by mini-batches),

    L = ½ Σ_{(u,i) ∈ train} [ (r_ui − r̂_ui)² + λ (‖p_u‖² + ‖q_i‖²) + λ_b (b_u² + b_i²) ],

(:func:`recsys_lab.scratch.mf.mf_loss`; the penalty is counted once per rating, so a user with
many ratings is penalised more, as in SGD), and every model exposes the same fitted
attributes, which other chapters rely on:

* ``global_mean_`` (float), ``user_bias_`` ``(n_users,)``, ``item_bias_`` ``(n_items,)``,
* ``user_factors_`` ``(n_users, d)``, ``item_factors_`` ``(n_items, d)``,
* ``curves_``: per epoch, ``loss`` (``L`` per training rating), ``train_RMSE`` and, when
  ``fit`` gets ``valid``, its metrics.

``predict`` clips ratings to the range seen in training; ``score_items`` ranks by the
unclipped prediction (clipping would create ties at the top of the list).

:class:`ImplicitALS` fits the same model by ALS to implicit feedback: observed 1s and
sampled 0s (:func:`implicit_targets`). :class:`WRMF` is Hu, Koren & Volinsky's (2008)
implicit-feedback MF: every unobserved pair is a 0 with confidence 1, every observed pair a 1
with confidence ``1 + alpha``, fitted by exact ALS with the Gram trick.

Everything here needs only NumPy and SciPy, except :class:`KerasMatrixFactorization`, which
imports Keras when it is fitted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_lab.base import EpochRecommender, RatingRecommender, Recommender
from recsys_lab.scratch.mf import (
    als_half_step,
    mf_loss,
    predict_ratings,
    score_all_items,
    sgd_step,
)
from recsys_lab.splits import rating_split
from recsys_lab.validation import (
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    integer,
    real,
)

# --------------------------------------------------------------------------------------------
# The shared part of the three models
# --------------------------------------------------------------------------------------------


class FactorScores:
    """Mixin: scores ``μ + b_u + b_i + p_u · q_i`` from the fitted attributes ``global_mean_``,
    ``user_bias_``, ``item_bias_``, ``user_factors_`` and ``item_factors_`` (the MF models,
    :class:`ImplicitALS` and the content models of chapter 5)."""

    def parameters(self) -> dict:
        """The fitted parameters as the dict of :mod:`recsys_lab.scratch.mf`."""
        return {"global_mean": self.global_mean_, "user_bias": self.user_bias_,
                "item_bias": self.item_bias_, "user_factors": self.user_factors_,
                "item_factors": self.item_factors_}

    def _score(self, users: np.ndarray) -> np.ndarray:
        return score_all_items(self.parameters(), users)


class _MatrixFactorization(FactorScores, EpochRecommender, RatingRecommender):
    """Prediction, ranking and bookkeeping shared by the MF models."""

    def _start_ratings(self, train: pd.DataFrame):
        """Arrays of the training frame; sets ``global_mean_`` and the rating range."""
        self._users = train["user"].to_numpy(dtype=np.int64)
        self._items = train["item"].to_numpy(dtype=np.int64)
        self._ratings = train["rating"].to_numpy(dtype=float)
        self.global_mean_ = float(self._ratings.mean())
        self.rating_range_ = (float(self._ratings.min()), float(self._ratings.max()))

    def _start_random_factors(self, train: pd.DataFrame) -> None:
        """:meth:`_start_ratings`, then factors drawn from ``N(0, init_std²)`` and zero biases.

        The draws come from ``self._rng``, seeded here by ``seed``: user factors first, then
        item factors, so that every model starting this way starts from the same numbers.
        """
        self._start_ratings(train)
        self._rng = np.random.default_rng(self.seed)
        d = self.n_factors
        self.user_factors_ = self._rng.normal(0.0, self.init_std, (self.n_users_, d))
        self.item_factors_ = self._rng.normal(0.0, self.init_std, (self.n_items_, d))
        self.user_bias_ = np.zeros(self.n_users_)
        self.item_bias_ = np.zeros(self.n_items_)

    def _training_losses(self) -> dict:
        """The objective per training rating and the training RMSE, at the current state."""
        users, items, ratings = self._users, self._items, self._ratings
        loss = mf_loss(self.parameters(), users, items, ratings, self.l2, self.l2_bias)
        error = ratings - self._predict(users, items)
        return {"loss": loss / len(ratings), "train_RMSE": float(np.sqrt(np.mean(error ** 2)))}

    def _end_training(self) -> None:
        del self._users, self._items, self._ratings

    def _raw(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if len(users) < self.n_items_:  # a few pairs: gather their factors
            return predict_ratings(self.parameters(), users, items)
        # Many pairs: the dense rows of their users (one matrix product) are faster.
        rows, position = np.unique(users, return_inverse=True)
        return self._score(rows)[position, items]

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.clip(self._raw(users, items), *self.rating_range_)


# --------------------------------------------------------------------------------------------
# Stochastic gradient descent
# --------------------------------------------------------------------------------------------


class SGDMatrixFactorization(_MatrixFactorization):
    """Biased MF trained by mini-batch stochastic gradient descent, in NumPy.

    Each epoch visits the training ratings in a new random order, ``batch_size`` at a time.
    For every rating of a batch, with ``e = r − r̂`` computed from the parameters before the
    batch, the step is ``−learning_rate`` times its gradient
    (:func:`recsys_lab.scratch.mf.mf_gradients`; :func:`recsys_lab.scratch.mf.sgd_step`), with
    ``γ`` the learning rate:

        p_u += γ (e q_i − λ p_u),  q_i += γ (e p_u − λ q_i),
        b_u += γ (e − λ_b b_u),    b_i += γ (e − λ_b b_i).

    A parameter touched by several ratings of the batch receives the sum of their steps, so
    ``batch_size=1`` is classic SGD (Funk 2006; Koren et al. 2009).

    Parameters
    ----------
    n_factors : int
        ``d``, the length of ``p_u`` and ``q_i``.
    learning_rate : float
        ``γ``.
    l2, l2_bias : float
        ``λ`` for the factors and ``λ_b`` for the biases.
    epochs : int
        Passes over the training ratings.
    batch_size : int
        Ratings per vectorised step.
    init_std : float
        Factors start as ``N(0, init_std²)``; biases start at zero.
    seed : int
        Seeds the initialisation and the order of the ratings.
    """

    hyperparameters = {"n_factors": integer(1), "learning_rate": POSITIVE, "l2": NON_NEGATIVE,
                       "l2_bias": NON_NEGATIVE, "epochs": integer(1), "batch_size": integer(1),
                       "init_std": NON_NEGATIVE, "seed": SEED}

    def __init__(self, n_factors: int = 20, learning_rate: float = 0.02, l2: float = 0.1,
                 l2_bias: float = 0.01, epochs: int = 23, batch_size: int = 1024,
                 init_std: float = 0.1, seed: int = 0):
        self.n_factors = n_factors
        self.learning_rate = learning_rate
        self.l2 = l2
        self.l2_bias = l2_bias
        self.epochs = epochs
        self.batch_size = batch_size
        self.init_std = init_std
        self.seed = seed

    def _start(self, train: pd.DataFrame) -> None:
        self._start_random_factors(train)

    def _train_epoch(self, epoch: int) -> dict:
        order = self._rng.permutation(len(self._ratings))
        params = self.parameters()  # views of the fitted arrays: sgd_step updates them
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            sgd_step(params, self._users[batch], self._items[batch], self._ratings[batch],
                     self.learning_rate, self.l2, self.l2_bias)
        return self._training_losses()


# --------------------------------------------------------------------------------------------
# Alternating least squares
# --------------------------------------------------------------------------------------------


class _SideOfMatrix:
    """The ratings seen from one side (users or items): the sparse 0/1 mask of shape
    ``(n_rows, n_columns)``, each row's count, and the CSR layout for the residual targets."""

    def __init__(self, rows, columns, n_rows, n_columns):
        order = np.lexsort((columns, rows))
        self.order = order
        self.counts = np.bincount(rows, minlength=n_rows)
        self.indptr = np.r_[0, np.cumsum(self.counts)]
        self.indices = columns[order]
        self.shape = (n_rows, n_columns)
        self.mask = sp.csr_matrix((np.ones(len(rows)), self.indices, self.indptr), self.shape)

    def targets(self, values: np.ndarray) -> sp.csr_matrix:
        """The sparse matrix with ``values`` (one per rating, in input order) at the ratings."""
        return sp.csr_matrix((values[self.order], self.indices, self.indptr), self.shape)


class ALSMatrixFactorization(_MatrixFactorization):
    """Biased MF trained by alternating least squares with batched closed-form solves, in NumPy.

    With the item side fixed, ``L`` is a ridge regression for each user. Folding the biases
    into the factors, ``x_u = [p_u, b_u]`` and ``a_i = [q_i, 1]``, the user's targets are
    ``y_ui = r_ui − μ − b_i`` and setting the gradient to zero gives the normal equations

        (Σ_{i ∈ I_u} a_i a_iᵀ + n_u diag(λ, …, λ, λ_b)) x_u = Σ_{i ∈ I_u} y_ui a_i,

    a ``(d+1) × (d+1)`` system per user. All users' Gram matrices come from one product of
    the 0/1 rating mask with the items' outer products ``a_i a_iᵀ``, and all systems are solved
    in one batched ``np.linalg.solve`` (:func:`recsys_lab.scratch.mf.als_half_step`); then
    the same for the items (Zhou et al. 2008).

    Parameters
    ----------
    n_factors : int
        ``d``.
    l2, l2_bias : float
        ``λ`` for the factors, ``λ_b`` for the biases; both positive.
    epochs : int
        Alternations (each solves all users, then all items).
    init_std : float
        The item factors start as ``N(0, init_std²)``.
    seed : int
        Seeds the initialisation.
    """

    hyperparameters = {"n_factors": integer(1), "l2": POSITIVE, "l2_bias": POSITIVE,
                       "epochs": integer(1), "init_std": NON_NEGATIVE, "seed": SEED}

    def __init__(self, n_factors: int = 40, l2: float = 0.15, l2_bias: float = 0.05,
                 epochs: int = 10, init_std: float = 0.1, seed: int = 0):
        self.n_factors = n_factors
        self.l2 = l2
        self.l2_bias = l2_bias
        self.epochs = epochs
        self.init_std = init_std
        self.seed = seed

    def _start(self, train: pd.DataFrame) -> None:
        self._start_ratings(train)
        rng = np.random.default_rng(self.seed)
        users, items = self._users, self._items
        self._by_user = _SideOfMatrix(users, items, self.n_users_, self.n_items_)
        self._by_item = _SideOfMatrix(items, users, self.n_items_, self.n_users_)
        self._penalty = np.r_[np.full(self.n_factors, float(self.l2)), self.l2_bias]
        self.item_factors_ = rng.normal(0.0, self.init_std, (self.n_items_, self.n_factors))
        self.item_bias_ = np.zeros(self.n_items_)
        self.user_bias_ = np.zeros(self.n_users_)
        self.user_factors_ = np.zeros((self.n_users_, self.n_factors))

    def _train_epoch(self, epoch: int) -> dict:
        d, centred = self.n_factors, self._ratings - self.global_mean_
        by_user, by_item = self._by_user, self._by_item
        solved = als_half_step(by_user.mask,
                               by_user.targets(centred - self.item_bias_[self._items]),
                               self.item_factors_, self._penalty)
        self.user_factors_, self.user_bias_ = solved[:, :d], solved[:, d]
        solved = als_half_step(by_item.mask,
                               by_item.targets(centred - self.user_bias_[self._users]),
                               self.user_factors_, self._penalty)
        self.item_factors_, self.item_bias_ = solved[:, :d], solved[:, d]
        return self._training_losses()


# --------------------------------------------------------------------------------------------
# Keras
# --------------------------------------------------------------------------------------------


def build_mf_network(n_users: int, n_items: int, n_factors: int, l2: float,
                     l2_bias: float, global_mean: float):
    """Biased MF as a shallow Keras network: two embeddings, their dot product, two biases.

    Inputs ``user`` and ``item`` (int32, shape ``(batch,)``); output the predicted rating,
    shape ``(batch, 1)``. The L2 *activity* regularisers penalise the rows looked up for each
    rating of the batch, averaged over the batch, so with the mean squared error the loss is
    ``mean over the batch of (r − r̂)² + λ(‖p_u‖² + ‖q_i‖²) + λ_b(b_u² + b_i²)``: the objective
    of the NumPy models, per rating.
    """
    from recsys_lab.models._keras import keras

    layers = keras.layers
    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")
    factors = {"embeddings_initializer": keras.initializers.RandomNormal(stddev=0.1),
               "activity_regularizer": keras.regularizers.L2(l2)}
    biases = {"embeddings_initializer": "zeros",
              "activity_regularizer": keras.regularizers.L2(l2_bias)}
    p_u = layers.Embedding(n_users, n_factors, name="user_embedding", **factors)(user)
    q_i = layers.Embedding(n_items, n_factors, name="item_embedding", **factors)(item)
    b_u = layers.Embedding(n_users, 1, name="user_bias", **biases)(user)
    b_i = layers.Embedding(n_items, 1, name="item_bias", **biases)(item)
    interaction = layers.Dot(axes=1, name="dot_product")([p_u, q_i])
    centred = layers.Add(name="add_biases")([interaction, b_u, b_i])
    rating = layers.Rescaling(1.0, offset=global_mean, name="plus_global_mean")(centred)
    return keras.Model(inputs=[user, item], outputs=rating, name="matrix_factorization")


class KerasMatrixFactorization(_MatrixFactorization):
    """Biased MF as a Keras 3 network (:meth:`build_network`) trained with Adam on MSE.

    ``fit`` holds out ``validation_fraction`` of the training ratings (a
    :func:`~recsys_lab.splits.rating_split` with ``seed``), stops when their RMSE has not
    improved for ``patience`` epochs and restores the best weights. The learned tables are
    then copied into the NumPy attributes shared by all MF models, so prediction needs no
    TensorFlow. ``network_`` keeps the Keras model; ``curves_`` holds, per epoch, the training
    ``loss`` and ``train_RMSE`` (averaged over the epoch's batches) and the held-out RMSE
    (``held_out_RMSE``); ``best_epoch_`` is the epoch kept.

    Parameters
    ----------
    n_factors : int
        ``d``, the embedding size.
    l2, l2_bias : float
        ``λ`` and ``λ_b``, as in the NumPy models.
    learning_rate : float
        Adam's step size.
    batch_size : int
        Ratings per step.
    epochs, patience : int
        The most epochs, and early stopping on the held-out ratings.
    validation_fraction : float
        Share of the training ratings held out for early stopping.
    seed : int
        Seeds the initialisation, the order of the ratings and the held-out split.
    """

    hyperparameters = {"n_factors": integer(1), "l2": NON_NEGATIVE, "l2_bias": NON_NEGATIVE,
                       "learning_rate": POSITIVE, "batch_size": integer(1),
                       "epochs": integer(1), "patience": integer(0),
                       "validation_fraction": real(0, 1, low_open=True, high_open=True),
                       "seed": SEED}

    def __init__(self, n_factors: int = 32, l2: float = 0.15, l2_bias: float = 0.01,
                 learning_rate: float = 0.01, batch_size: int = 1024, epochs: int = 40,
                 patience: int = 3, validation_fraction: float = 0.1, seed: int = 0):
        self.n_factors = n_factors
        self.l2 = l2
        self.l2_bias = l2_bias
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed

    def build_network(self):
        """The Keras network (:func:`build_mf_network`); override to try another.

        It must map ``{"user": ids, "item": ids}`` to ratings and keep the layers named
        ``user_embedding``, ``item_embedding``, ``user_bias`` and ``item_bias``, whose weights
        become the fitted factors and biases.
        """
        return build_mf_network(self.n_users_, self.n_items_, self.n_factors, self.l2,
                                self.l2_bias, self.global_mean_)

    def _start(self, train: pd.DataFrame) -> None:
        from recsys_lab.models._keras import keras

        n_held_out = round(self.validation_fraction * len(train))
        if not 1 <= n_held_out < len(train):
            raise ValueError(f"KerasMatrixFactorization holds out validation_fraction="
                             f"{self.validation_fraction} of train for early stopping: of "
                             f"only {len(train)} ratings that is {n_held_out}; give it more "
                             "ratings or another validation_fraction")
        fit_part, held_out = rating_split(train, seed=self.seed,
                                          test_fraction=self.validation_fraction)
        self._start_ratings(fit_part)
        self._held_out = ({"user": held_out["user"].to_numpy(dtype="int32"),
                           "item": held_out["item"].to_numpy(dtype="int32")},
                          held_out["rating"].to_numpy(dtype=float))
        self._rng = np.random.default_rng(self.seed)
        self.network_ = self.build_network()
        self.network_.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse",
                              metrics=[keras.metrics.RootMeanSquaredError(name="rmse")])
        self._best = (np.inf, 0, None)  # held-out RMSE, epoch, weights

    def _train_epoch(self, epoch: int) -> dict:
        from recsys_lab.models._keras import fit_one_epoch, predict_in_batches

        inputs = {"user": self._users.astype("int32"), "item": self._items.astype("int32")}
        logs = fit_one_epoch(self.network_, inputs, self._ratings.astype("float32"),
                             batch_size=self.batch_size, rng=self._rng)
        held_inputs, held_ratings = self._held_out
        predicted = predict_in_batches(self.network_, [held_inputs["user"],
                                                       held_inputs["item"]])[:, 0]
        held_out_rmse = float(np.sqrt(np.mean((predicted - held_ratings) ** 2)))
        if held_out_rmse < self._best[0]:
            self._best = (held_out_rmse, epoch, self.network_.get_weights())
        return {"loss": logs["loss"], "train_RMSE": logs["rmse"], "held_out_RMSE": held_out_rmse}

    def _stop(self, rows: list[dict]) -> bool:
        """Stop after ``patience`` epochs in a row without a better held-out RMSE."""
        epoch, best_epoch = len(rows), self._best[1]
        return epoch != best_epoch and epoch - best_epoch >= self.patience

    def _end_training(self) -> None:
        self.network_.set_weights(self._best[2])
        self.best_epoch_ = self._best[1]
        del self._best, self._held_out
        super()._end_training()

    def _finish(self) -> None:
        weights = {name: self.network_.get_layer(name).get_weights()[0]
                   for name in ("user_embedding", "item_embedding", "user_bias", "item_bias")}
        self.user_factors_ = weights["user_embedding"].astype(float)
        self.item_factors_ = weights["item_embedding"].astype(float)
        self.user_bias_ = weights["user_bias"][:, 0].astype(float)
        self.item_bias_ = weights["item_bias"][:, 0].astype(float)


# --------------------------------------------------------------------------------------------
# Implicit feedback
# --------------------------------------------------------------------------------------------


def implicit_targets(history: sp.spmatrix, items: np.ndarray, n_negatives: int,
                     seed: int = 0) -> pd.DataFrame:
    """Binary training targets from implicit feedback: positives and sampled "negatives".

    Every interaction in ``history`` (sparse ``(n_users, n_items)``) gives a row with
    ``rating`` 1; for each one, ``n_negatives`` items are drawn uniformly from ``items`` and
    kept with ``rating`` 0 if the user did not interact with them (an unobserved pair is
    *probably* a dislike or unknown, which is the assumption of implicit-feedback MF).
    Returns a frame with ``user``, ``item``, ``rating``.
    """
    history = sp.csr_matrix(history)
    users, positives = history.nonzero()
    rng = np.random.default_rng(seed)
    neg_users = np.repeat(users, int(n_negatives))
    neg_items = rng.choice(np.asarray(items), size=len(neg_users))
    unobserved = np.asarray(history[neg_users, neg_items]).ravel() == 0
    return pd.DataFrame({
        "user": np.r_[users, neg_users[unobserved]],
        "item": np.r_[positives, neg_items[unobserved]],
        "rating": np.r_[np.ones(len(users)), np.zeros(int(unobserved.sum()))],
    })


class ImplicitALS(FactorScores, Recommender):
    """Matrix factorisation of implicit feedback: ALS on observed 1s and sampled 0s.

    Every training interaction is a 1, and ``n_negatives`` unobserved items (among the
    items with training interactions) per interaction are 0s (:func:`implicit_targets`);
    :class:`ALSMatrixFactorization` (``mf_``) fits ``r̂_ui = μ + b_u + b_i + p_u · q_i`` to
    them, with ``l2`` for factors and biases, and items are ranked by ``r̂_ui``. The fitted
    attributes are those of the MF models (``global_mean_``, ``user_bias_``, ``item_bias_``,
    ``user_factors_``, ``item_factors_``) and ``mf_``'s ``curves_``; ``valid`` is passed on
    to ``mf_``, which ranks exactly as this model does.

    The defaults were chosen on a TOPN validation split; for regressing factors from content
    under COLD (chapter 5), fewer negatives and a lighter penalty did better
    (``recsys_lab.models.content.COLD_FACTORS``).

    Parameters
    ----------
    n_factors : int
        ``d``.
    l2 : float
        ALS's ``l2`` and ``l2_bias``.
    epochs : int
        ALS alternations.
    n_negatives : int
        Sampled 0s per interaction.
    seed : int
        Seeds the negatives and ALS.
    """

    trains_in_epochs = True
    hyperparameters = {"n_factors": integer(1), "l2": POSITIVE, "epochs": integer(1),
                       "n_negatives": integer(1), "seed": SEED}

    def __init__(self, n_factors: int = 32, l2: float = 0.03, epochs: int = 5,
                 n_negatives: int = 8, seed: int = 0):
        self.n_factors = n_factors
        self.l2 = l2
        self.epochs = epochs
        self.n_negatives = n_negatives
        self.seed = seed

    def _fit(self, train: pd.DataFrame) -> None:
        warm = np.flatnonzero(self.history_.getnnz(axis=0) > 0)
        targets = implicit_targets(self.history_, warm, self.n_negatives, seed=self.seed)
        self.mf_ = ALSMatrixFactorization(n_factors=self.n_factors, l2=self.l2,
                                          l2_bias=self.l2, epochs=self.epochs, seed=self.seed)
        self.mf_.fit(targets, self.n_users_, self.n_items_, valid=self._validation)
        self.curves_ = self.mf_.curves_
        for name in ("global_mean_", "user_bias_", "item_bias_", "user_factors_",
                     "item_factors_"):
            setattr(self, name, getattr(self.mf_, name))


class WRMF(EpochRecommender):
    """Weighted regularised MF for implicit feedback (Hu, Koren & Volinsky 2008), by exact ALS.

    Every (user, item) pair is a data point, observed or not. The *preference* is
    ``p_ui = 1`` if ``u`` interacted with ``i`` in training and 0 otherwise, and the
    *confidence* in it is ``c_ui = 1 + alpha`` for an observed pair and ``1`` for every
    unobserved one (all ``n_users × n_items − nnz`` of them, not a sample: compare
    :class:`ImplicitALS`). With user factors ``X`` ``(n_users, d)`` and item factors ``Y``
    ``(n_items, d)`` (rows ``x_u``, ``y_i``), the objective is

        L = Σ_{u,i} c_ui (p_ui − x_uᵀ y_i)² + l2 (Σ_u ‖x_u‖² + Σ_i ‖y_i‖²).

    **The per-user normal equations.** With ``Y`` fixed, ``L`` splits into one ridge
    regression per user: ``Σ_i c_ui (p_ui − x_uᵀ y_i)² + l2 ‖x_u‖²``, i.e.
    ``(p_u − Y x_u)ᵀ C_u (p_u − Y x_u) + l2 x_uᵀ x_u`` with ``C_u = diag(c_u1, …, c_un)``
    ``(n_items, n_items)`` and ``p_u`` the user's row ``(n_items,)``. Its gradient
    ``−2 Yᵀ C_u (p_u − Y x_u) + 2 l2 x_u`` is zero at

        (Yᵀ C_u Y + l2 I) x_u = Yᵀ C_u p_u,    a d × d system per user.

    **The Gram trick.** Built directly, ``Yᵀ C_u Y`` costs ``n_items · d²`` per user. But
    ``C_u = I + alpha · diag(p_u)``, so

        Yᵀ C_u Y = YᵀY + alpha Σ_{i ∈ I_u} y_i y_iᵀ,    Yᵀ C_u p_u = (1 + alpha) Σ_{i ∈ I_u} y_i,

    with ``I_u`` the user's observed items: ``YᵀY`` is computed once per half-step and each
    user adds a correction over its own items only. A half-step (all users; the items' one
    is the same with ``X`` fixed) thus costs ``O(nnz · d² + n · d³)``, ``n`` the number of
    rows solved: the corrections plus one ``d × d`` solve per row (:meth:`_half_step`).
    Each half-step minimises ``L`` exactly over one side, so ``L`` never increases.
    ``curves_``' ``loss`` is the full ``L`` (a sum, not a mean) after each epoch, computed
    with the same trick (:meth:`_objective`): ``Σ_{u,i} (x_uᵀ y_i)² = sum(XᵀX ∘ YᵀY)``, and
    the rest runs over observed pairs only.

    Item factors start as ``N(0, 0.1²)`` from ``np.random.default_rng(seed)``; each epoch
    solves all users, then all items. A user or item without training interactions gets a
    zero vector. Items are ranked by ``x_uᵀ y_i``.

    Parameters
    ----------
    n_factors : int
        ``d``.
    alpha : float ≥ 0
        The extra confidence of an observed pair (0: plain least squares on the 0/1 matrix).
    l2 : float > 0
        The penalty on every factor vector.
    epochs : int
        Alternations (each solves all users, then all items).
    seed : int
        Seeds the initial item factors.

    After ``fit``: ``user_factors_`` ``(n_users, d)``, ``item_factors_`` ``(n_items, d)``,
    ``curves_``.

    Defaults chosen on the TOPN validation split of ML-100K (``topn_split(train, seed=1)`` of
    the standard training part; validation NDCG@10, each setting after 10 and 15 epochs of
    one fit with seed 0). ``n_factors`` 32, 64, 128 × ``alpha`` 1, 5, 20, 50 × ``l2`` 1, 10,
    100 gave a best of 0.2617 at 128, 20, 100 after 10 epochs (64 and 32 factors: 0.2614 and
    0.2608). ``l2`` 100 lay on the edge, so 32, 64, 128 × ``alpha`` 10, 20, 50 × ``l2`` 50,
    200, 500 followed (best 0.2607 at 32, 10, 50), then, with 64 factors, ``alpha`` 10, 15,
    20, 30 × ``l2`` 70, 100, 150 (best 0.2644 at 10, 70 after 15 epochs), and ``alpha`` 10,
    ``l2`` 70 with 32 and 128 factors: 0.2648 and 0.2665 after 15 epochs. The accuracy
    hinges on ``l2``, which sets how many dimensions survive the shrinkage (at ``alpha`` 10
    with 64 factors, ``X Yᵀ`` has rank 64, 51 and 14 at ``l2`` 50, 70 and 100), more than on
    ``n_factors``; ``alpha`` 1 with ``l2`` 100 falls to 0.139. Seeds 0 and 1 differed by up
    to 0.003 at the four settings tried with both. Default: 32 factors, ``alpha`` 10,
    ``l2`` 70, 15 epochs (0.2648): within seed noise of the best (128 factors, 0.2665) at a
    ninth of its fit time (0.7 s against 6 s on one core), which keeps the fit within the
    book's budget. 10 against 15 epochs changed NDCG@10 by at most 0.005 throughout. EASE
    scored 0.2582 on the same split.
    """

    hyperparameters = {"n_factors": integer(1), "alpha": NON_NEGATIVE, "l2": POSITIVE,
                       "epochs": integer(1), "seed": SEED}

    def __init__(self, n_factors: int = 32, alpha: float = 10.0, l2: float = 70.0,
                 epochs: int = 15, seed: int = 0):
        self.n_factors = n_factors
        self.alpha = alpha
        self.l2 = l2
        self.epochs = epochs
        self.seed = seed

    def _start(self, train: pd.DataFrame) -> None:
        rng = np.random.default_rng(self.seed)
        self._by_user = sp.csr_matrix(self.history_, dtype=float)
        self._by_item = sp.csr_matrix(self.history_.T, dtype=float)
        self.item_factors_ = rng.normal(0.0, 0.1, (self.n_items_, self.n_factors))
        self.user_factors_ = np.zeros((self.n_users_, self.n_factors))

    def _train_epoch(self, epoch: int) -> dict:
        alpha, l2 = float(self.alpha), float(self.l2)
        self.user_factors_ = self._half_step(self._by_user, self.item_factors_, alpha, l2)
        self.item_factors_ = self._half_step(self._by_item, self.user_factors_, alpha, l2)
        return {"loss": self._objective(self._by_user, self.user_factors_,
                                        self.item_factors_, alpha, l2)}

    def _end_training(self) -> None:
        del self._by_user, self._by_item

    @staticmethod
    def _half_step(preferences: sp.csr_matrix, fixed: np.ndarray, alpha: float, l2: float,
                   chunk: int = 256) -> np.ndarray:
        """Solve every row ``n`` of ``preferences`` (binary CSR ``(n_rows, n_columns)``) for
        its factors with the other side ``fixed`` ``(n_columns, d)``.

        Row ``n`` solves ``(FᵀF + alpha Σ_{j ∈ J_n} f_j f_jᵀ + l2 I) x_n = (1 + alpha)
        Σ_{j ∈ J_n} f_j``, ``J_n`` its observed columns, ``F`` = ``fixed``. The systems are
        solved ``chunk`` rows at a time by one batched ``np.linalg.solve``. Returns ``X``,
        shape ``(n_rows, d)``.
        """
        n_rows, d = preferences.shape[0], fixed.shape[1]
        base = fixed.T @ fixed + l2 * np.eye(d)  # FᵀF + l2 I, once per half-step
        rhs = (1.0 + alpha) * np.asarray(preferences @ fixed)  # (1 + alpha) Σ_j f_j
        indptr, indices = preferences.indptr, preferences.indices
        solved = np.empty((n_rows, d))
        for start in range(0, n_rows, chunk):
            stop = min(start + chunk, n_rows)
            systems = np.repeat(base[None], stop - start, axis=0)
            for offset, row in enumerate(range(start, stop)):
                observed = fixed[indices[indptr[row]:indptr[row + 1]]]
                if len(observed):  # the correction over the row's observed columns only
                    systems[offset] += alpha * (observed.T @ observed)
            solved[start:stop] = np.linalg.solve(systems, rhs[start:stop, :, None])[..., 0]
        return solved

    @staticmethod
    def _objective(preferences: sp.csr_matrix, user_factors: np.ndarray,
                   item_factors: np.ndarray, alpha: float, l2: float) -> float:
        """``L`` at the given factors, in ``O(nnz · d + (n_users + n_items) · d²)``.

        ``Σ_{u,i} c_ui (p_ui − s_ui)² = Σ_{u,i} s_ui² − 2 Σ_obs s_ui + nnz
        + alpha Σ_obs (1 − s_ui)²`` with ``s = X Yᵀ``, ``Σ_{u,i} s_ui² = sum(XᵀX ∘ YᵀY)`` and
        ``Σ_obs`` over the observed pairs of ``preferences`` (binary ``(n_users, n_items)``).
        """
        coo = preferences.tocoo()
        observed = np.einsum("nd,nd->n", user_factors[coo.row], item_factors[coo.col])
        every_pair = float(np.sum((user_factors.T @ user_factors)
                                  * (item_factors.T @ item_factors)))
        squared_error = (every_pair - 2.0 * observed.sum() + len(observed)
                         + alpha * np.sum((1.0 - observed) ** 2))
        penalty = l2 * (np.sum(user_factors ** 2) + np.sum(item_factors ** 2))
        return float(squared_error + penalty)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_.T
