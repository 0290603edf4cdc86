"""Graph neural networks for collaborative filtering: LightGCN (He et al. 2020) and its ablations.

Users and items are the nodes of one bipartite graph (:mod:`recsys_lab.scratch.graph`); each
node starts from a learned vector ``E⁰`` and ``n_layers`` rounds of message passing with the
normalised adjacency ``Â = D^{-1/2} A D^{-1/2}`` give ``E^{l+1} = Â E^l``. LightGCN scores a pair
by the dot product of the mean of the layers,

    e = (E⁰ + E¹ + … + E^L) / (L + 1),        s(u, i) = e_u · e_i,

and is trained with BPR on uniformly sampled negatives (one per observed pair by default),
with an L2 penalty on the batch's rows of ``E⁰``. Nothing else is learned: NGCF's per-layer weight
matrices and non-linearities are gone. The ablation switches ``transform`` (a learned
``d × d`` matrix per layer) and ``activation`` put them back, as in NGCF (Wang et al. 2019)
without its element-wise interaction term; ``combine="last"`` scores with ``E^L`` alone.

``item_entities`` (an ``(n_items, n_entities)`` 0/1 matrix) adds knowledge-graph entities as
a third kind of node linked to their items, so an item nobody has rated still receives
messages from its actors, directors and genres.

Every epoch runs as one compiled TensorFlow function; each mini-batch propagates the whole
graph by message passing along its edges (:func:`message_passing`, compiled with XLA), so
the cost of an epoch is ``n_batches × L × nnz(Â) × d`` multiply-adds for the propagation
plus ``(1 + n_negatives) × n_pairs × d`` for the scores, and the embedding updates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import tensorflow as tf

from recsys_lab.base import EpochRecommender
from recsys_lab.models._keras import epoch_of_pairs, keras, sample_negatives
from recsys_lab.models.ncf import bpr_loss
from recsys_lab.scratch.graph import bipartite_adjacency, normalize_symmetric
from recsys_lab.validation import (
    DATA,
    FLAG,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    integer,
    one_of,
)

ops = keras.ops

COMBINATIONS = ("mean", "last")
ACTIVATIONS = ("linear", "leaky_relu", "tanh")


def message_passing(edges, weights, n_nodes, vectors):
    """One round ``Â E`` as messages along the edges: ``out[r] = Σ_edges w · vectors[c]``.

    ``edges`` is ``(n_edges, 2)`` int32 (row ``r``, column ``c`` of each non-zero of ``Â``),
    ``weights`` ``(n_edges,)`` its values, ``vectors`` ``(n_nodes, d)``. The same product as
    ``tf.sparse.sparse_dense_matmul``, written as a gather and a segment sum so that XLA can
    compile it (the sparse product cannot be), which makes a training step about four times
    faster on a CPU.
    """
    messages = weights[:, None] * tf.gather(vectors, edges[:, 1])
    return tf.math.unsorted_segment_sum(messages, edges[:, 0], n_nodes)


class GraphPropagation(keras.Model):
    """Node embeddings ``E⁰`` and ``n_layers`` rounds of ``E ← Â E``; call it for ``e``.

    ``adjacency`` is the normalised ``Â`` (SciPy sparse, ``(N, N)``), kept as its edge list
    ``edges`` ``(n_edges, 2)`` and ``weights`` (see :func:`message_passing`). Calling the
    network returns the combined node vectors ``(N, embedding_dim)``: users first, then
    items, then any entities. With ``transform`` each layer multiplies by its own ``d × d``
    matrix, and ``activation`` is applied after it (NGCF-style layers).
    """

    def __init__(self, adjacency, embedding_dim, n_layers, combine="mean", transform=False,
                 activation="linear", **kwargs):
        super().__init__(**kwargs)
        coo = sp.coo_matrix(adjacency, dtype=np.float32)
        self.n_nodes = coo.shape[0]
        self.edges = tf.constant(np.column_stack([coo.row, coo.col]), "int32")
        self.weights_of_edges = tf.constant(coo.data, "float32")
        self.node_embedding = self.add_weight(
            shape=(self.n_nodes, embedding_dim), name="node_embedding",
            initializer=keras.initializers.RandomNormal(stddev=0.1))
        self.layer_transforms = [
            keras.layers.Dense(embedding_dim, use_bias=False, name=f"transform_{layer + 1}")
            for layer in range(n_layers)] if transform else []
        for dense in self.layer_transforms:  # built now, so an optimiser can see them
            dense.build((None, embedding_dim))
        self.n_layers, self.combine = n_layers, combine
        self.activation = keras.activations.get(activation)

    def call(self, inputs=None):
        layer = tf.convert_to_tensor(self.node_embedding)
        outputs = [layer]
        for depth in range(self.n_layers):
            layer = message_passing(self.edges, self.weights_of_edges, self.n_nodes, layer)
            if self.layer_transforms:
                layer = self.activation(self.layer_transforms[depth](layer))
            outputs.append(layer)
        if self.combine == "last":
            return outputs[-1]
        return tf.add_n(outputs) / float(len(outputs))


class LightGCN(EpochRecommender):
    """LightGCN: linear propagation on the user–item graph, BPR on sampled negatives.

    Parameters
    ----------
    embedding_dim : int, the size ``d`` of each node vector.
    n_layers : int ≥ 0, rounds of propagation ``L`` (0 is plain BPR matrix factorisation).
    combine : ``"mean"`` (LightGCN's layer combination) or ``"last"`` (``E^L`` only).
    transform : bool, a learned ``d × d`` matrix per layer (NGCF-style; off in LightGCN).
    activation : ``"linear"``, ``"leaky_relu"`` or ``"tanh"``, after each transform.
    item_entities : sparse or dense ``(n_items, n_entities)`` array or None: knowledge-graph
        entities to add as nodes linked to their items.
    n_negatives : int, items drawn uniformly per observed pair; BPR averages over them (a
        drawn item the user did interact with is masked out).
    epochs, batch_size, learning_rate : Adam's schedule (a batch is observed pairs).
    l2 : float, penalty ``l2 · ‖E⁰_batch‖² / batch`` on the batch's users, positives and
        negatives, as in He et al. (2020).
    seed : int.

    The defaults were chosen on the TOPN validation split of ML-100K (``topn_split(train,
    seed=1)`` of the standard training part; validation NDCG@10). Searched, one fit each
    with one negative: batch 2048 with learning rate 0.005 (slow: 0.250 after 40 epochs)
    against batch 8192 with 0.01 / 0.02 / 0.05 and batch 32768 with 0.05; ``l2`` 5e-4,
    1e-3, 3e-3, 1e-2; 25, 40, 60 and 80 epochs; ``embedding_dim`` 32, 64, 128; ``n_layers``
    0–3. Best: batch 8192, 0.02, ``l2`` 1e-3, 64 dimensions, 2 layers, 40 epochs (0.2525;
    60 and 80 epochs gave 0.2556 and 0.2525, within a fit's noise, for 1.5–2 times the
    time). Then ``n_negatives`` 1, 4, 8 with model seeds 0 and 1: 0.2525 / 0.2487,
    0.2565 / 0.2626, 0.2619 / 0.2547 (16 negatives, seed 0: 0.2538); 4 has the best mean
    and costs a fifth more time than 1. EASE scored 0.2582 on the same split. He et al.
    (2020) train far longer at a smaller learning rate; the book's budget of two minutes
    per chapter does not allow it.

    After ``fit``: ``network_`` (:class:`GraphPropagation`), ``user_factors_``
    ``(n_users, d)`` and ``item_factors_`` ``(n_items, d)`` (the combined vectors whose dot
    product is the score), ``curves_``.
    """

    hyperparameters = {"embedding_dim": integer(1), "n_layers": integer(0),
                       "combine": one_of(*COMBINATIONS), "transform": FLAG,
                       "activation": one_of(*ACTIVATIONS), "item_entities": DATA,
                       "n_negatives": integer(1), "epochs": integer(1), "batch_size": integer(1),
                       "learning_rate": POSITIVE, "l2": NON_NEGATIVE, "seed": SEED}

    def __init__(self, embedding_dim: int = 64, n_layers: int = 2, combine: str = "mean",
                 transform: bool = False, activation: str = "linear", item_entities=None,
                 n_negatives: int = 4, epochs: int = 40, batch_size: int = 8192,
                 learning_rate: float = 0.02, l2: float = 1e-3, seed: int = 0):
        self.embedding_dim = embedding_dim
        self.n_layers = n_layers
        self.combine = combine
        self.transform = transform
        self.activation = activation
        self.item_entities = item_entities
        self.n_negatives = n_negatives
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.l2 = l2
        self.seed = seed

    def build_network(self) -> GraphPropagation:
        """:class:`GraphPropagation` over the training graph; override to try another."""
        entities = None
        if self.item_entities is not None:
            entities = sp.csr_matrix(self.item_entities)
            if entities.shape[0] != self.n_items_:
                raise ValueError(f"item_entities has {entities.shape[0]} rows, one per item "
                                 f"is needed ({self.n_items_})")
        adjacency = normalize_symmetric(bipartite_adjacency(self.history_, entities))
        return GraphPropagation(adjacency, self.embedding_dim, self.n_layers, self.combine,
                                self.transform, self.activation, name="light_gcn")

    def _start(self, train: pd.DataFrame) -> None:
        self.network_ = network = self.build_network()
        optimizer = keras.optimizers.Adam(self.learning_rate)
        optimizer.build(network.trainable_variables)
        seed_generator = keras.random.SeedGenerator(self.seed)
        seen = tf.constant(self.history_.toarray() > 0)
        n_users, n_items, l2 = self.n_users_, self.n_items_, float(self.l2)
        n_negatives = int(self.n_negatives)

        # XLA compiles the update, not the draw of the negatives: with the draw inside, XLA
        # fused it into each of its consumers, and an epoch on ML-100K took 0.28 s, not 0.21.
        @tf.function(jit_compile=True)
        def update(batch_users, positives, negatives, mask):
            batch = tf.shape(batch_users)[0]
            with tf.GradientTape() as tape:
                nodes = network(None, training=True)
                user_vectors = tf.gather(nodes, batch_users)  # (batch, d)
                positive = ops.sum(user_vectors * tf.gather(nodes, n_users + positives), -1)
                negative = ops.einsum("bd,bkd->bk", user_vectors,
                                      tf.gather(nodes, n_users + negatives))
                loss = bpr_loss(positive, negative, mask)
                start = tf.concat([batch_users, n_users + positives,
                                   n_users + tf.reshape(negatives, [-1])], 0)
                penalty = l2 * ops.sum(ops.square(tf.gather(network.node_embedding, start)))
                total = loss + penalty / tf.cast(batch, "float32")
            variables = network.trainable_variables
            optimizer.apply(tape.gradient(total, variables), variables)
            return loss

        def step(batch_users, positives):
            negatives, mask = sample_negatives(batch_users, seen, n_items, n_negatives,
                                               seed_generator)
            return update(batch_users, positives, negatives, mask)

        self._one_epoch = epoch_of_pairs(step, train["user"].to_numpy(),
                                         train["item"].to_numpy(), int(self.batch_size),
                                         seed_generator)

    def _train_epoch(self, epoch: int) -> dict:
        return {"loss": float(self._one_epoch())}

    def _end_training(self) -> None:
        del self._one_epoch

    def _finish(self) -> None:
        nodes = np.asarray(self.network_(None), dtype=np.float64)
        self.user_factors_ = nodes[:self.n_users_]
        self.item_factors_ = nodes[self.n_users_:self.n_users_ + self.n_items_]

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_.T
