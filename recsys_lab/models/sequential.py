"""Next-item models (chapter 6): a first-order Markov chain, session-kNN and GRU4Rec.

All three read each user's history *in time order* (:func:`recsys_lab.sequences.user_histories`)
and score every item as the user's next one. ``score_items(users)`` continues the history
that ``fit`` saw; ``score_histories(histories)`` scores arbitrary item sequences (a prefix of
a history, a made-up session).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_lab.base import EpochRecommender, Recommender
from recsys_lab.models._keras import fit_one_epoch, keras
from recsys_lab.sequences import next_item_examples, pad_sequences, user_histories
from recsys_lab.validation import (
    NON_NEGATIVE,
    POSITIVE,
    RATE,
    SEED,
    check_fitted,
    check_ids,
    integer,
)

layers = keras.layers


class _SequenceScoring:
    """Mixin: score the time-ordered histories ``fit`` kept (``histories_``), or any others."""

    columns = ("user", "item", "timestamp")

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._score_histories([self.histories_[u] for u in users])

    def score_histories(self, histories) -> np.ndarray:
        """Scores of every item as the next one after each sequence, ``(len(histories), n_items)``.

        ``histories`` is a sequence of 1-D arrays of item ids, oldest first.
        """
        check_fitted(self, "histories_")
        histories = [check_ids(h, self.n_items_, kind="item") for h in histories]
        if not histories:
            return np.zeros((0, self.n_items_))
        return np.array(self._score_histories(histories), dtype=float)


class _NextItemNetwork(_SequenceScoring, EpochRecommender):
    """A Keras network trained to predict the next item at every step of the histories.

    ``_start`` keeps the time-ordered ``histories_``, cuts them into training windows
    (``_training_examples``), builds ``network_`` and compiles it with ``_loss()``; each
    epoch is one pass over the windows in a fresh order.
    """

    def _training_examples(self):
        raise NotImplementedError

    def _compile(self) -> None:
        raise NotImplementedError

    def _start(self, train: pd.DataFrame) -> None:
        self.histories_ = user_histories(train, self.n_users_)
        self._examples = self._training_examples()
        if not self._examples.mask.any():
            raise ValueError("train has no user with two or more interactions: nothing to learn")
        self._rng = np.random.default_rng(self.seed)
        self.network_ = self.build_network()
        self._compile()

    def _train_epoch(self, epoch: int) -> dict:
        examples = self._examples
        return fit_one_epoch(self.network_, examples.inputs, examples.targets,
                             sample_weight=examples.mask.astype("float32"),
                             batch_size=self.batch_size, rng=self._rng)

    def _end_training(self) -> None:
        del self._examples, self._rng


class MarkovChain(_SequenceScoring, Recommender):
    """First-order Markov chain: the next item depends only on the last one.

    ``P(j | i) = (C[i, j] + smoothing * p(j)) / (sum_j C[i, j] + smoothing)``, where
    ``C[i, j]`` counts how often ``j`` directly followed ``i`` in the training histories and
    ``p`` is the items' share of all interactions: rare transitions are shrunk towards
    popularity. Learned state: ``transitions_`` (CSR ``(n_items, n_items)`` counts) and
    ``popularity_`` (``(n_items,)``, sums to 1).

    Parameters
    ----------
    smoothing : pseudo-count ``>= 0`` of the popularity prior (chosen on SEQ validation).
    """

    hyperparameters = {"smoothing": NON_NEGATIVE}

    def __init__(self, smoothing: float = 200.0):
        self.smoothing = smoothing

    def _fit(self, train: pd.DataFrame) -> None:
        self.histories_ = histories = user_histories(train, self.n_users_)
        pairs = [np.stack([h[:-1], h[1:]]) for h in histories if len(h) > 1]
        pairs = np.concatenate(pairs, axis=1) if pairs else np.zeros((2, 0), dtype=np.int64)
        n = self.n_items_
        self.transitions_ = sp.csr_matrix((np.ones(pairs.shape[1]), (pairs[0], pairs[1])),
                                          shape=(n, n))
        counts = np.bincount(np.concatenate(histories), minlength=n).astype(float)
        self.popularity_ = counts / counts.sum()

    def _score_histories(self, histories) -> np.ndarray:
        scores = np.tile(self.popularity_, (len(histories), 1))
        rows = [i for i, h in enumerate(histories) if len(h)]
        last = np.array([histories[i][-1] for i in rows], dtype=np.int64)
        if rows:
            counts = self.transitions_[last].toarray()
            totals = counts.sum(axis=1, keepdims=True)
            scores[rows] = ((counts + self.smoothing * self.popularity_)
                            / np.maximum(totals + self.smoothing, 1e-12))
        return scores


class SessionKNN(_SequenceScoring, Recommender):
    """Session-based kNN with recency weights (V-SKNN of Ludewig & Jannach 2018).

    A user's last ``recent_items`` items, the most recent weighted 1 and the one ``a`` steps
    back ``1 - a / recent_items``, form a query vector ``q`` ``(n_items,)``. Its cosine
    similarity with every training history ``b_v`` (binary, order-free) is
    ``sim(q, v) = q · b_v / (|q| |b_v|)``; the ``n_neighbors`` most similar histories vote,
    ``score(j) = Σ_{v ∈ N} sim(q, v) b_vj``. Order enters through the query only: the same
    neighbours are found from the films a user rated last, not from everything they ever
    rated (Jannach & Ludewig 2017; sessions here are the users' whole training histories).
    ``score_items(users)`` leaves each user out of their own neighbours (as
    :class:`recsys_lab.baselines.UserKNN` does); ``score_histories`` compares an arbitrary
    sequence with every training history. An empty history scores 0 everywhere.

    Defaults chosen on the SEQ validation item of ML-100K (fit on ``seq.train``; chapter 6):
    ``n_neighbors`` 10, 20, 50, 100 × ``recent_items`` 1, 5, 10, 20, 50 gave a best HR@10 of
    0.2004 at (20, 20) and (20, 5), the tie broken by NDCG@10 (0.1081 against 0.1016); a
    query of the last item alone reached at most 0.1622, one of 50 items 0.1877.

    Parameters
    ----------
    n_neighbors : how many of the most similar histories vote (chosen on SEQ validation).
    recent_items : how many of the most recent items form the query (chosen on SEQ validation).

    Learned state: ``histories_`` (the time-ordered training histories), ``sessions_`` (CSR
    ``(n_users, n_items)``, 1 where a user's history holds an item) and ``session_norms_``
    (``(n_users,)``, their Euclidean norms).
    """

    hyperparameters = {"n_neighbors": integer(1), "recent_items": integer(1)}

    def __init__(self, n_neighbors: int = 20, recent_items: int = 20):
        self.n_neighbors = n_neighbors
        self.recent_items = recent_items

    def _fit(self, train: pd.DataFrame) -> None:
        self.histories_ = user_histories(train, self.n_users_)
        self.sessions_ = _one_hot_rows(self.histories_, self.n_items_, np.ones_like)
        self.sessions_.data[:] = 1.0  # an item rated twice is still one item of the history
        self.session_norms_ = np.sqrt(np.asarray(self.sessions_.sum(axis=1)).ravel())

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._vote([self.histories_[u] for u in users], leave_out=users)

    def _score_histories(self, histories) -> np.ndarray:
        return self._vote(histories)

    def _vote(self, histories, leave_out: np.ndarray | None = None) -> np.ndarray:
        def recency(recent):
            return 1.0 - np.arange(len(recent))[::-1] / self.recent_items

        queries = _one_hot_rows([h[-self.recent_items:] for h in histories], self.n_items_,
                                recency)
        query_norms = np.sqrt(np.asarray(queries.multiply(queries).sum(axis=1)).ravel())
        similarity = (queries @ self.sessions_.T).toarray()
        similarity /= np.maximum(np.outer(query_norms, self.session_norms_), 1e-12)
        if leave_out is not None:
            similarity[np.arange(len(histories)), leave_out] = 0.0
        k = min(self.n_neighbors, similarity.shape[1])
        weakest = np.argpartition(-similarity, k - 1, axis=1)[:, k:]
        np.put_along_axis(similarity, weakest, 0.0, axis=1)
        return (sp.csr_matrix(similarity) @ self.sessions_).toarray()


def _one_hot_rows(histories, n_items: int, weights) -> sp.csr_matrix:
    """CSR ``(len(histories), n_items)``: row ``r`` holds ``weights(h)`` at the items of
    history ``h = histories[r]`` (repeated items add up)."""
    lengths = [len(h) for h in histories]
    rows = np.repeat(np.arange(len(histories)), lengths)
    items = (np.concatenate([np.asarray(h, dtype=np.int64) for h in histories])
             if histories else np.zeros(0, dtype=np.int64))
    values = (np.concatenate([np.asarray(weights(np.asarray(h)), dtype=float) for h in histories])
              if histories else np.zeros(0))
    matrix = sp.csr_matrix((values, (rows, items)), shape=(len(histories), n_items))
    matrix.sum_duplicates()
    return matrix


def build_gru4rec(n_items: int, max_len: int, embedding_dim: int, hidden_units: int,
                  dropout: float) -> keras.Model:
    """Item ids ``(batch, max_len)`` (``item + 1``, 0 = padding) → next-item logits at each step.

    Output shape ``(batch, max_len, n_items)``: position ``t`` scores the item after ``x_t``.
    """
    items = keras.Input(shape=(max_len,), dtype="int32", name="items")
    x = layers.Embedding(n_items + 1, embedding_dim, mask_zero=True, name="item_embedding")(items)
    x = layers.Dropout(dropout, name="embedding_dropout")(x)
    states = layers.GRU(hidden_units, return_sequences=True, name="gru")(x)
    states = layers.Dropout(dropout, name="state_dropout")(states)
    logits = layers.Dense(n_items, name="next_item_logits")(states)
    return keras.Model(items, logits, name="gru4rec")


class GRU4Rec(_NextItemNetwork):
    """GRU4Rec: item embedding → GRU → a softmax over all items, at every step of a history.

    Trained with full softmax cross-entropy on next-item targets
    (:func:`recsys_lab.sequences.next_item_examples`, every transition of every history once,
    in windows of ``max_len`` steps); padding is masked. To score, a user's last ``max_len``
    items run through the GRU and the final state's logits score every item.

    The defaults are chapter 6's choice on the SEQ validation item (``epochs`` is the epoch
    of best validation HR@10: early stopping on the validation item, never the test item).

    The number of epochs was checked again on three SEQ validation folds (``seq.valid``
    after ``seq.train``, and each user's two items before it, each after the history that
    precedes it; recsys_lab 2, seed 0, one 16-epoch fit per fold). Three-fold mean HR@10 /
    NDCG@10 over 3 × 943 users (± one standard error about 0.008 / 0.0045): 0.154 / 0.077
    after epoch 1, 0.195 / 0.100 after 3, 0.214 / 0.110 after 4, 0.220 / 0.113 after 6,
    the best of the sixteen; 0.218 / 0.111 after 8, 0.215 / 0.109 after 12, 0.203 / 0.105
    after 16. Against epoch 6, paired user by user, no later epoch gained (every difference
    between −0.017 ± 0.007 and −0.001 ± 0.006 in HR@10): the model has converged by epoch
    6 and then slowly overfits, so ``epochs`` stays 6.

    Parameters
    ----------
    embedding_dim, hidden_units : sizes of the item embedding and of the GRU state.
    max_len : steps per training window and the length of history used to score.
    train_len : train on each user's most recent ``train_len`` items only (None: all of them);
        shorter is faster, and old habits matter less for the next item.
    dropout : dropout rate on the embeddings and on the GRU states.
    epochs, batch_size, learning_rate : Adam training schedule.
    seed : seeds the initialisation and the order of the training windows.

    Learned state: ``network_`` (:meth:`build_network`), ``histories_`` (the time-ordered
    training histories), ``curves_`` (one row per epoch: ``loss`` and, when ``fit`` gets
    ``valid``, its metrics).
    """

    hyperparameters = {"embedding_dim": integer(1), "hidden_units": integer(1),
                       "max_len": integer(1), "dropout": RATE, "epochs": integer(1),
                       "batch_size": integer(1), "learning_rate": POSITIVE,
                       "train_len": integer(1, optional=True), "seed": SEED}

    def __init__(self, embedding_dim: int = 64, hidden_units: int = 64, max_len: int = 50,
                 dropout: float = 0.2, epochs: int = 6, batch_size: int = 128,
                 learning_rate: float = 2e-2, train_len: int | None = None, seed: int = 0):
        self.embedding_dim = embedding_dim
        self.hidden_units = hidden_units
        self.max_len = max_len
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.train_len = train_len
        self.seed = seed

    def build_network(self) -> keras.Model:
        """:func:`build_gru4rec` with this model's settings; override to try another network.

        It must map ``(batch, max_len)`` input ids to ``(batch, max_len, n_items)`` logits
        and keep the layers ``gru`` (the states) and ``next_item_logits`` (the output).
        """
        return build_gru4rec(self.n_items_, self.max_len, self.embedding_dim,
                             self.hidden_units, self.dropout)

    def _training_examples(self):
        recent = (self.histories_ if self.train_len is None
                  else [h[-self.train_len:] for h in self.histories_])
        return next_item_examples(recent, self.max_len, all_windows=True)

    def _compile(self) -> None:
        self.network_.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=True,  # XLA fuses the GRU's small per-step ops: faster on CPU
        )
        self._state_model = keras.Model(self.network_.input,
                                        self.network_.get_layer("gru").output)

    _keras_parts = {"network_": "_rebuild_network", "_state_model": "_rebuild_state_model"}

    def _rebuild_state_model(self, weights):
        return keras.Model(self.network_.input, self.network_.get_layer("gru").output)

    def _final_states(self, padded: np.ndarray) -> np.ndarray:
        # A direct call, not predict(): predict re-traces a graph for every new batch shape.
        return np.concatenate([np.asarray(self._state_model(padded[start:start + 1024],
                                                            training=False))[:, -1]
                               for start in range(0, len(padded), 1024)])

    def _score_histories(self, histories) -> np.ndarray:
        states = self._final_states(pad_sequences(histories, self.max_len))
        kernel, bias = self.network_.get_layer("next_item_logits").get_weights()
        return states @ kernel + bias
