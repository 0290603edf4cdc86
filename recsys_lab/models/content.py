"""Content-based recommendation for the cold-start problem: a CNN over each item's content.

An item that nobody has interacted with has no collaborative signal, but it has content:
its genres, year, title and knowledge-graph entities (see
:func:`recsys_lab.features.content_tokens`, which turns them into a sequence of token ids).
A *content encoder* maps that sequence to an item vector; two ways of training it are here.

* :class:`ContentToFactors`, approach (a) of van den Oord et al. (2013): fit matrix
  factorisation on the warm items (by default :class:`~recsys_lab.models.mf.ImplicitALS`,
  chapter 2's ALS on observed 1s and sampled 0s), then train the encoder to *regress* each
  warm item's factors (and bias) from its content. A cold item gets the factors its content
  predicts and is scored against the users' MF factors. With ``hybrid=True`` warm items keep
  their own MF factors (the warm case).
* :class:`ContentTower`, approach (b), as in ConvMF/DeepCoNN: the encoder and the user
  embeddings are trained *together*, end to end, to reconstruct each warm item's column of
  the user × item interaction matrix.

Both take ``encoder="cnn"`` (embedding → 1-D convolutions of several widths → max over
time, :func:`build_content_encoder`) or ``encoder="bag"`` (sum of the token embeddings: a
linear model of the bag of tokens, the ablation that shows what the convolutions add).
Both score ``s_ui = μ + b_u + b_i + p_u · q_i`` with the fitted attributes ``global_mean_``,
``user_bias_``, ``item_bias_``, ``user_factors_`` and ``item_factors_``, like the MF models.
The NumPy versions of the two layers are :func:`recsys_lab.scratch.conv.conv1d` and
:func:`~recsys_lab.scratch.conv.max_over_time`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_lab.base import EpochRecommender
from recsys_lab.models._keras import fit_one_epoch, keras
from recsys_lab.models.mf import FactorScores, ImplicitALS
from recsys_lab.validation import (
    DATA,
    FLAG,
    NON_NEGATIVE,
    POSITIVE,
    RATE,
    SEED,
    integer,
    integers,
    one_of,
)

layers, ops = keras.layers, keras.ops

ENCODERS = ("cnn", "bag")
#: The settings of :class:`~recsys_lab.models.mf.ImplicitALS` that :class:`ContentToFactors`
#: uses by default: the best factors to regress from content on a COLD validation split.
COLD_FACTORS = {"n_factors": 32, "l2": 0.01, "epochs": 10, "n_negatives": 2}
#: The bag-of-tokens ablation as chapter 5 fits it: ``ContentToFactors(tokens, **BAG_SETTINGS)``.
#: The bag needs its own training settings: at the CNN's learning rate its validation
#: NDCG@10 peaks within ten epochs and then falls (see :class:`ContentToFactors`).
BAG_SETTINGS = {"encoder": "bag", "epochs": 20, "learning_rate": 1e-3}

# --------------------------------------------------------------------------------------------
# The content encoder
# --------------------------------------------------------------------------------------------


def build_content_encoder(max_length: int, vocab_size: int, n_outputs: int, *,
                          encoder: str = "cnn", embedding_dim: int = 32,
                          kernel_sizes=(1, 2, 3), n_filters: int = 32, dropout: float = 0.3,
                          l2: float = 0.0) -> keras.Model:
    """Token ids ``(batch, max_length)`` (0 = padding) → item vectors ``(batch, n_outputs)``.

    ``"cnn"``: embed each token, zero the padding, run ``n_filters`` convolutions of each
    width in ``kernel_sizes`` (ReLU, ``"same"`` padding), keep each filter's maximum over the
    real positions, concatenate, dropout, and a dense layer to ``n_outputs``.
    ``"bag"``: the sum of the token embeddings, dropout and the same dense layer; without
    a non-linearity this is a linear function of the item's token counts.
    ``l2`` penalises ``λ‖E‖²`` of the embedding table once per batch. The model is named
    ``content_encoder``.
    """
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
    regulariser = keras.regularizers.L2(l2) if l2 else None
    tokens = keras.Input(shape=(max_length,), dtype="int32", name="tokens")
    is_token = ops.expand_dims(ops.cast(tokens > 0, "float32"), axis=-1)  # (batch, length, 1)
    embedded = layers.Embedding(vocab_size, embedding_dim, embeddings_regularizer=regulariser,
                                name="token_embedding")(tokens) * is_token
    if encoder == "cnn":
        pooled = []
        for width in kernel_sizes:
            feature_map = layers.Conv1D(n_filters, width, padding="same", activation="relu",
                                        name=f"conv_width_{width}")(embedded)
            # ReLU outputs are ≥ 0, so zeroing the padding positions leaves the max unchanged.
            pooled.append(layers.GlobalMaxPooling1D(name=f"max_over_time_{width}")(
                feature_map * is_token))
        features = (layers.Concatenate(name="content_features")(pooled) if len(pooled) > 1
                    else pooled[0])
    else:
        features = ops.sum(embedded, axis=1)
    features = layers.Dropout(dropout, name="dropout")(features)
    item_vector = layers.Dense(n_outputs, name="item_vector")(features)
    return keras.Model(tokens, item_vector, name="content_encoder")

# --------------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------------

_ENCODER = {"item_tokens": DATA, "encoder": one_of(*ENCODERS), "embedding_dim": integer(1),
            "kernel_sizes": integers(1), "n_filters": integer(1), "dropout": RATE,
            "l2": NON_NEGATIVE, "epochs": integer(1), "batch_size": integer(1),
            "learning_rate": POSITIVE, "seed": SEED}


class _ContentModel(FactorScores, EpochRecommender):
    """What the two approaches share: token checks, the encoder, and MF-style scoring."""

    def _token_array(self) -> np.ndarray:
        """``item_tokens`` as an array; an :class:`~recsys_lab.features.ItemContent` (the
        output of ``content_tokens``) is accepted for its ``tokens``."""
        return np.asarray(getattr(self.item_tokens, "tokens", self.item_tokens))

    def _prepare_tokens(self) -> np.ndarray:
        """Check ``item_tokens`` and set ``warm_items_``, ``vocab_size_`` and ``tokens_``:
        ``item_tokens`` in which the tokens no warm item carries became padding (their
        embeddings would never be trained, so they could only add noise to a cold item's
        vector)."""
        tokens = self._token_array()
        if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer):
            raise ValueError(f"item_tokens must be an integer array (n_items, length), got "
                             f"{tokens.dtype} of shape {tokens.shape}")
        if tokens.shape[0] != self.n_items_:
            raise ValueError(f"item_tokens has {tokens.shape[0]} rows but n_items is "
                             f"{self.n_items_}")
        if tokens.min() < 0:
            raise ValueError("item_tokens must be non-negative (0 is padding)")
        if self.encoder == "cnn" and not self.kernel_sizes:
            raise ValueError("kernel_sizes must name at least one width for encoder='cnn'")
        tokens = tokens.astype(np.int64)
        self.warm_items_ = np.flatnonzero(self.history_.getnnz(axis=0) > 0)
        self.vocab_size_ = int(tokens.max()) + 1
        trained = np.zeros(self.vocab_size_, dtype=bool)
        trained[tokens[self.warm_items_]] = True
        trained[0] = False
        self.tokens_ = np.where(trained[tokens], tokens, 0).astype("int32")
        return self.tokens_

    def _content_encoder(self, n_outputs: int) -> keras.Model:
        """:func:`build_content_encoder` with this model's settings."""
        return build_content_encoder(
            self.tokens_.shape[1], self.vocab_size_, n_outputs, encoder=self.encoder,
            embedding_dim=self.embedding_dim, kernel_sizes=tuple(self.kernel_sizes),
            n_filters=self.n_filters, dropout=self.dropout, l2=self.l2)

    def _encode(self, encoder, tokens: np.ndarray) -> np.ndarray:
        """The encoder's output for every row of ``tokens``, in inference mode (no dropout).

        One direct call instead of ``Model.predict``: the whole catalogue fits in one batch,
        and a fresh model's ``predict`` would trace a new TensorFlow function each time.
        """
        return np.asarray(encoder(tokens, training=False), dtype=float)


