"""Neural collaborative filtering: a recommender is a mapping from (user, item) to a score.

Six models for implicit feedback, all with the book's ``Recommender`` interface:

* :class:`DotProductMF`: ``s(u, i) = p_u · q_i + b_i``, the matrix factorisation baseline.
* :class:`GMF`: ``s(u, i) = hᵀ (p_u ⊙ q_i)``, a dot product with learned weights per dimension.
* :class:`MLPRecommender`: ``s(u, i) = MLP([p_u; q_i])``, a multilayer perceptron on the pair.
* :class:`NeuMF`: GMF and MLP side by side, joined by one output layer (He et al. 2017).
* :class:`TwoTower`: a user tower and an item tower, each mixing an id embedding with side
  features, scored by a dot product and trained with an in-batch sampled softmax.
* :class:`CollaborativeMetricLearning`: ``s(u, i) = −‖p_u − q_i‖²``, points in the unit ball
  (Hsieh et al. 2017), trained with a triplet hinge (:func:`hinge_loss`).

The first four (and the last, with its own loss) are trained on each observed (user, item)
pair against ``n_negatives`` items drawn uniformly at random, with either loss (``s⁺`` the
positive's score, ``s⁻_j`` the negatives', ``σ`` the logistic function):

* pointwise binary cross-entropy, ``−log σ(s⁺) − Σ_j log(1 − σ(s⁻_j))`` (:func:`bce_loss`);
* pairwise BPR, ``−mean_j log σ(s⁺ − s⁻_j)`` (:func:`bpr_loss`).

A drawn "negative" that the user did interact with is dropped from the loss (masked), so in
expectation the negatives are uniform over the items the user has not seen.

Training runs one compiled TensorFlow function per epoch (shuffle, then every mini-batch), so
the per-epoch cost is the arithmetic, not Python. ML-100K is small enough to keep the
``(n_users, n_items)`` interaction mask and, after ``fit``, score matrix in memory.

Every model builds its Keras network in ``build_network()`` (override it to try another
network; the training loop stays the same). The side features of :class:`TwoTower` come
from :func:`recsys_lab.features.user_features` and :func:`~recsys_lab.features.item_features`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from recsys_lab.base import EpochRecommender
from recsys_lab.models._keras import epoch_of_pairs, keras, sample_negatives
from recsys_lab.validation import (
    DATA,
    FLAG,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    integer,
    integers,
    one_of,
)

layers, ops = keras.layers, keras.ops

LOSSES = ("bce", "bpr")  # of the models that take a ``loss``; CML's is the hinge

# --------------------------------------------------------------------------------------------
# Losses for implicit feedback (TensorFlow tensors in, a scalar out)
# --------------------------------------------------------------------------------------------


def bce_loss(positive, negative, mask):
    """Pointwise binary cross-entropy, summed over each positive's negatives, mean over positives.

    ``positive`` (batch,) and ``negative`` (batch, n_negatives) are logits; ``mask``
    (batch, n_negatives) is 1 for a real negative and 0 for one to ignore. Uses
    ``−log σ(s) = softplus(−s)`` and ``−log(1 − σ(s)) = softplus(s)``, which never overflow.
    """
    per_positive = ops.softplus(-positive) + ops.sum(ops.softplus(negative) * mask, axis=1)
    return ops.mean(per_positive)


def bpr_loss(positive, negative, mask):
    """Bayesian personalised ranking: mean of ``−log σ(s⁺ − s⁻)`` over the unmasked pairs."""
    pairwise = ops.softplus(-(positive[:, None] - negative)) * mask
    return ops.sum(pairwise) / ops.maximum(ops.sum(mask), 1.0)


def hinge_loss(positive, negative, mask, margin):
    """Triplet hinge, mean of ``[margin − (s⁺ − s⁻)]₊`` over the unmasked pairs.

    With the scores of :func:`cml_network`, ``s = −d²``, each term is Hsieh et al.'s
    ``[margin + d(u, i)² − d(u, j)²]₊``: zero once the negative is farther from the user
    than the positive by ``margin`` (in squared distance), linear in the scores otherwise.
    """
    pairwise = ops.relu(margin - (positive[:, None] - negative)) * mask
    return ops.sum(pairwise) / ops.maximum(ops.sum(mask), 1.0)


def in_batch_softmax_loss(user_vectors, item_vectors, items, log_q, temperature):
    """Sampled softmax where the other positives of the batch are the negatives.

    ``user_vectors`` and ``item_vectors`` (batch, d) belong to ``batch`` positive pairs,
    ``items`` (batch,) are the item ids and ``log_q`` (batch,) the log of each item's
    probability of being in a batch. Row ``b`` of the logits ``U Vᵀ / temperature − log q``
    is a softmax over the batch's items whose right answer is column ``b``. Subtracting
    ``log q`` (the logQ correction) undoes the popularity bias of sampling negatives in
    proportion to their frequency; a column that holds the row's own item again is masked.
    """
    logits = ops.matmul(user_vectors, ops.transpose(item_vectors)) / temperature
    logits = logits - log_q[None, :]
    same_item = ops.equal(items[:, None], items[None, :])
    diagonal = ops.eye(ops.shape(items)[0], dtype="bool")
    logits = ops.where(ops.logical_and(same_item, ops.logical_not(diagonal)), -1e9, logits)
    labels = ops.arange(ops.shape(items)[0])
    return ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits,
                                                                 from_logits=True))


# --------------------------------------------------------------------------------------------
# The scoring networks: Keras models from {"user": ids, "item": ids} to one logit per pair.
# Each is written out top to bottom (no private helpers), so a chapter can show it as an
# editable cell that tests/test_editable_models.py keeps identical to this code.
# --------------------------------------------------------------------------------------------


def dot_product_network(n_users, n_items, dim, l2=0.0) -> keras.Model:
    """``s(u, i) = p_u · q_i + b_i``: embeddings, a dot product and an item bias."""
    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")
    penalty = keras.regularizers.L2(l2) if l2 else None
    p = layers.Embedding(n_users, dim, name="user_embedding", embeddings_regularizer=penalty,
                         embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1))(user)
    q = layers.Embedding(n_items, dim, name="item_embedding", embeddings_regularizer=penalty,
                         embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1))(item)
    item_bias = layers.Embedding(n_items, 1, embeddings_initializer="zeros", name="item_bias")
    score = ops.sum(p * q, axis=-1) + ops.squeeze(item_bias(item), axis=-1)
    return keras.Model({"user": user, "item": item}, score, name="dot_product")


def gmf_network(n_users, n_items, dim, l2=0.0) -> keras.Model:
    """Generalised MF: ``s(u, i) = hᵀ (p_u ⊙ q_i) + b``, a weighted dot product."""
    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")
    penalty = keras.regularizers.L2(l2) if l2 else None
    p = layers.Embedding(n_users, dim, name="user_embedding", embeddings_regularizer=penalty,
                         embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1))(user)
    q = layers.Embedding(n_items, dim, name="item_embedding", embeddings_regularizer=penalty,
                         embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1))(item)
    weights = layers.Dense(1, name="output_weights", kernel_regularizer=penalty)
    score = weights(layers.Multiply(name="elementwise")([p, q]))
    return keras.Model({"user": user, "item": item}, ops.squeeze(score, axis=-1), name="gmf")


def mlp_network(n_users, n_items, dim, hidden_units, l2=0.0) -> keras.Model:
    """``s(u, i) = wᵀ ReLU(W_L … ReLU(W_1 [p_u; q_i]))``: an MLP on the concatenated pair."""
    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")
    penalty = keras.regularizers.L2(l2) if l2 else None
    p = layers.Embedding(n_users, dim, name="user_embedding", embeddings_regularizer=penalty,
                         embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1))(user)
    q = layers.Embedding(n_items, dim, name="item_embedding", embeddings_regularizer=penalty,
                         embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1))(item)
    hidden = layers.Concatenate(name="pair")([p, q])
    for layer, units in enumerate(hidden_units):
        hidden = layers.Dense(units, activation="relu", name=f"hidden_{layer + 1}")(hidden)
    score = layers.Dense(1, name="output")(hidden)
    return keras.Model({"user": user, "item": item}, ops.squeeze(score, axis=-1), name="mlp")


def neumf_network(n_users, n_items, dim, hidden_units, l2=0.0) -> keras.Model:
    """NeuMF: a GMF branch and an MLP branch with their own embeddings, one output layer."""
    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")
    penalty = keras.regularizers.L2(l2) if l2 else None

    def embedding(n, name):  # a table of n vectors of size dim, initialised N(0, 0.1²)
        return layers.Embedding(n, dim, name=name, embeddings_regularizer=penalty,
                                embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1))

    gmf_p = embedding(n_users, "gmf_user_embedding")(user)
    gmf_q = embedding(n_items, "gmf_item_embedding")(item)
    mlp_p = embedding(n_users, "mlp_user_embedding")(user)
    mlp_q = embedding(n_items, "mlp_item_embedding")(item)
    # The MLP branch: ReLU layers on the concatenated pair.
    hidden = layers.Concatenate(name="pair")([mlp_p, mlp_q])
    for layer, units in enumerate(hidden_units):
        hidden = layers.Dense(units, activation="relu", name=f"hidden_{layer + 1}")(hidden)
    # The GMF branch is the element-wise product; one linear layer reads both branches.
    both = layers.Concatenate(name="gmf_and_mlp")([gmf_p * gmf_q, hidden])
    score = layers.Dense(1, name="output")(both)
    return keras.Model({"user": user, "item": item}, ops.squeeze(score, axis=-1), name="neumf")


def cml_network(n_users, n_items, dim) -> keras.Model:
    """Collaborative metric learning: ``s(u, i) = −‖p_u − q_i‖²``, vectors in the unit ball.

    After every optimiser step Keras applies each table's constraint, which scales any row
    longer than 1 back onto the unit sphere (``MaxNorm(1)`` over the rows).
    """
    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")
    p = layers.Embedding(n_users, dim, name="user_embedding",
                         embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1),
                         embeddings_constraint=keras.constraints.MaxNorm(1.0, axis=1))(user)
    q = layers.Embedding(n_items, dim, name="item_embedding",
                         embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1),
                         embeddings_constraint=keras.constraints.MaxNorm(1.0, axis=1))(item)
    score = -ops.sum(ops.square(p - q), axis=-1)
    return keras.Model({"user": user, "item": item}, score, name="cml")


# --------------------------------------------------------------------------------------------
# Training with sampled negatives
# --------------------------------------------------------------------------------------------


_SAMPLED_NEGATIVES = {"embedding_dim": integer(1), "loss": one_of(*LOSSES),
                      "n_negatives": integer(1), "epochs": integer(1), "batch_size": integer(1),
                      "learning_rate": POSITIVE, "l2": NON_NEGATIVE, "seed": SEED}


class _SampledNegativesRecommender(EpochRecommender):
    """Shared training and scoring of the models that score one (user, item) pair at a time.

    Subclasses define ``build_network()``, a Keras model from ``{"user", "item"}`` id tensors
    to one logit per pair. After ``fit``: ``network_`` (the Keras model), ``curves_`` (the
    mean training loss of each epoch, and ``valid``'s metrics) and ``scores_``
    (``(n_users, n_items)``, every pair's score).
    """

    hyperparameters = _SAMPLED_NEGATIVES

    def __init__(self, embedding_dim, loss, n_negatives, epochs, batch_size, learning_rate, l2,
                 seed):
        self.embedding_dim = embedding_dim
        self.loss = loss
        self.n_negatives = n_negatives
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.l2 = l2
        self.seed = seed

    def build_network(self):
        raise NotImplementedError

    def _loss_function(self):
        """``loss(positive, negative, mask) -> scalar``, from the ``loss`` parameter."""
        return bce_loss if self.loss == "bce" else bpr_loss

    def _start(self, train: pd.DataFrame) -> None:
        self.network_ = network = self.build_network()
        seen = tf.constant(self.history_.toarray() > 0)  # (n_users, n_items) bool
        loss_function = self._loss_function()
        optimizer = keras.optimizers.Adam(self.learning_rate)
        optimizer.build(network.trainable_variables)
        seed_generator = keras.random.SeedGenerator(self.seed)
        n_items, n_negatives = self.n_items_, self.n_negatives

        def step(users, items):
            batch = tf.shape(users)[0]
            negatives, mask = sample_negatives(users, seen, n_items, n_negatives,
                                               seed_generator)
            repeated = tf.repeat(users[:, None], n_negatives, axis=1)
            with tf.GradientTape() as tape:
                positive = network({"user": users, "item": items}, training=True)
                negative = network({"user": tf.reshape(repeated, [-1]),
                                    "item": tf.reshape(negatives, [-1])}, training=True)
                loss = loss_function(positive, tf.reshape(negative, (batch, n_negatives)), mask)
                total = loss + tf.add_n(network.losses + [0.0])  # + the L2 penalty
            gradients = tape.gradient(total, network.trainable_variables)
            optimizer.apply(gradients, network.trainable_variables)
            return loss

        self._one_epoch = epoch_of_pairs(step, train["user"].to_numpy(),
                                          train["item"].to_numpy(), self.batch_size,
                                          seed_generator)

    def _train_epoch(self, epoch: int) -> dict:
        return {"loss": float(self._one_epoch())}

    def _end_training(self) -> None:
        del self._one_epoch

    def _finish(self) -> None:
        """Every pair's logit, ``scores_``, shape ``(n_users, n_items)``."""
        users = np.repeat(np.arange(self.n_users_, dtype=np.int32), self.n_items_)
        items = np.tile(np.arange(self.n_items_, dtype=np.int32), self.n_users_)
        scores = self.network_.predict({"user": users, "item": items}, batch_size=1 << 16,
                                       verbose=0)
        self.scores_ = np.asarray(scores, dtype=float).reshape(self.n_users_, self.n_items_)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.scores_[users]


class DotProductMF(_SampledNegativesRecommender):
    """Matrix factorisation for implicit feedback: ``s(u, i) = p_u · q_i + b_i``.

    The baseline that Rendle et al. (2020) found to beat NeuMF once both are tuned. Trained
    like the neural models (sampled negatives, ``loss``), so the comparison is fair. After
    ``fit`` also ``user_factors_`` ``(n_users, d)``, ``item_factors_`` ``(n_items, d)`` and
    ``item_bias_`` ``(n_items,)``.

    Parameters
    ----------
    embedding_dim : int, the dimension ``d`` of ``p_u`` and ``q_i``.
    loss : ``"bpr"`` or ``"bce"``.
    n_negatives : int, negatives drawn per observed pair.
    epochs, batch_size, learning_rate : Adam's schedule (batch = observed pairs).
    l2 : float, L2 penalty on the embedding tables, added at every step.
    seed : int.
    """

    def __init__(self, embedding_dim=32, loss="bpr", n_negatives=4, epochs=15,
                 batch_size=4096, learning_rate=0.01, l2=1e-5, seed=0):
        super().__init__(embedding_dim, loss, n_negatives, epochs, batch_size, learning_rate,
                         l2, seed)

    def build_network(self):
        """:func:`dot_product_network`; an override must keep its three layer names."""
        return dot_product_network(self.n_users_, self.n_items_, self.embedding_dim, self.l2)

    def _finish(self) -> None:
        super()._finish()
        self.user_factors_ = self.network_.get_layer("user_embedding").get_weights()[0]
        self.item_factors_ = self.network_.get_layer("item_embedding").get_weights()[0]
        self.item_bias_ = self.network_.get_layer("item_bias").get_weights()[0][:, 0]


class GMF(_SampledNegativesRecommender):
    """Generalised matrix factorisation (He et al. 2017): ``s(u, i) = hᵀ (p_u ⊙ q_i) + b``.

    Parameters as :class:`DotProductMF`.
    """

    def __init__(self, embedding_dim=32, loss="bpr", n_negatives=4, epochs=15,
                 batch_size=4096, learning_rate=0.01, l2=3e-5, seed=0):
        super().__init__(embedding_dim, loss, n_negatives, epochs, batch_size, learning_rate,
                         l2, seed)

    def build_network(self):
        """:func:`gmf_network`; override to try another network."""
        return gmf_network(self.n_users_, self.n_items_, self.embedding_dim, self.l2)


class MLPRecommender(_SampledNegativesRecommender):
    """The MLP of neural collaborative filtering: ``s(u, i) = MLP([p_u; q_i])``.

    Parameters as :class:`DotProductMF`, plus ``hidden_units``, the widths of the ReLU
    layers (a tower that halves, as in He et al. 2017).
    """

    hyperparameters = {**_SAMPLED_NEGATIVES, "hidden_units": integers(1)}

    def __init__(self, embedding_dim=32, hidden_units=(64, 32, 16), loss="bpr", n_negatives=4,
                 epochs=10, batch_size=8192, learning_rate=0.01, l2=1e-4, seed=0):
        super().__init__(embedding_dim, loss, n_negatives, epochs, batch_size, learning_rate,
                         l2, seed)
        self.hidden_units = hidden_units

    def build_network(self):
        """:func:`mlp_network`; override to try another network."""
        return mlp_network(self.n_users_, self.n_items_, self.embedding_dim,
                           tuple(self.hidden_units), self.l2)


class NeuMF(_SampledNegativesRecommender):
    """Neural matrix factorisation (He et al. 2017): GMF and MLP branches, one output layer.

    Parameters as :class:`MLPRecommender`; both branches use ``embedding_dim``. Trained
    from scratch (the paper's pre-training of the branches is left out).
    """

    hyperparameters = {**_SAMPLED_NEGATIVES, "hidden_units": integers(1)}

    def __init__(self, embedding_dim=32, hidden_units=(64, 32, 16), loss="bpr", n_negatives=4,
                 epochs=10, batch_size=8192, learning_rate=0.01, l2=1e-5, seed=0):
        super().__init__(embedding_dim, loss, n_negatives, epochs, batch_size, learning_rate,
                         l2, seed)
        self.hidden_units = hidden_units

    def build_network(self):
        """:func:`neumf_network`; override to try another network."""
        return neumf_network(self.n_users_, self.n_items_, self.embedding_dim,
                             tuple(self.hidden_units), self.l2)


class CollaborativeMetricLearning(_SampledNegativesRecommender):
    """Collaborative metric learning (Hsieh et al. 2017): ``s(u, i) = −‖p_u − q_i‖²``.

    Users and items are points of one metric space, inside the unit ball; each observed pair
    ``(u, i)`` is contrasted with ``n_negatives`` uniform unseen items ``j`` by the triplet
    hinge ``[margin + ‖p_u − q_i‖² − ‖p_u − q_j‖²]₊`` (:func:`hinge_loss`), averaged over the
    pairs, and after every Adam step each vector longer than 1 is scaled back to length 1
    (see :func:`cml_network`). Left out from the paper: its WARP-style weight of each
    positive by an estimate of its rank, and its covariance regulariser; the unit ball is the
    only regularisation (no ``l2``). After ``fit`` also ``user_factors_`` ``(n_users, d)``
    and ``item_factors_`` ``(n_items, d)``, the points.

    Parameters
    ----------
    embedding_dim : int, the dimension ``d`` of the space.
    margin : float, the hinge's margin ``γ`` in squared distance (with every point in the
        unit ball, squared distances lie in ``[0, 4]``).
    n_negatives, epochs, batch_size, learning_rate, seed : as :class:`DotProductMF`.
    """

    hyperparameters = {**{name: rule for name, rule in _SAMPLED_NEGATIVES.items()
                          if name not in ("loss", "l2")}, "margin": POSITIVE}

    def __init__(self, embedding_dim=64, margin=0.75, n_negatives=8, epochs=15,
                 batch_size=4096, learning_rate=0.01, seed=0):
        self.embedding_dim = embedding_dim
        self.margin = margin
        self.n_negatives = n_negatives
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed

    def build_network(self):
        """:func:`cml_network`; an override must keep its two embedding layers' names."""
        return cml_network(self.n_users_, self.n_items_, self.embedding_dim)

    def _loss_function(self):
        margin = float(self.margin)
        return lambda positive, negative, mask: hinge_loss(positive, negative, mask, margin)

    def _finish(self) -> None:
        super()._finish()
        self.user_factors_ = self.network_.get_layer("user_embedding").get_weights()[0]
        self.item_factors_ = self.network_.get_layer("item_embedding").get_weights()[0]


# --------------------------------------------------------------------------------------------
# The two-tower model
# --------------------------------------------------------------------------------------------


def tower(n_ids, n_features, dim, hidden_units, name, l2=0.0) -> keras.Model:
    """One tower: ``embedding(id) + W x`` (a sum of embeddings), then optional ReLU layers.

    Inputs ``id`` (batch,) and ``features`` (batch, n_features). A linear map ``W`` of the
    features is added to the id embedding: with one-hot features it adds one learned vector
    per feature value. With ``hidden_units``, ReLU layers and a last linear layer follow.
    Every weight gets the L2 penalty ``l2``. Output: (batch, dim).
    """
    ids = keras.Input(shape=(), dtype="int32", name="id")
    features = keras.Input(shape=(n_features,), name="features")
    penalty = keras.regularizers.L2(l2) if l2 else None
    vector = layers.Embedding(
        n_ids, dim, name="id_embedding", embeddings_regularizer=penalty,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1))(ids)
    if n_features:
        feature_embedding = layers.Dense(dim, use_bias=False, name="feature_embedding",
                                         kernel_regularizer=penalty)
        vector = layers.Add(name="sum_of_embeddings")([vector, feature_embedding(features)])
    for layer, units in enumerate(hidden_units):
        vector = layers.Dense(units, activation="relu", name=f"hidden_{layer + 1}",
                              kernel_regularizer=penalty)(vector)
    if hidden_units:
        vector = layers.Dense(dim, name="output", kernel_regularizer=penalty)(vector)
    return keras.Model({"id": ids, "features": features}, vector, name=name)


def two_tower_network(n_users, n_items, n_user_features, n_item_features, dim, hidden_units,
                      l2=0.0) -> keras.Model:
    """A user :func:`tower` and an item :func:`tower` side by side, in one model.

    Inputs ``user`` and ``item`` (ids, ``(batch,)``) and ``user_features`` /
    ``item_features`` (``(batch, d_u)`` / ``(batch, d_i)``); outputs ``user_vector`` and
    ``item_vector``, each ``(batch, dim)``. The towers are the layers ``user_tower`` and
    ``item_tower``, so each can be run alone (to embed every user, or every item).
    """
    user_tower = tower(n_users, n_user_features, dim, hidden_units, "user_tower", l2)
    item_tower = tower(n_items, n_item_features, dim, hidden_units, "item_tower", l2)
    inputs = {"user": keras.Input(shape=(), dtype="int32", name="user"),
              "user_features": keras.Input(shape=(n_user_features,), name="user_features"),
              "item": keras.Input(shape=(), dtype="int32", name="item"),
              "item_features": keras.Input(shape=(n_item_features,), name="item_features")}
    user_vector = user_tower({"id": inputs["user"], "features": inputs["user_features"]})
    item_vector = item_tower({"id": inputs["item"], "features": inputs["item_features"]})
    return keras.Model(inputs, {"user_vector": user_vector, "item_vector": item_vector},
                       name="two_tower")


class TwoTower(EpochRecommender):
    """A user tower and an item tower whose dot product is the score (Covington et al. 2016).

    The user tower maps the user's id embedding and side features to a vector ``f(u)`` of
    size ``embedding_dim``; the item tower maps the item's id embedding and side features to
    ``g(i)``; ``s(u, i) = f(u) · g(i)`` (see :func:`two_tower_network`). Training uses the
    in-batch sampled softmax of :func:`in_batch_softmax_loss`, with the logQ correction of Yi
    et al. (2019) if ``log_q_correction``, ``q_i`` being item ``i``'s share of the training
    interactions.

    Parameters
    ----------
    user_features : array ``(n_users, d_u)`` or None (none), e.g.
        :func:`recsys_lab.features.user_features`.
    item_features : array ``(n_items, d_i)`` or None (none), e.g.
        :func:`recsys_lab.features.item_features`.
    embedding_dim : int, size of the embeddings and of the tower outputs.
    hidden_units : widths of each tower's ReLU layers (empty: one linear layer).
    temperature : float, the softmax temperature dividing the dot products.
    log_q_correction : bool, subtract ``log q_i`` from the logits (False: plain in-batch).
    epochs, batch_size, learning_rate, l2, seed : as :class:`DotProductMF`.

    After ``fit``: ``network_`` (both towers), ``user_vectors_`` ``(n_users, d)``,
    ``item_vectors_`` ``(n_items, d)`` and ``curves_``.
    """

    hyperparameters = {"user_features": DATA, "item_features": DATA,
                       "embedding_dim": integer(1), "hidden_units": integers(1),
                       "temperature": POSITIVE, "log_q_correction": FLAG, "epochs": integer(1),
                       "batch_size": integer(1), "learning_rate": POSITIVE, "l2": NON_NEGATIVE,
                       "seed": SEED}

    def __init__(self, user_features=None, item_features=None, embedding_dim=32,
                 hidden_units=(), temperature=1.0, log_q_correction=True, epochs=10,
                 batch_size=512, learning_rate=0.003, l2=6e-5, seed=0):
        self.user_features = user_features
        self.item_features = item_features
        self.embedding_dim = embedding_dim
        self.hidden_units = hidden_units
        self.temperature = temperature
        self.log_q_correction = log_q_correction
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.l2 = l2
        self.seed = seed

    def _features(self, values, n, kind):
        if values is None:
            return np.zeros((n, 0), dtype=np.float32)
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 2 or values.shape[0] != n:
            raise ValueError(f"{kind}_features must have shape (n_{kind}s={n}, d), "
                             f"got {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{kind}_features has NaN or infinite values")
        return values

    def build_network(self) -> keras.Model:
        """:func:`two_tower_network`; an override must keep its inputs, outputs and towers."""
        return two_tower_network(self.n_users_, self.n_items_, self._user_x.shape[1],
                                 self._item_x.shape[1], self.embedding_dim,
                                 tuple(self.hidden_units), self.l2)

    def _start(self, train: pd.DataFrame) -> None:
        self._user_x = tf.constant(self._features(self.user_features, self.n_users_, "user"))
        self._item_x = tf.constant(self._features(self.item_features, self.n_items_, "item"))
        self.network_ = network = self.build_network()
        variables = network.trainable_variables
        optimizer = keras.optimizers.Adam(self.learning_rate)
        optimizer.build(variables)
        counts = np.bincount(train["item"].to_numpy(), minlength=self.n_items_)
        log_q = np.log(np.maximum(counts, 1) / counts.sum())
        log_q = tf.constant(log_q if self.log_q_correction else 0.0 * log_q, "float32")
        user_x, item_x, temperature = self._user_x, self._item_x, float(self.temperature)

        def step(users, items):
            with tf.GradientTape() as tape:
                vectors = network({"user": users, "user_features": tf.gather(user_x, users),
                                   "item": items, "item_features": tf.gather(item_x, items)},
                                  training=True)
                loss = in_batch_softmax_loss(vectors["user_vector"], vectors["item_vector"],
                                             items, tf.gather(log_q, items), temperature)
                total = loss + tf.add_n(network.losses + [0.0])
            gradients = tape.gradient(total, variables)
            optimizer.apply(gradients, variables)
            return loss

        self._one_epoch = epoch_of_pairs(step, train["user"].to_numpy(),
                                          train["item"].to_numpy(), self.batch_size,
                                          keras.random.SeedGenerator(self.seed))

    def _train_epoch(self, epoch: int) -> dict:
        return {"loss": float(self._one_epoch())}

    def _end_training(self) -> None:
        del self._one_epoch

    def _finish(self) -> None:
        user_tower = self.network_.get_layer("user_tower")
        item_tower = self.network_.get_layer("item_tower")
        self.user_vectors_ = np.asarray(user_tower(
            {"id": tf.range(self.n_users_, dtype="int32"), "features": self._user_x}))
        self.item_vectors_ = np.asarray(item_tower(
            {"id": tf.range(self.n_items_, dtype="int32"), "features": self._item_x}))

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.user_vectors_[users] @ self.item_vectors_.T
