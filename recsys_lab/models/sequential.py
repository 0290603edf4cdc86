"""Next-item models (chapter 6): a first-order Markov chain and GRU4Rec.

Both read each user's history *in time order* (:func:`recsys_lab.sequences.user_histories`)
and score every item as the user's next one. ``score_items(users)`` continues the history
that ``fit`` saw; ``score_histories(histories)`` scores arbitrary item sequences (a prefix of
a history, a made-up session).
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import scipy.sparse as sp
from keras import layers

from recsys_lab.base import Recommender
from recsys_lab.evaluate import evaluate
from recsys_lab.sequences import next_item_examples, pad_sequences, user_histories
from recsys_lab.training import seed_everything
from recsys_lab.validation import check_fitted, check_ids


class _SequenceRecommender(Recommender):
    """Shared plumbing: keep the time-ordered histories, score them, check sequences."""

    def _fit(self, train: pd.DataFrame) -> None:
        self.histories_ = user_histories(train, self.n_users_)
        self._fit_sequences(self.histories_)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._score_histories([self.histories_[u] for u in users])

    def score_histories(self, histories) -> np.ndarray:
        """Scores of every item as the next one after each sequence, ``(len(histories), n_items)``.

        ``histories`` is a sequence of int arrays of item ids, oldest first.
        """
        check_fitted(self, "histories_")
        histories = [check_ids(h, self.n_items_, kind="item").ravel() for h in histories]
        return np.asarray(self._score_histories(histories), dtype=float)


class _ValidationCurves:
    """Mixin: ``fit`` takes an optional ``valid`` frame to monitor while training.

    If ``valid`` (each user's next item after ``train``, e.g. ``seq_split(...).valid``) is
    given, the model's ``_fit`` finds ``(train, valid)`` in ``self._valid`` and records
    HR@10 and NDCG@10 on it after every epoch in ``curves_``.
    """

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int,
            valid: pd.DataFrame | None = None):
        """Learn from ``train`` (``user``, ``item``, ``timestamp``); see the class doc."""
        self._valid = None if valid is None else (train, valid)
        try:
            return super().fit(train, n_users, n_items)
        finally:
            del self._valid

    def _train_epochs(self, network, examples) -> None:
        """Fit ``network`` on next-item ``examples`` for ``n_epochs``, one epoch at a time.

        ``curves_`` gets the training loss of each epoch and, when fitting with ``valid``,
        HR@10 and NDCG@10 on it.
        """
        rows = []
        for epoch in range(1, self.n_epochs + 1):
            result = network.fit(
                examples.inputs, examples.targets, sample_weight=examples.mask.astype("float32"),
                batch_size=self.batch_size, epochs=1, shuffle=True, verbose=0)
            row = {"epoch": epoch, "loss": float(result.history["loss"][0])}
            if self._valid is not None:
                scored = evaluate(self, *self._valid, "SEQ", fitted=True,
                                  n_users=self.n_users_, n_items=self.n_items_)
                row |= {k: scored[k] for k in ("HR@10", "NDCG@10")}
            rows.append(row)
        self.curves_ = pd.DataFrame(rows).set_index("epoch")


class MarkovChain(_SequenceRecommender):
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

    def __init__(self, smoothing: float = 200.0):
        self.smoothing = smoothing

    def _fit_sequences(self, histories) -> None:
        if not self.smoothing >= 0:
            raise ValueError(f"smoothing must be >= 0, got {self.smoothing!r}")
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


class GRU4Rec(_ValidationCurves, _SequenceRecommender):
    """GRU4Rec: item embedding → GRU → a softmax over all items, at every step of a history.

    Trained with full softmax cross-entropy on next-item targets
    (:func:`recsys_lab.sequences.next_item_examples`, every transition of every history once,
    in windows of ``max_len`` steps); padding is masked. To score, a user's last ``max_len``
    items run through the GRU and the final state's logits score every item.

    The defaults are chapter 6's choice on the SEQ validation item (``n_epochs`` is the epoch
    of best validation HR@10: early stopping on the validation item, never the test item).

    Parameters
    ----------
    embedding_dim, hidden_units : sizes of the item embedding and of the GRU state.
    max_len : steps per training window and the length of history used to score.
    train_len : train on each user's most recent ``train_len`` items only (None: all of them);
        shorter is faster, and old habits matter less for the next item.
    dropout : dropout rate on the embeddings and on the GRU states.
    n_epochs, batch_size, learning_rate : Adam training schedule.
    seed : seeds NumPy and Keras, so two fits give the same model.

    Learned state: ``model_`` (the Keras model), ``curves_`` (a DataFrame, one row per
    epoch: ``loss`` and, when ``fit`` gets ``valid``, ``HR@10``/``NDCG@10`` on it).
    """

    def __init__(self, embedding_dim: int = 64, hidden_units: int = 64, max_len: int = 50,
                 dropout: float = 0.2, n_epochs: int = 8, batch_size: int = 128,
                 learning_rate: float = 2e-2, train_len: int | None = None, seed: int = 0):
        self.embedding_dim = embedding_dim
        self.hidden_units = hidden_units
        self.max_len = max_len
        self.dropout = dropout
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.train_len = train_len
        self.seed = seed

    def _check_params(self) -> None:
        for name in ("embedding_dim", "hidden_units", "max_len", "n_epochs", "batch_size",
                     "train_len"):
            value = getattr(self, name)
            if name == "train_len" and value is None:
                continue
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")

    def _fit_sequences(self, histories) -> None:
        self._check_params()
        seed_everything(self.seed)
        recent = histories if self.train_len is None else [h[-self.train_len:] for h in histories]
        examples = next_item_examples(recent, self.max_len, all_windows=True)
        if not examples.mask.any():
            raise ValueError("train has no user with two or more interactions: nothing to learn")
        self.model_ = build_gru4rec(self.n_items_, self.max_len, self.embedding_dim,
                                    self.hidden_units, self.dropout)
        self.model_.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=True,  # XLA fuses the GRU's small per-step ops: faster on CPU
        )
        self._state_model = None
        self._train_epochs(self.model_, examples)

    def _final_states(self, padded: np.ndarray) -> np.ndarray:
        if self._state_model is None:
            self._state_model = keras.Model(self.model_.input,
                                            self.model_.get_layer("gru").output)
        # A direct call, not predict(): predict re-traces a graph for every new batch shape.
        return np.concatenate([np.asarray(self._state_model(padded[start:start + 1024],
                                                            training=False))[:, -1]
                               for start in range(0, len(padded), 1024)])

    def _score_histories(self, histories) -> np.ndarray:
        states = self._final_states(pad_sequences(histories, self.max_len))
        kernel, bias = self.model_.get_layer("next_item_logits").get_weights()
        return states @ kernel + bias
