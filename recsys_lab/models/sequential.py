"""Next-item models (chapter 6): a first-order Markov chain and GRU4Rec.

Both read each user's history *in time order* (:func:`recsys_lab.sequences.user_histories`)
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

    def _final_states(self, padded: np.ndarray) -> np.ndarray:
        # A direct call, not predict(): predict re-traces a graph for every new batch shape.
        return np.concatenate([np.asarray(self._state_model(padded[start:start + 1024],
                                                            training=False))[:, -1]
                               for start in range(0, len(padded), 1024)])

    def _score_histories(self, histories) -> np.ndarray:
        states = self._final_states(pad_sequences(histories, self.max_len))
        kernel, bias = self.network_.get_layer("next_item_logits").get_weights()
        return states @ kernel + bias
