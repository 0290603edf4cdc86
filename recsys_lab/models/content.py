"""Content-based recommendation for the cold-start problem: a CNN over each item's content.

An item that nobody has interacted with has no collaborative signal, but it has content:
its genres, year, title and knowledge-graph entities (see
:func:`recsys_lab.features.content_tokens`, which turns them into a sequence of token ids).
A *content encoder* maps that sequence to an item vector; two ways of training it are here.

* :class:`ContentToFactors`, approach (a) of van den Oord et al. (2013): fit matrix
  factorisation on the warm items (by default :class:`ImplicitALS`, chapter 2's ALS on
  observed 1s and sampled 0s), then train the encoder to *regress* each warm item's
  factors (and bias) from its content. A cold item gets the factors its content predicts
  and is scored against the users' MF factors. With ``hybrid=True`` warm items keep their
  own MF factors (the warm case).
* :class:`ContentTower`, approach (b), as in ConvMF/DeepCoNN: the encoder and the user
  embeddings are trained *together*, end to end, to reconstruct each warm item's column of
  the user × item interaction matrix.

Both take ``encoder="cnn"`` (embedding → 1-D convolutions of several widths → max over
time, :func:`build_content_encoder`) or ``encoder="bag"`` (sum of the token embeddings: a
linear model of the bag of tokens, the ablation that shows what the convolutions add).
Both score ``s_ui = μ + b_u + b_i + p_u · q_i`` with the fitted attributes ``global_mean_``,
``user_bias_``, ``item_bias_``, ``user_factors_`` and ``item_factors_``, like the MF models.

:func:`conv1d` and :func:`max_over_time` are the NumPy versions of the two layers, written
for teaching and checked against Keras in the tests.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import scipy.sparse as sp
from keras import layers, ops

from recsys_lab.base import Recommender
from recsys_lab.models.mf import ALSMatrixFactorization
from recsys_lab.training import seed_everything

ENCODERS = ("cnn", "bag")
#: The settings of :class:`ImplicitALS` that :class:`ContentToFactors` uses by default: the
#: best factors to regress from content on a COLD validation split of ML-100K.
COLD_FACTORS = {"n_factors": 32, "reg": 0.01, "n_iter": 10, "n_negatives": 2}

# --------------------------------------------------------------------------------------------
# Convolution and max-pooling over time, from scratch
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The content encoder
# --------------------------------------------------------------------------------------------


def build_content_encoder(max_length: int, vocab_size: int, n_outputs: int, *,
                          encoder: str = "cnn", embedding_dim: int = 32,
                          kernel_sizes=(1, 2, 3), n_filters: int = 32, dropout: float = 0.3,
                          embedding_l2: float = 0.0) -> keras.Model:
    """Token ids ``(batch, max_length)`` (0 = padding) → item vectors ``(batch, n_outputs)``.

    ``"cnn"``: embed each token, zero the padding, run ``n_filters`` convolutions of each
    width in ``kernel_sizes`` (ReLU, ``"same"`` padding), keep each filter's maximum over the
    real positions, concatenate, dropout, and a dense layer to ``n_outputs``.
    ``"bag"``: the sum of the token embeddings, dropout and the same dense layer; without
    a non-linearity this is a linear function of the item's token counts.
    ``embedding_l2`` penalises ``λ‖E‖²`` of the embedding table once per batch.
    """
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
    regulariser = keras.regularizers.L2(embedding_l2) if embedding_l2 else None
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
    return keras.Model(tokens, item_vector, name=f"{encoder}_content_encoder")


# --------------------------------------------------------------------------------------------
# Implicit targets
# --------------------------------------------------------------------------------------------


def sample_negatives(history: sp.spmatrix, items: np.ndarray, n_negatives: int,
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


# --------------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------------


class _ContentModel(Recommender):
    """What the two approaches share: token checks, the encoder, and MF-style scoring."""

    def _token_array(self) -> np.ndarray:
        """``item_tokens`` as an array; an :class:`~recsys_lab.features.ItemContent` (the
        output of ``content_tokens``) is accepted for its ``tokens``."""
        return np.asarray(getattr(self.item_tokens, "tokens", self.item_tokens))

    def _check_parameters(self) -> None:
        tokens = self._token_array()
        if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer):
            raise ValueError(f"item_tokens must be an integer array (n_items, length), got "
                             f"{tokens.dtype} of shape {tokens.shape}")
        if tokens.shape[0] != self.n_items_:
            raise ValueError(f"item_tokens has {tokens.shape[0]} rows but n_items is "
                             f"{self.n_items_}")
        if tokens.min() < 0:
            raise ValueError("item_tokens must be non-negative (0 is padding)")
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        for name in ("epochs", "batch_size", "embedding_dim", "n_filters"):
            if not getattr(self, name) >= 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")

    def _prepare_tokens(self) -> np.ndarray:
        """Set ``warm_items_``, ``vocab_size_`` and ``tokens_``: ``item_tokens`` in which the
        tokens no warm item carries became padding (their embeddings would never be
        trained, so they could only add noise to a cold item's vector)."""
        tokens = self._token_array().astype(np.int64)
        self.warm_items_ = np.flatnonzero(self.history_.getnnz(axis=0) > 0)
        if len(self.warm_items_) == 0:
            raise ValueError("train has no interactions")
        self.vocab_size_ = int(tokens.max()) + 1
        trained = np.zeros(self.vocab_size_, dtype=bool)
        trained[tokens[self.warm_items_]] = True
        trained[0] = False
        self.tokens_ = np.where(trained[tokens], tokens, 0).astype("int32")
        return self.tokens_

    def _build_encoder(self, max_length: int, n_outputs: int) -> keras.Model:
        return build_content_encoder(
            max_length, self.vocab_size_, n_outputs, encoder=self.encoder,
            embedding_dim=int(self.embedding_dim), kernel_sizes=tuple(self.kernel_sizes),
            n_filters=int(self.n_filters), dropout=self.dropout,
            embedding_l2=self.embedding_l2)

    def _encode(self, tokens: np.ndarray) -> np.ndarray:
        """The encoder's output for every row of ``tokens``, in inference mode (no dropout).

        One direct call instead of ``Model.predict``: the whole catalogue fits in one batch,
        and a fresh model's ``predict`` would trace a new TensorFlow function each time.
        """
        return np.asarray(self.encoder_(tokens, training=False), dtype=float)

    def item_vectors(self) -> np.ndarray:
        """The fitted items' factors ``q_i``, shape ``(n_items, n_factors)``."""
        return self.item_factors_

    def _score(self, users: np.ndarray) -> np.ndarray:
        return (self.global_mean_ + self.user_bias_[users][:, None] + self.item_bias_[None, :]
                + self.user_factors_[users] @ self.item_factors_.T)


class ImplicitALS(Recommender):
    """Matrix factorisation of implicit feedback: ALS on observed 1s and sampled 0s.

    Every training interaction is a 1, and ``n_negatives`` unobserved items (among the
    items with training interactions) per interaction are 0s (:func:`sample_negatives`);
    :class:`~recsys_lab.models.mf.ALSMatrixFactorization` of chapter 2 fits
    ``r̂_ui = μ + b_u + b_i + p_u · q_i`` to them and items are ranked by ``r̂_ui``. It has the
    same fitted attributes as the MF models (``global_mean_``, ``user_bias_``,
    ``item_bias_``, ``user_factors_``, ``item_factors_``); ``mf_`` is the ALS model.

    The defaults were chosen on a TOPN validation split; for regressing factors from content
    under COLD, fewer negatives and a lighter penalty did better (:data:`COLD_FACTORS`).

    Parameters
    ----------
    n_factors : int
        ``k``.
    reg : float
        ALS's ``reg`` and ``reg_bias``.
    n_iter : int
        ALS alternations.
    n_negatives : int
        Sampled 0s per interaction.
    seed : int
        Seeds the negatives and ALS.
    """

    def __init__(self, n_factors: int = 32, reg: float = 0.03, n_iter: int = 5,
                 n_negatives: int = 8, seed: int = 0):
        self.n_factors = n_factors
        self.reg = reg
        self.n_iter = n_iter
        self.n_negatives = n_negatives
        self.seed = seed

    def _fit(self, train: pd.DataFrame) -> None:
        if not self.n_negatives >= 1:
            raise ValueError(f"n_negatives must be at least 1, got {self.n_negatives!r}")
        warm = np.flatnonzero(self.history_.getnnz(axis=0) > 0)
        targets = sample_negatives(self.history_, warm, self.n_negatives, seed=self.seed)
        self.mf_ = ALSMatrixFactorization(n_factors=self.n_factors, reg=self.reg,
                                          reg_bias=self.reg, n_iter=self.n_iter,
                                          seed=self.seed)
        self.mf_.fit(targets, self.n_users_, self.n_items_)
        for name in ("global_mean_", "user_bias_", "item_bias_", "user_factors_",
                     "item_factors_"):
            setattr(self, name, getattr(self.mf_, name))

    def _score(self, users: np.ndarray) -> np.ndarray:
        return (self.global_mean_ + self.user_bias_[users][:, None] + self.item_bias_[None, :]
                + self.user_factors_[users] @ self.item_factors_.T)


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
        ``ImplicitALS(**COLD_FACTORS, seed=seed)``. If it is already fitted it is used as it
        is, which lets several encoders share one MF; it must then have been fitted on the
        same training data (checked).
    encoder : ``"cnn"`` or ``"bag"`` (linear bag of tokens), see :func:`build_content_encoder`.
    embedding_dim, kernel_sizes, n_filters, dropout, embedding_l2 : the encoder's settings.
    epochs, batch_size, learning_rate : the regression's training.
    hybrid : keep the MF factors of warm items.
    seed : seeds Keras (and the default factor model).

    Attributes
    ----------
    factor_model_ : the fitted factor model; ``encoder_`` the Keras encoder; ``curves_`` its
    training loss; ``warm_items_`` items with training interactions; ``tokens_`` the token
    ids the encoder reads (tokens of no warm item set to padding); ``predicted_factors_`` and
    ``predicted_bias_`` what the content predicts for every item; and the scoring attributes
    ``global_mean_``, ``user_bias_``, ``item_bias_``, ``user_factors_``, ``item_factors_``.
    """

    def __init__(self, item_tokens, factor_model=None, encoder: str = "cnn",
                 embedding_dim: int = 32, kernel_sizes=(1, 2, 3), n_filters: int = 32,
                 dropout: float = 0.0, embedding_l2: float = 1e-2, epochs: int = 10,
                 batch_size: int = 64, learning_rate: float = 3e-3, hybrid: bool = False,
                 seed: int = 0):
        self.item_tokens = item_tokens
        self.factor_model = factor_model
        self.encoder = encoder
        self.embedding_dim = embedding_dim
        self.kernel_sizes = kernel_sizes
        self.n_filters = n_filters
        self.dropout = dropout
        self.embedding_l2 = embedding_l2
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.hybrid = hybrid
        self.seed = seed

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

    def _fit(self, train: pd.DataFrame) -> None:
        self._check_parameters()
        tokens = self._prepare_tokens()
        warm = self.warm_items_
        mf = self.factor_model_ = self._fitted_factor_model(train)
        # Regression targets [q_i, b_i], standardised so that every column counts the same.
        factors = np.c_[mf.item_factors_, mf.item_bias_][warm]
        mean, std = factors.mean(axis=0), factors.std(axis=0) + 1e-12

        seed_everything(self.seed)
        self.encoder_ = self._build_encoder(tokens.shape[1], factors.shape[1])
        self.encoder_.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse")
        history = self.encoder_.fit(tokens[warm], ((factors - mean) / std).astype("float32"),
                                    batch_size=int(self.batch_size), epochs=int(self.epochs),
                                    shuffle=True, verbose=0)
        self.curves_ = {"train": history.history["loss"]}
        predicted = self._encode(tokens) * std + mean
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
    ``network_``, ``encoder_``, ``curves_``, ``warm_items_``, ``tokens_`` and the scoring attributes
    (``global_mean_`` is 0).
    """

    def __init__(self, item_tokens, encoder: str = "cnn", embedding_dim: int = 32,
                 kernel_sizes=(1, 2, 3), n_filters: int = 32, dropout: float = 0.3,
                 embedding_l2: float = 1e-2, epochs: int = 15, batch_size: int = 64,
                 learning_rate: float = 3e-3, n_factors: int = 32, seed: int = 0):
        self.item_tokens = item_tokens
        self.encoder = encoder
        self.embedding_dim = embedding_dim
        self.kernel_sizes = kernel_sizes
        self.n_filters = n_filters
        self.dropout = dropout
        self.embedding_l2 = embedding_l2
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.n_factors = n_factors
        self.seed = seed

    def _fit(self, train: pd.DataFrame) -> None:
        self._check_parameters()
        if not self.n_factors >= 1:
            raise ValueError(f"n_factors must be at least 1, got {self.n_factors!r}")
        tokens = self._prepare_tokens()
        warm = self.warm_items_
        k = int(self.n_factors)
        seed_everything(self.seed)
        self.encoder_ = self._build_encoder(tokens.shape[1], k + 1)
        item_tokens = keras.Input(shape=(tokens.shape[1],), dtype="int32", name="tokens")
        factors_and_bias = self.encoder_(item_tokens)
        item_factors, item_bias = factors_and_bias[:, :k], factors_and_bias[:, k:]
        user_scores = layers.Dense(self.n_users_, name="user_embedding")(item_factors)
        scores = user_scores + item_bias  # (batch of items, n_users)
        self.network_ = keras.Model(item_tokens, scores, name="content_tower")
        self.network_.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse")
        columns = self.history_[:, warm].T.toarray().astype("float32")  # (n_warm, n_users)
        history = self.network_.fit(tokens[warm], columns, batch_size=int(self.batch_size),
                                    epochs=int(self.epochs), shuffle=True, verbose=0)
        self.curves_ = {"train": history.history["loss"]}
        kernel, user_bias = self.network_.get_layer("user_embedding").get_weights()
        predicted = self._encode(tokens).astype(float)
        self.global_mean_ = 0.0
        self.user_factors_ = kernel.T.astype(float)
        self.user_bias_ = user_bias.astype(float)
        self.item_factors_ = predicted[:, :k]
        self.item_bias_ = predicted[:, k]