class ContentToFactors(_ContentModel):
    """Approach (a): regress matrix-factorisation item factors from item content.

    1. A factor model (default :class:`ImplicitALS`) is fitted on the training interactions:
       ``r̂_ui = μ + b_u + b_i + p_u · q_i``.
    2. The content encoder learns ``tokens_i ↦ [q_i, b_i]`` on the warm items (mean squared
       error on standardised targets, Adam).
    3. Every item gets the factors and bias its content predicts; a cold item is then scored
       like a warm one. With ``hybrid=True`` the warm items keep their MF factors and biases,
       and only the items without training interactions use the content's prediction.

    Parameters
    ----------
    item_tokens : int array ``(n_items, length)``, e.g. ``content_tokens(...).tokens``, or the
        :class:`~recsys_lab.features.ItemContent` that ``content_tokens`` returns.
    factor_model : a recommender with the MF attributes (``global_mean_``, ``user_bias_``,
        ``item_bias_``, ``user_factors_``, ``item_factors_``), or None for
        :class:`~recsys_lab.models.mf.ImplicitALS` with :data:`COLD_FACTORS` and ``seed``.
        If it is already fitted it is used as it is, which lets several encoders share one
        MF; it must then have been fitted on the same training data (checked).
    encoder : ``"cnn"`` or ``"bag"`` (linear bag of tokens), see :func:`build_content_encoder`.
    embedding_dim, kernel_sizes, n_filters, dropout, l2 : the encoder's settings.
    epochs, batch_size, learning_rate : the regression's training.
    hybrid : keep the MF factors of warm items.
    seed : seeds Keras (and the default factor model).

    The defaults are the CNN's; the bag of tokens is fitted with :data:`BAG_SETTINGS`.
    How they were chosen (issue 25): three COLD validation folds, one carved from the
    training part of each COLD split (split seeds 0, 1, 2) with ``cold_item_split(train,
    seed=1)``; one :class:`ImplicitALS` (:data:`COLD_FACTORS`, seed = split seed) per fold
    shared by every encoder; one fit per setting and fold (model seed = split seed), scored
    on the fold's validation-cold films after each of 30 epochs. Gains are paired
    bootstraps over the 943 validation users, each user's metric averaged over the folds.

    * CNN, grid dropout {0, 0.3} × ``n_filters`` {32, 64} × ``l2`` {0.01, 0.1} (and
      ``learning_rate`` 1e-3 at 0 / 64 / 0.01), epochs 1–30. The old default (32 filters,
      10 epochs, NDCG@10 0.341 mean over folds) was still rising: 32 filters reach 0.351 at
      15 epochs, 64 filters 0.360, on a plateau of 0.356–0.365 from 15 to 25 epochs
      (dropout 0.3 the same, 0.360; ``l2`` 0.1 at most 0.333 by epoch 30; learning rate
      1e-3 0.348 by epoch 30). Chosen: 64 filters, 15 epochs, dropout 0, ``l2`` 0.01. Gain
      over the old default: NDCG@10 +0.019 (95% interval 0.015 to 0.023), Recall@20 +0.007
      (0.002 to 0.011); per fold +0.013, +0.045 and −0.002 (the last interval spans 0).
    * Bag, grid dropout {0, 0.3} × ``l2`` {0.01, 0.1, 1} (and ``learning_rate`` 1e-3 at
      ``l2`` 0.01 and 0.1), epochs 1–30. At the CNN's learning rate, 3e-3, its NDCG@10
      peaks at 0.313–0.318 at epochs 7–9 and falls to 0.27 by epoch 30, jumping by 0.009
      (standard deviation) from one epoch to the next; at 1e-3 it rises steadily to a
      plateau of 0.306–0.312 from epoch 16 (epoch-to-epoch jumps 0.0025). Larger ``l2``
      and dropout 0.3 did worse. Chosen: :data:`BAG_SETTINGS` (``l2`` 0.01, dropout 0),
      NDCG@10 0.310; gain over the old bag (10 epochs at 3e-3, 0.301): NDCG@10 +0.009
      (0.007 to 0.012), Recall@20 +0.007 (0.003 to 0.010).
    * The CNN minus the bag on validation, both as chosen: NDCG@10 +0.050 (0.043 to
      0.055); with the old settings +0.040 (0.034 to 0.046). The intervals cover the choice
      of users, not the training noise, which the epoch-to-epoch jumps above measure.

    Attributes
    ----------
    factor_model_ : the fitted factor model; ``network_`` the Keras content encoder;
    ``curves_`` its training loss; ``warm_items_`` items with training interactions;
    ``tokens_`` the token ids the encoder reads (tokens of no warm item set to padding);
    ``predicted_factors_`` and ``predicted_bias_`` what the content predicts for every
    item; and the scoring attributes
    ``global_mean_``, ``user_bias_``, ``item_bias_``, ``user_factors_``, ``item_factors_``.
    """

    hyperparameters = {**_ENCODER, "factor_model": DATA, "hybrid": FLAG}

    def __init__(self, item_tokens, factor_model=None, encoder: str = "cnn",
                 embedding_dim: int = 32, kernel_sizes=(1, 2, 3), n_filters: int = 64,
                 dropout: float = 0.0, l2: float = 1e-2, epochs: int = 15,
                 batch_size: int = 64, learning_rate: float = 3e-3, hybrid: bool = False,
                 seed: int = 0):
        self.item_tokens = item_tokens
        self.factor_model = factor_model
        self.encoder = encoder
        self.embedding_dim = embedding_dim
        self.kernel_sizes = kernel_sizes
        self.n_filters = n_filters
        self.dropout = dropout
        self.l2 = l2
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.hybrid = hybrid
        self.seed = seed

    def build_network(self) -> keras.Model:
        """The content encoder: tokens → standardised ``[q_i, b_i]``; override to try another.

        It must map ``(batch, max_length)`` token ids to ``(batch, n_factors + 1)``.
        """
        return self._content_encoder(self._targets.shape[1])

    def _rebuild_network(self, weights):
        return self._content_encoder(len(weights[-1]))  # the output layer's bias: [q_i, b_i]

    def _fitted_factor_model(self, train: pd.DataFrame):
        model = self.factor_model
        if model is None:
            model = ImplicitALS(**COLD_FACTORS, seed=self.seed)
        if not hasattr(model, "item_factors_"):
            return model.fit(train, self.n_users_, self.n_items_)
        if (getattr(model, "n_users_", None), getattr(model, "n_items_", None)) != (
                self.n_users_, self.n_items_) or (model.history_ != self.history_).nnz:
            raise ValueError("factor_model was fitted on other training data; pass an unfitted "
                             "one or one fitted on this train")
        return model

    def _start(self, train: pd.DataFrame) -> None:
        self._prepare_tokens()
        mf = self.factor_model_ = self._fitted_factor_model(train)
        # Regression targets [q_i, b_i], standardised so that every column counts the same.
        factors = np.c_[mf.item_factors_, mf.item_bias_][self.warm_items_]
        self._mean, self._std = factors.mean(axis=0), factors.std(axis=0) + 1e-12
        self._targets = ((factors - self._mean) / self._std).astype("float32")
        self._rng = np.random.default_rng(self.seed)
        self.network_ = self.build_network()
        self.network_.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse")

    def _train_epoch(self, epoch: int) -> dict:
        return fit_one_epoch(self.network_, self.tokens_[self.warm_items_], self._targets,
                             batch_size=self.batch_size, rng=self._rng)

    def _finish(self) -> None:
        mf, warm = self.factor_model_, self.warm_items_
        predicted = self._encode(self.network_, self.tokens_) * self._std + self._mean
        self.predicted_factors_ = predicted[:, :-1].astype(float)
        self.predicted_bias_ = predicted[:, -1].astype(float)
        self.global_mean_ = mf.global_mean_
        self.user_bias_ = mf.user_bias_
        self.user_factors_ = mf.user_factors_
        self.item_factors_ = self.predicted_factors_.copy()
        self.item_bias_ = self.predicted_bias_.copy()
        if self.hybrid:
            self.item_factors_[warm] = mf.item_factors_[warm]
            self.item_bias_[warm] = mf.item_bias_[warm]

    def _end_training(self) -> None:
        del self._rng, self._targets


