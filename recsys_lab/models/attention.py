"""Self-attentive sequential recommendation (chapter 7): SASRec.

SASRec (Kang & McAuley 2018) reads a user's history in time order with a stack of causal
self-attention blocks: at every position ``t`` it predicts item ``t + 1`` from items
``1..t`` only. Histories come from :mod:`recsys_lab.sequences` (input ids ``item + 1``,
``0`` = padding on the left, the most recent item in the last column). Trained, as the book
does, with a full softmax cross-entropy over all items.

``score_items(users)`` continues the history ``fit`` saw; ``score_histories`` scores any item
sequence; ``attention_weights`` and ``occlusion_influence`` show what a recommendation
rests on. The NumPy version of attention lives in :mod:`recsys_lab.scratch.attention`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_lab.models._keras import keras
from recsys_lab.models.sequential import _NextItemNetwork
from recsys_lab.sequences import next_item_examples, pad_sequences
from recsys_lab.validation import FLAG, POSITIVE, RATE, SEED, check_fitted, check_ids, integer

layers, ops = keras.layers, keras.ops


def attention_mask(items):
    """``(batch, L, L)`` bool from input ids ``(batch, L)``: True where query t may see key s.

    Causal (``s <= t``), never a padded key, and every position sees itself (so a padded
    query's softmax is not empty; its output is zeroed anyway).
    """
    length = ops.shape(items)[-1]
    causal = ops.tril(ops.ones((length, length), dtype="bool"))
    real_keys = ops.not_equal(items, 0)[:, None, :]
    return ops.logical_or(ops.logical_and(causal[None], real_keys),
                          ops.eye(length, dtype="bool")[None])


class TransformerBlock(layers.Layer):
    """Causal self-attention then a position-wise feed-forward network, each a residual branch.

    Pre-norm form (layer norm at the start of each branch):
    ``x ← x + Dropout(MHA(LN(x), mask))``, then ``x ← x + Dropout(FFN(LN(x)))`` with
    ``FFN(h) = W₂ ReLU(W₁ h + b₁) + b₂``. Input and output ``(batch, L, dim)``.
    """

    def __init__(self, dim: int, n_heads: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.attention_norm = layers.LayerNormalization(epsilon=1e-6, name="attention_norm")
        self.self_attention = layers.MultiHeadAttention(
            n_heads, dim // n_heads, dropout=dropout, name="self_attention")
        self.feed_forward_norm = layers.LayerNormalization(epsilon=1e-6, name="feed_forward_norm")
        self.feed_forward_hidden = layers.Dense(dim, activation="relu", name="feed_forward_hidden")
        self.feed_forward_output = layers.Dense(dim, name="feed_forward_output")
        self.residual_dropout = layers.Dropout(dropout)

    def call(self, x, mask, training=None):
        """Returns ``(new x (batch, L, dim), attention weights (batch, heads, L, L))``."""
        h = self.attention_norm(x)
        attended, weights = self.self_attention(h, h, attention_mask=mask, training=training,
                                                return_attention_scores=True)
        x = x + self.residual_dropout(attended, training=training)
        h = self.feed_forward_output(self.feed_forward_hidden(self.feed_forward_norm(x)))
        return x + self.residual_dropout(h, training=training), weights


class SASRecNetwork(keras.Model):
    """Input ids ``(batch, L)`` → next-item logits ``(batch, L, n_items)`` at every position.

    ``x = √dim · E[items] + P[positions]``, then ``n_blocks`` transformer blocks, a final
    layer norm, and scores against the same item embeddings (tied): ``logits = h Eᵀ``.
    """

    def __init__(self, n_items: int, max_len: int, dim: int, n_blocks: int, n_heads: int,
                 dropout: float, positional: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.max_len, self.dim, self.positional = max_len, dim, positional
        self.item_embedding = layers.Embedding(n_items + 1, dim, name="item_embedding")
        # Without positions there is no table: an unused layer would stay unbuilt.
        self.position_embedding = (layers.Embedding(max_len, dim, name="position_embedding")
                                   if positional else None)
        self.embedding_dropout = layers.Dropout(dropout)
        self.blocks = [TransformerBlock(dim, n_heads, dropout, name=f"block_{b + 1}")
                       for b in range(n_blocks)]
        self.final_norm = layers.LayerNormalization(epsilon=1e-6, name="final_norm")

    def encode(self, items, training=None):
        """``(states (batch, L, dim), [attention weights (batch, heads, L, L) per block])``."""
        x = self.item_embedding(items) * self.dim ** 0.5
        if self.positional:
            x = x + self.position_embedding(ops.arange(self.max_len))[None]
        is_item = ops.cast(ops.not_equal(items, 0), x.dtype)[..., None]
        x = self.embedding_dropout(x, training=training) * is_item
        mask = attention_mask(items)
        attention = []
        for block in self.blocks:
            x, weights = block(x, mask, training=training)
            x = x * is_item  # padded positions stay zero
            attention.append(weights)
        return self.final_norm(x), attention

    def call(self, items, training=None):
        states, _ = self.encode(items, training=training)
        return ops.matmul(states, ops.transpose(self.item_embedding.embeddings[1:]))


class NextItemCrossEntropy(keras.losses.Loss):
    """Softmax cross-entropy of integer targets ``(batch, L)`` given logits ``(batch, L, n)``.

    Per position, ``log Σ_j exp(logit_j) − logit_target``: the value of Keras's
    ``SparseCategoricalCrossentropy(from_logits=True)``, written out because on CPU these two
    steps run faster than TensorFlow's fused op. Averaged over positions with a non-zero
    sample weight (padding carries weight 0).
    """

    def __init__(self, name: str = "next_item_cross_entropy"):
        super().__init__(name=name, reduction="mean_with_sample_weight")

    def call(self, targets, logits):
        targets = ops.expand_dims(ops.cast(targets, "int32"), -1)
        target_logits = ops.take_along_axis(logits, targets, axis=-1)[..., 0]
        return ops.logsumexp(logits, axis=-1) - target_logits


class SASRec(_NextItemNetwork):
    """SASRec: causal self-attention over a user's history, a softmax over all items.

    Trained on next-item transitions (:func:`recsys_lab.sequences.next_item_examples`: by
    default every transition of every history, cut into windows of ``max_len``, as GRU4Rec
    is trained) with full softmax cross-entropy (:class:`NextItemCrossEntropy`), averaged
    over real targets (padding is masked). To score, the user's last ``max_len`` items run
    through the network and the state at the last position scores every item.

    Parameters
    ----------
    embedding_dim : size ``d`` of item/position embeddings and of every block.
    n_blocks, n_heads : transformer blocks and attention heads (``d`` divisible by heads).
    max_len : length of the training windows and of the history used to score.
    dropout : on embeddings, attention weights and residual branches.
    positional : learned positional embeddings; False for the ablation without them.
    epochs, batch_size, learning_rate : Adam schedule.
    cosine_decay : let the learning rate fall along a half cosine from ``learning_rate`` to 0
        over the ``epochs`` of the fit (every batch a step); False keeps it constant. A
        falling rate settles the weights where a constant one keeps them moving from
        epoch to epoch.
    all_windows : train on every transition (the default); if False, only on each user's
        most recent ``max_len`` transitions.
    window_stride : with ``all_windows``, start a training window every ``window_stride``
        steps (:func:`~recsys_lab.sequences.next_item_examples`'s ``stride``; ``None``, the
        default, is ``max_len``: windows share one item). Smaller strides make windows
        overlap, so that every target is trained with ``max_len + 1 − window_stride`` or
        more items before it (when its history has them), as when the model scores; each
        transition is still one target. The fit takes longer: up to
        ``max_len / window_stride`` times as long.
    seed : seeds the initialisation, dropout and the order of the training windows.

    The defaults were chosen on three SEQ validation folds (``seq.valid`` after ``seq.train``,
    and each user's two items before it, each after the history that precedes it), never on
    the test split. Mean HR@10 over the folds (a three-fold mean has a standard error of
    about 0.008; a difference of two settings, paired user by user, about 0.006):

    * each user's last 50 transitions only (``all_windows=False``, batches of 32): about
      0.20, levelling off after 8 epochs;
    * every transition, ``max_len=50``, batches of 32: 0.222 at epoch 6, 0.22-0.23 after;
    * every transition, ``max_len=10``, batches of 32, 64 or 128: 0.231, 0.229 and 0.228
      at epoch 6 (``max_len=20``: 0.228, 0.224 and 0.212); no later epoch passed 0.235.
      Within one standard error of the best, batches of 128 with ``max_len=10`` fit
      fastest, so they are the default;
    * a learning rate of 0.02 (batches of 128), or a width of 64: no better.

    Those first figures were measured before every epoch drew its own order of the windows
    (until recsys_lab 2, Keras repeated one order every epoch). The number of epochs and the
    learning-rate schedule were measured again since (recsys_lab 2, seed 0, ``max_len=10``,
    batches of 128; HR@10 / NDCG@10 as three-fold means over 3 × 943 validation users, ±
    one standard error; gains paired user by user against the constant rate at 6 epochs):

    * constant rate 0.01, one 24-epoch fit per fold: 0.151 / 0.075 after epoch 1, 0.205 /
      0.106 after 3, 0.229 / 0.118 after 6; from epoch 5 to 24 HR@10 stays between 0.223
      and 0.239 and moves by up to 0.010 from one epoch to the next, its gain over epoch 6
      never beyond 1.7 standard errors (largest +0.011 ± 0.006 at epoch 12, the largest of
      18 noisy values); NDCG@10 creeps up by about 0.005 ± 0.004. Levelled off, but noisy;
    * the rate falling along a half cosine to 0 over the fit (``cosine_decay``), one fit per
      length: 6 epochs 0.225 / 0.116 (−0.004 ± 0.006 / −0.002 ± 0.003), 8 epochs 0.236 /
      0.123 (+0.007 ± 0.005 / +0.005 ± 0.003), 10 epochs 0.236 / 0.126 (+0.007 ± 0.005 /
      +0.008 ± 0.003), 12 epochs 0.232 / 0.127 (+0.003 ± 0.005 / +0.009 ± 0.003): level
      from 8 epochs on, within noise of one another;
    * with seed 1, 8 cosine epochs against 6 constant ones gained +0.006 ± 0.005 / +0.008 ±
      0.003; over the two seeds, +0.007 ± 0.004 / +0.007 ± 0.002: beyond three standard
      errors on NDCG@10, under two on HR@10.

    So the default decays the rate along a cosine over 8 epochs: the shortest schedule at
    the level where longer ones stop gaining (a third more epochs than the former 6 at a
    constant rate). Read once afterwards, the standard SEQ test split did not confirm the
    gain: there the two schedules are indistinguishable (``benchmarks/seq_targets.py``
    pairs them user by user).

    A second search moved one or two settings at a time around these defaults, on the same
    three folds (``benchmarks/seq_search.py``; seed 0; defaults 0.236 / 0.123). HR@10
    difference from the defaults with its 95% paired interval, 3 × 943 users pooled:

    * dropout 0.35: −0.012 [−0.022, −0.003]; 0.5: −0.031 [−0.042, −0.021]; 0.1: −0.003
      [−0.013, +0.007]; none: −0.006 [−0.018, +0.006];
    * two blocks: −0.016 [−0.027, −0.005] (with dropout 0.5: −0.032); two heads: −0.002
      [−0.011, +0.007]; ``max_len=20``: −0.025 [−0.037, −0.014]; ``max_len=5``: −0.001
      [−0.013, +0.011]; 12 epochs: −0.004 [−0.013, +0.004];
    * learning rate 0.005: −0.012 [−0.021, −0.004]; 0.02: −0.004 [−0.014, +0.006];
      batches of 64: +0.003 [−0.007, +0.013]; of 256: −0.011 [−0.020, −0.001];
    * width 16: −0.011 [−0.020, −0.002]; 48: +0.004 [−0.007, +0.014]; 64: +0.010 [−0.001,
      +0.021] (with seed 1: +0.007 [−0.003, +0.017]; width 48 with seed 1: +0.007);
      width 64 with batches of 64, or with two heads: +0.001 and −0.003;
    * the softmaxes of three fits (seeds 0, 1, 2) averaged: +0.004 [−0.005, +0.011], for
      three times the fitting.

    No single search fit's interval excludes zero in favour of a change. Width 64 comes
    closest: over its two seeds the gain is +0.008 ± 0.004 (one standard error), about two
    standard errors from zero, for about 40% more time per fit (chapter 7 and its test
    section fit SASRec five times between them). Such a gain is also below one standard
    error of HR@10 on the test split (about 0.013 over 943 users), so it could not move the
    test figure decisively. The defaults stay; ``SASRec(embedding_dim=64)`` is there to try.

    A third search (same folds and script) let the training windows overlap
    (``window_stride``), so that every target is trained with most of a window before it,
    as the last position is when the model scores (with ``max_len=10`` and the default
    cut, a target sees 1 to 10 items before it, 5.5 on average). HR@10 / NDCG@10
    differences from the defaults, 95% paired intervals, seed 0 (defaults 0.236 / 0.123):

    * a window every 5 steps: +0.005 [−0.006, +0.016] / +0.005 [−0.001, +0.011], fits 1.6
      times as long; every 3: +0.007 [−0.005, +0.017] / +0.006 [+0.001, +0.012], 2.7
      times; every 2: +0.011 [−0.000, +0.021] / +0.007 [+0.001, +0.013], 3.9 times; every
      step: +0.006 [−0.005, +0.018] / +0.007 [+0.000, +0.013], 8 times;
    * every 2 steps with width 64: +0.007 / +0.007; with 12 epochs: +0.007 / +0.007;
    * seed 1 (defaults 0.233 / 0.125): every 2 steps +0.005 [−0.006, +0.016] / +0.004
      [−0.002, +0.010]; every 5 steps +0.005 / +0.001.

    Over the two seeds a window every 2 steps gains about +0.008 ± 0.004 on HR@10 and
    +0.006 ± 0.002 on NDCG@10 (± one standard error): the size of width 64's gain, for
    four times the fitting, which the chapter's five fits cannot afford. The defaults stay;
    ``SASRec(window_stride=2)`` is there to try.

    A fourth search (same folds and script, seeds 0 and 1) tried four changes the class
    does not offer (the script's ``SASRecVariant``). HR@10 differences from the defaults,
    95% paired intervals, seed 0 / seed 1 (defaults 0.236 / 0.233):

    * a learned bias per item added to the logits: −0.001 [−0.008, +0.005] / +0.006
      [+0.001, +0.012];
    * decoupled weight decay (AdamW) 0.1: −0.000 [−0.006, +0.006] / +0.005 [−0.001,
      +0.011]; 0.01 (seed 0): −0.005 [−0.010, +0.001];
    * label smoothing 0.1: +0.001 [−0.006, +0.009] / +0.001 [−0.006, +0.008];
    * a new order, every epoch, of a user's films that share a timestamp (half of a user's
      consecutive ratings do, and the data give them no order): +0.000 [−0.009, +0.010] /
      +0.002 [−0.007, +0.012].

    Over the two seeds none gains more than +0.003: the item bias's interval excludes zero
    with one seed and is centred below zero with the other. None is adopted.

    Why test HR@10 stays below these folds' (``benchmarks/seq_positions.py``, every SEQ
    entry with its defaults, seed 0): each user's last film is harder than the three films
    before it for the models that read a user's recent films, and not for the others. Test
    minus the mean of the three folds, paired over 943 users: SASRec −0.043 [−0.070,
    −0.014], session kNN −0.041 [−0.066, −0.015], GRU4Rec −0.023 [−0.050, +0.004];
    Markov chain −0.005 [−0.029, +0.022], EASE −0.013 [−0.037, +0.011], MostPopular
    +0.008 [−0.012, +0.029]. Three earlier films that no search looked at (5th to 7th
    last) tell whether choosing on the folds flattered them: SASRec's HR@10 is 0.240 on
    them, the three folds minus them −0.004 [−0.027, +0.018], the test film minus them
    −0.047 [−0.076, −0.017] (session kNN −0.039 [−0.065, −0.012]). The choice did not
    flatter the folds; the last film is harder. Nor is it harder for being rated less often
    in the same second as the film before it (44% of test films, 45-50% of the six earlier
    ones): SASRec's HR@10 on the last film is below every earlier film's both among such
    targets (0.239 against 0.249 to 0.289) and among the others (0.157 against 0.182 to
    0.234). With seeds 1 and 2, SASRec's test HR@10 is 0.207 and 0.211 against fold
    means of 0.233 and 0.237. So the folds overstate SASRec's test HR@10 by 0.026 to
    0.043 over three seeds, and the seed alone moves the test figure by up to 0.018
    (0.193, 0.207, 0.211): more than any gain these searches found on the folds. These
    figures come from the machines of the searches; on another processor the same code and
    seeds can move the third decimal (an Intel Xeon with AVX-512 gives 0.194, 0.207 and
    0.213, and a test-minus-folds interval of [−0.071, −0.015]), while one machine gives
    the same figures in every fresh process.

    Learned state: ``network_`` (:class:`SASRecNetwork`, built by :meth:`build_network`),
    ``histories_`` (the time-ordered training histories), ``curves_`` (one row per epoch:
    ``loss`` and, when ``fit`` gets ``valid``, its metrics).
    """

    hyperparameters = {"embedding_dim": integer(1), "n_blocks": integer(1),
                       "n_heads": integer(1), "max_len": integer(1), "dropout": RATE,
                       "positional": FLAG, "epochs": integer(1), "batch_size": integer(1),
                       "learning_rate": POSITIVE, "cosine_decay": FLAG, "all_windows": FLAG,
                       "window_stride": integer(1, optional=True), "seed": SEED}

    def __init__(self, embedding_dim: int = 32, n_blocks: int = 1, n_heads: int = 1,
                 max_len: int = 10, dropout: float = 0.2, positional: bool = True,
                 epochs: int = 8, batch_size: int = 128, learning_rate: float = 1e-2,
                 cosine_decay: bool = True, all_windows: bool = True,
                 window_stride: int | None = None, seed: int = 0):
        self.embedding_dim = embedding_dim
        self.n_blocks = n_blocks
        self.n_heads = n_heads
        self.max_len = max_len
        self.dropout = dropout
        self.positional = positional
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.cosine_decay = cosine_decay
        self.all_windows = all_windows
        self.window_stride = window_stride
        self.seed = seed

    def build_network(self) -> keras.Model:
        """:class:`SASRecNetwork` with this model's settings; override to try another network.

        It must map ``(batch, max_len)`` input ids to ``(batch, max_len, n_items)`` logits and
        offer ``encode`` and ``item_embedding`` as :class:`SASRecNetwork` does (scoring and
        the explanations use them).
        """
        return SASRecNetwork(self.n_items_, self.max_len, self.embedding_dim, self.n_blocks,
                             self.n_heads, self.dropout, self.positional, name="sasrec")

    def _rebuild_network(self, weights):
        network = self.build_network()
        network(np.zeros((1, self.max_len), "int32"), training=False)  # creates the weights
        return network

    def _start(self, train: pd.DataFrame) -> None:
        if self.embedding_dim % self.n_heads:
            raise ValueError(f"embedding_dim={self.embedding_dim} must be divisible by "
                             f"n_heads={self.n_heads}")
        if self.window_stride is not None and (not self.all_windows
                                               or self.window_stride > self.max_len):
            raise ValueError(f"window_stride={self.window_stride} needs all_windows=True and "
                             f"must be at most max_len={self.max_len}")
        super()._start(train)

    def _training_examples(self):
        return next_item_examples(self.histories_, self.max_len, all_windows=self.all_windows,
                                  stride=self.window_stride)

    def _learning_rate_schedule(self):
        """``learning_rate``, or with ``cosine_decay`` its half cosine over the fit's steps."""
        if not self.cosine_decay:
            return self.learning_rate
        # One optimizer step per batch: the rate reaches 0 at the fit's last batch.
        batches_per_epoch = -(-len(self._examples.targets) // self.batch_size)
        return keras.optimizers.schedules.CosineDecay(
            self.learning_rate, decay_steps=batches_per_epoch * self.epochs)

    def _compile(self) -> None:
        self.network_.compile(optimizer=keras.optimizers.Adam(self._learning_rate_schedule()),
                              loss=NextItemCrossEntropy())

    # ------------------------------------------------------------------ scoring
    def _states(self, padded: np.ndarray) -> np.ndarray:
        states = []
        for start in range(0, len(padded), 512):
            batch, _ = self.network_.encode(padded[start:start + 512], training=False)
            states.append(ops.convert_to_numpy(batch[:, -1]))
        return np.concatenate(states) if states else np.zeros((0, self.embedding_dim))

    def _score_histories(self, histories) -> np.ndarray:
        item_vectors = self.network_.item_embedding.get_weights()[0][1:]
        return self._states(pad_sequences(histories, self.max_len)) @ item_vectors.T

    def _check_history(self, history) -> np.ndarray:
        """One history, checked, as a 1-D array of item ids (oldest first)."""
        check_fitted(self, "histories_")
        return check_ids(history, self.n_items_, kind="item")

    # ------------------------------------------------------------------ explanations
    def attention_weights(self, history) -> np.ndarray:
        """Attention of one history, ``(n_blocks, n_heads, n, n)`` with ``n = min(len, max_len)``.

        Entry ``[b, h, t, s]`` is how much position ``t`` (query) reads position ``s`` (key)
        in block ``b``, head ``h``; positions index the history's last ``n`` items, oldest
        first. Rows sum to 1; entries above the diagonal are 0 (causal).
        """
        history = self._check_history(history)[-self.max_len:]
        if len(history) == 0:
            raise ValueError("history is empty: there is nothing to attend to")
        _, attention = self.network_.encode(pad_sequences([history], self.max_len),
                                            training=False)
        n = len(history)
        return np.stack([ops.convert_to_numpy(w)[0, :, -n:, -n:] for w in attention])

    def occlusion_influence(self, history, item: int) -> np.ndarray:
        """``(min(len, max_len),)``: the score of ``item`` minus its score with one item removed.

        Entry ``t`` refers to the ``t``-th of the history's last ``max_len`` items (oldest
        first); positive means that past item pushed ``item`` up. Unlike attention weights,
        this measures an effect on the output.
        """
        history = self._check_history(history)[-self.max_len:]
        item = int(check_ids([item], self.n_items_, kind="item")[0])
        variants = [history] + [np.delete(history, t) for t in range(len(history))]
        scores = self._score_histories(variants)[:, item]
        return scores[0] - scores[1:]