class ContentTower(_ContentModel):
    """Approach (b): the content encoder and the user embeddings trained together.

    For a warm item ``i`` the encoder gives ``[q_i, b_i]``; a dense layer whose weights are
    the user embeddings ``P`` (its kernel, ``(n_factors, n_users)``) and user biases turns
    ``q_i`` into a score for every user, ``s_ui = b_u + b_i + p_u · q_i``. The network is
    trained to reproduce the item's column of the binary interaction matrix (every
    unobserved pair a 0) with the mean squared error, a batch of items at a time, so each
    step runs the encoder once per item of the batch and scores all users.

    Parameters are those of :class:`ContentToFactors` without ``factor_model`` and
    ``hybrid``; ``n_factors`` is the size of the user and item vectors. Attributes:
    ``network_`` (its layer ``content_encoder`` is the encoder), ``curves_``, ``warm_items_``,
    ``tokens_`` and the scoring attributes (``global_mean_`` is 0).
    """

    hyperparameters = {**_ENCODER, "n_factors": integer(1)}

    def __init__(self, item_tokens, encoder: str = "cnn", embedding_dim: int = 32,
                 kernel_sizes=(1, 2, 3), n_filters: int = 32, dropout: float = 0.3,
                 l2: float = 1e-2, epochs: int = 15, batch_size: int = 64,
                 learning_rate: float = 3e-3, n_factors: int = 32, seed: int = 0):
        self.item_tokens = item_tokens
        self.encoder = encoder
        self.embedding_dim = embedding_dim
        self.kernel_sizes = kernel_sizes
        self.n_filters = n_filters
        self.dropout = dropout
        self.l2 = l2
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.n_factors = n_factors
        self.seed = seed

    def build_network(self) -> keras.Model:
        """Tokens of a batch of items → a score for every user, ``(batch, n_users)``.

        The content encoder (layer ``content_encoder``) gives ``[q_i, b_i]``; a dense layer
        ``user_embedding``, whose kernel is the user factors and whose bias is the user
        biases, scores every user. An override must keep both layer names.
        """
        k = self.n_factors
        encoder = self._content_encoder(k + 1)
        item_tokens = keras.Input(shape=(self.tokens_.shape[1],), dtype="int32", name="tokens")
        factors_and_bias = encoder(item_tokens)
        item_factors, item_bias = factors_and_bias[:, :k], factors_and_bias[:, k:]
        user_scores = layers.Dense(self.n_users_, name="user_embedding")(item_factors)
        return keras.Model(item_tokens, user_scores + item_bias, name="content_tower")

    def _start(self, train: pd.DataFrame) -> None:
        self._prepare_tokens()
        self._rng = np.random.default_rng(self.seed)
        self.network_ = self.build_network()
        self.network_.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse")
        warm = self.warm_items_
        self._columns = self.history_[:, warm].T.toarray().astype("float32")  # (warm, users)

    def _train_epoch(self, epoch: int) -> dict:
        return fit_one_epoch(self.network_, self.tokens_[self.warm_items_], self._columns,
                             batch_size=self.batch_size, rng=self._rng)

    def _finish(self) -> None:
        k = self.n_factors
        kernel, user_bias = self.network_.get_layer("user_embedding").get_weights()
        predicted = self._encode(self.network_.get_layer("content_encoder"), self.tokens_)
        self.global_mean_ = 0.0
        self.user_factors_ = kernel.T.astype(float)
        self.user_bias_ = user_bias.astype(float)
        self.item_factors_ = predicted[:, :k]
        self.item_bias_ = predicted[:, k]

    def _end_training(self) -> None:
        del self._rng, self._columns
